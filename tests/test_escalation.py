"""Escalation ladders, timed transitions and the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aidflow.engine.access import Actor
from aidflow.errors import ForbiddenError, RefusedError, WorkflowInvalidError
from aidflow.language.definition import ESCALATION_TEMPLATES
from aidflow.language.loader import load_workflow_text
from aidflow.notify.email import SMTPMailer
from aidflow.notify.mailer import DeliveryError, Message
from aidflow.notify.memory import MemoryMailer
from aidflow.notify.render import Templates
from aidflow.notify.templates import TEMPLATE_VARIABLES
from aidflow.services import delivery
from aidflow.services import escalations as jobs
from aidflow.store.models import Case, CaseEvent, Escalation, OutboxMessage

from .conftest import PERSON_ID, TZ, WORKFLOWS, World
from .smtp import SMTPServer

SUPERVISORS = [
    ("tsup", ["township_supervisor"], "城关镇"),
    ("vsup", ["township_supervisor"], "城关镇/东村"),
    ("hsup", ["township_supervisor"], "河西镇"),  # another township: never notified
    ("csup", ["county_supervisor"], "*"),
]

# -- the loader ------------------------------------------------------------------------

LADDER_WF = """\
workflow: laddered
version: 1
labels: {zh: 阶梯, en: Laddered}
roles:
  caseworker: {zh: 经办人, en: Caseworker}
  supervisor: {zh: 分管领导, en: Supervisor}
escalations:
  slow:
    - {after: 12h, to: caseworker, template: deadline_reminder}
    - {after: 2d, to: supervisor, template: escalation, repeat: 24h}
states:
  draft:
    labels: {zh: 草稿, en: Draft}
    initial: true
    owner: caseworker
    deadline: 3d
    escalation: slow
  done:
    labels: {zh: 完成, en: Done}
    final: true
transitions:
  - trigger: finish
    source: draft
    dest: done
    roles: [caseworker]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalidError) as info:
        load_workflow_text(text, "w.yaml")
    return [str(p) for p in info.value.problems]


def test_a_ladder_loads_as_data() -> None:
    wf = load_workflow_text(LADDER_WF, "w.yaml").definition
    assert wf.states["draft"].escalation == "slow"
    first, second = wf.escalations["slow"]
    assert (first.after, first.to, first.template, first.repeat, first.stop_on_ack) == (
        "12h",
        "caseworker",
        "deadline_reminder",
        None,
        True,
    )
    assert (second.after, second.repeat) == ("2d", "24h")


def test_escalation_templates_are_known_to_notify() -> None:
    assert set(ESCALATION_TEMPLATES) <= set(TEMPLATE_VARIABLES)


def test_unknown_ladder_role_template_and_duration() -> None:
    text = (
        LADDER_WF.replace("to: supervisor", "to: supervisr")
        .replace("template: escalation", "template: escalaton")
        .replace("escalation: slow", "escalation: slw")
    )
    assert problems(text) == [
        "w.yaml:10:23: escalations.slow[1].to: role 'supervisr' is not declared under roles; "
        "did you mean 'supervisor'?",
        "w.yaml:10:44: escalations.slow[1].template: unknown template 'escalaton'; did you mean "
        "'escalation'?",
        "w.yaml:17:17: states.draft.escalation: unknown escalation ladder 'slw'; did you mean "
        "'slow'?",
    ]


def test_bad_durations_in_a_rung() -> None:
    text = LADDER_WF.replace("after: 12h", "after: 12 hours").replace(
        "repeat: 24h", "repeat: 24 hours"
    )
    forms = (
        "write a whole number followed by h (hours), d (days), wd (working days) or mo (months), "
        "e.g. 24h, 7d, 10wd, 12mo"
    )
    assert problems(text) == [
        f"w.yaml:9:15: escalations.slow[0].after: invalid duration '12 hours': {forms}; did you "
        "mean '12h'?",
        f"w.yaml:10:65: escalations.slow[1].repeat: invalid duration '24 hours': {forms}; did you "
        "mean '24h'?",
    ]


def test_unused_ladder_and_ladder_on_a_final_state() -> None:
    text = LADDER_WF.replace("    escalation: slow\n", "").replace(
        "    final: true\n", "    final: true\n    escalation: slow\n"
    )
    assert problems(text) == [
        "w.yaml:20:17: states.done.escalation: final state 'done' cannot have escalation; "
        "remove it: nothing happens after a final state",
    ]
    text = LADDER_WF.replace("    escalation: slow\n", "")
    assert problems(text) == [
        "w.yaml:8:3: escalations.slow: escalation ladder 'slow' is not used by any state; "
        "add escalation: slow to a state, or remove the ladder",
    ]


# -- sweeps ----------------------------------------------------------------------------


@pytest.fixture
def sworld(world: World) -> World:
    def setup(svc: object) -> None:
        for name, roles, area in SUPERVISORS:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")  # type: ignore[attr-defined]

    world.run(setup)
    return world


def in_investigation(world: World) -> int:
    cid = int(world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id))
    world.fire("li", cid, "accept")
    world.fire("li", cid, "start_investigation", investigators="li,zhao")
    return cid


def sweep(world: World) -> int:
    with world.session() as s, s.begin():
        return jobs.sweep_deadlines(s, world.clock, world.calendar)


def escalations(world: World) -> list[tuple[int, int, str, str]]:
    with world.session() as s:
        return [
            (e.rung, e.repeat_no, e.recipient, e.template)
            for e in s.scalars(select(Escalation).order_by(Escalation.id))
        ]


def test_ladder_fires_each_rung_once_per_recipient(sworld: World) -> None:
    w = sworld
    in_investigation(w)
    w.clock.advance(timedelta(days=11, hours=23))
    assert sweep(w) == 0
    w.clock.advance(timedelta(hours=1))  # 12d: remind the caseworkers of 城关镇
    assert sweep(w) == 2
    assert sweep(w) == 0
    assert escalations(w) == [
        (0, 0, "li", "deadline_reminder"),
        (0, 0, "zhao", "deadline_reminder"),
    ]
    w.clock.advance(timedelta(days=3))  # 15d: the township supervisors covering 城关镇/东村
    assert sweep(w) == 2
    assert sweep(w) == 0
    assert escalations(w)[2:] == [(1, 0, "tsup", "escalation"), (1, 0, "vsup", "escalation")]
    w.clock.advance(timedelta(days=7))  # the 7d repeat
    assert sweep(w) == 2
    assert sweep(w) == 0
    assert escalations(w)[4:] == [(1, 1, "tsup", "escalation"), (1, 1, "vsup", "escalation")]
    with w.session() as s:
        assert s.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) == 6


def test_email_context_names_case_person_masked_id_and_commands(sworld: World) -> None:
    w = sworld
    cid = in_investigation(w)
    w.clock.advance(timedelta(days=15))
    sweep(w)
    with w.session() as s:
        rows = s.scalars(
            select(OutboxMessage).where(OutboxMessage.to_addr == "tsup@county.example")
        ).all()
        esc = s.scalars(select(Escalation).where(Escalation.recipient == "tsup")).one()
    assert len(rows) == 1
    queued = rows[0]
    assert queued.status == "pending" and queued.attempts == 0 and queued.escalation_id == esc.id
    # the sweep queues what identifies the email; the first delivery attempt renders it
    assert (queued.template, queued.lang, queued.subject, queued.text, queued.html) == (
        "escalation",
        "en",
        None,
        None,
        None,
    )
    w.clock.advance(timedelta(days=2))  # delivered later: the email still speaks as of the sweep

    def down(msg: Message) -> None:
        raise DeliveryError("down", permanent=False)

    assert deliver(w, MemoryMailer(down)) == (0, 0)
    (msg,) = [r for r in outbox(w) if r.id == queued.id]
    assert (
        msg.subject is not None and msg.text is not None and msg.html is not None
    )  # stored at the attempt
    w.clock.advance(timedelta(hours=1))
    mailer = MemoryMailer()
    deliver(w, mailer)
    (sent,) = [m for m in mailer.sent if m.to == ("tsup@county.example",)]
    assert (
        sent.subject,
        sent.text,
        sent.html,
        sent.headers["Message-ID"],
    ) == (  # the retry sends the same
        msg.subject,
        msg.text,
        msg.html,
        queued.message_id,
    )
    assert f"#{cid}" in msg.subject
    # as of the sweep, in working days (the step's deadline counts working days)
    assert "overdue by 1 working day" in msg.subject
    for part in (msg.text, msg.html):
        assert "王秀英" in part
        assert "110***********002X" in part
        assert PERSON_ID not in part
        assert f"escalation ack {esc.id}" in part
        assert f"case show {cid}" in part
        assert "Investigation" in part
        assert "li" in part
    assert "aidflow --as tsup escalation ack" in msg.text


def test_ack_stops_the_repeats_of_that_rung(sworld: World) -> None:
    w = sworld
    in_investigation(w)
    w.clock.advance(timedelta(days=15))
    sweep(w)
    with w.session() as s, s.begin():
        esc_id = s.scalar(select(Escalation.id).where(Escalation.recipient == "tsup"))
        assert esc_id is not None
        with pytest.raises(ForbiddenError) as info:
            jobs.acknowledge(
                s, w.clock, Actor("hsup", ("township_supervisor",), "河西镇"), esc_id, None
            )
        assert info.value.message == (
            f"escalation {esc_id} was sent to tsup (township_supervisor); hsup is neither the "
            "recipient nor a township_supervisor covering 城关镇/东村"
        )
        jobs.acknowledge(
            s, w.clock, Actor("tsup", ("township_supervisor",), "城关镇"), esc_id, "called li"
        )
        with pytest.raises(RefusedError):
            jobs.acknowledge(
                s, w.clock, Actor("tsup", ("township_supervisor",), "城关镇"), esc_id, None
            )
    w.clock.advance(timedelta(days=30))
    assert sweep(w) == 0
    with w.session() as s:
        esc = s.get_one(Escalation, esc_id)
        assert (esc.acknowledged_by, esc.ack_note) == ("tsup", "called li")
        last = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == esc.case_id).order_by(CaseEvent.seq.desc())
        ).first()
        assert last is not None
        assert (last.kind, last.actor, last.fields, last.note) == (
            "note",
            "tsup",
            {"escalation_ack": esc_id},
            "called li",
        )
    assert w.verify() == []


def test_leaving_the_state_ends_the_ladder(sworld: World) -> None:
    w = sworld
    cid = in_investigation(w)
    w.fire("li", cid, "submit_findings", note="visited", monthly_income="100", income_stable="no")
    w.clock.advance(timedelta(days=40))
    assert sweep(w) == 0


LAPSE_WF = """\
workflow: lapse
version: 1
labels: {zh: 失效, en: Lapse}
roles:
  township_caseworker: {zh: 经办人, en: Caseworker}
states:
  waiting:
    labels: {zh: 等待, en: Waiting}
    initial: true
    owner: township_caseworker
    deadline: 24h
    on_timeout: expire
  expired:
    labels: {zh: 失效, en: Expired}
    final: true
  done:
    labels: {zh: 完成, en: Done}
    final: true
transitions:
  - trigger: expire
    source: waiting
    dest: expired
    system: true
  - trigger: finish
    source: waiting
    dest: done
    roles: [township_caseworker]
"""


def test_on_timeout_fires_as_system_in_the_audit_chain(sworld: World) -> None:
    w = sworld
    w.run(lambda svc: svc.deploy("admin", load_workflow_text(LAPSE_WF, "lapse.yaml")))
    cid = int(w.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "lapse").id))
    other = int(w.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "lapse").id))
    w.fire("li", other, "finish")
    w.clock.advance(timedelta(hours=23, minutes=59))
    assert sweep(w) == 0
    w.clock.advance(timedelta(minutes=1))
    assert sweep(w) == 1
    assert sweep(w) == 0
    with w.session() as s:
        case = s.get_one(Case, cid)
        assert (case.state, case.closed_at) == ("expired", w.clock.now())
        last = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq.desc())
        ).first()
        assert last is not None
        assert (last.actor, last.trigger, last.from_state, last.to_state) == (
            "system",
            "expire",
            "waiting",
            "expired",
        )
    assert w.verify() == []


# -- delivery --------------------------------------------------------------------------


def deliver(world: World, mailer: object, **kw: object) -> tuple[int, int]:
    with world.session() as s, s.begin():
        return delivery.deliver_outbox(s, world.clock, mailer, **kw)  # type: ignore[arg-type]


def outbox(world: World) -> list[OutboxMessage]:
    with world.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def two_emails(w: World) -> None:
    in_investigation(w)
    w.clock.advance(timedelta(days=12))
    assert sweep(w) == 2


def test_delivery_over_smtp_sends_each_row_once(sworld: World, smtp_server: SMTPServer) -> None:
    w = sworld
    two_emails(w)
    mailer = SMTPMailer(
        smtp_server.host, smtp_server.port, security="none", sender="aidflow@county.example"
    )
    assert deliver(w, mailer) == (2, 0)
    assert deliver(w, mailer) == (0, 0)
    assert sorted(m.rcpt_tos for m in smtp_server.messages) == [
        ("li@county.example",),
        ("zhao@county.example",),
    ]
    rows = outbox(w)
    assert [(r.status, r.attempts, r.sent_at) for r in rows] == [("sent", 1, w.clock.now())] * 2
    got = {m.message["Message-ID"] for m in smtp_server.messages}
    assert got == {r.message_id for r in rows}
    body = smtp_server.messages[0].message.get_body(("plain",))
    assert body is not None and "110***********002X" in body.get_content()


def test_refusing_server_marks_failed(sworld: World, smtp_server: SMTPServer) -> None:
    w = sworld
    two_emails(w)
    smtp_server.refuse("RCPT", "550 5.1.1 No such user")
    mailer = SMTPMailer(
        smtp_server.host, smtp_server.port, security="none", sender="aidflow@county.example"
    )
    assert deliver(w, mailer) == (0, 2)
    rows = outbox(w)
    assert [(r.status, r.attempts) for r in rows] == [("failed", 1)] * 2
    assert "550" in (rows[0].last_error or "")
    assert smtp_server.messages == []
    smtp_server.reset()
    with w.session() as s, s.begin():
        delivery.retry_outbox(s, w.clock, rows[0].id)
        with pytest.raises(RefusedError):
            delivery.retry_outbox(s, w.clock, rows[0].id)
    assert deliver(w, mailer) == (1, 0)
    assert len(smtp_server.messages) == 1


def test_stopped_server_leaves_rows_pending_with_backoff(
    sworld: World, smtp_server: SMTPServer
) -> None:
    w = sworld
    two_emails(w)
    smtp_server.stop()
    mailer = SMTPMailer(
        smtp_server.host,
        smtp_server.port,
        security="none",
        sender="aidflow@county.example",
        timeout=2,
    )
    assert deliver(w, mailer) == (0, 0)
    now = w.clock.now()
    rows = outbox(w)
    assert [(r.status, r.attempts, r.next_attempt_at) for r in rows] == [
        ("pending", 1, now + timedelta(minutes=1))
    ] * 2
    assert "refused the connection" in (rows[0].last_error or "")
    assert deliver(w, mailer) == (0, 0)  # not due yet: no attempt
    assert [r.attempts for r in outbox(w)] == [1, 1]
    smtp_server.start()
    w.clock.advance(timedelta(minutes=1))
    assert deliver(w, mailer) == (2, 0)
    assert deliver(w, mailer) == (0, 0)
    assert len(smtp_server.messages) == 2


def test_a_template_problem_at_delivery_fails_the_row_until_retried(
    sworld: World, tmp_path: Path
) -> None:
    w = sworld
    two_emails(w)  # queued unrendered
    empty = Templates(tmp_path, TZ)  # a directory without the templates
    mailer = MemoryMailer()
    assert deliver(w, mailer, templates=empty) == (0, 2)
    rows = outbox(w)
    assert [(r.status, r.attempts, r.text) for r in rows] == [("failed", 1, None)] * 2
    assert all(
        (r.last_error or "").startswith("cannot render: template deadline_reminder/en/")
        for r in rows
    )
    assert mailer.sent == []
    # fixed (the shipped templates): an administrator queues them again
    with w.session() as s, s.begin():
        for r in rows:
            delivery.retry_outbox(s, w.clock, r.id)
    assert deliver(w, mailer) == (2, 0)
    assert sorted(m.to for m in mailer.sent) == [("li@county.example",), ("zhao@county.example",)]


def test_backoff_doubles_and_caps_and_attempts_run_out(sworld: World) -> None:
    assert [delivery.backoff(n) for n in (1, 2, 3, 7, 20)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    w = sworld
    two_emails(w)

    def down(msg: Message) -> None:
        raise DeliveryError("down", permanent=False)

    mailer = MemoryMailer(down)
    for _ in range(2):
        assert deliver(w, mailer, max_attempts=3) == (0, 0)
        w.clock.advance(timedelta(hours=1))
    assert deliver(w, mailer, max_attempts=3) == (0, 2)
    assert [(r.status, r.attempts, r.last_error) for r in outbox(w)] == [("failed", 3, "down")] * 2


# -- the CLI and the README ------------------------------------------------------------

SCHEDULER_NOW = "2023-08-16T09:00"  # 15 days into the investigation


def readme_scheduler_commands() -> list[list[str]]:
    import shlex

    from .test_readme import fenced, section

    (block,) = fenced(section("Scheduler"))
    lines = [line for line in block.splitlines() if line.strip()]
    assert all(line.startswith("aidflow ") for line in lines), lines
    return [shlex.split(line, comments=True)[1:] for line in lines]


def test_cli_tick_ack_outbox_and_the_readme_commands(
    sworld: World, run_cli: object, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = run_cli  # type: ignore[assignment]
    for name in ("HOST", "PORT", "SECURITY", "USER", "PASSWORD", "FROM"):
        monkeypatch.delenv(f"AIDFLOW_SMTP_{name}", raising=False)
    cid = in_investigation(sworld)
    result = cli("scheduler", "tick", now=SCHEDULER_NOW)  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "sweep: 0 timed transition(s), 4 escalation(s)\n"
        "visits: 0 warning(s), 0 escalation(s)\n"
        "digest: 3 email(s) queued\n"  # tsup, vsup, csup (tests/test_digest.py)
        "delivery skipped: AIDFLOW_SMTP_HOST is not set; 7 message(s) stay pending\n"
    )
    # escalation emails are rendered when first sent: until then the listing names their template
    listed = cli("outbox", "list", "--json", user="admin")  # type: ignore[operator]
    assert listed.exit_code == 0, listed.output
    queued = sorted(
        (r["template"], r["subject"] is None)
        for r in json.loads(listed.stdout)
        if r["escalation_id"]
    )
    assert queued == [("deadline_reminder", True)] * 2 + [("escalation", True)] * 2
    listed = cli("outbox", "list", user="admin")  # type: ignore[operator]
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.count(", not rendered yet)\n") == 4
    monkeypatch.setenv("AIDFLOW_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("AIDFLOW_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("AIDFLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("AIDFLOW_SMTP_FROM", "aidflow@county.example")
    smtp_server.refuse("RCPT", "550 5.1.1 No such user", only={"li@county.example"})
    result = cli("scheduler", "tick", now=SCHEDULER_NOW)  # type: ignore[operator]
    assert result.stdout == (
        "sweep: 0 timed transition(s), 0 escalation(s)\n"
        "visits: 0 warning(s), 0 escalation(s)\n"
        "digest: 0 email(s) queued\n"
        "delivery: 6 sent, 1 failed, 0 pending\n"
    ), result.output
    assert sorted(
        m.rcpt_tos[0]
        for m in smtp_server.messages
        if not m.message["Subject"].startswith("[Daily digest]")
    ) == ["tsup@county.example", "vsup@county.example", "zhao@county.example"]

    result = cli("escalation", "list", "--json", user="hsup")  # type: ignore[operator]
    assert result.exit_code == 0 and result.stdout == "[]\n", result.output
    result = cli("escalation", "ack", "3", user="hsup")  # type: ignore[operator]
    assert result.exit_code == 5
    assert result.stderr.startswith(
        "error: escalation 3 was sent to tsup (township_supervisor); hsup is neither"
    )
    result = cli("outbox", "list", user="tsup")  # type: ignore[operator]
    assert result.exit_code == 5

    monkeypatch.delenv("AIDFLOW_SMTP_HOST")
    outputs = []
    for argv in readme_scheduler_commands():
        user = None
        if argv[0] == "--as":
            user, argv = argv[1], argv[2:]
        result = cli(*argv, user=user, now=SCHEDULER_NOW)  # type: ignore[operator]
        assert result.exit_code == 0, f"README command failed: {argv}\n{result.output}"
        outputs.append(result.stdout)
    tick, listing, ack, failed, retry = outputs
    assert tick.startswith("sweep: 0 timed transition(s), 0 escalation(s)\n")
    assert [line.split()[0] for line in listing.splitlines()] == ["1", "2", "3", "4"]
    assert f"case {cid}" in listing
    assert ack == f"escalation 3 on case {cid} acknowledged by tsup\n"
    assert failed.startswith("     1 failed  x1 li@county.example")
    assert retry == "outbox message 1 to li@county.example is pending again\n"
    with sworld.session() as s:
        assert s.get_one(OutboxMessage, 1).status == "pending"
        assert s.get_one(Escalation, 3).acknowledged_by == "tsup"


# -- the long-running scheduler ----------------------------------------------------------


def test_scheduler_run_catches_up_and_stops_cleanly_on_sigterm(sworld: World) -> None:
    """A real `aidflow scheduler run` process: its first round escalates what fell due while
    it was not running (a case left in investigation in 2023), then SIGTERM ends it with 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    if sworld.engine.dialect.name != "sqlite":
        pytest.skip("one process test is enough; the PostgreSQL path is covered by the sweep tests")
    in_investigation(sworld)
    url = sworld.engine.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aidflow.cli.main", "--db", url, "scheduler", "run", "--every", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("sweep:"):
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    assert "scheduler started: a round every 1s" in output
    assert "scheduler stopped" in output
    assert escalations(sworld)  # the overdue investigation was escalated
    assert sworld.verify() == []


def test_a_rung_can_count_from_the_deadline(sworld: World) -> None:
    """`relative_to: deadline`: "notify the township 1d after the deadline", whatever the
    deadline works out to on the working-day calendar."""
    from aidflow.language.loader import load_workflow_text

    w = sworld
    source = (WORKFLOWS / "dibao.yaml").read_text(encoding="utf-8")
    edited = source.replace(
        "    - {after: 15d, to: township_supervisor, template: escalation, repeat: 7d, "
        "stop_on_ack: true}",
        "    - {after: 1d, relative_to: deadline, to: township_supervisor, template: escalation}",
    ).replace("\nversion: 1\n", "\nversion: 2\n")  # deploy refuses any other number
    assert edited != source
    w.run(lambda svc: svc.deploy("admin", load_workflow_text(edited, "dibao.yaml")))
    cid = in_investigation(w)
    with w.session() as s:
        deadline = s.get_one(Case, cid).deadline_at
    assert deadline == datetime(2023, 8, 16, 0, 0, tzinfo=TZ)  # 10wd from Tue 08-01: end of 08-15
    w.clock.set(datetime(2023, 8, 16, 23, 59, tzinfo=TZ))
    sweep(w)
    assert [e for e in escalations(w) if e[0] == 1] == []
    w.clock.set(datetime(2023, 8, 17, 0, 0, tzinfo=TZ))
    assert sweep(w) == 2
    assert [e for e in escalations(w) if e[0] == 1] == [
        (1, 0, "tsup", "escalation"),
        (1, 0, "vsup", "escalation"),
    ]
    assert sweep(w) == 0
