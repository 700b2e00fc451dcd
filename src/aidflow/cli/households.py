"""`aidflow household add|member|income|show`: households (户), members, recorded incomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from aidflow.cli.app import App, emit_json, local, pass_app
from aidflow.policy.households import RELATIONSHIPS

TEXT = {
    "en": {
        "household": "Household",
        "added": "household {id} registered in {township}/{village}; head {head}",
        "member": "{name} ({idn}) added to household {id} as {rel}",
        "apart": "not living together",
        "income": "income of {name} ({idn}) in household {id}: {amount} yuan a month",
        "members": "Members",
        "together": "lives together",
        "no_income": "no income recorded",
        "recorded": "recorded by {by} at {at}",
        "figures": "Dibao figures today",
        "n": "members covered",
        "pci": "per-capita monthly income",
        "standard": "standard",
        "amount": "computed monthly amount",
        "ceiling": "ceiling",
        "cannot": "cannot compute the amount",
    },
    "zh": {
        "household": "家庭户",
        "added": "已登记家庭户 {id}（{township}/{village}），户主 {head}",
        "member": "{name}（{idn}）已加入家庭户 {id}，与户主关系：{rel}",
        "apart": "非共同生活",
        "income": "家庭户 {id} 成员 {name}（{idn}）月收入：{amount} 元",
        "members": "家庭成员",
        "together": "共同生活",
        "no_income": "未登记收入",
        "recorded": "{by} 登记于 {at}",
        "figures": "今日低保测算",
        "n": "保障人数",
        "pci": "家庭月人均收入",
        "standard": "低保标准",
        "amount": "测算月保障金额",
        "ceiling": "上限",
        "cannot": "无法测算金额",
    },
}


def _t(app: App) -> dict[str, str]:
    return TEXT["zh" if app.lang == "zh" else "en"]


@click.group("household")
def household_group() -> None:
    """Households (户): members, their relationship to the head, recorded incomes."""


@household_group.command("add")
@click.argument("head_id_number")
@pass_app
def household_add(app: App, head_id_number: str) -> None:
    """Register a household headed by a registered person (HEAD_ID_NUMBER)."""
    r = app.call("household.add", head_id_number=head_id_number)
    head = f"{r['head']} ({r['head_id_number_masked']})"
    where = {"id": r["id"], "township": r["township"], "village": r["village"]}
    click.echo(_t(app)["added"].format(**where, head=head))


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
    t = _t(app)
    line = t["member"].format(
        name=r["name"], idn=r["id_number_masked"], id=household_id, rel=r["relationship"]
    )
    click.echo(line if together else f"{line} ({t['apart']})")


@household_group.command("income")
@click.argument("household_id", type=int)
@click.argument("id_number")
@click.argument("amount")
@pass_app
def household_income(app: App, household_id: int, id_number: str, amount: str) -> None:
    """Record the monthly income (yuan, e.g. 1234.50) of a member, as found at investigation."""
    r = app.call("household.income", household_id=household_id, id_number=id_number, amount=amount)
    click.echo(
        _t(app)["income"].format(
            id=household_id, name=r["name"], idn=r["id_number_masked"], amount=r["income"]
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
    t = _t(app)
    click.echo(f"{t['household']} {r['id']}  {r['township']}/{r['village']}")
    click.echo(f"{t['members']}:")
    for m in r["members"]:
        where = t["together"] if m["lives_together"] else t["apart"]
        if m["income"] is None:
            income = t["no_income"]
        else:
            at = local(datetime.fromisoformat(m["recorded_at"]), app)
            income = f"{m['income']} ({t['recorded'].format(by=m['recorded_by'], at=at)})"
        click.echo(
            f"  {m['name']}  {m['id_number_masked']}  {m['relationship']}  {where}  {income}"
        )
    f = r["figures"]
    if f is None:
        if r["problem"]:
            click.echo(f"{t['cannot']}: {r['problem']}")
        return
    click.echo(
        f"{t['figures']}: {t['n']} {f['members']}, {t['pci']} {f['per_capita_income']}, "
        f"{t['standard']} {f['standard']}, {t['amount']} {f['dibao_amount']}, "
        f"{t['ceiling']} {f['ceiling']}"
    )
