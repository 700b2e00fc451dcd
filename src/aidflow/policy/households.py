"""Households and the dibao amount: relationships, the amount rule, its bounds, exclusivity.

The monthly dibao amount is the difference between the local standard and the household's
per-capita monthly income, times the members covered (社会救助暂行办法 §11: "按照共同生活的
家庭成员人均收入低于当地最低生活保障标准的差额，按月发给"); the members covered are those
who live together (共同生活的家庭成员, L21 §3, §9). A single-person household (单人户) is
the same rule for one member. How to round, the ceiling and which programmes exclude each
other are policy data (`amounts:` and `exclusivity:` in workflows/policy/standards.yaml),
read by aidflow.policy.standards; this module holds the arithmetic, with no database.

(standard - total / n) x n is computed as standard x n - total, exactly, and rounded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import TYPE_CHECKING

from aidflow.errors import InvalidInputError
from aidflow.i18n import N_, _, use_language

if TYPE_CHECKING:
    from aidflow.policy.standards import Policy

# Relationship to the head of household (与户主关系), a closed list with its labels.
RELATIONSHIPS: dict[str, str] = {
    "head": N_("head of household"),
    "spouse": N_("spouse"),
    "child": N_("child"),
    "parent": N_("parent"),
    "parent_in_law": N_("parent-in-law"),
    "child_in_law": N_("child-in-law"),
    "grandchild": N_("grandchild"),
    "grandparent": N_("grandparent"),
    "sibling": N_("sibling"),
    "other": N_("other relative"),
}

ROUNDINGS = {"up": ROUND_UP, "down": ROUND_DOWN, "half_up": ROUND_HALF_UP}


def relationship_label(code: str, lang: str) -> str:
    """The relationship's words in `lang` (the catalog's); an unknown code as is."""
    label = RELATIONSHIPS.get(code)
    if label is None:
        return code
    with use_language(lang):
        return _(label)


def check_relationship(code: str) -> str:
    if code not in RELATIONSHIPS:
        raise InvalidInputError(
            _("unknown relationship {code!r}", code=code),
            hint=_("one of: {codes}", codes=", ".join(k for k in RELATIONSHIPS if k != "head")),
        )
    if code == "head":
        raise InvalidInputError(
            _("a household has one head, named when it is registered"),
            hint=_("give the member's relationship to the head, e.g. --relationship spouse"),
        )
    return code


@dataclass(frozen=True)
class AmountRule:
    """How one programme's monthly amount is computed and bounded (standards.yaml `amounts`)."""

    name: str
    workflow: str
    standards: tuple[tuple[str, str], ...]  # hukou -> standard name
    ceiling: str | None
    round_to: Decimal
    rounding: str
    bounded: tuple[str, ...]
    source: str

    def standard_for(self, hukou: str) -> str:
        found = dict(self.standards).get(hukou)
        if found is None:
            raise InvalidInputError(
                _(
                    "amounts.{name} has no standard for hukou {hukou!r}",
                    name=self.name,
                    hukou=hukou,
                ),
                hint=_(
                    "add {hukou}: STANDARD to amounts.{name}.standards",
                    hukou=hukou,
                    name=self.name,
                ),
            )
        return found


@dataclass(frozen=True)
class Exclusivity:
    """Which cases a programme's case may not coexist with (standards.yaml `exclusivity`)."""

    workflow: str
    one_open_per: str  # person | household
    not_while: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Computed:
    """A household's dibao figures on one day: what `household.*` reads in a workflow."""

    members: int
    income: Decimal  # total monthly income of the members covered, yuan
    per_capita_income: Decimal  # rounded to the fen, for display
    standard_name: str
    standard: Decimal
    amount: Decimal  # rounded; 0 when the income reaches the standard
    ceiling: Decimal | None

    def scope(self) -> dict[str, object]:
        return {
            "members": self.members,
            "income": self.income,
            "per_capita_income": self.per_capita_income,
            "standard": self.standard,
            "dibao_amount": self.amount,
            "ceiling": self.ceiling,
        }


def compute(
    policy: Policy, rule: AmountRule, hukou: str, on: date, incomes_fen: list[int]
) -> Computed:
    """The amount for the members covered, whose monthly incomes (fen) are `incomes_fen`."""
    n = len(incomes_fen)
    if n == 0:
        raise InvalidInputError(
            _("the household has no member living together"),
            hint=_("add members with --together"),
        )
    name = rule.standard_for(hukou)
    standard = policy.value(name, on)
    total = Decimal(sum(incomes_fen)) / 100
    exact = standard * n - total
    amount = max(exact, Decimal(0)).quantize(Decimal("0.01"))
    steps = (amount / rule.round_to).quantize(Decimal(1), rounding=ROUNDINGS[rule.rounding])
    amount = (steps * rule.round_to).quantize(Decimal("0.01"))
    per_capita = (total / n).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    ceiling = policy.value(rule.ceiling, on) if rule.ceiling else None
    return Computed(n, total, per_capita, name, standard, amount, ceiling)


def out_of_bounds(
    policy: Policy,
    rule: AmountRule,
    field: str,
    value: Decimal,
    on: date,
    figures: dict[str, object] | None = None,
) -> str | None:
    """Why `value` may not be set as `field` on day `on` (not positive, above the ceiling);
    `figures` (household.*) say why a computed amount is nothing."""
    if value <= 0:
        if figures and "per_capita_income" in figures:
            return _(
                "{field} is {value}: the per-capita monthly income {pci} of the {members} "
                "member(s) living together is not below the standard {standard} in force on "
                "{on}, so no dibao is due",
                field=field,
                value=value,
                pci=figures["per_capita_income"],
                members=figures["members"],
                standard=figures["standard"],
                on=on.isoformat(),
            )
        return _("{field} {value} is not a positive amount", field=field, value=value)
    if rule.ceiling is not None:
        ceiling = policy.value(rule.ceiling, on)
        if value > ceiling:
            return _(
                "{field} {value} is above the ceiling {ceiling} ({name} in force on {on}, {file})",
                field=field,
                value=value,
                ceiling=ceiling,
                name=rule.ceiling,
                on=on.isoformat(),
                file=policy.file,
            )

    return None
