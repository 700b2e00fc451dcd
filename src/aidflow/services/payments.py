"""Monthly payments: the run that creates them, the bank file, and the bank's answer.

A run for period P (a month, "2023-09") creates one `payments` row per case, kind and
month that the policy file's `payments:` section says is due and that does not exist yet:

- a case is paid from the month AFTER the event that entered a paid state (L21 §21,
  T21 §17) through the month of the event that left them (payment stops from the month
  after exit, L21 §33, T21 §26): the month of exit is still paid;
- a case brought in from a county ledger (`aidflow case import`) carries, on its
  "imported" event, the first month aidflow pays (`paid_from`: the month after the last
  period the ledger says was paid), so no period the old process paid is paid again;
- months before P that were missed (a case approved after the run for its first month)
  are created by the next run as arrears (`basis.arrears = true`). Months before the
  first payment run ever recorded are not created: aidflow starts paying with its first run;
- amounts are taken as in force for the period: a standard's value on the 1st of the
  month, a case field's value as set by the latest event effective (month after) by then;
- the unique key (case_id, kind, period) with INSERT ... ON CONFLICT DO NOTHING makes a
  second run, or two runs at once, create nothing twice.

Cases are streamed in id order, a page at a time (keyset on the id); each page's
state-changing events (with their local month, computed by the database) and existing
payments are read by the page's id range, amounts are worked out once per distinct value,
and the page's payments are written with one executemany (the SQL is in
aidflow.store.payments, the bank files' format in aidflow.files.bankfile). Money is integer
fen, converted from Decimal with ROUND_HALF_UP once, never a float.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from aidflow import failpoints
from aidflow.clock import Clock
from aidflow.engine.access import Actor, require_role
from aidflow.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    did_you_mean,
)
from aidflow.files import bankfile
from aidflow.files.table import scan
from aidflow.i18n import _, pgettext, pick, use_language
from aidflow.idnumber import mask
from aidflow.policy.standards import PaymentKind, Policy
from aidflow.store import payments as store
from aidflow.store import users as user_store
from aidflow.store.session import Session

COUNTY_ROLES = ("county_officer", "admin")
MAX_FEN = 2**63 - 1  # BIGINT, the largest amount a payment row holds
SYSTEM_ACTOR = "system"
BATCH = 1000
# the event field naming the first month a case brought in from a ledger is paid for
PAID_FROM = "paid_from"
_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")


# -- money and months --------------------------------------------------------------------


def to_fen(amount: Decimal) -> int:
    """Yuan -> integer fen, rounding half up at this one place."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan(fen: int) -> str:
    """Integer fen -> '1234.50' (exact)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def status_word(status: str) -> str:
    """A payment's status in the reader's words (an email's statuses are other words)."""
    words = {
        "pending": pgettext("payment", "pending"),
        "paid": pgettext("payment", "paid"),
        "failed": pgettext("payment", "failed"),
    }
    return words.get(status, status)


# the shipped payment kinds (standards.yaml `payments`) in Chinese; a county's own kinds
# are shown by their code
_KIND_WORDS = {
    "dibao": "低保金",
    "basic_living_allowance": "基本生活费",
    "care_allowance": "照料护理费",
    "temporary_assistance": "临时救助金",
}


def kind_label(kind: str) -> str:
    """A payment kind as the reader calls it: its code in English, its words in Chinese."""
    return pick(kind, _KIND_WORDS.get(kind, ""))


def parse_period(text: str) -> int:
    """'2023-09' -> a month number (year * 12 + month - 1)."""
    m = _PERIOD.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        raise InvalidInputError(
            _("--period {text!r} is not a month", text=text), hint=_("write it like 2023-09")
        )
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def period_text(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def month_start(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def month_of(at: datetime, tz: ZoneInfo) -> int:
    local = at.astimezone(tz)
    return local.year * 12 + local.month - 1


# -- who may run ---------------------------------------------------------------------------


def require_county(session: Session, user: str | None, what: str) -> str:
    """The acting user's name if they hold a county role; ForbiddenError otherwise."""
    if not user:
        raise ForbiddenError(_("no acting user"), hint=_("pass --as USER or set AIDFLOW_USER"))
    roles, area = user_store.user_access(session, user)
    require_role(Actor(user, tuple(roles), area), COUNTY_ROLES, what)
    return user


# -- the run -------------------------------------------------------------------------------


@dataclass
class RunResult:
    run_id: int
    period: str
    created: int = 0
    arrears: int = 0
    total_fen: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # cases that could not be paid, and why

    def summary(self) -> str:
        """One line: the run, the period, what was created, the total in yuan, per kind."""
        kinds = _(", ").join(f"{kind_label(k)} {n}" for k, n in sorted(self.by_kind.items()))
        text = _(
            "payment run {run} for {period}: {created} payment(s) created "
            "({arrears} arrears), {yuan} yuan",
            run=self.run_id,
            period=self.period,
            created=self.created,
            arrears=self.arrears,
            yuan=yuan(self.total_fen),
        )
        return text + (_("; {kinds}", kinds=kinds) if kinds else "")


class _Event(NamedTuple):
    """A state-changing event of a case, as the run needs it."""

    month: int  # the local month it happened in, clamped to [floor - 2, target + 1] (_months)
    from_state: str | None
    to_state: str | None
    fields: dict[str, Any]


def check_programmes(session: Session, policy: Policy) -> None:
    """Refuse a policy whose paid states or fields the deployed workflows do not have."""
    problems = []
    for pk in policy.payments.values():
        wf = store.latest_definition(session, pk.workflow)
        if wf is None:
            continue  # not deployed: nothing to pay
        for st in pk.paid_states:
            if st not in wf.states:
                hint = did_you_mean(st, wf.states) or _(
                    "states: {states}", states=", ".join(wf.states)
                )
                problems.append(
                    _(
                        "{file}: payments.{kind}.paid_states: workflow {workflow} "
                        "has no state '{state}'; {hint}",
                        file=policy.file,
                        kind=pk.kind,
                        workflow=pk.workflow,
                        state=st,
                        hint=hint,
                    )
                )
        for fname in (pk.amount_field, pk.tier_field):
            if fname is not None and fname not in wf.fields:
                hint = did_you_mean(fname, wf.fields) or _(
                    "fields: {fields}", fields=", ".join(wf.fields)
                )
                problems.append(
                    _(
                        "{file}: payments.{kind}: workflow {workflow} has no field "
                        "'{field}'; {hint}",
                        file=policy.file,
                        kind=pk.kind,
                        workflow=pk.workflow,
                        field=fname,
                        hint=hint,
                    )
                )
    if problems:
        raise InvalidInputError(
            _(
                "the policy's payments do not match the deployed workflows:\n  {problems}",
                problems="\n  ".join(problems),
            ),
            hint=_("fix the policy file or deploy the workflow"),
        )


def run_payments(
    session: Session,
    clock: Clock,
    policy: Policy,
    period: str,
    *,
    actor: str,
    tz: ZoneInfo,
    batch_size: int = BATCH,
) -> RunResult:
    """Create the payments due up to `period` (with arrears); the caller owns the transaction."""
    target = parse_period(period)
    if actor != SYSTEM_ACTOR:
        require_county(session, actor, _("a payment run"))
    check_programmes(session, policy)
    first_run = store.first_period(session)
    floor = min(target, parse_period(first_run)) if first_run else target
    started = clock.now()
    run_id = store.start_run(session, period_text(target), started, actor)
    result = RunResult(run_id, period_text(target))
    by_workflow: dict[str, list[PaymentKind]] = {}
    for pk in policy.payments.values():
        by_workflow.setdefault(pk.workflow, []).append(pk)
    for workflow, kinds in sorted(by_workflow.items()):
        run = _Run(session, policy, workflow, kinds, floor, target, tz, result, started, actor)
        run.pay_all(batch_size)
    store.finish_run(session, run_id, result.created, clock.now(), actor)
    return result


def _instant(month: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(month_start(month), time(0), tzinfo=tz)


def _months(floor: int, target: int, tz: ZoneInfo) -> store.Months:
    """The months a run tells apart: floor - 2 .. target + 1.

    The run only compares an event's month (and the month after it) with the months it
    pays, floor..target, so an earlier month acts exactly as floor - 2 and a later one as
    target + 1.
    """
    return store.Months(
        bounds=[(_instant(m + 1, tz), m) for m in range(floor - 2, target + 1)],
        later=target + 1,
        open_since=_instant(floor, tz),
        from_period=period_text(floor),
    )


class _Run:
    """One workflow's part of a run, page by page (see aidflow.store.payments).

    A page's payments are worked out from its cases' state-changing events and existing
    payments, and go out as one executemany: one page is one batch of the run.
    """

    def __init__(
        self,
        session: Session,
        policy: Policy,
        workflow: str,
        kinds: list[PaymentKind],
        floor: int,
        target: int,
        tz: ZoneInfo,
        result: RunResult,
        at: datetime,
        actor: str,
    ) -> None:
        self.kinds = [(pk, frozenset(pk.paid_states), _Pricer(policy, pk)) for pk in kinds]
        self.floor, self.target, self.result = floor, target, result
        self.texts = {m: period_text(m) for m in range(floor, target + 1)}
        self.reads = store.WorkflowReads(
            session,
            result.run_id,
            workflow,
            [pk.kind for pk in kinds],
            (s for pk in kinds for s in pk.paid_states),
            _months(floor, target, tz),
            at=at,
            actor=actor,
        )
        self._page_data: dict[int, dict[str, Any]] | None = None
        self._range: dict[str, int] = {}

    def pay_all(self, size: int) -> None:
        for rows, page_range in self.reads.pages(size):
            self._range = page_range
            self._page_data = None
            values = self._page(rows)
            if values:
                self._count(self.reads.insert(page_range, values))
                failpoints.reach("payments.batch")  # inside the run's one transaction

    def _page(self, rows: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        events: dict[int, list[_Event]] = {}
        for cid, month, frm, to, fields in self.reads.events(self._range):
            ev = _Event(month, frm, to, fields or {})
            evs = events.get(cid)
            if evs is None:
                events[cid] = [ev]
            else:
                evs.append(ev)
        if not events:
            return []
        existing = self.reads.existing(self._range)
        floor, target, texts = self.floor, self.target, self.texts
        skipped = self.result.skipped
        values: list[dict[str, Any]] = []
        for cid, person_id in rows:
            evs = events.get(cid)
            if evs is None:
                continue
            for pk, states, pricer in self.kinds:
                for month in _due_months(pk, states, evs, floor, target):
                    per = texts[month]
                    if existing and (cid, pk.kind, per) in existing:
                        continue
                    try:
                        fen, basis = pricer.price(evs, month, self._data_of, cid, month < target)
                    except _Skip as exc:
                        skipped.append(
                            _(
                                "case {case} {kind} {period}: {reason}",
                                case=cid,
                                kind=kind_label(pk.kind),
                                period=per,
                                reason=exc,
                            )
                        )
                        continue
                    values.append(
                        {
                            "case_id": cid,
                            "person_id": person_id,
                            "kind": pk.kind,
                            "period": per,
                            "amount_fen": fen,
                            "basis": basis,
                        }
                    )
        return values

    def _data_of(self, cid: int) -> dict[str, Any]:
        """A case's data: read for the whole page, only when an event does not carry a field."""
        if self._page_data is None:
            self._page_data = self.reads.datas(self._range)
        return self._page_data.get(cid, {})

    def _count(self, totals: Iterable[tuple[str, str, int, int]]) -> None:
        result = self.result
        for kind, period, n, fen in totals:
            result.created += n
            result.total_fen += fen
            result.by_kind[kind] = result.by_kind.get(kind, 0) + n
            if period < result.period:
                result.arrears += n


def _due_months(
    pk: PaymentKind, states: frozenset[str], evs: list[_Event], floor: int, target: int
) -> Iterator[int]:
    """The months in [floor, target] the case is paid for under `pk` (paid in `states`)."""
    start: int | None = None
    for ev in evs:
        was, now_in = ev.from_state in states, ev.to_state in states
        if not was and now_in:
            if pk.once:
                if floor <= ev.month + 1 <= target:
                    yield ev.month + 1
                return
            start = ev.month + 1
            resume = ev.fields.get(PAID_FROM)
            if isinstance(resume, str):
                start = parse_period(resume)
        elif was and not now_in and start is not None:
            yield from range(max(start, floor), min(ev.month, target) + 1)
            start = None
    if start is not None:
        yield from range(max(start, floor), target + 1)


class _Skip(Exception):
    """A case that cannot be paid for a month (reported, not fatal)."""


_MISSING = object()
_PRICE_CACHE = 10_000


def _field_value(evs: list[_Event], name: str, month: int) -> Any:
    """The field's value in force for `month`: set by the latest event effective by then
    (_MISSING: no event sets it)."""
    value: Any = _MISSING
    for ev in evs:
        if name in ev.fields and (ev.month + 1 <= month or value is _MISSING):
            value = ev.fields[name]
    return value


_Price = tuple[int, str]  # amount in fen, basis as JSON text


@dataclass(slots=True)
class _Priced:
    fen: int
    basis: dict[str, Any]
    text: str | None = None  # the basis as JSON, made when first needed
    arrears_text: str | None = None  # the same marked as arrears

    def price(self, arrears: bool) -> _Price:
        if arrears:
            if self.arrears_text is None:
                self.arrears_text = json.dumps({**self.basis, "arrears": True})
            return self.fen, self.arrears_text
        if self.text is None:
            self.text = json.dumps(self.basis)
        return self.fen, self.text


class _Pricer:
    """Amount (fen) and basis of one payment kind, worked out once per distinct value and month.

    A county's cases share few amounts and standards, so the Decimal parsing, rounding,
    standard look-ups and the basis's JSON are cached by the field value (amount_field), the
    month (standard) or the tier and month (tier_field).
    """

    def __init__(self, policy: Policy, pk: PaymentKind) -> None:
        self.policy, self.pk = policy, pk
        self._cache: dict[Any, _Priced] = {}
        self._ceilings: dict[int, Any] = {}  # month -> (standard, fen) or None

    def price(
        self,
        evs: list[_Event],
        month: int,
        data_of: Callable[[int], dict[str, Any]],
        cid: int,
        arrears: bool,
    ) -> _Price:
        """(fen, basis JSON) of the payment for `month`; _Skip if the case cannot be paid."""
        pk = self.pk
        raw: Any = None
        if pk.standard is not None:
            key: Any = month
        else:
            name = pk.amount_field or pk.tier_field
            assert name is not None
            raw = _field_value(evs, name, month)
            if raw is _MISSING:
                raw = data_of(cid).get(name)
            # None (a skip) or a list or mapping: not cached
            if not isinstance(raw, (str, int, float)):
                return self._price(raw, month).price(arrears)
            # (type, value): True, 1 and 1.0 are equal as keys but not as amounts
            key = (type(raw), raw) if pk.amount_field is not None else (str(raw), month)
        hit = self._cache.get(key)
        if hit is None:
            if len(self._cache) >= _PRICE_CACHE:
                self._cache.clear()  # amounts worked out per case may all differ: keep memory flat
            hit = self._cache[key] = self._price(raw, month)
        self._within_ceiling(hit.fen, month)
        return hit.price(arrears)

    # -- the policy's ceiling, checked again when paid (the amount was checked when set) ------

    def _within_ceiling(self, fen: int, month: int) -> None:
        """_Skip (the case reported, the run goes on) when the amount exceeds the ceiling in
        force for the month of the amount rule of the kind's workflow (policy `amounts`)."""
        if self.pk.amount_field is None:
            return  # standards and tiers are the policy's own figures
        ceiling = self._ceilings.get(month, _MISSING)
        if ceiling is _MISSING:
            rule = self.policy.amount_rule(self.pk.workflow)
            name = rule.ceiling if rule is not None else None
            on = month_start(month)
            ceiling = self._ceilings[month] = (
                None if name is None else (name, to_fen(self.policy.value(name, on)))
            )
        if ceiling is not None and fen > ceiling[1]:
            raise _Skip(
                _(
                    "{field} {amount} is above the ceiling {ceiling} ({name}); not paid",
                    field=self.pk.amount_field,
                    amount=yuan(fen),
                    ceiling=yuan(ceiling[1]),
                    name=ceiling[0],
                )
            )

    def _price(self, raw: Any, month: int) -> _Priced:
        amount, basis = self._amount(raw, month)
        return _Priced(to_fen(amount), basis)

    def _amount(self, raw: Any, month: int) -> tuple[Decimal, dict[str, Any]]:
        pk, policy = self.pk, self.policy
        on = month_start(month)
        if pk.amount_field is not None:
            field = pk.amount_field
            if raw is None:
                raise _Skip(_("no {field} recorded", field=field))
            try:
                amount = Decimal(str(raw))
            except InvalidOperation:
                raise _Skip(_("{field} {raw!r} is not a decimal", field=field, raw=raw)) from None
            if not amount.is_finite() or amount < 0:
                raise _Skip(_("{field} {raw!r} is not a payable amount", field=field, raw=raw))
            if amount * 100 > MAX_FEN:  # checked before rounding: Decimal's precision is finite
                raise _Skip(
                    _(
                        "{field} {raw!r} is more than a payment can hold ({most} yuan)",
                        field=field,
                        raw=raw,
                        most=yuan(MAX_FEN),
                    )
                )
            return amount, {"field": pk.amount_field, "value": str(amount)}
        if pk.standard is not None:
            value = policy.value(pk.standard, on)
            return value, {"standard": pk.standard, "value": str(value)}
        assert pk.tier_field is not None
        tier = raw
        name = pk.tier_standard(str(tier)) if tier is not None else None
        if name is None:
            raise _Skip(
                _(
                    "{field} is {tier!r}, not one of {tiers}",
                    field=pk.tier_field,
                    tier=tier,
                    tiers=", ".join(t for t, _standard in pk.tiers),
                )
            )
        value = policy.value(name, on)
        return value, {"standard": name, "tier": str(tier), "value": str(value)}


def due_period(now: datetime, tz: ZoneInfo, day: int) -> str | None:
    """The current month, if it is on or after day `day` of it (for the scheduled run)."""
    local = now.astimezone(tz)
    return period_text(local.year * 12 + local.month - 1) if local.day >= day else None


def has_run(session: Session, period: str) -> bool:
    """Whether a run for `period` has finished."""
    return store.has_run(session, period)


# -- the bank file ---------------------------------------------------------------------------


@dataclass
class ExportResult:
    period: str
    batch: int = 0  # the export batch the file is
    rows: int = 0
    total_fen: int = 0
    content: bytes = b""
    again: bool = False  # a batch's file written again


Writing = Callable[[], AbstractContextManager[Session]]


def export_payments(
    session: Session,
    writing: Writing,
    clock: Clock,
    period: str | None,
    fmt: str,
    *,
    actor: str,
    file_name: str,
    batch: int | None = None,
    batch_size: int = BATCH,
    lang: str = "en",
) -> ExportResult:
    """The bank file of the period's payments in no export batch yet, as a new batch; or,
    with `batch`, that batch's file written again (an audited act of its own).

    The rows are read in `session`, a read-only unit (one snapshot; no write lock is held
    while the file is made), and the file is made in memory (aidflow.files.bankfile). Then
    one short transaction from `writing` records the batch (its file's SHA-256, control
    count and total, the acting user) and moves its payments into it, checking that each
    is still pending in no batch with the amount written; if any changed meanwhile,
    nothing is recorded and ConflictError names them.
    """
    store.read_snapshot(session)
    require_county(session, actor, _("exporting payments"))
    if batch is not None:
        return _export_again(session, writing, clock, batch, fmt, actor, batch_size, lang)
    if period is None:
        raise InvalidInputError(
            _("an export needs --period (new payments) or --batch (a batch's file again)")
        )
    per = period_text(parse_period(period))
    lines = array("q")  # payment ids and amounts, as written: flat in memory
    amounts = array("q")

    def page(after: int) -> list[store.BankRow]:
        return store.export_page(session, per, after, batch_size)

    result = ExportResult(per)
    result.content = _bank_file(fmt, page, result, lines, amounts, lang)
    if result.rows == 0:
        earlier = store.batches(session, per)
        raise NotFoundError(
            _("no payments for {period} wait to be exported", period=per)
            + (
                _(
                    "; batch(es) {batches} hold the exported ones",
                    batches=", ".join(map(str, earlier)),
                )
                if earlier
                else ""
            ),
            hint=(
                _(
                    "to write a batch's file again: aidflow payments export --batch {batch}",
                    batch=earlier[-1],
                )
                if earlier
                else _("run `aidflow payments run --period {period}` first", period=per)
            ),
        )
    now = clock.now()
    try:
        with writing() as tx:
            result.batch = store.record_batch(
                tx,
                period=per,
                fmt=fmt,
                file=file_name,
                file_hash=hashlib.sha256(result.content).hexdigest(),
                lines=dict(zip(lines, amounts, strict=True)),
                total_fen=result.total_fen,
                at=now,
                actor=actor,
            )
    except store.ChangedMeanwhileError as exc:
        shown = ", ".join(map(str, exc.payment_ids[:10]))
        more = len(exc.payment_ids) - 10
        if more > 0:
            shown = _("{shown} and {more} more", shown=shown, more=more)
        raise ConflictError(
            _(
                "payment(s) {shown} changed or were exported by someone else while the bank "
                "file for {period} was written; nothing was recorded",
                shown=shown,
                period=per,
            ),
            hint=_("export again"),
        ) from None
    return result


def _export_again(
    session: Session,
    writing: Writing,
    clock: Clock,
    batch: int,
    fmt: str,
    actor: str,
    size: int,
    lang: str,
) -> ExportResult:
    found = store.batch(session, batch)
    if found is None:
        raise NotFoundError(
            _("no export batch {batch}", batch=batch),
            hint=_("see the batch numbers exports print"),
        )

    def page(after: int) -> list[store.BankRow]:
        return store.batch_page(session, batch, after, size)

    result = ExportResult(found.period, batch=batch, again=True)
    result.content = _bank_file(fmt, page, result, array("q"), array("q"), lang)
    if (result.rows, result.total_fen) != (found.rows, found.total_fen):
        raise ConflictError(
            _(
                "export batch {batch} now holds {rows} payment(s), {yuan} yuan, not its control "
                "count and total {control_rows}, {control_yuan} yuan; no file was written",
                batch=batch,
                rows=result.rows,
                yuan=yuan(result.total_fen),
                control_rows=found.rows,
                control_yuan=yuan(found.total_fen),
            ),
            hint=_("run `aidflow audit verify` to see what changed"),
        )
    with writing() as tx:
        store.log_reexport(tx, batch, clock.now(), actor)
    return result


def _in(lang: str, show: Callable[[str], str], text: str) -> str:
    """`show(text)` in the language `lang`."""
    with use_language(lang):
        return show(text)


def _bank_file(
    fmt: str,
    page: Callable[[int], list[store.BankRow]],
    result: ExportResult,
    ids: array[int],
    amounts: array[int],
    lang: str,
) -> bytes:
    words: dict[str, str] = {}

    def rows() -> Iterator[tuple[str | Decimal, ...]]:
        last = 0
        while found := page(last):
            for pid, name, idn, fen, kind, per in found:
                ids.append(pid)
                amounts.append(fen)
                result.total_fen += fen
                # the amount as an exact Decimal: a number cell in XLSX, "650.00" in CSV;
                # the kind as the bank's code in CSV, in the reader's words in XLSX
                shown = (
                    kind
                    if fmt == "csv"
                    else words.get(kind) or words.setdefault(kind, _in(lang, kind_label, kind))
                )
                yield (str(pid), name, idn, Decimal(fen).scaleb(-2), shown, per)
            result.rows += len(found)
            last = found[-1][0]
            failpoints.reach("payments.export_page")  # a page written, nothing recorded yet

    out = io.BytesIO()
    bankfile.write_payments(out, fmt, rows(), lang)
    return out.getvalue()


# -- the bank's answer -----------------------------------------------------------------------


@dataclass
class ReconcileResult:
    file: str
    paid: int = 0
    failed: int = 0
    unchanged: int = 0


def _mismatch(ln: bankfile.AnswerLine, sent: store.Sent) -> str:
    """How the line differs from the payment as exported ('': it does not)."""
    found = []
    if ln.amount_fen != sent.amount_fen:
        found.append(
            _(
                "amount {amount} yuan, exported {exported}",
                amount=yuan(ln.amount_fen),
                exported=yuan(sent.amount_fen),
            )
        )
    if ln.id_number != sent.id_number.upper():
        found.append(
            _(
                "ID number {idn}, exported {exported}",
                idn=mask(ln.id_number),
                exported=mask(sent.id_number),
            )
        )
    if ln.name is not None and ln.name != sent.name:
        found.append(_("name {name!r}, exported {exported!r}", name=ln.name, exported=sent.name))
    return _("{found} (mismatch)", found=_("; ").join(found)) if found else ""


def reconcile(
    session: Session, clock: Clock, path: Path, *, actor: str, encoding: str | None = None
) -> ReconcileResult:
    """Record paid/failed from the bank's answer (aidflow.files.bankfile): all lines, or none;
    the answer is recorded with the file's SHA-256, its counts and the acting user.

    Each line must name an exported payment by its reference and repeat its amount and its
    payee's ID number (and name, when the bank sends names) as exported. Every bad,
    unmatched, duplicated, mismatched or conflicting line is reported with its line number
    in one InvalidInputError, and then nothing is recorded.
    """
    require_county(session, actor, _("reconciling payments"))
    lines, problems = bankfile.read_answer(path, encoding)
    current = store.sent(session, [ln.payment_id for ln in lines])
    todo: list[bankfile.AnswerLine] = []
    result = ReconcileResult(str(path))
    for ln in lines:
        where, n = f"{path}:{ln.line}", ln.line
        payment = current.get(ln.payment_id)
        if payment is None:
            problems.append(
                (
                    n,
                    _(
                        "{where}: reference {payment} matches no payment (unmatched)",
                        where=where,
                        payment=ln.payment_id,
                    ),
                )
            )
            continue
        mismatch = _mismatch(ln, payment)
        status = payment.status
        if mismatch:
            problems.append(
                (
                    n,
                    _(
                        "{where}: payment {payment}: {mismatch}",
                        where=where,
                        payment=ln.payment_id,
                        mismatch=mismatch,
                    ),
                )
            )
        elif status == ln.status:
            result.unchanged += 1
        elif status == "pending":
            problems.append(
                (
                    n,
                    _(
                        "{where}: payment {payment} was never exported; "
                        "export it before recording the bank's answer",
                        where=where,
                        payment=ln.payment_id,
                    ),
                )
            )
        elif status in ("paid", "failed"):
            problems.append(
                (
                    n,
                    _(
                        "{where}: payment {payment} is already recorded as {status}; "
                        "the file says {said}",
                        where=where,
                        payment=ln.payment_id,
                        status=status_word(status),
                        said=status_word(ln.status),
                    ),
                )
            )
        else:
            todo.append(ln)
    if problems:
        listed = "\n  ".join(text for _line, text in sorted(problems))
        raise InvalidInputError(
            _(
                "{path}: {n} problem(s); nothing was recorded:\n  {listed}",
                path=path,
                n=len(problems),
                listed=listed,
            ),
            hint=_("fix the file (or ask the bank for a corrected one) and run reconcile again"),
        )

    answers = [(ln.payment_id, ln.status, ln.reason, ln.bank_ref) for ln in todo]
    store.settle(
        session,
        answers,
        clock.now(),
        actor,
        file=str(path),
        file_hash=scan(path).sha256,
        unchanged=result.unchanged,
    )
    result.paid = sum(1 for ln in todo if ln.status == "paid")
    result.failed = len(todo) - result.paid
    return result
