"""The APScheduler 3.x adapter: the only importer of apscheduler.

One fixed periodic job (a round of sweeps and delivery), not one job per case: the
jobs read what is due from the cases table, and APScheduler's job stores cannot be
shared between processes anyway. The round never overlaps itself (max_instances=1),
missed rounds coalesce into one, and SIGTERM stops the process after the running
round finishes.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger("aidflow.scheduler.adapter")


def _add_round(sched: Any, job: Callable[[], None], interval_seconds: int) -> None:
    """The one periodic job: a round, never overlapping itself, missed rounds coalesced."""

    def guarded() -> None:
        from aidflow.errors import AidflowError

        try:
            job()
        except AidflowError as exc:  # e.g. the database is restarting: one line, no traceback
            log.error("scheduler round failed, the next round retries: %s", exc)
        except Exception:  # a failed round is logged; the next one retries
            log.exception("scheduler round failed")

    sched.add_job(
        guarded,
        "interval",
        seconds=interval_seconds,
        id="round",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=_now(),
    )


def run_forever(job: Callable[[], None], interval_seconds: int) -> None:
    """Run rounds in this thread until SIGTERM or SIGINT (`aidflow scheduler run`)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    sched = BlockingScheduler(timezone="UTC")
    _add_round(sched, job, interval_seconds)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the current round", signum)
        sched.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.info("scheduler started: a round every %ss", interval_seconds)
    sched.start()
    log.info("scheduler stopped")


def run_in_background(job: Callable[[], None], interval_seconds: int) -> Callable[[], None]:
    """Run rounds in a thread of this process (`aidflow serve --with-scheduler`, whose main
    thread belongs to the server and its signal handlers); the function that stops them
    after the running round."""
    from apscheduler.schedulers.background import BackgroundScheduler

    sched = BackgroundScheduler(timezone="UTC")
    _add_round(sched, job, interval_seconds)
    sched.start()
    log.info("scheduler started in the server: a round every %ss", interval_seconds)

    def stop() -> None:
        sched.shutdown(wait=True)
        log.info("scheduler stopped")

    return stop


def _now() -> Any:
    from aidflow.clock import SystemClock

    return SystemClock().now()  # the first round starts at once
