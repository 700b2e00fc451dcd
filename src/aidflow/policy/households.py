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

if TYPE_CHECKING:
    from aidflow.policy.standards import Policy

# Relationship to the head of household (与户主关系), a closed list with its labels.
RELATIONSHIPS: dict[str, tuple[str, str]] = {
    "head": ("户主", "head of household"),
    "spouse": ("配偶", "spouse"),
    "child": ("子女", "child"),
    "parent": ("父母", "parent"),
    "parent_in_law": ("岳父母/公婆", "parent-in-law"),
    "child_in_law": ("儿媳/女婿", "child-in-law"),
    "grandchild": ("孙子女/外孙子女", "grandchild"),
    "grandparent": ("祖父母/外祖父母", "grandparent"),
    "sibling": ("兄弟姐妹", "sibling"),
    "other": ("其他", "other relative"),
}

ROUNDINGS = {"up": ROUND_UP, "down": ROUND_DOWN, "half_up": ROUND_HALF_UP}


def relationship_label(code: str, lang: str) -> str:
    zh, en = RELATIONSHIPS.get(code, (code, code))
    return zh if lang == "zh" else en


def check_relationship(code: str) -> str:
    if code not in RELATIONSHIPS:
        raise InvalidInputError(
            f"unknown relationship {code!r}",
            hint="one of: " + ", ".join(k for k in RELATIONSHIPS if k != "head"),
        )
    if code == "head":
        raise InvalidInputError(
            "a household has one head, named when it is registered",
            hint="give the member's relationship to the head, e.g. --relationship spouse",
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
                f"amounts.{self.name} has no standard for hukou {hukou!r}",
                hint=f"add {hukou}: STANDARD to amounts.{self.name}.standards",
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
            "the household has no member living together", hint="add members with --together"
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
            return (
                f"{field} is {value}: the per-capita monthly income "
                f"{figures['per_capita_income']} of the {figures['members']} member(s) living "
                f"together is not below the standard {figures['standard']} in force on "
                f"{on.isoformat()}, so no dibao is due"
            )
        return f"{field} {value} is not a positive amount"
    if rule.ceiling is not None:
        ceiling = policy.value(rule.ceiling, on)
        if value > ceiling:
            return (
                f"{field} {value} is above the ceiling {ceiling} ({rule.ceiling} in force on "
                f"{on.isoformat()}, {policy.file})"
            )
    return None
