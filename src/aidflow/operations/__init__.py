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
from aidflow.i18n import _

if TYPE_CHECKING:
    from aidflow.services.cases import Service
    from aidflow.services.runtime import Runtime

# The modules that define operations, imported on the first lookup.
MODULES = (
    "aidflow.operations.cases",
    "aidflow.operations.persons",
    "aidflow.operations.households",
    "aidflow.operations.workflows",
    "aidflow.operations.escalations",
    "aidflow.operations.visits",
    "aidflow.operations.payments",
    "aidflow.operations.sampling",
    "aidflow.operations.ledger",
    "aidflow.operations.audit",
    "aidflow.operations.users",
    "aidflow.operations.reports",
    "aidflow.operations.notices",
)


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
    """A registered use case: its name, its function, whether it writes, whether it needs
    the runtime and whether it writes in units of work of its own (see `operation`)."""

    name: str
    function: Callable[..., Any]
    write: bool
    runtime: bool = False
    own_units: bool = False

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` checked against the function's annotations (after `svc` and `caller`):
        converted where JSON cannot say the type (an ISO date), refused with every problem
        named where they do not fit, unknown names included."""
        from pydantic import ValidationError

        model = _MODELS.get(self.name)
        if model is None:
            skip = 3 if self.runtime else 2
            model = _MODELS[self.name] = _model_of(self.name, self.function, skip)
        try:
            checked = model.model_validate(params)
        except ValidationError as exc:
            everything = _("parameters")
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or everything}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidInputError(
                _("{operation}: {problems}", operation=self.name, problems=problems),
                hint=_("check the command's parameters"),
            ) from None
        return {name: getattr(checked, name) for name in type(checked).model_fields}


REGISTRY: dict[str, Operation] = {}
_MODELS: dict[str, Any] = {}


def _model_of(name: str, function: Callable[..., Any], skip: int = 2) -> Any:
    """A pydantic model of the function's parameters after the first `skip` ones."""
    import inspect
    from typing import get_type_hints

    from pydantic import ConfigDict, create_model

    hints = get_type_hints(function)
    fields: dict[str, Any] = {}
    for param in list(inspect.signature(function).parameters.values())[skip:]:
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], default)
    return create_model(
        name.replace(".", "_"), __config__=ConfigDict(extra="forbid", strict=False), **fields
    )


def operation(
    name: str, *, write: bool, runtime: bool = False, own_units: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the operation `name`.

    With `runtime=True` the function is `(svc, caller, rt, **params)`: it also gets the
    `Runtime`, for what a unit of work does not hold (the county's policy files, the
    settings' directories). `own_units=True` (with `write=True` and `runtime=True`) is for
    an operation that writes in transactions of its own through the runtime (an import
    written in batches that resumes where it stopped, one transaction per case opened):
    `svc` is then a read-only unit that holds no write lock, and the idempotency key is
    the operation's own business. Every annotation must resolve when the parameters are
    first checked (`typing.get_type_hints`): import `Service` and `Runtime` for real, not
    under TYPE_CHECKING.
    """
    if own_units and not (write and runtime):
        raise RuntimeError(
            _("operation {name}: own_units needs write=True and runtime=True", name=name)
        )

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise RuntimeError(_("operation {name} is defined twice", name=name))
        REGISTRY[name] = Operation(name, function, write, runtime, own_units)
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
            _("no operation named {name!r}", name=name),
            hint=_("did you mean {name!r}?", name=close[0]) if close else _("see `aidflow --help`"),
        )
    return op


def execute(runtime: Runtime, name: str, caller: Caller, params: dict[str, Any]) -> Any:
    """Run operation `name` for `caller` with `params` in a unit of work of its own."""
    op = find(name)
    values = op.parameters(params)

    def run(svc: Service) -> Any:
        svc.entered_by = caller.entered_by  # every event of the unit records who entered it
        if op.runtime:
            return op.function(svc, caller, runtime, **values)
        return op.function(svc, caller, **values)

    if op.own_units:
        runtime.check_clock(writing=True)  # its writes open units of their own, after this one
    if not op.write or op.own_units:
        with runtime.reading() as svc:
            return run(svc)
    from aidflow.services.idempotency import run_keyed

    return run_keyed(runtime.transaction, caller.key, run)
