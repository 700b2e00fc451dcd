"""A workflow definition as a `transitions` state machine; the only importer of transitions.

The edges are read off one Machine per definition and kept; the slow path binds a fresh
model at the case's current state, fires, and unbinds, so no machine state outlives a call.
auto_transitions are off (they would skip every rule) and unknown triggers raise.
The engine's own rules (roles, guards, dwell, votes, duties) are checked by `rules`
before the machine moves; the machine is the final word on which edges exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aidflow.engine.rules import listed, quoted, state_called, trigger_called
from aidflow.errors import RefusedError
from aidflow.i18n import _, language
from aidflow.language.definition import Workflow


class _Model:
    state: str
    trigger: Callable[..., bool]  # bound by Machine.add_model (declared, not set, so it binds)


class _When:
    """A route's condition as a transitions condition: called with the `holds` function the
    caller passes to the trigger, and keeping its text so the event table can be read."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __call__(self, holds: Callable[[str], bool]) -> bool:
        return holds(self.text)


def _specs(wf: Workflow) -> list[dict[str, Any]]:
    """One transitions entry per route, in order: transitions tries entries with the same
    trigger and source in the order they were added and takes the first whose conditions
    hold, which is the routing rule."""
    return [
        {
            "trigger": t.trigger,
            "source": list(t.sources),
            "dest": r.dest,
            "conditions": [_When(r.when)] if r.when is not None else [],
        }
        for t in wf.transitions
        for r in t.destinations
    ]


def _machine(wf: Workflow) -> Any:
    from transitions import Machine

    return Machine(
        model=None,
        states=list(wf.states),
        transitions=_specs(wf),
        initial=None,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


# Kept per definition (workflows are compared by identity, and the store keeps one object
# per deployed version): a bulk command or a sweep fires thousands of transitions on the
# same few workflows, and building the Machine for each would rival the transition's own
# database work.
# A route: its destination and its condition (None: always).
Route = tuple[str, str | None]


@lru_cache(maxsize=64)
def _edges(wf: Workflow) -> dict[tuple[str, str], tuple[Route, ...]]:
    """(state, trigger) -> the routes in the order they are tried, read off the transitions
    Machine's event table.

    It gives the same answer as binding a model and firing (fire_on_machine, which the
    tests compare with it) without doing either.
    """
    machine = _machine(wf)
    edges: dict[tuple[str, str], tuple[Route, ...]] = {}
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            edges[(source, trigger)] = tuple(
                (t.dest, t.conditions[0].func.text if t.conditions else None) for t in transitions
            )
    return edges


def _always(text: str) -> bool:
    raise AssertionError(
        _("a routed transition needs its conditions evaluated ({text})", text=text)
    )


def route(wf: Workflow, state: str, trigger: str, holds: Callable[[str], bool] = _always) -> Route:
    """The route firing `trigger` from `state` takes: the first whose condition `holds`;
    RefusedError if there is no such edge."""
    routes = _edges(wf).get((state, trigger))
    if routes is None:
        allowed = listed(
            [
                trigger_called(wf, t.trigger) if language() == "zh" else t.trigger
                for t in wf.transitions_from(state)
            ]
        ) or _("none")
        where = quoted(state_called(wf, state))
        raise RefusedError(
            _(
                "{trigger} cannot be fired from state {state}",
                trigger=quoted(trigger_called(wf, trigger)),
                state=where,
            ),
            hint=_("from {state} you can fire: {allowed}", state=where, allowed=allowed),
        )
    for dest, when in routes:
        if when is None or holds(when):
            return dest, when
    # the validator makes the last route unconditional, so this is a definition it never saw
    raise _no_route(trigger, state)


def _no_route(trigger: str, state: str) -> RefusedError:
    return RefusedError(
        _("no route of '{trigger}' from '{state}' holds", trigger=trigger, state=state)
    )


def advance(wf: Workflow, state: str, trigger: str, holds: Callable[[str], bool] = _always) -> str:
    """The state after firing `trigger` from `state`; RefusedError if there is no such edge.
    `holds` evaluates a route's condition (a guard expression) for this case."""
    return route(wf, state, trigger, holds)[0]


def fire_on_machine(
    wf: Workflow, state: str, trigger: str, holds: Callable[[str], bool] = _always
) -> str:
    """Fire through a bound transitions model (slow path; tests check it agrees with advance)."""
    from transitions import MachineError

    machine = _machine(wf)
    model = _Model()
    machine.add_model(model, initial=state)
    try:
        if not model.trigger(trigger, holds):
            raise _no_route(trigger, state)
    except (MachineError, AttributeError):
        raise RefusedError(
            _(
                "{trigger} cannot be fired from state {state}",
                trigger=repr(trigger),
                state=repr(state),
            )
        ) from None
    finally:
        machine.remove_model(model)
    return model.state


def mermaid(wf: Workflow, lang: str = "en", version: int | None = None) -> str:
    """A Mermaid stateDiagram-v2 of the workflow, labelled in `lang`.

    `version` is the deployed version number (the file's `version:` key is not shown: only
    the number deploy gave it names a version)."""
    name = wf.name if version is None else f"{wf.name} (version {version})"
    lines = ["stateDiagram-v2", f"  %% {name}: {wf.labels.get(lang)}"]
    for name, st in wf.states.items():
        lines.append(f'  state "{st.labels.get(lang)}" as {name}')
    lines.append(f"  [*] --> {wf.initial_state}")
    for t in wf.transitions:
        for src in t.sources:
            for r in t.destinations:
                # one edge per route, labelled with its condition (Mermaid labels end at ':')
                when = f" [{r.when.replace(':', ' ')}]" if r.when is not None else ""
                if len(t.routes) > 1 and r.when is None:
                    when = " [otherwise]"
                lines.append(f"  {src} --> {r.dest}: {t.trigger}{when}")
    for name, st in wf.states.items():
        if st.final:
            lines.append(f"  {name} --> [*]")
    return "\n".join(lines) + "\n"


def svg(wf: Workflow) -> bytes:
    """An SVG diagram via transitions' Graphviz engine (needs the `graphviz` package and `dot`)."""
    from transitions.extensions.diagrams import GraphMachine

    class Holder:
        get_graph: Callable[..., Any]  # bound by GraphMachine (declared, not set, so it binds)

    holder = Holder()
    GraphMachine(
        model=holder,
        states=list(wf.states),
        transitions=_specs(wf),
        initial=wf.initial_state,
        auto_transitions=False,
        graph_engine="graphviz",
        title=wf.name,
    )
    data: bytes = holder.get_graph().draw(None, format="svg", prog="dot")
    return data
