"""Workflow operations: deploy definitions, list and show them (`aidflow workflow ...`).

`workflow validate` and `workflow schema` are not operations: they read files and the
package, never the database, so they run where the files are.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aidflow.i18n import _
from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("workflow.deploy", write=True, runtime=True)
def deploy(
    svc: Service, caller: Caller, rt: Runtime, files: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """Validate and store workflow files as new versions (unchanged files are skipped).

    `files` are {"file": NAME, "source": YAML TEXT}. Each is validated here, against the
    policy names of this county's standards, whatever the sender checked; if any is invalid
    nothing is deployed.
    """
    from aidflow.errors import InvalidInputError, WorkflowInvalidError
    from aidflow.language.loader import load_workflow_text
    from aidflow.policy.standards import policy_names

    policy = policy_names(rt.county.policy)
    loaded, problems = [], []
    for item in files:
        if set(item) != {"file", "source"}:
            raise InvalidInputError(
                _("workflow.deploy: files: each file is {file, source}"),
                hint=_("check the command's parameters"),
            )
        try:
            loaded.append(load_workflow_text(item["source"], item["file"], policy=policy))
        except WorkflowInvalidError as exc:
            problems.extend(exc.problems)
    if problems:
        raise WorkflowInvalidError(problems)
    from aidflow.services.workflows import deploy_warnings

    out = []
    for lw in loaded:
        wv, created = svc.deploy(caller.user, lw)
        out.append(
            {
                "name": wv.name,
                "version": wv.version,
                "created": created,
                "file": lw.file,
                "sha256": wv.content_hash,
                "warnings": deploy_warnings(svc.session, lw.definition),
            }
        )
    return out


@operation("workflow.list", write=False)
def list_(svc: Service, caller: Caller) -> list[dict[str, Any]]:
    """Deployed workflows and their versions."""
    from aidflow.services import workflows

    return [
        {
            "name": v.name,
            "version": v.version,
            "deployed_at": v.deployed_at.isoformat(),
            "deployed_by": v.deployed_by,
            "sha256": v.content_hash,
            "label": wf.labels.get(caller.lang),
        }
        for v, wf in workflows.deployed(svc.session)
    ]


@operation("workflow.show", write=False)
def show(svc: Service, caller: Caller, workflow: str, version: int | None = None) -> dict[str, Any]:
    """A deployed workflow version (the latest if no `version`): its record, its YAML
    source as deployed, and its definition as JSON."""
    from aidflow.services import workflows

    wv, _wf = workflows.version(svc.session, workflow, version)
    definition = json.loads(wv.definition_json)
    definition["version"] = wv.version  # the deployed number is the only version
    return {
        "name": wv.name,
        "version": wv.version,
        "sha256": wv.content_hash,
        "deployed_at": wv.deployed_at.isoformat(),
        "deployed_by": wv.deployed_by,
        "source": wv.source,
        "definition": definition,
    }


@operation("workflow.diagram", write=False)
def diagram(
    svc: Service,
    caller: Caller,
    workflow: str,
    version: int | None = None,
    format: str = "mermaid",
) -> str:
    """A state diagram of a deployed workflow: Mermaid text, or SVG (needs Graphviz)."""
    from aidflow.engine import machine
    from aidflow.errors import InvalidInputError, UnavailableError
    from aidflow.services import workflows

    if format not in ("mermaid", "svg"):
        raise InvalidInputError(
            _("diagram format {format} is not mermaid or svg", format=repr(format))
        )
    wv, wf = workflows.version(svc.session, workflow, version)
    if format == "mermaid":
        return machine.mermaid(wf, caller.lang, wv.version)
    import shutil

    if shutil.which("dot") is None:
        raise UnavailableError(
            _("SVG needs Graphviz's `dot`, which is not installed"),
            hint=_(
                "install graphviz (apt-get install graphviz; pip install graphviz) "
                "or use --format mermaid"
            ),
        )
    try:
        data = machine.svg(wf)
    except ImportError:
        raise UnavailableError(
            _("SVG needs the Python package graphviz"), hint=_("pip install graphviz")
        ) from None
    return data.decode()


@operation("workflow.migrate", write=True)
def migrate(
    svc: Service,
    caller: Caller,
    workflow: str,
    to: int,
    plan: str | None = None,
    plan_file: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Move the running cases of `workflow` to its version `to` (administrators only).

    `plan` is the text of a migration plan file (services.migration has the format) and
    `plan_file` its name for messages; without it every state keeps its name. With
    `dry_run` nothing is written. The result lists every case moved (or that would be),
    the counts by old -> new state, the plan's SHA-256 and the states' labels in the
    caller's language.
    """
    from aidflow.services import migration

    who = svc.require_admin(caller.user)
    loaded = None if plan is None else migration.load_plan(plan, plan_file or "<plan>")
    report = migration.migrate(svc, workflow, to, loaded, actor=who, dry_run=dry_run)

    def when(at: datetime | None) -> str | None:
        return None if at is None else at.isoformat()

    return {
        "workflow": report.workflow,
        "to": report.to_version,
        "plan_sha256": report.plan_sha256,
        "dry_run": dry_run,
        "applied": report.applied,
        "moves": [
            {
                "case_id": m.case_id,
                "township": m.township,
                "village": m.village,
                "from_version": m.from_version,
                "old_state": m.old_state,
                "new_state": m.new_state,
                "old_deadline": when(m.old_deadline),
                "new_deadline": when(m.new_deadline),
            }
            for m in report.moves
        ],
        "problems": [{"case_id": p.case_id, "reason": p.reason} for p in report.problems],
        "counts": [
            {"old_state": old, "new_state": new, "cases": n}
            for (old, new), n in sorted(report.counts().items())
        ],
        "labels": {
            str(number): {
                s: names[caller.lang if caller.lang in names else "en"]
                for s, names in states.items()
            }
            for number, states in report.labels.items()
        },
    }


@operation("workflow.simulate", write=False, runtime=True)
def simulate(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    file: str,
    source: str,
    days: int = 7,
    step_hours: int = 1,
    plan_file: str | None = None,
    plan: str | None = None,
) -> dict[str, Any]:
    """What an edited workflow would do to the open cases over the next `days`, compared
    with the deployed version (aidflow.scheduler.simulation), on throw-away copies of the
    database. `source` is the edited file's YAML text, `plan` a migration plan's text."""
    from datetime import timedelta

    from aidflow.errors import InvalidInputError
    from aidflow.language.loader import load_workflow_text
    from aidflow.policy.standards import policy_names
    from aidflow.scheduler.simulation import simulate as run

    actor = svc.require_admin(caller.user)
    if not 1 <= days <= 366:
        raise InvalidInputError(
            _("--days {days}: a simulation covers 1 to 366 days", days=days),
            hint=_("give --days 1..366"),
        )
    if not 1 <= step_hours <= 24:
        raise InvalidInputError(
            _(
                "--step-hours {hours}: the scheduler's rounds are 1 to 24 hours apart",
                hours=step_hours,
            ),
            hint=_("give --step-hours 1..24"),
        )
    loaded = load_workflow_text(source, file, policy=policy_names(rt.county.policy))
    report = run(
        rt,
        loaded,
        plan_text=plan,
        plan_file=plan_file,
        days=days,
        step=timedelta(hours=step_hours),
        actor=actor,
    )
    return report.as_json()
