"""Reading deployed workflows: the versions and their parsed definitions."""

from __future__ import annotations

from aidflow.language.definition import Workflow
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
