"""`aidflow workflow ...`: validate, deploy, list, show, schema, reference, diagram.

For administrators: the people who write and change the county's procedures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aidflow.cli.app import App, emit_json, local, pass_app
from aidflow.i18n import N_, _, ngettext


@click.group("workflow")
def workflow_group() -> None:
    """Validate, deploy and inspect workflow definitions."""


@workflow_group.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@pass_app
def validate(app: App, paths: tuple[Path, ...]) -> None:
    """Check workflow files; report every problem as file:line:column. Writes nothing.

    Without PATHS: the county's workflows (setting workflows_dir).
    """
    from aidflow.errors import ExitCode
    from aidflow.policy.workflows import check_files, workflow_files

    files: list[Path] = []
    for p in paths or (app.county.workflows,):
        files.extend(workflow_files(p) if p.is_dir() else [p])
    problems = check_files(files)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(
            ngettext(
                "{n} problem in {bad} of {files} file(s)",
                "{n} problems in {bad} of {files} file(s)",
                len(problems),
                bad=len({p.file for p in problems}),
                files=len(files),
            ),
            err=True,
        )
        raise SystemExit(ExitCode.INVALID_INPUT)
    click.echo(_("{n} file(s) valid", n=len(files)))


@workflow_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of workflow files (for editors)."""
    from aidflow.language.definition import json_schema

    emit_json(json_schema())


@workflow_group.command("reference")
@click.option(
    "--lang",
    "lang",
    type=click.Choice(["en", "zh"]),
    help="Language of the reference (default: the setting lang, AIDFLOW_LANG).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the Markdown to FILE instead of printing it.",
)
@pass_app
def reference(app: App, lang: str | None, output: Path | None) -> None:
    """Print the reference of the workflow language (Markdown): every key, the constructs
    with an example each, expressions, durations and the validator's messages."""
    from aidflow.language.reference import render

    text = render("zh" if (lang or app.lang) == "zh" else "en")
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(_("wrote {file}", file=output), err=True)


@workflow_group.command("deploy")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_app
def deploy(app: App, paths: tuple[Path, ...]) -> None:
    """Validate and store workflow files as new versions (unchanged files are skipped).

    All files are validated first; if any is invalid nothing is deployed.
    """
    from aidflow.errors import WorkflowInvalidError
    from aidflow.policy.workflows import load_workflow_file, workflow_files

    files: list[Path] = []
    for p in paths:
        files.extend(workflow_files(p) if p.is_dir() else [p])
    # checked here first, so a mistake is listed with the policy file next to it; the
    # operation checks the text again where it is stored
    loaded, problems = [], []
    for f in files:
        try:
            loaded.append(load_workflow_file(f))
        except WorkflowInvalidError as exc:
            problems.extend(exc.problems)
    if problems:
        raise WorkflowInvalidError(problems)
    deployed = app.call(
        "workflow.deploy", files=[{"file": lw.file, "source": lw.source} for lw in loaded]
    )
    for d in deployed:
        state = _("deployed") if d["created"] else _("unchanged")
        click.echo(
            _(
                "{name} version {version}: {state} ({file}, sha256 {sha})",
                name=d["name"],
                version=d["version"],
                state=state,
                file=d["file"],
                sha=d["sha256"][:12],
            )
        )
        for warning in d["warnings"]:
            click.echo(_("warning: {warning}", warning=warning), err=True)


@workflow_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_(app: App, as_json: bool) -> None:
    """List deployed workflows and their versions."""
    from datetime import datetime

    rows = app.call("workflow.list")
    for r in rows:
        r["deployed_at"] = local(datetime.fromisoformat(r["deployed_at"]), app)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(_("no workflows deployed; run `aidflow workflow deploy workflows/`"))
    for r in rows:
        click.echo(f"{r['name']:<24} v{r['version']:<4} {r['deployed_at']}  {r['label']}")


@workflow_group.command("show")
@click.argument("name")
@click.option("--version", "version", type=int, help="A deployed version (default: latest).")
@click.option("--source", is_flag=True, help="Print the YAML source as deployed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show(app: App, name: str, version: int | None, source: bool, as_json: bool) -> None:
    """Show a deployed workflow: states, deadlines, owners and transitions."""
    import json
    from datetime import datetime

    from aidflow.language.definition import workflow_from_json

    wv = app.call("workflow.show", workflow=name, version=version)
    if source:
        click.echo(wv["source"], nl=False)
        return
    if as_json:
        emit_json(
            {
                "name": wv["name"],
                "version": wv["version"],
                "sha256": wv["sha256"],
                "definition": wv["definition"],
            }
        )
        return
    wf = workflow_from_json(json.dumps(wv["definition"]))
    lang = app.lang

    def role(code: str) -> str:  # in Chinese the role's label, in English its code
        labels = wf.roles.get(code)
        return labels.zh if lang == "zh" and labels is not None else code

    click.echo(
        _(
            "{name} v{version} ({label}), deployed {at} by {user}",
            name=wf.name,
            version=wv["version"],
            label=wf.labels.get(lang),
            at=local(datetime.fromisoformat(wv["deployed_at"]), app),
            user=wv["deployed_by"],
        )
    )
    click.echo(_("states:"))
    for sname, st in wf.states.items():
        flags = [_(word) for f, word in _STATE_FLAGS if getattr(st, f)]
        extra = []
        if st.owner:
            extra.append(_("owner {role}", role=role(st.owner)))
        if st.deadline:
            extra.append(_("deadline {duration}", duration=st.deadline))
        if st.min_dwell:
            extra.append(_("dwell {duration}", duration=st.min_dwell))
        if st.vote:
            v = st.vote
            extra.append(
                _(
                    "vote by {voters}, quorum {quorum}, {rule} {threshold}",
                    voters=role(v.voters),
                    quorum=v.quorum,
                    rule=_(_VOTE_RULES.get(v.rule, v.rule)),
                    threshold=v.threshold,
                )
            )
        comma, semicolon = _(", "), _("; ")
        tag = f" [{comma.join(flags)}]" if flags else ""
        click.echo(f"  {sname:<20} {st.labels.get(lang)}{tag}  {semicolon.join(extra)}")
    click.echo(_("transitions:"))
    for t in wf.transitions:
        roles = _(", ").join(role(r) for r in t.roles) or _("system")
        if not t.routes:
            click.echo(
                _(
                    "  {trigger} {sources} -> {dest}  ({roles})",
                    trigger=t.trigger.ljust(20),
                    sources="|".join(t.sources),
                    dest=t.dest,
                    roles=roles,
                )
            )
            continue
        click.echo(
            _(
                "  {trigger} {sources}  ({roles}), the first that holds:",
                trigger=t.trigger.ljust(20),
                sources="|".join(t.sources),
                roles=roles,
            )
        )
        for r in t.routes:
            when = r.when or _("otherwise")
            click.echo(f"  {'':<20}   -> {r.dest:<20} {when}")


_STATE_FLAGS = (("initial", N_("initial")), ("final", N_("final")))
_VOTE_RULES = {"more_than": N_("more_than"), "at_least": N_("at_least")}


@workflow_group.command("diagram")
@click.argument("name")
@click.option("--version", "version", type=int, help="A deployed version (default: latest).")
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "svg"]), default="mermaid", show_default=True
)
@pass_app
def diagram(app: App, name: str, version: int | None, fmt: str) -> None:
    """Print a state diagram of a deployed workflow (Mermaid, or SVG with Graphviz)."""
    click.echo(app.call("workflow.diagram", workflow=name, version=version, format=fmt), nl=False)


@workflow_group.command("migrate")
@click.argument("name")
@click.option("--to", "to", type=int, required=True, help="The deployed version to move to.")
@click.option(
    "--plan",
    "plan",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A migration plan (YAML); without it every state keeps its name.",
)
@click.option("--dry-run", is_flag=True, help="List what would move; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def migrate(app: App, name: str, to: int, plan: Path | None, dry_run: bool, as_json: bool) -> None:
    """Move the running cases of workflow NAME to version VERSION (administrators).

    The dry run lists every case with its old and new state and deadline; applying records
    a "migrated" event on each case (in the audit log) with the plan's SHA-256. Cases in a
    final state are never touched.
    """
    from datetime import datetime

    result = app.call(
        "workflow.migrate",
        workflow=name,
        to=to,
        plan=None if plan is None else plan.read_text(encoding="utf-8"),
        plan_file=None if plan is None else str(plan),
        dry_run=dry_run,
    )
    if as_json:
        emit_json(result)
        return

    def shown(at: str | None) -> str:
        return local(None if at is None else datetime.fromisoformat(at), app)

    labels = result["labels"]
    if dry_run:
        for m in result["moves"]:
            old = labels[str(m["from_version"])].get(m["old_state"], m["old_state"])
            new = labels[str(to)][m["new_state"]]
            click.echo(
                _(
                    "case {case} {area}  {old_state} ({old}) -> {new_state} ({new})  "
                    "{old_deadline} -> {new_deadline}",
                    case=str(m["case_id"]).ljust(6),
                    area=m["township"] + "/" + m["village"],
                    old_state=m["old_state"],
                    old=old,
                    new_state=m["new_state"],
                    new=new,
                    old_deadline=shown(m["old_deadline"]),
                    new_deadline=shown(m["new_deadline"]),
                )
            )
    count = len(result["moves"])
    if not count:
        click.echo(
            _(
                "nothing to migrate: no running {name} case is on a version other than {to}",
                name=name,
                to=to,
            )
        )
        return
    if dry_run:
        moved = _(
            "{n} running {name} case(s) would move to version {to} (plan sha256 {sha})",
            n=count,
            name=name,
            to=to,
            sha=result["plan_sha256"],
        )
    else:
        moved = _(
            "{n} running {name} case(s) moved to version {to} (plan sha256 {sha})",
            n=count,
            name=name,
            to=to,
            sha=result["plan_sha256"],
        )
    click.echo(moved)
    for c in result["counts"]:
        click.echo(f"  {c['old_state']} -> {c['new_state']}: {c['cases']}")


@workflow_group.command("simulate")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--against-database",
    is_flag=True,
    help="Run the database's open cases on the edited file (required: say it knowingly).",
)
@click.option(
    "--days", type=int, default=7, show_default=True, help="Days of scheduler rounds (1-366)."
)
@click.option(
    "--step-hours",
    type=int,
    default=1,
    show_default=True,
    help="Hours between simulated scheduler rounds (1-24).",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="The migration plan to move the open cases with (default: states by name).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def simulate(
    app: App,
    path: Path,
    against_database: bool,
    days: int,
    step_hours: int,
    plan_path: Path | None,
    as_json: bool,
) -> None:
    """What deploying PATH and migrating the open cases to it would do over the next --days,
    against what the deployed version does: cases stranded, deadlines moved, escalations,
    timed transitions, care-visit alerts and emails. Runs on throw-away copies of the
    database; the database itself is only read."""
    from aidflow.errors import InvalidInputError
    from aidflow.policy.workflows import load_workflow_file

    if not against_database:
        raise InvalidInputError(
            _(
                "workflow simulate runs the database's open cases on the edited file; "
                "say so with --against-database"
            ),
            hint=_("aidflow workflow simulate {path} --against-database --days 7", path=path),
        )
    loaded = load_workflow_file(path)  # problems listed here with the policy file next to it
    report = app.call(
        "workflow.simulate",
        file=loaded.file,
        source=loaded.source,
        days=days,
        step_hours=step_hours,
        plan_file=str(plan_path) if plan_path else None,
        plan=plan_path.read_text(encoding="utf-8") if plan_path else None,
    )
    if as_json:
        emit_json(report)
        return
    for line in simulation_lines(report):
        click.echo(line)


def simulation_lines(r: dict[str, Any]) -> list[str]:
    """The simulation report as text: what changes, then the two scenarios side by side."""

    def day(at: str | None) -> str:
        return at[:16].replace("T", " ") if at else "-"

    def case(number: object) -> str:
        return _("case {case}", case=number)

    lines = [
        _(
            "{workflow}: the edited file as version {edited} against version {deployed} "
            "(deployed), {n} open case(s)",
            workflow=r["workflow"],
            edited=r["edited_version"],
            deployed=r["deployed_version"],
            n=r["open_cases"],
        ),
        _(
            "{start} to {end}, a scheduler round every {hours} h; plan sha256 {sha}",
            start=day(r["start"]),
            end=day(r["end"]),
            hours=format(r["step_hours"], "g"),
            sha=r["plan_sha256"][:12],
        ),
        _("stranded (would stay on their version): {n}", n=len(r["stranded"])),
        *(f"  {case(s['case'])}  {s['state']}: {s['reason']}" for s in r["stranded"]),
        _("migrated: {n}", n=sum(m["count"] for m in r["migrated"])),
        *(f"  {m['from']} -> {m['to']}: {m['count']}" for m in r["migrated"]),
        _("deadlines moved: {n}", n=len(r["deadlines_moved"])),
        *(
            f"  {case(m['case'])}  {m['state_before']} -> {m['state_after']}: "
            f"{day(m['before'])} -> {day(m['after'])}"
            for m in r["deadlines_moved"]
        ),
    ]
    base, edit = r["baseline"], r["edited"]
    rows = [
        (_(_ESCALATIONS), base["escalations_total"], edit["escalations_total"]),
        (_(_TIMED), base["timed_total"], edit["timed_total"]),
        (
            _("care-visit alerts"),
            sum(base["visit_alerts"].values()),
            sum(edit["visit_alerts"].values()),
        ),
        (_("emails queued"), base["emails"], edit["emails"]),
    ]
    heads = (_("deployed"), _("edited"), _("change"))
    lines.append(_pad("", 24) + "".join(_pad(h, 10, right=True) for h in heads))
    lines.extend(_pad(name, 24) + f"{b:>10}{e:>10}{e - b:>+10}" for name, b, e in rows)
    for label, key, fmt in (
        (_ESCALATIONS, "escalations", N_("{state} {ladder} rung {rung} -> {role}")),
        (_TIMED, "timed_transitions", "{from} --{trigger}--> {to}"),
    ):
        counts: dict[str, list[int]] = {}
        for i, scenario in enumerate((base, edit)):
            for item in scenario[key]:
                counts.setdefault(_(fmt, **item), [0, 0])[i] += item["count"]
        if counts:
            lines.append(_("{what} by kind:", what=_(label)))
            lines.extend(
                f"  {_pad(what, 60)} {b:>6} {e:>6}" for what, (b, e) in sorted(counts.items())
            )
    lines.append(_("cases ending in another state: {n}", n=len(r["outcomes_differ"])))
    lines.extend(
        _(
            "  case {case}: {baseline} (deployed), {edited} (edited)",
            case=o["case"],
            baseline=o["baseline"],
            edited=o["edited"],
        )
        for o in r["outcomes_differ"]
    )
    return lines


_ESCALATIONS = N_("escalations")
_TIMED = N_("timed transitions")


def _pad(text: str, width: int, *, right: bool = False) -> str:
    """`text` padded to `width` columns on a terminal (a Chinese character takes two)."""
    from unicodedata import east_asian_width

    used = sum(2 if east_asian_width(c) in "WF" else 1 for c in text)
    space = " " * max(width - used, 0)
    return space + text if right else text + space
