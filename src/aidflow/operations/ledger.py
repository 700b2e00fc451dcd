"""Survey operations: the ledger (`aidflow ledger export`), the look-back (`aidflow lookback`)."""

from __future__ import annotations

from typing import Any

from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("ledger.export", write=False, runtime=True)
def export(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    format: str,
    township: str | None = None,
    show_id: bool = False,
) -> dict[str, Any]:
    """The ledger as a file's bytes: XLSX with one sheet per township, or CSV (UTF-8 with a
    byte order mark) with a township column; persons per township. ID numbers are masked
    unless `show_id` is asked by a user whose role may see them."""
    import io

    from aidflow.errors import ForbiddenError, InvalidInputError
    from aidflow.files.ledger import write_csv, write_xlsx
    from aidflow.i18n import _
    from aidflow.operations.uploads import encode
    from aidflow.policy.mappings import load_import_policy
    from aidflow.services.ledger import LedgerOptions, ledger_rows

    if format not in ("xlsx", "csv"):
        raise InvalidInputError(_("--format {format!r} is not xlsx or csv", format=format))
    policy = load_import_policy(rt.county.import_mappings_file)
    actor = svc.actor(caller.user)
    if show_id and not set(actor.roles) & set(policy.show_id_roles):
        raise ForbiddenError(
            _(
                "full ID numbers need one of the roles {roles}; {user} has {has}",
                roles=", ".join(policy.show_id_roles),
                user=actor.name,
                has=", ".join(actor.roles),
            ),
            hint=_("drop --show-id"),
        )

    opts = LedgerOptions(svc.clock.now(), svc.calendar.tz, township, show_id, caller.lang)
    rows = ledger_rows(svc.session, actor, opts)
    if format == "xlsx":
        book = io.BytesIO()  # made in memory: no temporary file holds the ID numbers
        counts = write_xlsx(rows, book, caller.lang)
        data = book.getvalue()
    else:
        text = io.StringIO(newline="")
        counts = write_csv(rows, text, caller.lang)
        # with a byte order mark: Excel on Chinese Windows reads a CSV without one as GBK
        data = text.getvalue().encode("utf-8-sig")
    return {"today": svc.local_today().isoformat(), "counts": counts, "content_b64": encode(data)}


@operation("lookback.find", write=False, runtime=True)
def lookback(
    svc: Service, caller: Caller, rt: Runtime, township: str | None = None
) -> dict[str, Any]:
    """The look-back: listed persons in a target group with no open case, and late cases,
    in the caller's area (and `township`)."""
    return _lookback(svc, caller, rt, township, open_cases=False)


@operation("lookback.open", write=True, runtime=True, own_units=True)
def lookback_open(
    svc: Service, caller: Caller, rt: Runtime, township: str | None = None
) -> dict[str, Any]:
    """The look-back, and a discovery case opened for every gap found, each in a
    transaction of its own (a gap the workflow or the roles refuse says why)."""
    return _lookback(svc, caller, rt, township, open_cases=True)


def _lookback(
    svc: Service, caller: Caller, rt: Runtime, township: str | None, open_cases: bool
) -> dict[str, Any]:
    from aidflow.policy.target_groups import load_target_groups
    from aidflow.services import lookback as lb

    policy = load_target_groups(rt.county.target_groups_file)
    actor = svc.actor(caller.user)
    report = lb.find(svc.session, actor, policy, svc.clock.now(), svc.local_today(), township)
    if open_cases:

        def open_one(gap: lb.Gap) -> int:
            groups = ", ".join(gap.groups)
            with rt.transaction() as tx:
                case = tx.open_case(
                    tx.actor(caller.user),
                    gap.id_number,
                    gap.workflow,
                    note=f"{lb.OPENED_NOTE}target group {groups}",
                )
                return case.id

        lb.open_gaps(report, open_one)
    return {
        "townships": {t: vars(s) for t, s in sorted(report.townships.items())},
        "gaps": [g.as_json() for g in report.gaps],
        "late": [
            {
                "case_id": c.case_id,
                "workflow": c.workflow,
                "state": c.state,
                "township": c.township,
                "village": c.village,
                "kind": c.kind,
                "since": c.since.isoformat(),
            }
            for c in report.late
        ],
    }
