"""One round of the scheduler: what a tick does, in order, each job in its own transaction.

1. the deadline sweep (timed transitions, then escalation ladders);
2. the care-visit check and the daily digest (with the audit log's signed checkpoint for
   the auditors, when a signing key is configured);
3. on or after the county's payment day, the month's payment run, once;
4. outbox delivery (one short transaction per message), or a count of what waits when
   no mailer is configured.

Every job looks at what is due now and is idempotent, so the first round after downtime
catches up, and a round run twice, or by two processes at once, does each thing once.
`aidflow scheduler tick` runs one round; `aidflow scheduler run` runs one every N seconds
(scheduler.adapter). A database error the environment causes (a dropped connection, a
locked file) leaves a round as UnavailableError (store.failures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from aidflow import failpoints
from aidflow.clock import Clock
from aidflow.errors import AidflowError, UnavailableError
from aidflow.i18n import N_, _
from aidflow.language.calendar import WorkCalendar
from aidflow.notify.mailer import Mailer
from aidflow.notify.render import Templates
from aidflow.policy.care import CarePolicy
from aidflow.policy.standards import Policy
from aidflow.store.database import Database
from aidflow.store.failures import unavailable_on_driver_errors

if TYPE_CHECKING:
    from aidflow.services.runtime import Runtime


def run_round(
    database: Database,
    clock: Clock,
    calendar: WorkCalendar,
    *,
    lang: str,
    domain: str,
    care_policy: Callable[[], CarePolicy],
    county_policy: Callable[[], Policy],
    payment_day: int | None,
    mailer: Mailer | None,
    templates: Templates | None = None,
    signing_key_file: Path | None = None,
    checkpoints_dir: Path | None = None,
) -> list[str]:
    """Run every job once as of `clock.now()`; one summary line per job.

    `domain` is the Message-ID domain of queued emails (the sender's). The policies are
    read when a job first needs them (the county's standards only when a payment run is
    due, on or after `payment_day`), so a county without payments needs no standards file.
    Without a `mailer` the queued emails stay pending. With a `signing_key_file` the day's
    signed checkpoint goes to the auditors (and into `checkpoints_dir`, when given).
    """
    from aidflow.services import delivery, escalations
    from aidflow.services.digest import send_checkpoints, send_digests
    from aidflow.services.visits import check_visits

    with unavailable_on_driver_errors(database.describe):
        lines = []
        with database.transaction() as session:
            swept = escalations.sweep(session, clock, calendar, lang=lang, domain=domain)
        failpoints.reach("sweep.commit")
        lines.append(swept.summary())

        policy = care_policy()
        with database.transaction() as session:
            warnings, visit_escalations = check_visits(
                session, clock, calendar, policy, lang=lang, domain=domain, templates=templates
            )
        lines.append(
            _(
                "visits: {warnings} warning(s), {escalations} escalation(s)",
                warnings=warnings,
                escalations=visit_escalations,
            )
        )
        with _isolated(lines, N_("digest")):
            with database.transaction() as session:
                digests = send_digests(
                    session, clock, calendar, lang=lang, domain=domain, templates=templates
                )
            lines.append(_("digest: {n} email(s) queued", n=digests))
        if signing_key_file is not None:
            with database.transaction() as session:
                mailed = send_checkpoints(
                    session,
                    clock,
                    calendar,
                    key_file=signing_key_file,
                    directory=checkpoints_dir,
                    lang=lang,
                    domain=domain,
                    templates=templates,
                )
            lines.append(_("checkpoint: {n} email(s) queued to auditors", n=mailed))

        if payment_day is not None:
            with _isolated(lines, N_("payment run")):
                lines.extend(_payment_run(database, clock, calendar, county_policy, payment_day))

        if mailer is None:
            lines.append(
                _(
                    "delivery skipped: AIDFLOW_SMTP_HOST is not set; {n} message(s) stay pending",
                    n=_pending(database),
                )
            )
            return lines
        with database.session() as session:  # delivery commits once per message
            sent, failed = delivery.deliver_outbox(
                session, clock, mailer, templates=templates, calendar=calendar
            )
        lines.append(
            _(
                "delivery: {sent} sent, {failed} failed, {pending} pending",
                sent=sent,
                failed=failed,
                pending=_pending(database),
            )
        )
        return lines


def round_for(
    rt: Runtime, *, mailer: Mailer | None, payments: bool = True, checkpoints: bool = True
) -> list[str]:
    """One round with the inputs a runtime's settings describe: its database, clock,
    calendar, language, the county's policy files and templates. Without `payments` no
    payment run is made, without `checkpoints` no signed checkpoint (a simulation's)."""
    from aidflow.policy.care import load_policy_file

    settings = rt.settings
    return run_round(
        rt.database,
        rt.clock,
        rt.calendar,
        lang=rt.lang,
        domain=rt.message_domain,
        care_policy=lambda: load_policy_file(rt.county.care_visits_file),
        county_policy=rt.load_standards,
        payment_day=settings.payment_day if payments else None,
        mailer=mailer,
        templates=rt.templates,
        signing_key_file=settings.signing_key_file if checkpoints else None,
        checkpoints_dir=settings.checkpoints_dir,
    )


@contextmanager
def _isolated(lines: list[str], job: str) -> Iterator[None]:
    """Run one job so that its refusal (a bad record, a policy file in error) is a line of
    the round's report and the jobs after it, delivery above all, still run. The job's
    transaction has been rolled back by then. A database that is unavailable still ends
    the round."""
    try:
        yield
    except UnavailableError:
        raise
    except AidflowError as exc:
        lines.append(_("{job} failed: {error}", job=_(job), error=exc))


def _payment_run(
    database: Database,
    clock: Clock,
    calendar: WorkCalendar,
    county_policy: Callable[[], Policy],
    payment_day: int,
) -> list[str]:
    """The current month's payment run, on or after the payment day, if not run yet."""
    from aidflow.services.payments import SYSTEM_ACTOR, due_period, has_run, run_payments

    tz = calendar.tz
    period = due_period(clock.now(), tz, payment_day)
    if period is None:
        return []
    with database.reading() as session:
        if has_run(session, period):
            return []
    policy = county_policy()
    with database.transaction() as session:
        result = run_payments(session, clock, policy, period, actor=SYSTEM_ACTOR, tz=tz)
    return [result.summary()] + [_("skipped: {line}", line=line) for line in result.skipped]


def _pending(database: Database) -> int:
    from aidflow.store import outbox

    with database.reading() as session:
        return outbox.count_pending(session)
