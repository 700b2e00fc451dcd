"""Deployed workflow versions, and the one cache of their parsed definitions.

A version's definition never changes once deployed, so its parse is kept by content hash
for the life of the process (keyed by hash, not id: one process may serve several
databases, as the tests do). Deploying a version appends it to the global audit log
(aidflow.store.auditlog).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from aidflow.errors import NotFoundError, did_you_mean
from aidflow.i18n import _
from aidflow.language.definition import Workflow, workflow_from_json
from aidflow.store import auditlog
from aidflow.store.fast import Fast
from aidflow.store.models import WorkflowVersion
from aidflow.store.records import VersionRecord
from aidflow.store.tables import VERSIONS, record_of

_PARSED: dict[str, Workflow] = {}

_HASH_BY_ID = Fast(select(VERSIONS.c.content_hash).where(VERSIONS.c.id == bindparam("b_id")))
_JSON_BY_ID = Fast(select(VERSIONS.c.definition_json).where(VERSIONS.c.id == bindparam("b_id")))
_VERSION_BY_ID = Fast(select(VERSIONS).where(VERSIONS.c.id == bindparam("b_id")))


def _parsed(content_hash: str, text: str) -> Workflow:
    wf = _PARSED.get(content_hash)
    if wf is None:
        wf = _PARSED[content_hash] = workflow_from_json(text)
    return wf


def definition(session: Session, version_id: int, content_hash: str | None = None) -> Workflow:
    """The parsed definition of deployed version `version_id`.

    Give `content_hash` when it was read along with the case: then a cached parse costs
    no statement at all.
    """
    digest = content_hash or _HASH_BY_ID.rows(session, {"b_id": version_id})[0][0]
    wf = _PARSED.get(digest)
    if wf is None:
        text = _JSON_BY_ID.rows(session, {"b_id": version_id})[0][0]
        wf = _parsed(digest, text)
    return wf


def definition_of(version: VersionRecord) -> Workflow:
    """The parsed definition of a version record in hand."""
    return _parsed(version.content_hash, version.definition_json)


def deployed_definitions(session: Session) -> list[tuple[int, Workflow]]:
    """(version id, parsed definition) of every deployed version."""
    rows = session.execute(
        select(VERSIONS.c.id, VERSIONS.c.content_hash, VERSIONS.c.definition_json)
    )
    return [(vid, _parsed(digest, text)) for vid, digest, text in rows]


def version_by_id(session: Session, version_id: int) -> VersionRecord:
    row = _VERSION_BY_ID.one_or_none(session, {"b_id": version_id})
    if row is None:
        raise NotFoundError(_("no workflow version with id {id}", id=version_id))
    return VersionRecord(*row)


def latest_version(session: Session, name: str) -> VersionRecord:
    """The newest deployed version of workflow `name`; unknown names get a "did you mean"."""
    row = session.execute(
        select(VERSIONS).where(VERSIONS.c.name == name).order_by(VERSIONS.c.version.desc()).limit(1)
    ).first()
    if row is None:
        known = list(session.scalars(select(VERSIONS.c.name).distinct()))
        hint = did_you_mean(name, known) or (
            _("deployed workflows: {names}", names=_(", ").join(known))
            if known
            else _("deploy one with `aidflow workflow deploy FILE`")
        )
        raise NotFoundError(_("no deployed workflow named '{name}'", name=name), hint=hint)
    return VersionRecord(*row)


def workflow_version(session: Session, name: str, version: int | None) -> VersionRecord:
    """Version `version` of workflow `name`, or its latest when `version` is None."""
    if version is None:
        return latest_version(session, name)
    row = session.execute(
        select(VERSIONS).where(VERSIONS.c.name == name, VERSIONS.c.version == version)
    ).first()
    if row is None:
        raise NotFoundError(
            _("workflow '{name}' has no version {version}", name=name, version=version),
            hint=_("`aidflow workflow list` shows the deployed versions"),
        )
    return VersionRecord(*row)


def list_versions(session: Session) -> list[VersionRecord]:
    """Every deployed version, by name and version number."""
    stmt = select(VERSIONS).order_by(VERSIONS.c.name, VERSIONS.c.version)
    return [VersionRecord(*row) for row in session.execute(stmt)]


def version_by_hash(session: Session, name: str, content_hash: str) -> VersionRecord | None:
    """The version of `name` deployed from exactly this content, if any."""
    row = session.execute(
        select(VERSIONS).where(VERSIONS.c.name == name, VERSIONS.c.content_hash == content_hash)
    ).first()
    return None if row is None else VersionRecord(*row)


def next_version(session: Session, name: str) -> int:
    """The number the next deploy of `name` gets."""
    top = session.scalar(select(func.max(VERSIONS.c.version)).where(VERSIONS.c.name == name))
    return (top or 0) + 1


def add_version(
    session: Session,
    *,
    name: str,
    declared_version: str,
    file: str,
    source: str,
    definition_json: str,
    content_hash: str,
    deployed_at: datetime,
    deployed_by: str,
    version: int | None = None,
) -> VersionRecord:
    """Store a definition as version `version` of `name` (by default the next number).

    A caller that checked the file against `next_version` passes that number, so a deploy
    racing it fails on the (name, version) key instead of taking a number it never checked.
    """
    wv = WorkflowVersion(
        name=name,
        version=next_version(session, name) if version is None else version,
        declared_version=declared_version,
        file=file,
        source=source,
        definition_json=definition_json,
        content_hash=content_hash,
        deployed_at=deployed_at,
        deployed_by=deployed_by,
    )
    session.add(wv)
    session.flush()
    record = record_of(VersionRecord, wv)
    auditlog.append(
        session,
        at=deployed_at,
        actor=deployed_by,
        kind="workflow_deployed",
        table="workflow_versions",
        row={
            name: getattr(record, name) for name in auditlog.SUBJECTS["workflow_versions"].content
        },
    )
    return record
