"""County choices as workflow settings: the village review (mandatory, on objection, off) and
the approval level (county or township, 30 or 20 WD on the statutory clock), on SQLite and
PostgreSQL, plus the loader's checks of settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import pytest
from sqlalchemy import Engine

from aidflow.clock import FrozenClock
from aidflow.engine import clocks
from aidflow.errors import RefusedError, WorkflowInvalidError
from aidflow.language.calendar import WorkCalendar
from aidflow.language.loader import load_workflow_text
from aidflow.policy.standards import policy_names
from aidflow.services.cases import Service
from aidflow.store.models import Case

from .conftest import PERSON_ID, USERS, WORKFLOWS, World, bootstrap, local

DIBAO_TEXT = (WORKFLOWS / "dibao.yaml").read_text(encoding="utf-8")
SHIPPED_REVIEW = "    value: mandatory           # mandatory in this county;"
SHIPPED_LEVEL = "    value: county              # township:"


def dibao_with(village_review: str = "mandatory", approval_level: str = "county") -> str:
    """The shipped dibao file with the two county choices edited, as a county would."""
    assert DIBAO_TEXT.count(SHIPPED_REVIEW) == 1 and DIBAO_TEXT.count(SHIPPED_LEVEL) == 1
    return DIBAO_TEXT.replace(
        SHIPPED_REVIEW, SHIPPED_REVIEW.replace("mandatory ", f"{village_review} ", 1)
    ).replace(SHIPPED_LEVEL, SHIPPED_LEVEL.replace("county ", f"{approval_level} ", 1))


def load(text: str) -> object:
    return load_workflow_text(text, "dibao.yaml", policy=policy_names(WORKFLOWS / "policy"))


@pytest.fixture
def make_world(engine: Engine, calendar: WorkCalendar) -> Callable[..., World]:
    """A world with users, one person and dibao deployed with the given settings
    (Mon 2023-09-04)."""

    def make(village_review: str = "mandatory", approval_level: str = "county") -> World:
        w = World(engine, FrozenClock(local(2023, 9, 4, 10, 0)), calendar)
        loaded = load(dibao_with(village_review, approval_level))

        def setup(svc: Service) -> None:
            bootstrap(svc, deploy=False)
            svc.deploy("admin", loaded)  # type: ignore[arg-type]
            for name, roles, area in USERS[1:]:
                svc.add_user("admin", name, roles, area, f"{name}@county.example")
            svc.register_person(PERSON_ID, "王秀英", "城关镇", "东村", "rural", disability_grade=2)

        w.run(setup)
        return w

    return make


def case(w: World, cid: int) -> Case:
    return w.run(lambda svc: svc.session.get_one(Case, cid))  # type: ignore[no-any-return]


def investigate(w: World) -> int:
    cid = int(w.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id))
    w.fire("li", cid, "accept")
    w.fire("li", cid, "start_investigation", investigators="li,zhao")
    return cid


def findings(w: World, cid: int, trigger: str) -> None:
    w.fire("li", cid, trigger, note="visited", monthly_income="120.50", income_stable="yes")


def objection(w: World, cid: int) -> tuple[str, str, str, str | None]:
    ev = w.run(lambda svc: svc.object(svc.actor("chen"), cid, "neighbour reports rental income"))
    return ev.kind, ev.from_state, ev.to_state, ev.trigger


def vote_through(w: World, cid: int) -> None:
    for i in range(1, 6):
        rep = f"rep{i}"
        w.run(lambda svc: svc.vote(svc.actor(rep), cid, "yes"))  # noqa: B023 - run at once
    w.fire("chen", cid, "review_passed")


def test_mandatory_review_is_the_shipped_route(make_world: Callable[..., World]) -> None:
    w = make_world()
    cid = investigate(w)
    with pytest.raises(RefusedError) as info:
        findings(w, cid, "submit_findings_to_notice")
    assert info.value.message == (
        f"cannot submit_findings_to_notice case {cid}: not allowed yet: "
        "Village democratic review must not be 'mandatory' (now 'mandatory')"
    )
    findings(w, cid, "submit_findings")
    assert case(w, cid).state == "village_review"
    vote_through(w, cid)
    assert objection(w, cid) == ("objection", "public_notice", "investigation", "object")
    assert w.verify() == []


def test_on_objection_review_skips_the_vote_until_an_objection(
    make_world: Callable[..., World],
) -> None:
    w = make_world("on_objection")
    cid = investigate(w)
    with pytest.raises(RefusedError) as info:
        findings(w, cid, "submit_findings")
    assert info.value.message == (
        f"cannot submit_findings case {cid}: not allowed yet: "
        "Village democratic review must be 'mandatory' (now 'on_objection')"
    )
    findings(w, cid, "submit_findings_to_notice")
    assert case(w, cid).state == "public_notice"
    assert objection(w, cid) == ("objection", "public_notice", "village_review", "object_to_review")
    vote_through(w, cid)  # the review held because of the objection, then a new notice
    assert case(w, cid).state == "public_notice"
    # the objection extended the statutory clock by 15 WD: 45 WD from Mon 09-04 (L21 §22)
    assert case(w, cid).clocks["statutory"]["extended"] == ["object_to_review"]
    assert w.verify() == []


def test_review_off_goes_straight_to_notice_and_objections_reinvestigate(
    make_world: Callable[..., World],
) -> None:
    w = make_world("'off'")  # quoted: YAML 1.1 reads a bare off as false
    cid = investigate(w)
    findings(w, cid, "submit_findings_to_notice")
    assert case(w, cid).state == "public_notice"
    assert objection(w, cid) == ("objection", "public_notice", "investigation", "object")
    assert w.verify() == []


@pytest.mark.parametrize(
    ("level", "due"),
    [
        # 30 WD from Mon 09-04: Sep 5-28 (18; the 29th is Mid-Autumn), Oct 7-8, Oct 9-20
        # -> 00:00 on 10-21
        ("county", local(2023, 10, 21, 0, 0)),
        # 20 WD from Mon 09-04: Sep 5-28 (18), the working weekend Oct 7-8 (20) -> 00:00 on 10-09
        ("township", local(2023, 10, 9, 0, 0)),
    ],
)
def test_the_statutory_clock_is_20_wd_when_the_township_approves(
    make_world: Callable[..., World], level: str, due: object
) -> None:
    w = make_world(approval_level=level)
    cid = investigate(w)
    assert case(w, cid).clocks["statutory"] == {
        "status": "running",
        "started_at": local(2023, 9, 4, 10, 0).astimezone(UTC).isoformat(),
        "due_at": due.astimezone(UTC).isoformat(),
    }  # type: ignore[attr-defined]
    c = case(w, cid)
    wf = w.run(lambda svc: svc.workflow_of(c))
    (r,) = clocks.report(wf, c.clocks, local(2023, 9, 4, 11, 0), w.calendar)
    assert r.duration == ("20wd" if level == "township" else "30wd")  # what `case show` prints


def problems(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalidError) as info:
        load(text)
    return [str(p) for p in info.value.problems]


def test_a_value_outside_the_choices_is_refused_with_a_suggestion() -> None:
    assert problems(dibao_with("on_objecton")) == [
        (
            "dibao.yaml:50:12: settings.village_review.value: setting 'village_review' has value "
            "'on_objecton', not one of its choices (mandatory, on_objection, off); did you mean "
            "'on_objection'?"
        )
    ]


def test_a_guard_naming_an_unknown_setting_is_refused() -> None:
    text = DIBAO_TEXT.replace(
        "      - setting.village_review == 'mandatory'\n",
        "      - setting.village_reviw == 'mandatory'\n",
        1,
    )
    assert problems(text) == [
        (
            "dibao.yaml:170:9: transitions[3].guards[0]: "
            "guard \"setting.village_reviw == 'mandatory'\": "
            "unknown field 'setting.village_reviw'; did you mean 'setting.village_review'?"
        )
    ]


def test_a_clock_duration_when_is_checked() -> None:
    text = DIBAO_TEXT.replace(
        """{when: "setting.approval_level == 'township'", duration: 20wd}""",
        """{when: "setting.approval == 'township'", duration: 20d}""",
        1,
    )
    assert problems(text) == [
        (
            "dibao.yaml:70:16: clocks.statutory.duration_when[0].when: "
            "duration_when \"setting.approval == 'township'\": "
            "unknown field 'setting.approval'; did you mean 'setting.approval_level'?"
        ),
        (
            "dibao.yaml:70:60: clocks.statutory.duration_when[0].duration: duration '20d' is not "
            "in the clock's unit (wd, from duration '30wd'); write it in wd, e.g. 20wd"
        ),
    ]
