"""Reading deployed workflows: the versions and their parsed definitions."""

from __future__ import annotations

from aidflow.errors import Problem, WorkflowInvalidError
from aidflow.i18n import _, language
from aidflow.language.definition import Workflow
from aidflow.language.loader import LoadedWorkflow
from aidflow.store import workflows
from aidflow.store.records import VersionRecord
from aidflow.store.session import Session


def deployed(session: Session) -> list[tuple[VersionRecord, Workflow]]:
    """Every deployed version with its definition, by name and version number."""
    return [(v, workflows.definition_of(v)) for v in workflows.list_versions(session)]


def version(
    session: Session, name: str, number: int | None = None
) -> tuple[VersionRecord, Workflow]:
    """Version `number` of workflow `name` (its latest if None) with its definition."""
    wv = workflows.workflow_version(session, name, number)
    return wv, workflows.definition_of(wv)


def check_declared_version(loaded: LoadedWorkflow, assigned: int) -> None:
    """Refuse a file whose `version:` is not the number deploy is about to give it.

    The deployed number is the only version a workflow has: every listing, diagram and case
    names it, so a file may leave `version:` out, and when it writes one it must agree.
    """
    declared = loaded.definition.version
    if declared is None or str(declared) == str(assigned):
        return
    line, column = loaded.version_mark or (1, 1)
    raise WorkflowInvalidError(
        [
            Problem(
                loaded.file,
                line,
                column,
                "version",
                _(
                    "{declared}, but this deploy would make version {assigned}",
                    declared=declared,
                    assigned=assigned,
                ),
                _("write `version: {assigned}` (or leave `version:` out)", assigned=assigned),
            )
        ]
    )


def deploy_warnings(session: Session, wf: Workflow) -> list[str]:
    """A warning for each ladder rung whose role no user holds, and where its escalations go
    instead (`workflow deploy` prints them), in the current language: in Chinese the roles
    are called by their labels, with the code the command needs."""
    from aidflow.services.escalations import fallback_roles
    from aidflow.store.users import all_roles

    held = all_roles(session)

    def called(role: str) -> str:
        labels = wf.roles.get(role)
        if language() != "zh":
            return role
        if labels is not None and labels.zh:
            return _("{label} ({code})", label=labels.zh, code=role)
        if role == "admin":
            return _("{label} ({code})", label=_("administrators"), code=role)
        return role

    out = []
    for ladder, rungs in wf.escalations.items():
        for index, rung in enumerate(rungs, 1):
            if rung.to in held:
                continue
            instead = next((r for r in fallback_roles(rung.to) if r in held), None)
            values = {
                "workflow": wf.name,
                "ladder": ladder,
                "rung": index,
                "after": rung.after,
                "role": called(rung.to),
                "code": rung.to,
            }
            if instead is not None:
                out.append(
                    _(
                        "{workflow}: ladder {ladder} rung {rung} (after {after}) goes to {role}, "
                        "which no user holds; its escalations go to {instead} instead (add a user "
                        "with `aidflow user add NAME --role {code} ...`)",
                        instead=called(instead),
                        **values,
                    )
                )
            else:
                out.append(
                    _(
                        "{workflow}: ladder {ladder} rung {rung} (after {after}) goes to {role}, "
                        "which no user holds; it reaches no one (add a user "
                        "with `aidflow user add NAME --role {code} ...`)",
                        **values,
                    )
                )
    return out
