"""The operations: every use case the CLI and the HTTP API offer, each defined once.

An operation is a function `(svc, caller, **params) -> result` registered under a dotted
name (`case.fire`, `user.disable`). Its parameters are plain JSON values, checked against the
function's annotations before it runs (a pydantic model made from the signature), and its result is
JSON-able (dicts, lists, strings, numbers, ISO times), so the same operation serves
- the CLI in local mode: `App.call(name, **params)` runs it in process;
- the server: `POST /api/v1/ops/NAME` runs it for the token's user (aidflow.server);
- the CLI in client mode: `App.call` sends the request and gets the same result back.
The CLI renders the result; nothing here prints.

`execute` owns the unit of work: a writing operation runs in one transaction (with an
idempotency key, through `run_keyed`), a reading one in a read-only unit. The operation
modules register themselves when imported; `MODULES` lists them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aidflow.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from aidflow.services.cases import Service
    from aidflow.services.runtime import Runtime

# The modules that define operations, imported on the first lookup.
MODULES = ("aidflow.operations.cases", "aidflow.operations.users")


@dataclass(frozen=True)
class Caller:
    """Who asks and how: the acting user, who entered it for them, the language of labels.

    `user` is the authenticated user: the token's user on the server, the operating-system
    login's user in local mode (or, for an administrator, the user named by --as, with the
    administrator in `entered_by`). `key` is the idempotency key of a writing operation.
    """

    user: str | None
    lang: str = "en"
    entered_by: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Operation:
    """A registered use case: its name, its function and whether it writes."""

    name: str
    function: Callable[..., Any]
    write: bool

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` checked against the function's annotations (after `svc` and `caller`):
        converted where JSON cannot say the type (an ISO date), refused with every problem
        named where they do not fit, unknown names included."""
        from pydantic import ValidationError

        model = _MODELS.get(self.name)
        if model is None:
            model = _MODELS[self.name] = _model_of(self.name, self.function)
        try:
            checked = model.model_validate(params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidInputError(
                f"{self.name}: {problems}", hint="check the command's parameters"
            ) from None
        return {name: getattr(checked, name) for name in type(checked).model_fields}


REGISTRY: dict[str, Operation] = {}
_MODELS: dict[str, Any] = {}


def _model_of(name: str, function: Callable[..., Any]) -> Any:
    """A pydantic model of the function's parameters after the first two."""
    import inspect
    from typing import get_type_hints

    from pydantic import ConfigDict, create_model

    hints = get_type_hints(function)
    fields: dict[str, Any] = {}
    for param in list(inspect.signature(function).parameters.values())[2:]:
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], default)
    return create_model(
        name.replace(".", "_"), __config__=ConfigDict(extra="forbid", strict=False), **fields
    )


def operation(name: str, *, write: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the operation `name`."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise RuntimeError(f"operation {name} is defined twice")
        REGISTRY[name] = Operation(name, function, write)
        return function

    return register


def find(name: str) -> Operation:
    """The operation called `name`; NotFoundError (with a suggestion) for any other name."""
    if not REGISTRY:
        for module in MODULES:
            importlib.import_module(module)
    op = REGISTRY.get(name)
    if op is None:
        from difflib import get_close_matches

        close = get_close_matches(name, REGISTRY, n=1)
        raise NotFoundError(
            f"no operation named {name!r}",
            hint=f"did you mean {close[0]!r}?" if close else "see `aidflow --help`",
        )
    return op


def execute(runtime: Runtime, name: str, caller: Caller, params: dict[str, Any]) -> Any:
    """Run operation `name` for `caller` with `params` in a unit of work of its own."""
    op = find(name)
    values = op.parameters(params)

    def run(svc: Service) -> Any:
        svc.entered_by = caller.entered_by  # every event of the unit records who entered it
        return op.function(svc, caller, **values)

    if not op.write:
        with runtime.reading() as svc:
            return run(svc)
    from aidflow.services.idempotency import run_keyed

    return run_keyed(runtime.transaction, caller.key, run)
