"""Moving running cases to a new workflow version (issue 14): `aidflow workflow migrate`.

200 running dibao cases, 20 in each non-final state, driven there through the service, and
a few closed ones; version 2 (tests/workflows/migrate/dibao.yaml) renames `public_notice`
to `notice`, adds a step `info_matching` before the investigation and gives the
investigation 15 WD instead of 10. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from aidflow.language.calendar import parse_duration
from aidflow.policy.workflows import load_workflow_file
from aidflow.services import migration
from aidflow.services.cases import Service
from aidflow.store.models import Case, CaseEvent, Vote

from .conftest import REPO, TZ, Cli, World
from .test_cli import fails, ok

V2 = REPO / "tests" / "workflows" / "migrate" / "dibao.yaml"
RUNNING = [
    "discovery",
    "accepted",
    "investigation",
    "awaiting_materials",
    "village_review",
    "public_notice",
    "county_review",
    "rejection_notice",
    "active",
    "periodic_review",
]
FINAL = ["rejected", "withdrawn", "exited"]
# the new version's deadline of each state, as its file says (active: 6mo when the income
# is not stable)
NEW_DEADLINES = {
    "discovery": "3wd",
    "accepted": "3wd",
    "investigation": "15wd",
    "awaiting_materials": "30d",
    "village_review": "5wd",
    "notice": "7d",
    "county_review": "10wd",
    "rejection_notice": "3wd",
    "active": "12mo",
    "periodic_review": "10wd",
}
PLAN = """\
workflow: dibao
to: 2
states: {public_notice: notice}
skips:
  - {state: info_matching, reason: "accepted before the county's data check was a step"}
"""


def id_number(seq: int) -> str:
    """A valid ID number (born 1950-01-01), distinct per `seq` (1..999)."""
    body = f"11010519500101{seq:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def drive(svc: Service, cid: int, target: str, i: int) -> None:
    """Fire case `cid` (in discovery) on to `target`, as the county's users would."""

    def fire(user: str, trigger: str, note: str | None = None, **fields: str) -> None:
        svc.fire(svc.actor(user), cid, trigger, fields, note)

    if target == "discovery":
        return
    if target == "withdrawn":
        fire("li", "withdraw", "the applicant moved away")
        return
    fire("li", "accept")
    if target == "accepted":
        return
    fire("li", "start_investigation", investigators="li,zhao")
    if target == "investigation":
        return
    if target == "awaiting_materials":
        fire("li", "request_materials", "household register missing")
        return
    if target in ("rejection_notice", "rejected"):
        fire("li", "reject", rejection_reason="income above the standard")
        if target == "rejected":
            fire("li", "send_reasons", "delivered by hand")
        return
    stable = "true" if i % 2 else "false"
    fire("li", "submit_findings", "visited", monthly_income="120", income_stable=stable)
    if target == "village_review":  # two votes of the round, which the migration keeps
        svc.vote(svc.actor("rep1"), cid, "yes")
        svc.vote(svc.actor("rep2"), cid, "no")
        return
    for rep in ("rep1", "rep2", "rep3", "rep4", "rep5"):
        svc.vote(svc.actor(rep), cid, "yes")
    fire("chen", "review_passed")


def after_notice(svc: Service, cid: int, target: str) -> None:
    """From the public notice (its 7 days over) on to `target`."""
    if target == "public_notice":
        return
    svc.fire(svc.actor("li"), cid, "close_notice", {}, None)
    if target == "county_review":
        return
    svc.fire(svc.actor("sun"), cid, "approve", {}, None)  # the amount is computed
    if target == "periodic_review":
        svc.fire(svc.actor("li"), cid, "start_review", {}, None)
    elif target == "exited":
        svc.fire(svc.actor("li"), cid, "exit", {}, "moved to tekun")


def caseload(world: World) -> dict[int, str]:
    """20 cases in each running state and 2 in each final one: case id -> state."""
    targets = [s for s in RUNNING for _ in range(20)] + [s for s in FINAL for _ in range(2)]
    later = {"public_notice", "county_review", "active", "periodic_review", "exited"}
    made: dict[int, str] = {}
    for i, target in enumerate(targets, start=1):

        def one(svc: Service, i: int = i, target: str = target) -> int:
            svc.register_person(id_number(i), f"居民{i}", "城关镇", "东村", "rural")
            cid = svc.open_case(svc.actor("li"), id_number(i), "dibao").id
            drive(svc, cid, target, i)
            return cid

        made[world.run(one)] = target
        world.clock.advance(timedelta(minutes=97))  # entries spread over several days
    world.clock.advance(timedelta(days=8))  # every notice has run its 7 days
    for cid, target in made.items():
        if target in later:
            world.run(lambda svc, cid=cid, target=target: after_notice(svc, cid, target))
            world.clock.advance(timedelta(minutes=11))
    world.clock.advance(timedelta(hours=1))
    return made


def deploy_v2(world: World) -> None:
    world.run(lambda svc: svc.deploy("admin", load_workflow_file(V2)))


def rows(world: World) -> dict[int, tuple[Any, ...]]:
    """Every case's columns, by id."""
    with world.session() as s:
        return {
            c.id: (
                c.workflow_version_id,
                c.state,
                c.state_entered_at,
                c.entry_seq,
                c.deadline_at,
                c.clocks,
                c.last_seq,
                c.head_hash,
                c.version,
                c.closed_at,
            )
            for c in s.scalars(select(Case))
        }


def count(world: World, model: Any) -> int:
    with world.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def at_now(world: World) -> str:
    return world.clock.now().astimezone(TZ).strftime("%Y-%m-%dT%H:%M")


def shown(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


LABELS = {
    "discovery": "Discovery",
    "accepted": "Accepted",
    "investigation": "Investigation",
    "awaiting_materials": "Waiting for missing materials",
    "village_review": "Village democratic review",
    "public_notice": "Public notice",
    "notice": "Public notice",
    "county_review": "County review",
    "rejection_notice": "Written reasons for rejection",
    "active": "Receiving dibao",
    "periodic_review": "Periodic review",
}


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_running_cases_move_to_the_new_version_as_planned(
    world: World, db_url: str, tmp_path: Path
) -> None:
    made = caseload(world)
    assert Counter(made.values()) == Counter(
        {**dict.fromkeys(RUNNING, 20), **dict.fromkeys(FINAL, 2)}
    )
    deploy_v2(world)
    cli = Cli(db_url, now=at_now(world))
    before = rows(world)
    events_before, log_before = count(world, CaseEvent), audit_size(world)
    plan = write(tmp_path, "plan.yaml", PLAN)

    # a plan that strands the notices: refused, naming the cases; nothing changes
    stranding = write(
        tmp_path, "strand.yaml", PLAN.replace("states: {public_notice: notice}\n", "")
    )
    notices = sorted(c for c, s in made.items() if s == "public_notice")

    def refused(path: str) -> str:
        result = cli("workflow", "migrate", "dibao", "--to", "2", "--plan", path)
        fails(result, 6)
        return result.stderr

    err = refused(stranding)
    # the 20 notices are stranded; the 60 cases past the notice would land past `notice`,
    # which they were never in under that name
    assert "cannot migrate dibao to version 2: 80 case(s) cannot be moved by this plan (" in err
    assert "; and 60 more case(s))" in err
    for cid in notices:
        assert (
            f"case {cid}: state 'public_notice' is not in version 2 and the plan does not map it"
            in err
        )
    assert "hint: map each such state to a state of the new version under `states:`" in err
    # a plan that sends investigations straight to the county review skips the notice
    skipping = write(
        tmp_path,
        "skip.yaml",
        PLAN.replace(
            "{public_notice: notice}", "{public_notice: notice, investigation: county_review}"
        ),
    )
    err = refused(skipping)
    investigations = sorted(c for c, s in made.items() if s == "investigation")
    assert "20 case(s) cannot be moved by this plan" in err
    for cid in investigations:
        assert (
            f"case {cid}: landing in 'county_review' skips mandatory step(s) notice "
            "the case has never been in" in err
        )
    # without the plan's skip, every case past acceptance would skip the new step
    no_skip = write(tmp_path, "noskip.yaml", PLAN.split("skips:")[0])
    err = refused(no_skip)
    assert "cannot migrate dibao to version 2: 160 case(s) cannot be moved" in err
    assert "skips mandatory step(s) info_matching" in err
    assert "; and 140 more case(s))" in err
    assert rows(world) == before
    assert (count(world, CaseEvent), audit_size(world)) == (events_before, log_before)

    # the dry run lists every running case, with its states and deadlines; changes nothing
    dry = ok(
        cli("workflow", "migrate", "dibao", "--to", "2", "--plan", plan, "--dry-run", user="admin")
    )
    lines = dry.splitlines()
    running = {cid: s for cid, s in made.items() if s in RUNNING}
    assert len(lines) == len(running) + 1 + len(RUNNING)
    expected_deadline: dict[int, datetime | None] = {}
    with world.session() as s:
        for k, cid in enumerate(sorted(running)):
            case = s.get_one(Case, cid)
            old, new = case.state, "notice" if case.state == "public_notice" else case.state
            spec = NEW_DEADLINES[new]
            if new == "active" and case.data.get("income_stable") is False:
                spec = "6mo"
            due = world.calendar.add(case.state_entered_at, parse_duration(spec))
            expected_deadline[cid] = due
            assert lines[k] == (
                f"case {cid:<6} 城关镇/东村  {old} ({LABELS[old]}) -> {new} ({LABELS[new]})  "
                f"{shown(case.deadline_at)} -> {shown(due)}"
            ), lines[k]
    sha = hashlib.sha256(PLAN.encode()).hexdigest()
    assert lines[len(running)] == (
        f"200 running dibao case(s) would move to version 2 (plan sha256 {sha})"
    )
    assert "  public_notice -> notice: 20" in lines
    assert "  investigation -> investigation: 20" in lines
    assert rows(world) == before

    # the investigation got 15 WD: entered Fri 2023-08-04, the 15th working day after it
    # is Fri 08-25 (counted by hand; no holiday in August), so the deadline is 08-26 00:00
    first_investigation = min(investigations)
    assert before[first_investigation][2].astimezone(TZ).date().isoformat() == "2023-08-04"
    assert expected_deadline[first_investigation] == datetime(2023, 8, 26, tzinfo=TZ)

    # applied: every running case on version 2 in its planned state with its new deadline
    out = ok(cli("workflow", "migrate", "dibao", "--to", "2", "--plan", plan, user="admin"))
    assert out.splitlines()[0] == (
        f"200 running dibao case(s) moved to version 2 (plan sha256 {sha})"
    )
    after = rows(world)
    with world.session() as s:
        v2 = s.scalar(select(Case.workflow_version_id).where(Case.state == "notice").limit(1))
        for cid, state in made.items():
            if state in FINAL:
                assert after[cid] == before[cid]  # never touched
                continue
            vid, new_state, entered, entry_seq, deadline, clocks, last_seq, *_ = after[cid]
            assert vid == v2
            assert new_state == ("notice" if state == "public_notice" else state)
            assert entered == before[cid][2]
            assert deadline == expected_deadline[cid]
            assert entry_seq == before[cid][3]  # no vote rule changed: rounds continue
            assert last_seq == before[cid][6] + 1
            ev = s.scalars(
                select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.seq == last_seq)
            ).one()
            assert (ev.kind, ev.actor, ev.from_state, ev.to_state) == (
                "migrated",
                "admin",
                state,
                new_state,
            )
            assert ev.fields == {
                "from_version": 1,
                "to_version": 2,
                "plan_sha256": sha,
                "deadline_before": before[cid][4].isoformat(),
                "deadline_after": deadline.isoformat(),
            }
            if clocks.get("statutory", {}).get("status") == "running":
                assert clocks == before[cid][5]  # the same 30 WD: the same due date
    assert count(world, CaseEvent) == events_before + 200
    assert audit_size(world) == log_before + 1  # the 200 events, logged as one page
    assert ok(cli("audit", "verify", user="admin")).startswith("audit ok")
    assert world.verify() == [] and world.verify_log() == []

    # the votes of a village review still count on version 2
    review = min(c for c, s in made.items() if s == "village_review")
    view = world.run(lambda svc: svc.view(svc.actor("chen"), review))
    assert view.tally is not None and (view.tally.yes, view.tally.no) == (1, 1)
    assert count(world, Vote) > 0
    # the cases go on under version 2: a migrated notice closes into the county review
    notice = notices[0]
    world.fire("li", notice, "close_notice")
    assert rows(world)[notice][1] == "county_review"

    # re-running moves nothing
    events_now = count(world, CaseEvent)
    again = ok(cli("workflow", "migrate", "dibao", "--to", "2", "--plan", plan, user="admin"))
    assert again == "nothing to migrate: no running dibao case is on a version other than 2\n"
    assert count(world, CaseEvent) == events_now


def audit_size(world: World) -> int:
    from aidflow.store.models import AuditEntry

    return count(world, AuditEntry)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PLAN + "deadline: keep\n",
            "{file}:6:1: deadline: unknown key 'deadline'; did you mean 'deadlines'?",
        ),
        (
            PLAN.replace("{public_notice: notice}", "{public_notice: notic}"),
            "{file}:3:25: states.public_notice: 'notic' is not a state of dibao version 2; "
            "did you mean 'notice'?",
        ),
        (
            PLAN.replace("{public_notice: notice}", "{public_notise: notice}"),
            "{file}:3:10: states.public_notise: 'public_notise' is not a state of any other "
            "version of dibao; did you mean 'public_notice'?",
        ),
        (
            PLAN.replace("workflow: dibao", "workflow: tekun"),
            "{file}:1:11: workflow: the plan is for workflow 'tekun', not 'dibao'; "
            "write `workflow: dibao` or migrate tekun",
        ),
        (
            PLAN.replace("to: 2", "to: 3"),
            "{file}:2:5: to: the plan is for version 3, not 2; write `to: 2` or run with --to 3",
        ),
        (
            PLAN.replace(', reason: "accepted before the county\'s data check was a step"', ""),
            "{file}:5:5: skips[0].reason: skipping 'info_matching' needs a reason; "
            "write why the cases may land past this step: reason: TEXT",
        ),
        (
            PLAN + "votes: forget\n",
            "{file}:6:8: votes: 'forget' is not one of keep, restart",
        ),
    ],
)
def test_a_bad_plan_file_is_refused_with_its_line(
    world: World, db_url: str, tmp_path: Path, text: str, message: str
) -> None:
    world.run(lambda svc: drive_one(svc))
    deploy_v2(world)
    before = rows(world)
    path = write(tmp_path, "plan.yaml", text)
    result = Cli(db_url, now="2023-08-02T09:00")(
        "workflow", "migrate", "dibao", "--to", "2", "--plan", path, "--dry-run", user="admin"
    )
    fails(result, 3, "error: 1 problem found:\n" + message.format(file=path) + "\n")
    assert rows(world) == before


def drive_one(svc: Service) -> None:
    from .conftest import PERSON_ID

    cid = svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id
    svc.fire(svc.actor("li"), cid, "accept", {}, None)


def test_only_an_administrator_migrates(world: World, db_url: str) -> None:
    world.run(drive_one)
    deploy_v2(world)
    result = Cli(db_url, now="2023-08-02T09:00")(
        "workflow", "migrate", "dibao", "--to", "2", user="li"
    )
    fails(result, 5)
    assert "li is not an administrator" in result.stderr
    zh = ok(
        Cli(db_url, now="2023-08-02T09:00")(
            "--lang", "zh", "workflow", "migrate", "dibao", "--to", "2", "--dry-run", user="admin"
        )
    )
    # accepted on Tue 08-01: 3 WD end with Fri 08-04, in both versions
    assert zh.splitlines()[0] == (
        "案件 1      城关镇/东村  accepted（已受理）-> accepted（已受理）  "
        "2023-08-05 00:00 -> 2023-08-05 00:00"
    )
    assert zh.splitlines()[-2].startswith("将把 1 件办理中的 dibao 案件迁移到第 2 版")
    out = json.loads(
        ok(
            Cli(db_url, now="2023-08-02T09:00")(
                "workflow", "migrate", "dibao", "--to", "2", "--json", user="admin"
            )
        )
    )
    assert out["applied"] is True and [m["new_state"] for m in out["moves"]] == ["accepted"]
    with Session(world.engine) as s:
        assert s.scalar(select(Case.state)) == "accepted"


# -- what carries over: votes, clocks, escalations -------------------------------------------


def migrate_with(world: World, text: str, **kw: Any) -> migration.MigrationReport:
    plan = migration.load_plan(text, "plan.yaml")
    return world.run(  # type: ignore[no-any-return]
        lambda svc: migration.migrate(
            svc, "dibao", plan.to, plan, actor="admin", dry_run=False, **kw
        )
    )


def one_case(world: World, seq: int, target: str) -> int:
    def make(svc: Service) -> int:
        svc.register_person(id_number(seq), f"居民{seq}", "城关镇", "东村", "rural")
        cid = svc.open_case(svc.actor("li"), id_number(seq), "dibao").id
        drive(svc, cid, target, seq)
        return cid

    return world.run(make)  # type: ignore[no-any-return]


def deploy_text(world: World, text: str) -> None:
    from aidflow.language.loader import load_workflow_text

    world.run(lambda svc: svc.deploy("admin", load_workflow_text(text, "dibao.yaml")))


def test_votes_restart_when_the_plan_says_so(world: World) -> None:
    review = one_case(world, 1, "village_review")  # rep1 yes, rep2 no
    world.clock.advance(timedelta(hours=1))
    deploy_v2(world)
    report = migrate_with(world, PLAN + "votes: restart\n")
    assert [m.new_state for m in report.moves] == ["village_review"]
    with world.session() as s:
        case = s.get_one(Case, review)
        assert case.entry_seq == case.last_seq  # the round is the migration event
    view = world.run(lambda svc: svc.view(svc.actor("chen"), review))
    assert view.tally is not None and (view.tally.yes, view.tally.no) == (0, 0)
    # the earlier round's votes stay on record; rep1 votes again in the new round
    world.run(lambda svc: svc.vote(svc.actor("rep1"), review, "yes"))
    assert count(world, Vote) == 3
    assert world.verify() == [] and world.verify_log() == []


def test_running_clocks_get_the_new_duration_and_keep_their_pauses(world: World) -> None:
    from aidflow.language.calendar import Duration

    plain = one_case(world, 1, "investigation")
    paused_before = one_case(world, 2, "awaiting_materials")
    world.clock.advance(timedelta(days=3))
    world.fire("li", paused_before, "materials_received")  # 3 days stood still
    paused_now = one_case(world, 3, "awaiting_materials")
    world.clock.advance(timedelta(hours=1))
    before = rows(world)
    v3 = V2.read_text(encoding="utf-8").replace("    duration: 30wd\n", "    duration: 35wd\n")
    v3 = v3.replace("version: 2\n", "", 1)
    deploy_v2(world)
    deploy_text(world, v3)
    migrate_with(world, PLAN)  # version 2 has the same 30 WD
    same = rows(world)
    assert [same[c][5] for c in (plain, paused_before, paused_now)] == [
        before[c][5] for c in (plain, paused_before, paused_now)
    ]
    migrate_with(world, PLAN.replace("to: 2", "to: 3"))
    after = rows(world)
    tick = timedelta(microseconds=1)
    for cid in (plain, paused_before):
        old, new = before[cid][5]["statutory"], after[cid][5]["statutory"]
        assert new["started_at"] == old["started_at"]
        due = datetime.fromisoformat(old["due_at"])
        # 5 more working days on the due date, whatever pauses pushed it back by
        assert datetime.fromisoformat(new["due_at"]) == world.calendar.add(
            due - tick, Duration(5, "wd")
        )
    started = datetime.fromisoformat(before[plain][5]["statutory"]["started_at"])
    assert datetime.fromisoformat(after[plain][5]["statutory"]["due_at"]) == (
        world.calendar.add(started, Duration(35, "wd"))
    )
    assert after[paused_now][5] == before[paused_now][5]  # paused: keeps the time it had left
    assert world.verify() == [] and world.verify_log() == []


def test_problem_cases_can_be_left_where_they_are(world: World) -> None:
    notice = one_case(world, 1, "public_notice")
    accepted = one_case(world, 2, "accepted")
    world.clock.advance(timedelta(hours=1))
    deploy_v2(world)
    before = rows(world)
    identity = "workflow: dibao\nto: 2\n"
    report = migrate_with(world, identity, leave_problems=True)
    assert [(p.case_id, p.reason) for p in report.problems] == [
        (notice, "state 'public_notice' is not in version 2 and the plan does not map it")
    ]
    assert [m.case_id for m in report.moves] == [accepted]
    after = rows(world)
    assert after[notice] == before[notice]
    assert after[accepted][0] != before[accepted][0]


def test_a_migration_dated_before_a_cases_last_event_is_refused(world: World) -> None:
    from aidflow.errors import ConflictError

    one_case(world, 1, "investigation")
    deploy_v2(world)
    world.clock.advance(timedelta(hours=-2))
    before, events_before = rows(world), count(world, CaseEvent)
    with pytest.raises(ConflictError, match=r"1 case\(s\) have events after the migration"):
        migrate_with(world, PLAN)
    assert rows(world) == before and count(world, CaseEvent) == events_before


def test_an_escalation_queued_before_a_rename_is_delivered_after_it(world: World) -> None:
    from aidflow.notify.memory import MemoryMailer
    from aidflow.services import delivery
    from aidflow.services import escalations as jobs

    cid = one_case(world, 1, "investigation")
    world.clock.advance(timedelta(days=13))
    with world.session() as s, s.begin():
        assert jobs.sweep_deadlines(s, world.clock, world.calendar) == 2  # li and zhao
    renamed = V2.read_text(encoding="utf-8").replace("investigation", "home_visit")
    deploy_text(world, renamed.replace("version: 2\n", "", 1))
    migrate_with(
        world,
        PLAN.replace(
            "{public_notice: notice}", "{public_notice: notice, investigation: home_visit}"
        ),
    )
    mailer = MemoryMailer()
    with world.session() as s, s.begin():
        assert delivery.deliver_outbox(s, world.clock, mailer) == (2, 0)
    assert all("入户调查" in m.text or "Investigation" in m.text for m in mailer.sent)
    # the ladder goes on: the rung already sent is not sent again
    with world.session() as s, s.begin():
        assert jobs.sweep_deadlines(s, world.clock, world.calendar) == 0
    assert rows(world)[cid][1] == "home_visit"


def test_a_vote_in_a_renamed_review_counts_the_votes_cast_before(world: World) -> None:
    review = one_case(world, 1, "village_review")  # rep1 yes, rep2 no
    world.clock.advance(timedelta(hours=1))
    state = "  village_review:\n    labels: {zh: 村民代表民主评议, en: Village democratic review}\n"
    state += "    owner"
    renamed = V2.read_text(encoding="utf-8").replace(
        state, state.replace("village_review", "review")
    )
    renamed = renamed.replace("dest: village_review", "dest: review").replace(
        "source: village_review", "source: review"
    )
    deploy_text(world, renamed.replace("version: 2\n", "", 1))
    migrate_with(
        world,
        PLAN.replace("{public_notice: notice}", "{public_notice: notice, village_review: review}"),
    )
    world.run(lambda svc: svc.vote(svc.actor("rep3"), review, "yes"))
    tally = world.run(lambda svc: svc.vote_tally(review, "rep3", rows(world)[review][3]))
    assert (tally.yes, tally.no) == (2, 1)  # the round went on under the new name


def test_a_case_changed_while_it_is_migrated_fails_the_whole_migration(world: World) -> None:
    """The store's bulk write matches each case by its version: a case fired between the read
    and the write is not overwritten, and nothing is migrated."""
    from aidflow.errors import ConflictError
    from aidflow.store import rehoming, workflows

    first = one_case(world, 1, "accepted")
    one_case(world, 2, "accepted")
    world.clock.advance(timedelta(hours=1))
    deploy_v2(world)
    with world.session() as s:
        v2 = workflows.workflow_version(s, "dibao", 2).id
        stale = rehoming.running_cases(s, "dibao", v2)
    world.fire("li", first, "start_investigation", investigators="li,zhao")  # meanwhile
    before, events_before = rows(world), count(world, CaseEvent)
    moves = [rehoming.CaseMoveRow(c, v2, c.state, c.deadline_at, None, False, {}) for c in stale]
    refused = pytest.raises(ConflictError, match=r"^1 of the 2 case\(s\) changed while")
    with refused, world.session() as s, s.begin():
        rehoming.write_moves(s, moves, at=world.clock.now(), actor="admin", note="test")
    assert rows(world) == before and count(world, CaseEvent) == events_before
    assert world.verify() == [] and world.verify_log() == []


def migrated_pair(world: World) -> tuple[int, int, str]:
    """Two cases migrated to version 2: their ids and the key of the page's log entry."""
    first, second = one_case(world, 1, "village_review"), one_case(world, 2, "village_review")
    world.clock.advance(timedelta(hours=1))
    deploy_v2(world)
    migrate_with(world, PLAN)
    with world.engine.connect() as conn:
        (key,) = conn.execute(
            text("SELECT subject_key FROM audit_log WHERE subject_table = 'event_sets'")
        ).one()
    return first, second, str(key)


def verify_names(world: World, db_url: str, finding: str) -> None:
    """The check finds exactly `finding`, and `aidflow audit verify` fails naming it."""
    assert world.verify() == [] and world.verify_log() == [finding]
    out = Cli(db_url)("audit", "verify", user="admin")
    assert out.exit_code == 8, out.output
    assert out.stdout.splitlines() == [finding]


def test_a_migrated_event_changed_with_the_case_chain_recomputed(world: World, db_url: str) -> None:
    from .test_auditlog import rechain_case

    first, _, key = migrated_pair(world)
    assert world.verify_log() == []
    with world.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE case_events SET to_state = 'county_review' WHERE case_id = :c AND "
                "kind = 'migrated'"
            ),
            {"c": first},
        )
        rechain_case(conn, first)
    entry = world_entry(world, key)
    lo, hi = key.split("..")
    verify_names(
        world,
        db_url,
        f"events {lo} to {hi} (log entry #{entry}): a row was changed, added or removed after "
        "they were logged",
    )


def test_a_migrated_event_deleted_with_the_case_chain_recomputed(world: World, db_url: str) -> None:
    from .test_auditlog import rechain_case

    _, second, key = migrated_pair(world)
    with world.engine.begin() as conn:
        conn.execute(
            text("DELETE FROM case_events WHERE case_id = :c AND kind = 'migrated'"),
            {"c": second},
        )
        rechain_case(conn, second)
    entry = world_entry(world, key)
    lo, hi = key.split("..")
    verify_names(
        world,
        db_url,
        f"events {lo} to {hi} (log entry #{entry}): a row was changed, added or removed after "
        "they were logged",
    )


def test_an_event_inserted_among_the_migrated_ones(world: World, db_url: str) -> None:
    from .test_auditlog import rechain_case

    first, second, key = migrated_pair(world)
    lo, hi = key.split("..")
    with world.engine.begin() as conn:
        # the second case's migration event taken out and the attacker's put in its place,
        # under its id, at the end of the first case
        conn.execute(
            text("DELETE FROM case_events WHERE case_id = :c AND kind = 'migrated'"),
            {"c": second},
        )
        rechain_case(conn, second)
        conn.execute(
            text(
                "INSERT INTO case_events (id, case_id, seq, at, actor, kind, trigger, "
                "from_state, to_state, fields, note, prev_hash, hash) SELECT :i, case_id, "
                "seq + 1, at, actor, kind, trigger, to_state, 'county_review', fields, note, "
                "'', '' FROM case_events WHERE case_id = :c AND kind = 'migrated'"
            ),
            {"i": int(hi), "c": first},
        )
        rechain_case(conn, first)
    entry = world_entry(world, key)
    verify_names(
        world,
        db_url,
        f"events {lo} to {hi} (log entry #{entry}): a row was changed, added or removed after "
        "they were logged",
    )


def world_entry(world: World, key: str) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT seq FROM audit_log WHERE subject_table = 'event_sets' "
                    "AND subject_key = :k"
                ),
                {"k": key},
            ).scalar_one()
        )
