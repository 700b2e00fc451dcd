"""Reading deployed workflows: the versions and their parsed definitions."""

from __future__ import annotations

from aidflow.errors import Problem, WorkflowInvalidError
from aidflow.i18n import _
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
