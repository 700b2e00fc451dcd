"""Policy parameters: the county's standards with effective dates, and what each programme pays.

`workflows/policy/standards.yaml` holds every number a county changes by notice (dibao
standards, the tekun allowances, temporary-assistance multiples) as a list of values with
the date each takes effect, and the legal or plan source beside it. Next year's standard is
a file edit: `Policy.value(name, on)` answers with the value in force on a day, so a payment
keeps the amount of its own period.

The `payments:` section says which workflow states are paid and how each kind of payment
is computed (a case field, a standard, or a standard per tier of a case field). `amounts:`
says how a programme's amount is computed from a household and bounded (the arithmetic is
aidflow.policy.households), `exclusivity:` which programmes' cases exclude each other.

Loading is strict (yamlfile): unknown keys, unsorted or repeated dates, and money that is
not an exact decimal are errors with file:line:column, all of them reported at once.
Money is never a float: `780.00` unquoted would be read as one, so it must be quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aidflow.errors import NotFoundError, WorkflowInvalidError, did_you_mean
from aidflow.i18n import N_, _
from aidflow.language.yamlfile import Document, Path_, read_yaml_file
from aidflow.policy.households import ROUNDINGS, AmountRule, Exclusivity

if TYPE_CHECKING:
    from aidflow.language.loader import PolicyNames

T = TypeVar("T")
POLICY_FILE = "standards.yaml"
POLICY_DIR = "policy"  # beside the workflow files whose guards read `policy.<name>`
UNITS = ("yuan_per_month", "yuan", "multiple")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_STANDARD_KEYS = ("unit", "source", "values")
_VALUE_KEYS = ("from", "value")
_PAYMENT_KEYS = (
    "workflow",
    "paid_states",
    "amount_field",
    "standard",
    "tier_field",
    "tiers",
    "once",
    "source",
)
_AMOUNT_KEYS = ("workflow", "standards", "ceiling", "round_to", "rounding", "bounded", "source")
_EXCLUSIVITY_KEYS = ("one_open_per", "not_while", "source")


@dataclass(frozen=True)
class Standard:
    """One named parameter: its unit, its source, and (from, value) pairs in date order."""

    name: str
    unit: str
    source: str
    values: tuple[tuple[date, Decimal], ...]


@dataclass(frozen=True)
class PaymentKind:
    """How one kind of payment is computed for cases of one workflow.

    Exactly one of `amount_field` (a decimal field of the case, e.g. the approved dibao
    amount), `standard` (a standard in force for the period) or `tier_field` + `tiers`
    (the standard named for the case field's value, e.g. self_care -> care allowance).
    `once`: paid for one month only (the month after approval), e.g. temporary assistance.
    """

    kind: str
    workflow: str
    paid_states: tuple[str, ...]
    amount_field: str | None = None
    standard: str | None = None
    tier_field: str | None = None
    tiers: tuple[tuple[str, str], ...] = ()
    once: bool = False
    source: str = ""

    def tier_standard(self, tier: str) -> str | None:
        return dict(self.tiers).get(tier)


@dataclass(frozen=True)
class Policy:
    """The standards and payment kinds of one policy file."""

    file: str
    standards: dict[str, Standard]
    payments: dict[str, PaymentKind]
    # how amounts are computed and bounded, and which programmes exclude each other
    amounts: dict[str, AmountRule] = field(default_factory=dict)
    exclusivity: dict[str, Exclusivity] = field(default_factory=dict)

    def amount_rule(self, workflow: str) -> AmountRule | None:
        """The rule computing and bounding `workflow`'s amounts, if the policy has one."""
        return next((r for r in self.amounts.values() if r.workflow == workflow), None)

    def names(self) -> set[str]:
        return set(self.standards)

    def _standard(self, name: str) -> Standard:
        try:
            return self.standards[name]
        except KeyError:
            raise NotFoundError(
                _("no standard named '{name}' in {file}", name=name, file=self.file),
                hint=did_you_mean(name, self.standards)
                or _("known: {names}", names=", ".join(sorted(self.standards))),
            ) from None

    def value(self, name: str, on: date) -> Decimal:
        """The value of standard `name` in force on day `on`."""
        std = self._standard(name)
        current: Decimal | None = None
        for start, value in std.values:
            if start > on:
                break
            current = value
        if current is None:
            first = std.values[0][0].isoformat()
            raise NotFoundError(
                _(
                    "no value of {name} in force on {day} (the first is from {first})",
                    name=name,
                    day=on.isoformat(),
                    first=first,
                ),
                hint=_("add a value with an earlier `from` date to {file}", file=self.file),
            )
        return current

    def source(self, name: str) -> str:
        return self._standard(name).source


def load_policy(directory: str | Path) -> Policy:
    """Read `standards.yaml` from `directory` (or the file itself).

    WorkflowInvalidError lists every problem.
    """
    path = Path(directory)
    if path.is_dir() or not path.suffix:
        path = path / POLICY_FILE
    doc = read_yaml_file(path)
    policy = _validate(doc) if not doc.problems else None
    if doc.problems or policy is None:
        raise WorkflowInvalidError(doc.problems)
    return policy


def policy_names(directory: str | Path) -> PolicyNames:
    """The standards' names guards may read, from `directory`'s standards file.

    None if the file is missing or invalid; then `where` and `hint` say why and what to do,
    and the file's own problems come along to be listed after the workflow's.
    """
    from aidflow.language.loader import PolicyNames  # only validating reads the loader

    file = Path(directory) / POLICY_FILE
    if not file.is_file():
        return PolicyNames(
            None,
            _("no policy file {file}", file=file),
            hint=_(
                "put {path} next to the workflow file", path="/".join((POLICY_DIR, POLICY_FILE))
            ),
        )
    try:
        return PolicyNames(frozenset(load_policy(directory).names()), str(file))
    except WorkflowInvalidError as exc:
        return PolicyNames(
            None,
            _("the policy file {file} is invalid", file=file),
            tuple(exc.problems),
            hint=_("fix the policy file (its problems are listed below)"),
        )


def _validate(doc: Document) -> Policy | None:
    data = doc.data
    if not isinstance(data, dict):
        doc.problem((), _("a policy file is a mapping with keys standards and payments"))
        return None
    _unknown_keys(doc, (), data, ("standards", "payments", "amounts", "exclusivity"))
    standards: dict[str, Standard] = {}
    raw = data.get("standards")
    if not isinstance(raw, dict) or not raw:
        doc.problem(
            ("standards",),
            _("standards must be a mapping of names to standards"),
            _("see workflows/policy/standards.yaml"),
        )
    else:
        for name, spec in raw.items():
            std = _standard(doc, name, spec)
            if std is not None:
                standards[name] = std
    payments: dict[str, PaymentKind] = {}
    raw_pay = data.get("payments", {})
    if not isinstance(raw_pay, dict):
        doc.problem(("payments",), _("payments must be a mapping of payment kinds"))
    else:
        for kind, spec in raw_pay.items():
            pk = _payment(doc, kind, spec, raw if isinstance(raw, dict) else {})
            if pk is not None:
                payments[kind] = pk
    known = raw if isinstance(raw, dict) else {}
    amounts = _sections(doc, data, "amounts", lambda n, spec: _amount(doc, n, spec, known))
    exclusivity = _sections(doc, data, "exclusivity", lambda n, spec: _exclusivity(doc, n, spec))
    return Policy(doc.file, standards, payments, amounts, exclusivity)


def _sections(
    doc: Document, data: dict[str, Any], key: str, read: Callable[[str, Any], T | None]
) -> dict[str, T]:
    raw = data.get(key, {})
    if not isinstance(raw, dict):
        doc.problem((key,), _("{key} must be a mapping of workflow names", key=key))
        return {}
    out: dict[str, T] = {}
    for name, spec in raw.items():
        item = read(name, spec)
        if item is not None:
            out[name] = item
    return out


def _amount(doc: Document, name: str, spec: Any, standards: dict[str, Any]) -> AmountRule | None:
    path: Path_ = ("amounts", name)
    if not isinstance(spec, dict):
        doc.problem(
            path, _("an amount rule is a mapping with keys {keys}", keys=", ".join(_AMOUNT_KEYS))
        )
        return None
    _unknown_keys(doc, path, spec, _AMOUNT_KEYS)
    ok = True
    by_hukou = spec.get("standards")
    if not isinstance(by_hukou, dict) or not by_hukou:
        doc.problem(path + ("standards",), _("standards maps each hukou to a standard's name"))
        ok = False
        by_hukou = {}
    for hukou, std in by_hukou.items():
        if std not in standards:
            doc.problem(
                path + ("standards", hukou),
                _("unknown standard {std}", std=repr(std)),
                did_you_mean(str(std), standards) or _("define it under standards"),
            )
            ok = False
    ceiling = spec.get("ceiling")
    if ceiling is not None and ceiling not in standards:
        doc.problem(
            path + ("ceiling",),
            _("unknown standard {ceiling}", ceiling=repr(ceiling)),
            did_you_mean(str(ceiling), standards) or _("define it under standards"),
        )
        ok = False
    round_to = _decimal(doc, path + ("round_to",), spec.get("round_to", "0.01"))
    if round_to is not None and round_to <= 0:
        doc.problem(path + ("round_to",), _("round_to must be positive"), _('write round_to: "1"'))
        ok = False
    rounding = spec.get("rounding", "half_up")
    if rounding not in ROUNDINGS:
        doc.problem(
            path + ("rounding",),
            _("rounding {rounding} is not one of up, down, half_up", rounding=repr(rounding)),
        )
        ok = False
    bounded = spec.get("bounded", [])
    if not isinstance(bounded, list) or not all(isinstance(b, str) for b in bounded):
        doc.problem(path + ("bounded",), _("bounded is a list of field names"))
        ok = False
    workflow = spec.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        doc.problem(path + ("workflow",), _("missing workflow name"), _("write workflow: dibao"))
        ok = False
    if not ok or round_to is None:
        return None
    return AmountRule(
        name,
        str(workflow),
        tuple((str(h), str(s)) for h, s in by_hukou.items()),
        ceiling,
        round_to,
        str(rounding),
        tuple(bounded),
        str(spec.get("source", "")),
    )


def _exclusivity(doc: Document, name: str, spec: Any) -> Exclusivity | None:
    path: Path_ = ("exclusivity", name)
    if not isinstance(spec, dict):
        doc.problem(path, _("an exclusivity rule is a mapping with keys one_open_per, not_while"))
        return None
    _unknown_keys(doc, path, spec, _EXCLUSIVITY_KEYS)
    per = spec.get("one_open_per", "person")
    if per not in ("person", "household"):
        doc.problem(
            path + ("one_open_per",),
            _("one_open_per {per} is not person or household", per=repr(per)),
        )
        return None
    others = spec.get("not_while", [])
    if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
        doc.problem(path + ("not_while",), _("not_while is a list of workflow names"))
        return None
    source = spec.get("source")
    if not isinstance(source, str) or not source.strip():
        doc.problem(path + ("source",), _("every exclusion needs its legal or plan source"))
        return None
    return Exclusivity(name, per, tuple(others), source)


def _unknown_keys(
    doc: Document, path: Path_, data: dict[str, Any], allowed: tuple[str, ...]
) -> None:
    for key in data:
        if key not in allowed:
            hint = did_you_mean(key, allowed) or _("allowed: {keys}", keys=", ".join(allowed))
            doc.problem(path + (key,), _("unknown key '{key}'", key=key), hint, key=True)


def _standard(doc: Document, name: str, spec: Any) -> Standard | None:
    path: Path_ = ("standards", name)
    if not _NAME.match(name):
        doc.problem(path, _("standard name '{name}' is not snake_case", name=name), key=True)
    if not isinstance(spec, dict):
        doc.problem(path, _("a standard is a mapping with keys unit, source and values"))
        return None
    _unknown_keys(doc, path, spec, _STANDARD_KEYS)
    ok = True
    unit = spec.get("unit")
    if unit not in UNITS:
        doc.problem(
            path + ("unit",),
            _("unit {unit} is not one of {value}", unit=repr(unit), value=", ".join(UNITS)),
        )
        ok = False
    source = spec.get("source")
    if not isinstance(source, str) or not source.strip():
        doc.problem(
            path + ("source",),
            _("every standard needs its legal or plan source"),
            _('write source: "the county notice or regulation that sets it"'),
        )
        ok = False
    raw_values = spec.get("values")
    if not isinstance(raw_values, list) or not raw_values:
        doc.problem(
            path + ("values",), _('values must be a list of {from: DATE, value: "DECIMAL"}')
        )
        return None
    values: list[tuple[date, Decimal]] = []
    last: date | None = None
    for i, item in enumerate(raw_values):
        vpath = path + ("values", i)
        if not isinstance(item, dict):
            doc.problem(vpath, _('each value is a mapping {from: DATE, value: "DECIMAL"}'))
            ok = False
            continue
        _unknown_keys(doc, vpath, item, _VALUE_KEYS)
        start = _date(doc, vpath + ("from",), item.get("from"))
        amount = _decimal(doc, vpath + ("value",), item.get("value"))
        if start is not None and last is not None and start <= last:
            said = (
                N_("date {date} repeats the previous date {previous}")
                if start == last
                else N_("date {date} comes before the previous date {previous}")
            )
            doc.problem(
                vpath + ("from",),
                _(said, date=start.isoformat(), previous=last.isoformat()),
                _("list the values once each, oldest first"),
            )
            ok = False
        last = start or last
        if start is None or amount is None:
            ok = False
            continue
        values.append((start, amount))
    if not ok or not values:
        return None
    return Standard(name, str(unit), str(source).strip(), tuple(values))


def _date(doc: Document, path: Path_, raw: Any) -> date | None:
    if raw is None:
        doc.problem(path, _("missing date"), _("write from: 2024-01-01"))
        return None
    if isinstance(raw, str) and len(raw) == 10:
        with suppress(ValueError):  # reported below, like any other non-date
            return date.fromisoformat(raw)
    doc.problem(path, _("{raw} is not a date", raw=repr(raw)), _("write it like 2024-01-01"))
    return None


def _decimal(doc: Document, path: Path_, raw: Any) -> Decimal | None:
    if isinstance(raw, float):
        doc.problem(
            path,
            _("unquoted number {raw} would be read as a floating-point number", raw=repr(raw)),
            _('quote it, e.g. value: "780.00" (money is an exact decimal)'),
        )
        return None
    if isinstance(raw, bool) or raw is None:
        doc.problem(
            path, _("{raw} is not a decimal number", raw=repr(raw)), _('write value: "780.00"')
        )
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    text = str(raw).strip()
    if not _DECIMAL.match(text):
        doc.problem(
            path, _("{raw} is not a decimal number", raw=repr(raw)), _('write it like "780.00"')
        )
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        doc.problem(path, _("{raw} is not a decimal number", raw=repr(raw)))
        return None


def _strings(doc: Document, path: Path_, raw: Any) -> tuple[str, ...] | None:
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s for s in raw):
        doc.problem(
            path, _("must be a non-empty list of state names"), _("write paid_states: [active]")
        )
        return None
    return tuple(raw)


def _payment(doc: Document, kind: str, spec: Any, standards: dict[str, Any]) -> PaymentKind | None:
    path: Path_ = ("payments", kind)
    if not _NAME.match(kind):
        doc.problem(path, _("payment kind '{kind}' is not snake_case", kind=kind), key=True)
    if not isinstance(spec, dict):
        doc.problem(
            path,
            _("a payment kind is a mapping with keys workflow, paid_states and an amount rule"),
        )
        return None
    _unknown_keys(doc, path, spec, _PAYMENT_KEYS)
    ok = True
    workflow = spec.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        doc.problem(path + ("workflow",), _("missing workflow name"), _("write workflow: dibao"))
        ok = False
    states = _strings(doc, path + ("paid_states",), spec.get("paid_states"))
    rules = [k for k in ("amount_field", "standard", "tier_field") if k in spec]
    if len(rules) != 1:
        doc.problem(
            path,
            _(
                "give exactly one of amount_field, standard or tier_field (found {found})",
                found=", ".join(rules) or _("none"),
            ),
            key=True,
        )
        ok = False
    for key in rules:
        if not isinstance(spec[key], str) or not spec[key]:
            doc.problem(path + (key,), _("{key} must be a name", key=key))
            ok = False
    std = spec.get("standard")
    if isinstance(std, str) and std not in standards:
        doc.problem(
            path + ("standard",),
            _("unknown standard '{std}'", std=std),
            did_you_mean(std, standards) or _("define it under standards"),
        )
        ok = False
    tiers: list[tuple[str, str]] = []
    if "tier_field" in spec:
        raw_tiers = spec.get("tiers")
        if not isinstance(raw_tiers, dict) or not raw_tiers:
            doc.problem(
                path + ("tiers",),
                _("tier_field needs tiers: a mapping of field values to standards"),
                _("write tiers: {full: care_allowance_full, partial: ..., none: ...}"),
            )
            ok = False
        else:
            for tier, name in raw_tiers.items():
                if not isinstance(name, str) or name not in standards:
                    doc.problem(
                        path + ("tiers", tier),
                        _("unknown standard {name}", name=repr(name)),
                        did_you_mean(str(name), standards) or _("define it under standards"),
                    )
                    ok = False
                else:
                    tiers.append((tier, name))
    elif "tiers" in spec:
        doc.problem(path + ("tiers",), _("tiers needs tier_field"), key=True)
        ok = False
    once = spec.get("once", False)
    if not isinstance(once, bool):
        doc.problem(path + ("once",), _("once must be true or false"))
        ok = False
    source = spec.get("source", "")
    if not isinstance(source, str):
        doc.problem(path + ("source",), _("source must be text"))
        ok = False
    if not ok or states is None:
        return None
    return PaymentKind(
        kind,
        str(workflow),
        states,
        spec.get("amount_field"),
        std,
        spec.get("tier_field"),
        tuple(tiers),
        once,
        source,
    )
