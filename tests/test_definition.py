"""Stored definitions round-trip, and the machine adapter agrees with `transitions`."""

from __future__ import annotations

import dataclasses

import pytest

from aidflow.engine import machine
from aidflow.errors import RefusedError
from aidflow.language.definition import workflow_adapter, workflow_from_json, workflow_to_json
from aidflow.policy.workflows import load_workflow_file

from .conftest import WORKFLOWS

SHIPPED = sorted(WORKFLOWS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_stored_json_rebuilds_the_same_definition_as_pydantic(path: object) -> None:
    wf = load_workflow_file(path).definition  # type: ignore[arg-type]
    text = workflow_to_json(wf)
    fast = workflow_from_json(text)
    checked = workflow_adapter().validate_json(text)
    assert dataclasses.asdict(fast) == dataclasses.asdict(checked) == dataclasses.asdict(wf)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_edge_table_agrees_with_a_bound_transitions_model(path: object) -> None:
    wf = load_workflow_file(path).definition  # type: ignore[arg-type]
    triggers = sorted({t.trigger for t in wf.transitions})
    for state in wf.states:
        for trigger in triggers:
            try:
                expected: str | None = machine.fire_on_machine(wf, state, trigger)
            except RefusedError:
                expected = None
            try:
                got: str | None = machine.advance(wf, state, trigger)
            except RefusedError:
                got = None
            assert got == expected, (state, trigger)


def test_mermaid_lists_every_edge() -> None:
    wf = load_workflow_file(WORKFLOWS / "dibao.yaml").definition
    text = machine.mermaid(wf)
    assert text.startswith("stateDiagram-v2\n")
    assert "  public_notice --> county_review: close_notice\n" in text
    assert "  [*] --> discovery\n" in text
    edges = sum(len(t.sources) for t in wf.transitions)
    assert text.count(" --> ") == edges + 1 + sum(1 for s in wf.states.values() if s.final)
