"""Audit operations: verify the event chains and the global log, sign a checkpoint
(`aidflow audit verify|checkpoint`). `audit keygen` is not one: it writes a private key
where it runs, and touches no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aidflow.i18n import _
from aidflow.operations import Caller, operation
from aidflow.services.cases import Service
from aidflow.services.runtime import Runtime


@operation("audit.verify", write=False, runtime=True)
def verify(
    svc: Service,
    caller: Caller,
    rt: Runtime,
    case_ids: list[int] | None = None,
    checkpoints: dict[str, str] | None = None,
    public_key: str | None = None,
    public_key_file: str = "the public key",
) -> dict[str, Any]:
    """Recompute every case's event chain (or `case_ids`' only) and the global audit log,
    and hold the log against signed checkpoints.

    `checkpoints` are checkpoint files sent by the auditor ({file name: its text}), checked
    against `public_key` (its text; `public_key_file` names it in messages) or else this
    side's signing key. Without them the checkpoints_dir setting's files are used. Each
    finding is named once: a log finding about an event its case's chain already names is
    left out.
    """
    import tempfile

    from aidflow.engine.checkpoints import parse_public_key
    from aidflow.services import auditlog

    key: str | None

    cases, events, findings, unknown = svc.verify_audit(list(case_ids or ()))
    with tempfile.TemporaryDirectory(prefix="aidflow-checkpoints-") as sent:
        directory = rt.settings.checkpoints_dir
        if checkpoints is not None:
            directory = Path(sent)
            for name, text in checkpoints.items():
                _write_checkpoint(directory, name, text)
        if public_key is not None:
            key = parse_public_key(public_key, public_key_file)
        else:
            key = auditlog.trusted_key(None, rt.settings.signing_key_file if directory else None)
        log = auditlog.check_log(svc.session, directory, key)
    named = {(f.case_id, f.seq) for f in findings} | {(f.case_id, None) for f in findings}
    log_findings = [
        f
        for f in log.findings
        if f.case_id is None or ((f.case_id, f.seq) not in named and (f.case_id, None) not in named)
    ]
    return {
        "cases": cases,
        "events": events,
        "findings": [str(f) for f in findings],
        "unknown_cases": unknown,
        "log_entries": log.entries,
        "log_checkpoints": log.checkpoints,
        "log_findings": [str(f) for f in log_findings],
        "checked_checkpoints": directory is not None,
    }


def _write_checkpoint(directory: Path, name: str, text: str) -> None:
    """A sent checkpoint file, under its own name (the findings name it), in `directory`."""
    from aidflow.errors import InvalidInputError

    if not name.endswith(".json") or "/" in name or "\\" in name or name.startswith("."):
        raise InvalidInputError(
            _("checkpoint file name {name!r} is not a plain NAME.json", name=name),
            hint=_("send the checkpoint files by their own names"),
        )
    (directory / name).write_text(text, encoding="utf-8")


@operation("audit.checkpoint", write=False, runtime=True)
def checkpoint(svc: Service, caller: Caller, rt: Runtime) -> dict[str, Any]:
    """Sign the audit log's current size and head hash and write the checkpoint file to the
    checkpoints_dir setting. The time signed is the system clock's, never a simulated one."""
    from aidflow.clock import SystemClock
    from aidflow.services import auditlog

    made, path = auditlog.make_checkpoint(
        svc.session,
        rt.settings.signing_key_file,
        rt.settings.checkpoints_dir,
        SystemClock().now(),
    )
    return {"size": made.size, "head": made.head, "at": made.at.isoformat(), "file": str(path)}
