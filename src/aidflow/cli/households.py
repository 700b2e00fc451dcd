"""`aidflow household add|member|income|show`: households (户), members, recorded incomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from aidflow.cli.app import App, emit_json, local, pass_app
from aidflow.i18n import N_, _
from aidflow.policy.households import RELATIONSHIPS

APART = N_("not living together")


@click.group("household")
def household_group() -> None:
    """Households (户): members, their relationship to the head, recorded incomes."""


@household_group.command("add")
@click.argument("head_id_number")
@pass_app
def household_add(app: App, head_id_number: str) -> None:
    """Register a household headed by a registered person (HEAD_ID_NUMBER)."""
    r = app.call("household.add", head_id_number=head_id_number)
    head = _("{name} ({idn})", name=r["head"], idn=r["head_id_number_masked"])

    click.echo(
        _(
            "household {id} registered in {township}/{village}; head {head}",
            id=r["id"],
            township=r["township"],
            village=r["village"],
            head=head,
        )
    )


@household_group.command("member")
@click.argument("household_id", type=int)
@click.argument("id_number")
@click.option(
    "--relationship",
    required=True,
    metavar="REL",
    help="Relationship to the head: " + ", ".join(k for k in RELATIONSHIPS if k != "head") + ".",
)
@click.option(
    "--together/--apart",
    default=True,
    show_default=True,
    help="Whether the member lives with the household (共同生活); only those are counted.",
)
@pass_app
def household_member(
    app: App, household_id: int, id_number: str, relationship: str, together: bool
) -> None:
    """Add a registered person (ID_NUMBER) to household HOUSEHOLD_ID."""
    r = app.call(
        "household.member",
        household_id=household_id,
        id_number=id_number,
        relationship=relationship,
        lives_together=together,
    )
    line = _(
        "{name} ({idn}) added to household {id} as {rel}",
        name=r["name"],
        idn=r["id_number_masked"],
        id=household_id,
        rel=r["relationship"],
    )
    click.echo(line if together else _("{line} ({apart})", line=line, apart=_(APART)))


@household_group.command("income")
@click.argument("household_id", type=int)
@click.argument("id_number")
@click.argument("amount")
@pass_app
def household_income(app: App, household_id: int, id_number: str, amount: str) -> None:
    """Record the monthly income (yuan, e.g. 1234.50) of a member, as found at investigation."""
    r = app.call("household.income", household_id=household_id, id_number=id_number, amount=amount)
    click.echo(
        _(
            "income of {name} ({idn}) in household {id}: {amount} yuan a month",
            id=household_id,
            name=r["name"],
            idn=r["id_number_masked"],
            amount=r["income"],
        )
    )


@household_group.command("show")
@click.argument("household_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def household_show(app: App, household_id: int, as_json: bool) -> None:
    """Show a household: members, incomes and the dibao amount the rule gives today."""
    r: dict[str, Any] = app.call("household.show", household_id=household_id)
    if as_json:
        emit_json(r)
        return
    click.echo(
        _(
            "Household {id}  {township}/{village}",
            id=r["id"],
            township=r["township"],
            village=r["village"],
        )
    )
    click.echo(_("Members:"))
    for m in r["members"]:
        where = _("lives together") if m["lives_together"] else _(APART)
        if m["income"] is None:
            income = _("no income recorded")
        else:
            at = local(datetime.fromisoformat(m["recorded_at"]), app)
            income = _(
                "{income} (recorded by {by} at {at})",
                income=m["income"],
                by=m["recorded_by"],
                at=at,
            )
        click.echo(
            f"  {m['name']}  {m['id_number_masked']}  {m['relationship']}  {where}  {income}"
        )
    f = r["figures"]
    if f is None:
        if r["problem"]:
            click.echo(_("cannot compute the amount: {problem}", problem=r["problem"]))
        return
    click.echo(
        _(
            "Dibao figures today: members covered {n}, per-capita monthly income {pci}, "
            "standard {standard}, computed monthly amount {amount}, ceiling {ceiling}",
            n=f["members"],
            pci=f["per_capita_income"],
            standard=f["standard"],
            amount=f["dibao_amount"],
            ceiling=f["ceiling"],
        )
    )
