"""Several OS processes on the same cases at once, and idempotent retries, on SQLite and PostgreSQL.

Each worker is a separate interpreter (multiprocessing, 'spawn') that runs real `aidflow`
command lines through click's runner against the same database file or PostgreSQL schema.
The workers wait at a barrier and then fire conflicting transitions, votes, objections and
notes. Afterwards the database must show: every accepted command wrote exactly one event
and every refused one none (counts reconcile), no transition applied twice, no lost vote,
each refusal carries a clear message and a documented exit code (6 refused by the rules,
7 conflict), and every case's audit chain verifies.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.workflows import load_workflow_file
from aidflow.services.cases import Service
from aidflow.store.models import Case, CaseEvent, Vote

from .conftest import PERSON_ID, USERS, WORKFLOWS, Cli, World, bootstrap, without_banner
from .test_cli import dump, fails, ok

NOW = "2023-08-10T09:00"  # after the 7-day notice that the setup starts on 08-01
WORKERS = 4
CLEAN_ENV = {
    k: None for k in ("AIDFLOW_USER", "AIDFLOW_LANG", "AIDFLOW_NOW", "AIDFLOW_DATABASE_URL")
}


@pytest.fixture
def world(engine: Engine, clock: FrozenClock, calendar: WorkCalendar) -> World:
    """conftest's world with only the dibao workflow deployed (other workflows change under way)."""
    return dibao_world(engine, clock, calendar)


def dibao_world(engine: Engine, clock: FrozenClock, calendar: WorkCalendar) -> World:
    w = World(engine, clock, calendar)

    def setup(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_file(WORKFLOWS / "dibao.yaml"))
        for name, roles, area in USERS[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        svc.register_person(
            PERSON_ID,
            "王秀英",
            "城关镇",
            "东村",
            "rural",
            disability_grade=2,
            related_users=["rep7"],
        )

    w.run(setup)
    return w


# -- the worker process ------------------------------------------------------------------------


def _worker(url: str, commands: list[tuple[str, list[str]]], barrier: Any, out: Any) -> None:
    """Run `commands` ((user, argv) pairs) after all workers reach the barrier;
    report each result."""
    from click.testing import CliRunner

    from aidflow.cli.main import cli

    runner = CliRunner()
    runner.invoke(cli, ["--help"], env=CLEAN_ENV)  # import everything before the start line
    barrier.wait(timeout=120)
    results = []
    for user, argv in commands:
        r = without_banner(
            runner.invoke(cli, ["--db", url, "--now", NOW, "--as", user, *argv], env=CLEAN_ENV)
        )
        results.append((user, argv, r.exit_code, r.stdout, r.stderr))
    out.put((os.getpid(), results))


def run_workers(
    url: str, scripts: list[list[tuple[str, list[str]]]]
) -> list[tuple[int, list[Any]]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(scripts))
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, script, barrier, queue)) for script in scripts]
    for p in procs:
        p.start()
    reports = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len({pid for pid, _ in reports}) == len(scripts)  # really separate processes
    return reports


# -- setup ------------------------------------------------------------------------------------


def open_case(world: World) -> int:
    return int(world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id))


def to_review(world: World) -> int:
    cid = open_case(world)
    world.fire("li", cid, "accept")
    world.fire("li", cid, "start_investigation", investigators="li,zhao")
    world.fire(
        "li", cid, "submit_findings", note="visited", monthly_income="120.50", income_stable="no"
    )
    return cid


def to_notice(world: World) -> int:
    cid = to_review(world)
    for i in range(1, 6):
        world.run(lambda svc, i=i: svc.vote(svc.actor(f"rep{i}"), cid, "yes"))
    world.fire("chen", cid, "review_passed")
    return cid


def event_count(world: World, cid: int | None = None) -> int:
    stmt = select(func.count()).select_from(CaseEvent)
    if cid is not None:
        stmt = stmt.where(CaseEvent.case_id == cid)
    return int(world.run(lambda svc: svc.session.scalar(stmt)))


# -- the race --------------------------------------------------------------------------------


def test_processes_racing_on_the_same_cases(world: World, db_url: str) -> None:
    accept_cases = [open_case(world) for _ in range(3)]  # everyone fires accept: one may win
    review_case = to_review(world)  # rep1..rep6 vote, each rep from two processes
    notice_cases = [to_notice(world) for _ in range(2)]  # close_notice against object
    idem_case = open_case(world)  # the same keyed retry from every process
    all_cases = accept_cases + [review_case] + notice_cases + [idem_case]
    before = {cid: event_count(world, cid) for cid in all_cases}

    scripts: list[list[tuple[str, list[str]]]] = []
    for w in range(WORKERS):
        s: list[tuple[str, list[str]]] = []
        for cid in accept_cases:
            s.append(("li" if w % 2 else "zhao", ["case", "fire", str(cid), "accept"]))
        for rep in (f"rep{1 + (w + k) % 6}" for k in range(3)):  # each rep is used by 2 workers
            s.append((rep, ["case", "vote", str(review_case), "yes" if w % 2 else "no"]))
        for cid in notice_cases:
            if w % 2:
                s.append(("li", ["case", "fire", str(cid), "close_notice"]))
            else:
                s.append(
                    ("chen", ["case", "object", str(cid), "--note", f"objection from worker {w}"])
                )
        for cid in all_cases:
            s.append(("li", ["case", "note", str(cid), "--note", f"note from worker {w}"]))
        s.append(
            (
                "li",
                ["case", "fire", str(idem_case), "accept", "--idempotency-key", "retry-accept-1"],
            )
        )
        s.append(
            (
                "li",
                [
                    "case",
                    "note",
                    str(idem_case),
                    "--note",
                    "keyed",
                    "--idempotency-key",
                    "retry-note-1",
                ],
            )
        )
        scripts.append(s)

    reports = run_workers(db_url, scripts)
    results = [r for _, rs in reports for r in rs]
    accepted = [r for r in results if r[2] == 0]
    refused = [r for r in results if r[2] != 0]
    codes = Counter(r[2] for r in refused)
    print(
        f"\n[{db_url.split(':')[0]}] processes={WORKERS} commands={len(results)} "
        f"accepted={len(accepted)} "
        f"refused={len(refused)} by exit code {dict(sorted(codes.items()))}"
    )

    # every refusal is a documented refusal or conflict with a message naming the case
    for _user, argv, code, stdout, stderr in refused:
        assert code in (6, 7), (argv, code, stderr)
        assert stdout == ""
        assert stderr.startswith("error: ") and "Traceback" not in stderr
        case_id = argv[2]
        if code == 7:
            assert stderr.startswith(
                f"error: case {case_id} changed since you loaded it; reload and retry"
            ), stderr
        else:
            assert (
                f"case {case_id}" in stderr
                or "cannot be fired from state" in stderr
                or "already voted in this review" in stderr
                or "no objection can be raised in state" in stderr
            ), stderr

    # keyed retries: applied once; each run printed the first result, or (PostgreSQL) lost a race
    # against an unrelated note and said so (exit 7): repeating it then prints the first result
    late = 0  # keys whose every run lost a race: the repeat below applies them
    for key in ("retry-accept-1", "retry-note-1"):
        runs = [r for r in results if key in r[1]]
        assert {r[2] for r in runs} <= {0, 7}, [(r[2], r[4]) for r in runs]
        firsts = {r[3] for r in runs if r[2] == 0}
        assert len(firsts) <= 1
        again = Cli(db_url, now=NOW)(*runs[0][1], user=runs[0][0])
        assert again.exit_code == 0 and firsts in (set(), {again.stdout}), (again.output, firsts)
        late += not firsts
        n = world.run(
            lambda svc, key=key: svc.session.scalar(
                select(func.count()).select_from(CaseEvent).where(CaseEvent.command_id == key)
            )
        )
        assert n == 1
    keyed = sum(1 for r in accepted if "--idempotency-key" in r[1])
    distinct_keyed = len({r[1][-1] for r in accepted if "--idempotency-key" in r[1]}) + late
    assert distinct_keyed == 2

    # counts reconcile: each accepted command (a keyed retry counted once) wrote one event
    written = sum(event_count(world, cid) - before[cid] for cid in all_cases)
    assert written == len(accepted) - keyed + distinct_keyed

    def cases() -> dict[int, Case]:
        return world.run(lambda svc: {c.id: c for c in svc.session.scalars(select(Case))})

    by_id = cases()
    for cid in all_cases:
        c = by_id[cid]
        events = world.run(
            lambda svc, cid=cid: list(
                svc.session.scalars(
                    select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq)
                )
            )
        )
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert c.last_seq == len(events) and c.head_hash == events[-1].hash
        transitions = [e for e in events if e.kind in ("transition", "objection")]
        # no transition applied twice: each event starts where the previous one ended
        state = events[0].to_state
        for e in transitions:
            assert e.from_state == state, (cid, e.seq, e.from_state, state)
            state = e.to_state
        assert c.state == state
        if cid in accept_cases or cid == idem_case:
            assert [e.trigger for e in transitions] == ["accept"]
            assert c.state == "accepted"
        if cid in notice_cases:
            assert (
                len(transitions) == 5
            )  # 3 to reach review, review_passed, then exactly one of these
            assert transitions[-1].trigger in ("close_notice", "object")
    # votes: one row per vote event, never two for one rep, none lost
    vote_events = world.run(
        lambda svc: [
            (e.actor, e.fields["choice"])
            for e in svc.session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == review_case, CaseEvent.kind == "vote")
            )
        ]
    )
    vote_rows = world.run(
        lambda svc: [
            (v.voter, v.choice)
            for v in svc.session.scalars(select(Vote).where(Vote.case_id == review_case))
        ]
    )
    assert sorted(vote_events) == sorted(vote_rows)
    vote_accepted = [r for r in accepted if r[1][1] == "vote"]
    assert (
        len({v for v, _ in vote_rows}) == len(vote_rows) == len(vote_accepted)
    )  # no rep twice, none lost
    assert sorted(vote_rows) == sorted((r[0], r[1][3]) for r in vote_accepted)
    assert world.verify() == []
    assert world.verify_log() == []


def test_keyed_retries_from_many_processes_apply_once(world: World, db_url: str) -> None:
    """The same five keyed commands (open, fire, vote, object-free note) from every process."""
    review_case = to_review(world)
    before = event_count(world)
    script = [
        ("li", ["case", "open", PERSON_ID, "--workflow", "dibao", "--idempotency-key", "open-7"]),
        ("rep2", ["case", "vote", str(review_case), "yes", "--idempotency-key", "vote-rep2"]),
        (
            "li",
            ["case", "note", str(review_case), "--note", "called", "--idempotency-key", "note-9"],
        ),
    ]
    reports = run_workers(db_url, [script] * WORKERS)
    results = [r for _, rs in reports for r in rs]
    print(
        f"\n[{db_url.split(':')[0]}] keyed retries: processes={WORKERS} commands={len(results)} "
        f"accepted={sum(1 for r in results if r[2] == 0)} "
        f"conflicts={sum(1 for r in results if r[2] == 7)}"
    )
    for i, (user, argv) in enumerate(script):
        same = [rs[i] for _, rs in reports]
        # the vote and the note move the same case, so on PostgreSQL one may lose to the other
        # (exit 7)
        assert {r[2] for r in same} <= {0, 7}, [r[4] for r in same]
        firsts = {r[3] for r in same if r[2] == 0}
        assert len(firsts) <= 1
        again = Cli(db_url, now=NOW)(*argv, user=user)  # the caseworker repeats it once more
        assert again.exit_code == 0 and firsts in (set(), {again.stdout}), (again.output, firsts)
    assert event_count(world) == before + 3
    n_cases = world.run(lambda svc: svc.session.scalar(select(func.count()).select_from(Case)))
    assert n_cases == 2
    assert world.verify() == []
    assert world.verify_log() == []


# -- idempotency keys, one process ------------------------------------------------------------


def test_idempotency_key_replays_the_first_result(world: World, db_url: str) -> None:
    cli = Cli(db_url, now="2023-08-01T10:00")
    opened = ok(
        cli("case", "open", PERSON_ID, "-w", "dibao", "--idempotency-key", "k-open", user="li")
    )
    assert (
        opened == "case 1 opened: dibao, state discovery (Discovery), "
        "deadline 2023-08-04 (Fri) end of day\n"
    )
    fired = ok(cli("case", "fire", "1", "accept", "--idempotency-key", "k-accept", user="li"))
    assert (
        fired == "case 1: discovery -> accepted (Accepted); deadline 2023-08-04 (Fri) end of day\n"
    )
    noted = ok(
        cli("case", "note", "1", "--note", "called her", "--idempotency-key", "k-note", user="li")
    )
    assert noted == "case 1: note #3 added\n"
    ok(cli("case", "fire", "1", "start_investigation", "-f", "investigators=li,zhao", user="li"))
    before = dump(db_url)
    # the connection dropped; the caseworker repeats each command later, after the case moved on
    later = "2023-08-03T15:00"
    assert (
        ok(
            cli(
                "case",
                "open",
                PERSON_ID,
                "-w",
                "dibao",
                "--idempotency-key",
                "k-open",
                user="li",
                now=later,
            )
        )
        == opened
    )
    assert (
        ok(
            cli(
                "case", "fire", "1", "accept", "--idempotency-key", "k-accept", user="li", now=later
            )
        )
        == fired
    )
    assert (
        ok(
            cli(
                "case",
                "note",
                "1",
                "--note",
                "called her",
                "--idempotency-key",
                "k-note",
                user="li",
                now=later,
            )
        )
        == noted
    )
    assert dump(db_url) == before
    # without the key the same fire is refused, as before
    fails(cli("case", "fire", "1", "accept", user="li"), 6)


def test_idempotency_key_reused_for_another_command_is_an_error(world: World, db_url: str) -> None:
    cli = Cli(db_url)
    ok(cli("case", "open", PERSON_ID, "-w", "dibao", user="li"))
    ok(cli("case", "open", PERSON_ID, "-w", "dibao", user="li"))
    ok(cli("case", "fire", "1", "accept", "--idempotency-key", "k1", user="li"))
    before = dump(db_url)
    hint = (
        "  hint: use a new key for each new command; repeat a key only to retry that same command\n"
    )
    fails(
        cli("case", "fire", "2", "accept", "--idempotency-key", "k1", user="li"),
        3,
        "error: idempotency key 'k1' was already used for a different command "
        "(transition accept on case 1 by li)\n" + hint,
    )
    fails(
        cli("case", "note", "1", "--note", "x", "--idempotency-key", "k1", user="li"),
        3,
        "error: idempotency key 'k1' was already used for a different command "
        "(transition accept on case 1 by li)\n" + hint,
    )
    fails(cli("case", "fire", "1", "accept", "--idempotency-key", "k1", user="zhao"), 3)
    fails(cli("case", "open", PERSON_ID, "-w", "dibao", "--idempotency-key", "k1", user="li"), 3)
    fails(
        cli("case", "fire", "2", "accept", "--idempotency-key", "x" * 101, user="li"),
        3,
        f"error: idempotency key '{'x' * 101}' must be 1 to 100 printable characters\n"
        "  hint: use a fresh UUID per command, e.g. from `uuidgen`\n",
    )
    fails(cli("case", "fire", "2", "accept", "--idempotency-key", " ", user="li"), 3)
    assert dump(db_url) == before


def test_keyed_vote_and_objection_replay(world: World, db_url: str) -> None:
    cid = to_review(world)
    cli = Cli(db_url, now=NOW)
    first = ok(cli("case", "vote", str(cid), "yes", "--idempotency-key", "v1", user="rep1"))
    assert first == f"case {cid}: rep1 voted yes; tally 1 yes, 0 no, 0 abstain (no quorum yet)\n"
    for i in range(2, 6):
        ok(cli("case", "vote", str(cid), "yes", user=f"rep{i}"))
    assert ok(cli("case", "vote", str(cid), "yes", "--idempotency-key", "v1", user="rep1")) == first
    fails(cli("case", "vote", str(cid), "no", "--idempotency-key", "v1", user="rep1"), 3)
    ok(cli("case", "fire", str(cid), "review_passed", user="chen"))
    world.clock.advance(timedelta(days=1))
    objected = ok(
        cli(
            "case",
            "object",
            str(cid),
            "--note",
            "income hidden",
            "--idempotency-key",
            "o1",
            user="chen",
        )
    )
    assert objected == f"case {cid}: objection recorded; public_notice -> investigation\n"
    before = dump(db_url)
    assert (
        ok(
            cli(
                "case",
                "object",
                str(cid),
                "--note",
                "income hidden",
                "--idempotency-key",
                "o1",
                user="chen",
            )
        )
        == objected
    )
    assert dump(db_url) == before
    assert world.verify() == []
    assert world.verify_log() == []


def test_stale_expected_version_is_a_conflict_that_writes_nothing(
    world: World, db_url: str
) -> None:
    cid = open_case(world)
    cli = Cli(db_url)
    before = dump(db_url)
    fails(
        cli("case", "fire", str(cid), "accept", "--expect-version", "7", user="li"),
        7,
        f"error: case {cid} changed since you loaded it (version 7, now 2); reload and retry\n"
        f"  hint: `aidflow case show {cid}` shows what changed\n",
    )
    assert dump(db_url) == before
