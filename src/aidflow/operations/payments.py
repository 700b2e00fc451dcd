"""Payment operations: the monthly run, the bank file, the bank's answer (`aidflow payments ...`).

The bank file is written on the side that holds the database and travels back as bytes in
the result; the bank's answer travels in as bytes (aidflow.operations.uploads).
"""

from __future__ import annotations

from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("payments.run", write=True, runtime=True)
def run(svc: Service, caller: Caller, rt: Runtime, period: str | None = None) -> dict[str, Any]:
    """Create the period's payments (the current month if no `period`, written YYYY-MM), and
    any missed earlier months as arrears (county roles only)."""
    from zoneinfo import ZoneInfo

    from aidflow.services.payments import month_of, period_text, run_payments

    tz = ZoneInfo(rt.tz)
    result = run_payments(
        svc.session,
        svc.clock,
        rt.load_standards(),
        period or period_text(month_of(svc.clock.now(), tz)),
        actor=caller.user or "",
        tz=tz,
    )
    return {
        "run_id": result.run_id,
        "period": result.period,
        "created": result.created,
        "arrears": result.arrears,
        "total_fen": result.total_fen,
        "by_kind": result.by_kind,
        "skipped": result.skipped,
        "summary": result.summary(),
    }


@operation("payments.export", write=True, runtime=True, own_units=True)
def export(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    period: str | None = None,
    format: str = "csv",
    file_name: str | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """The bank file (csv or xlsx) as bytes of the period's payments in no export batch yet,
    recorded as a new batch; or, with `batch`, that batch's file again (county roles only).
    The payments are read in a read-only unit and the batch recorded in a short transaction
    of its own, so no write lock is held while the file is made. `file_name` is where the
    caller will keep it: the batch's record names that file."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    from aidflow.errors import InvalidInputError
    from aidflow.i18n import _
    from aidflow.operations.uploads import encode
    from aidflow.services.payments import export_payments, yuan
    from aidflow.store.session import Session

    if format not in ("csv", "xlsx"):
        raise InvalidInputError(_("--format {format!r} is not csv or xlsx", format=format))

    @contextmanager
    def writing() -> Iterator[Session]:
        with rt.transaction() as tx:
            yield tx.session

    result = export_payments(
        svc.session,
        writing,
        svc.clock,
        period,
        format,
        actor=caller.user or "",
        file_name=file_name or f"payments-{period or batch}.{format}",
        batch=batch,
        lang=caller.lang,
    )
    return {
        "period": result.period,
        "batch": result.batch,
        "again": result.again,
        "rows": result.rows,
        "total_fen": result.total_fen,
        "total_yuan": yuan(result.total_fen),
        "content_b64": encode(result.content),
    }


@operation("payments.reconcile", write=True)
def reconcile(
    svc: Service, caller: Caller, content_b64: str, file_name: str, encoding: str | None = None
) -> dict[str, Any]:
    """Record paid/failed from the bank's answer sent as bytes (CSV or XLSX; county roles
    only): all of its lines, or none. `encoding` names a CSV's (default: UTF-8 or GB18030,
    detected)."""
    from aidflow.operations.uploads import received
    from aidflow.services.payments import reconcile as record

    with received(content_b64, file_name) as path:
        result = record(svc.session, svc.clock, path, actor=caller.user or "", encoding=encoding)
    return {
        "file": str(path),
        "paid": result.paid,
        "failed": result.failed,
        "unchanged": result.unchanged,
    }
