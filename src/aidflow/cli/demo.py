"""`aidflow demo`: a fresh SQLite database, the county's workflows, one case walked end to end."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from aidflow.cli.app import App, pass_app
from aidflow.i18n import _, pick

PEOPLE = [("11010519491231002X", "王秀英", "城关镇", "东村", "rural")]
# (login, roles, area, display name)
USERS = [
    ("admin", ["admin"], "*", "系统管理员"),
    ("li", ["township_caseworker"], "城关镇", "李明"),
    ("zhao", ["township_caseworker"], "城关镇", "赵磊"),
    ("chen", ["village_officer"], "城关镇/东村", "陈桂芳"),
    ("sun", ["county_officer"], "*", "孙志强"),
] + [
    (f"rep{i}", ["village_rep"], "城关镇/东村", name)
    for i, name in enumerate(["周建国", "吴秀兰", "郑海生", "王德福", "冯丽娟", "刘长顺"], 1)
]
NAMES = {login: shown for login, _roles, _area, shown in USERS}


@click.command("demo")
@click.option(
    "--db-file",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite file to create (replaced if it exists) [default: aidflow-demo.db, "
    "with --county aidflow-county.db].",
)
@click.option(
    "--county",
    is_flag=True,
    help="A synthetic county instead: generate, import, look back, run July-September 2023 "
    "with the scheduler, pay the quarter, print the report.",
)
@click.option(
    "--persons",
    type=click.IntRange(10, 100_000),
    default=300,
    show_default=True,
    help="With --county: persons in the survey lists.",
)
@click.option(
    "--townships",
    type=click.IntRange(1, 16),
    default=3,
    show_default=True,
    help="With --county: townships.",
)
@click.option("--seed", default="1", show_default=True, help="With --county: the seed.")
@pass_app
def demo(
    app: App, db_file: Path | None, county: bool, persons: int, townships: int, seed: str
) -> None:
    """Create a demo database and walk a dibao case through every step (or, with --county,
    run a whole synthetic county through a quarter)."""
    from aidflow.cli.app import parse_time
    from aidflow.clock import FrozenClock
    from aidflow.policy.workflows import load_workflow_file, workflow_files

    if db_file is None:
        db_file = Path("aidflow-county.db" if county else "aidflow-demo.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    app.use_database(f"sqlite:///{db_file}")
    if county:
        _county_demo(app, db_file, persons, townships, seed)
        return
    clock = FrozenClock(parse_time(app.now or "2023-08-01T09:00", app.tz))
    app.clock = clock
    app.upgrade_database(training=True)  # the demo's clock is simulated: a training database
    click.echo(
        _(
            "database {file} created (a training database: its time is simulated)",
            file=db_file,
        )
    )

    def step(
        actor: str,
        trigger: str,
        hours: float = 2,
        raw_fields: dict[str, str] | None = None,
        note: str | None = None,
    ) -> None:
        clock.advance(timedelta(hours=hours))
        with app.transaction() as svc:
            ev = svc.fire(svc.actor(actor), case_id, trigger, raw_fields, note)
            wf = svc.workflow_of(svc.case(case_id))
            when = f"{clock.now().astimezone(svc.calendar.tz):%Y-%m-%d %H:%M}"
            if app.lang == "zh":
                click.echo(
                    f"  {when}  {NAMES[actor]}  {trigger_shown(wf, trigger)}："
                    f"{state_shown(wf, ev.from_state)} → {state_shown(wf, ev.to_state)}"
                )
            else:
                click.echo(f"  {when}  {actor:<5} {trigger:<20} {ev.from_state} -> {ev.to_state}")

    import os
    import pwd

    from aidflow.services.cases import state_shown, trigger_shown
    from aidflow.services.users import import_areas

    with app.transaction() as svc:
        # the demo's admin is whoever runs it, so `--as li` works on the demo database after
        svc.add_user(
            None,
            "admin",
            ["admin"],
            "*",
            "admin@county.example",
            os_login=pwd.getpwuid(os.getuid()).pw_name,
            display_name=NAMES["admin"],
        )
        for f in workflow_files(app.county.workflows):
            loaded = load_workflow_file(f)
            wv, _new = svc.deploy("admin", loaded)
            label = loaded.definition.labels.zh
            click.echo(
                _(
                    "deployed {workflow} v{version}",
                    workflow=pick(wv.name, label),
                    version=wv.version,
                )
            )
        import_areas(svc.session, clock.now(), "admin", [(p[2], p[3]) for p in PEOPLE])
        for name, roles, area, shown in USERS[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example", display_name=shown)
        for idn, name, town, village, hukou in PEOPLE:
            svc.register_person(idn, name, town, village, hukou, disability_grade=2)
        case = svc.open_case(svc.actor("li"), PEOPLE[0][0], "dibao")
        case_id = case.id
        dibao = svc.workflow_of(case).labels.zh
    click.echo(
        _(
            "case {case} opened for {person} ({workflow})",
            case=case_id,
            person=PEOPLE[0][1],
            workflow=pick("dibao", dibao),
        )
    )
    step("li", "accept")
    step("li", "start_investigation", raw_fields={"investigators": "li,zhao"})
    step(
        "li",
        "submit_findings",
        48,
        raw_fields={"monthly_income": "120", "income_stable": "false"},
        note=pick(
            "household visit done; lives alone, no income besides a small pension",
            "入户核实：独居，除少量养老金外无其他收入",
        ),
    )
    for i in range(1, 7):
        with app.transaction() as svc:
            svc.vote(svc.actor(f"rep{i}"), case_id, "no" if i == 6 else "yes")
    click.echo("  " + _("village review: {yes} yes, {no} no", yes=5, no=1))
    step("chen", "review_passed")
    from aidflow.errors import RefusedError

    try:
        step("li", "close_notice", 24)
    except RefusedError as exc:  # the 7-day notice is still running
        click.echo("  " + _("refused as expected: {message}", message=exc.message))
    step("li", "close_notice", 24 * 7)
    try:
        step("li", "approve", 1)
    except RefusedError as exc:
        click.echo("  " + _("refused as expected: {message}", message=exc.message))
    step("sun", "approve", 24)  # the amount is computed from the income found
    click.echo("")
    from aidflow.cli.cases import case_show

    ctx = click.get_current_context()
    app.user = "li"
    ctx.invoke(case_show, case_id=case_id, as_json=False, show_id=False)
    from aidflow.cli.admin import audit_verify

    ctx.invoke(audit_verify, case_ids=())
    when = clock.now().astimezone(app.calendar.tz).strftime("%Y-%m-%dT%H:%M")
    command = f"aidflow --db {db_file} --as li --now {when} case show {case_id}"
    click.echo("\n" + _("explore it: {command}", command=command))


def _county_demo(app: App, db_file: Path, persons: int, townships: int, seed: str) -> None:
    from aidflow.cli.demo_county import PASSWORD, CountyDemo
    from aidflow.files.report import render_html, render_text, xlsx_bytes

    out = db_file.parent / f"{db_file.stem}-data"
    CountyDemo(app, persons, townships, seed, out).run()
    app.user = "csup"
    report = app.call("report.county", start="2023-07-01", end="2023-09-30")
    click.echo("")
    click.echo(render_text(report), nl=False)
    html, xlsx = out / "report.html", out / "report.xlsx"
    html.write_text(render_html(report), encoding="utf-8")
    xlsx.write_bytes(xlsx_bytes(report))
    click.echo("\n" + _("report also written to {html} and {xlsx}", html=html, xlsx=xlsx))
    serve = f"aidflow --db {db_file} serve"
    report_here = (
        f"aidflow --db {db_file} --as csup --now 2023-10-09T09:00 report "
        "--from 2023-07-01 --to 2023-09-30"
    )
    serve_now = f"aidflow --db {db_file} --now 2023-10-09T09:00 serve"
    click.echo(
        _(
            "browse it: {serve}; then `aidflow login http://127.0.0.1:8080 "
            "--user csup` (county supervisor; tsup1 is a township supervisor) with the password "
            "{password}, `aidflow user passwd` to change it, and `aidflow --now 2023-10-09T09:00 "
            "report --from 2023-07-01 --to 2023-09-30`; or here, without the server: {report}",
            serve=serve,
            password=PASSWORD,
            report=report_here,
        )
    )
    click.echo(
        _(
            "in a browser: {serve}, open http://127.0.0.1:8080/ and log in as csup (the first "
            "login asks for a new password): the dashboard, cases, escalations, public notices",
            serve=serve_now,
        )
    )
