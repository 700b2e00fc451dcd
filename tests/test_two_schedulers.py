"""Two scheduler processes against one PostgreSQL database: every escalation email goes out once.

Two real OS processes each run `aidflow scheduler tick` for the same series of instants,
at the same time, against one schema and one SMTP server. The unique escalation key keeps
the sweeps from firing a rung twice; `FOR UPDATE SKIP LOCKED` and the per-message commit
keep the deliveries from sending a row twice.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from aidflow.language.calendar import WorkCalendar
from aidflow.store.models import Escalation, OutboxMessage

from .conftest import local
from .smtp import SMTPServer
from .test_crashes import escalating_world

CASES = 40
TICKS = [
    local(2023, 9, 12, 9, 0) + timedelta(days=2 * k) for k in range(4)
]  # 09-12 .. 09-18, 09:00


def test_two_scheduler_processes_send_each_escalation_once(
    pg_url: str, calendar: WorkCalendar, smtp_server: SMTPServer
) -> None:
    w = escalating_world(pg_url, calendar, CASES)  # entering investigation an hour apart from 09-01
    engine = w.engine

    env = dict(
        os.environ,
        AIDFLOW_SMTP_HOST=smtp_server.host,
        AIDFLOW_SMTP_PORT=str(smtp_server.port),
        AIDFLOW_SMTP_SECURITY="none",
        AIDFLOW_SMTP_FROM="aidflow@county.example",
    )
    for key in ("AIDFLOW_USER", "AIDFLOW_NOW", "AIDFLOW_DATABASE_URL", "AIDFLOW_LANG"):
        env.pop(key, None)
    nows = " ".join(t.strftime("%Y-%m-%dT%H:%M") for t in TICKS)
    loop = (
        f'for t in {nows}; do "$PY" -m aidflow.cli.main --db "$DB" --now "$t" scheduler tick '
        "|| exit 1; done"
    )
    procs = [
        subprocess.Popen(
            ["bash", "-c", loop],
            env=dict(env, PY=sys.executable, DB=pg_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        # a training database (the ticks' clock is simulated): each tick's banner, nothing else
        assert err.splitlines() == [
            f"[training database: simulated time {t:%Y-%m-%d %H:%M}]" for t in TICKS
        ]

    # every case: rung 0 to li and zhao (12d), rung 1 to tsup (15d); the first repeat (22d)
    # is after the last tick
    with engine.connect() as conn:
        keys = conn.execute(
            select(
                Escalation.case_id,
                Escalation.entry_seq,
                Escalation.rung,
                Escalation.repeat_no,
                Escalation.recipient,
            )
        ).all()
        # one email per recipient per sweep (a summary when a sweep fired several)
        groups = conn.execute(select(Escalation.recipient, Escalation.fired_at).distinct()).all()
        outbox = conn.execute(
            select(
                OutboxMessage.message_id,
                OutboxMessage.to_addr,
                OutboxMessage.status,
                OutboxMessage.attempts,
            ).where(OutboxMessage.escalation_id.is_not(None))
        ).all()
        unsent = (
            conn.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status != "sent")
            )
            or 0
        )
    assert len(keys) == len(set(keys)) == 3 * CASES
    assert Counter((rung, who) for _, _, rung, _, who in keys) == {
        (0, "li"): CASES,
        (0, "zhao"): CASES,
        (1, "tsup"): CASES,
    }
    assert len(outbox) == len(groups) < 3 * CASES
    assert unsent == 0
    assert {(status, attempts) for _, _, status, attempts in outbox} == {("sent", 1)}

    received = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    for mid, _to, _, _ in outbox:
        assert received[mid] == 1, mid
    assert [mid for mid, n in received.items() if n > 1] == []
    to_of = {m.message["Message-ID"]: m.rcpt_tos for m in smtp_server.messages}
    assert all(to_of[mid] == (to,) for mid, to, _, _ in outbox)

    # the two processes split the work: their "sent" counts add up to the messages, not more
    sent = [sum(int(n) for n in re.findall(r"delivery: (\d+) sent", out)) for out, _ in outs]
    fired = [
        sum(int(n) for n in re.findall(r"sweep: \d+ timed transition\(s\), (\d+) escalation", out))
        for out, _ in outs
    ]
    assert sum(fired) == 3 * CASES
    assert sum(sent) == len(smtp_server.messages)
    engine.dispose()
