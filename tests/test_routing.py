"""Guarded routing: one trigger, several destinations tried in order, exactly one taken.

tests/workflows/routing/tiers.yaml routes `bills_checked` by amount: over 5000 to the
county, otherwise to the township. Each other file there is tiers.yaml with one mistake.
Case tests run on SQLite and PostgreSQL (the `world` and `run_cli` fixtures share db_url).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from aidflow.engine import machine
from aidflow.errors import RefusedError
from aidflow.policy.workflows import check_files, load_workflow_file
from aidflow.services.cases import Service
from aidflow.store.models import CaseEvent

from .conftest import PERSON_ID, REPO, Cli, World

CORPUS = Path("tests/workflows/routing")  # relative to REPO: problems carry the path as given
TIERS = CORPUS / "tiers.yaml"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.fixture
def tiers(world: World) -> World:
    world.run(lambda svc: svc.deploy("admin", load_workflow_file(REPO / TIERS)))
    return world


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def open_and_apply(world: World, amount: str) -> int:
    def go(svc: Service) -> int:
        return svc.open_case(svc.actor("li"), PERSON_ID, "tiered_grant").id

    cid: int = world.run(go)
    world.fire("li", cid, "apply", amount=amount)
    return cid


def state(world: World, cid: int) -> str:
    return str(world.run(lambda svc: svc.case(cid).state))


def last_event(world: World, cid: int) -> tuple[str, str | None, str]:
    def read(svc: Service) -> tuple[str, str | None, str]:
        e = svc.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq.desc())
        ).first()
        assert e is not None
        return e.trigger, e.from_state, e.to_state

    return world.run(read)


# -- the language --------------------------------------------------------------------------


def test_routes_are_tried_in_order_on_the_machine() -> None:
    wf = load_workflow_file(REPO / TIERS).definition
    big = lambda text: text == "case.amount > 5000"  # noqa: E731
    small = lambda text: False  # noqa: E731
    for holds, dest in ((big, "county_review"), (small, "township_approval")):
        assert machine.advance(wf, "checking", "bills_checked", holds) == dest
        # the transitions Machine itself, bound and fired, agrees with the table read off it
        assert machine.fire_on_machine(wf, "checking", "bills_checked", holds) == dest
    assert machine.route(wf, "checking", "bills_checked", big) == (
        "county_review",
        "case.amount > 5000",
    )
    assert machine.route(wf, "checking", "bills_checked", small) == ("township_approval", None)
    # a transition with one dest never asks for a condition
    assert machine.advance(wf, "application", "apply") == "checking"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "not_exhaustive.yaml",
            "48:9: transitions[1].routes[1]: routes of 'bills_checked' are not exhaustive: "
            "no route is taken when none of 'case.amount > 5000', 'case.amount <= 5000' holds; "
            "add a last route without when: the one taken otherwise",
        ),
        (
            "otherwise_not_last.yaml",
            "46:9: transitions[1].routes[0]: route 1 of 'bills_checked' has no condition, so "
            "the routes after it are never taken; give it a when: condition, or move it last",
        ),
        (
            "unknown_field.yaml",
            "47:15: transitions[1].routes[0].when: route condition 'case.amout > 5000': "
            "unknown field 'case.amout'; did you mean 'case.amount'?",
        ),
        (
            "dest_and_routes.yaml",
            "46:5: transitions[1].routes: transition 'bills_checked' has both dest and routes; "
            "keep dest for one destination, or routes for several",
        ),
    ],
)
def test_broken_routing_is_refused_with_its_location(name: str, expected: str) -> None:
    assert [str(p) for p in check_files([CORPUS / name])] == [f"{CORPUS / name}:{expected}"]


def test_routed_files_are_tiers_with_one_mistake() -> None:
    import difflib

    def body(path: Path) -> list[str]:
        return [x for x in path.read_text(encoding="utf-8").splitlines() if not x.startswith("#")]

    base = body(REPO / TIERS)
    assert check_files([TIERS]) == []
    for path in sorted((REPO / CORPUS).glob("*.yaml")):
        if path.name != "tiers.yaml":
            assert path.read_text(encoding="utf-8").startswith("# Broken on purpose"), path
            changed = [x for x in difflib.ndiff(base, body(path)) if x[:1] in "+-"]
            assert 0 < len(changed) <= 3, f"{path.name}: {changed}"


def test_non_exhaustive_routing_is_refused_by_workflow_validate(run_cli: Cli) -> None:
    result = run_cli("workflow", "validate", str(CORPUS / "not_exhaustive.yaml"))
    assert result.exit_code == 3
    assert result.stdout == (
        f"{CORPUS / 'not_exhaustive.yaml'}:48:9: transitions[1].routes[1]: routes of "
        "'bills_checked' are not exhaustive: no route is taken when none of "
        "'case.amount > 5000', 'case.amount <= 5000' holds; "
        "add a last route without when: the one taken otherwise\n"
    )


def test_schema_and_listing_show_routes(run_cli: Cli) -> None:
    schema = json.loads(ok(run_cli("workflow", "schema")))
    route = schema["$defs"]["Route"]
    assert sorted(route["properties"]) == ["dest", "when"]
    assert "routes" in schema["$defs"]["Transition"]["properties"]


def test_diagram_has_one_edge_per_route() -> None:
    wf = load_workflow_file(REPO / TIERS).definition
    lines = machine.mermaid(wf).splitlines()
    assert "  checking --> county_review: bills_checked [case.amount > 5000]" in lines
    assert "  checking --> township_approval: bills_checked [otherwise]" in lines
    assert "  application --> checking: apply" in lines


# -- cases through the service ---------------------------------------------------------------


def test_both_branches_through_the_service(tiers: World) -> None:
    world = tiers
    big = open_and_apply(world, "8000.00")
    small = open_and_apply(world, "3000.00")
    for cid, dest in ((big, "county_review"), (small, "township_approval")):
        view = world.run(lambda svc, cid=cid: svc.view(svc.actor("li"), cid))
        [action] = view.actions
        assert action.transition.trigger == "bills_checked"
        assert action.route == (
            (dest, "case.amount > 5000") if dest == "county_review" else (dest, None)
        )
        world.fire("li", cid, "bills_checked")
        assert state(world, cid) == dest
        assert last_event(world, cid) == ("bills_checked", "checking", dest)
    # the rules stay per transition: only the county grants a routed-up case
    with pytest.raises(RefusedError) as info:
        world.fire("li", big, "county_grants")
    assert info.value.message == (
        f"cannot county_grants case {big}: needs role county_officer; li has township_caseworker"
    )
    world.fire("sun", big, "county_grants")
    world.fire("li", small, "township_grants")
    assert state(world, big) == state(world, small) == "granted"
    assert world.verify() == []


def test_exactly_at_the_boundary_takes_the_otherwise_route(tiers: World) -> None:
    cid = open_and_apply(tiers, "5000.00")
    tiers.fire("li", cid, "bills_checked")
    assert state(tiers, cid) == "township_approval"


# -- cases through the CLI -------------------------------------------------------------------


def test_both_branches_through_the_cli(tiers: World, run_cli: Cli) -> None:
    for amount, dest, why in (
        ("8000", "county_review", "case.amount > 5000"),
        ("120.50", "township_approval", "otherwise"),
    ):
        out = ok(run_cli("case", "open", PERSON_ID, "--workflow", "tiered_grant", user="li"))
        cid = out.split()[1]
        ok(run_cli("case", "fire", cid, "apply", "--field", f"amount={amount}", user="li"))
        shown = ok(run_cli("case", "show", cid, user="li"))
        assert f"  bills_checked        -> {dest} ({why})\n" in shown
        data = json.loads(ok(run_cli("case", "show", cid, "--json", user="li")))
        [action] = data["actions"]
        assert action["route"] == {
            "dest": dest,
            "when": None if why == "otherwise" else why,
        }
        fired = ok(run_cli("case", "fire", cid, "bills_checked", user="li"))
        assert fired.startswith(f"case {cid}: checking -> {dest} (")


def test_readme_example_is_the_tested_transition() -> None:
    import re

    import yaml

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(- trigger: bills_checked\n.*?)```", readme, re.S)
    assert match is not None
    tested = yaml.safe_load((REPO / TIERS).read_text(encoding="utf-8"))["transitions"][1]
    assert yaml.safe_load(match[1]) == [tested]


def test_deployed_workflow_shows_and_draws_its_routes(tiers: World, run_cli: Cli) -> None:
    shown = ok(run_cli("workflow", "show", "tiered_grant", user="li"))
    assert (
        "  bills_checked        checking  (township_caseworker), the first that holds:\n"
        "                         -> county_review        case.amount > 5000\n"
        "                         -> township_approval    otherwise\n"
    ) in shown
    drawn = ok(run_cli("workflow", "diagram", "tiered_grant", user="li"))
    assert "  checking --> county_review: bills_checked [case.amount > 5000]\n" in drawn
    assert "  checking --> township_approval: bills_checked [otherwise]\n" in drawn
