"""The audit log's use cases: make a signing key, sign a checkpoint, check the log.

`check_log` recomputes the log from its entries and rows (aidflow.store.auditlog) and then
holds it against every checkpoint in the checkpoint directory: a checkpoint not signed by
the trusted public key is refused; a log shorter than a checkpoint lost its end; a log
whose recomputed head at a checkpoint's size differs from the signed head was rewritten
at or before that entry (after the last checkpoint that still matches).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aidflow.engine import checkpoints
from aidflow.engine.checkpoints import Checkpoint
from aidflow.errors import InvalidInputError, UnavailableError
from aidflow.i18n import _
from aidflow.store import auditlog
from aidflow.store.auditlog import LogFinding
from aidflow.store.session import Session


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (never over an existing file or through a symlink) holding `data`."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def keygen(path: Path) -> str:
    """Write a new private signing key to `path` (mode 0600); its public key (hex)."""
    pem, public = checkpoints.new_private_key()
    try:
        _write_new(path, pem, 0o600)
    except FileExistsError:
        raise InvalidInputError(
            _("{path} already exists; a signing key is never overwritten", path=path),
            hint=_("name a new file, or remove the old key yourself if it is really unused"),
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            _("cannot write {path}: {strerror}", path=path, strerror=exc.strerror)
        ) from None
    return public


def _read_key(path: Path | None) -> bytes:
    if path is None:
        raise InvalidInputError(
            _("no signing key configured"),
            hint=_(
                "set signing_key_file (env AIDFLOW_SIGNING_KEY); make one with `aidflow "
                "audit keygen FILE`"
            ),
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            _("cannot read signing key {path}: {strerror}", path=path, strerror=exc.strerror)
        ) from None


def sign_checkpoint(session: Session, key_file: Path | None, now: datetime) -> Checkpoint:
    """Sign the log's current size and head (as of `now`) with the key in `key_file`."""
    pem = _read_key(key_file)
    size, head = auditlog.head(session)
    return checkpoints.sign(pem, str(key_file), size, head, now)


def write_checkpoint(checkpoint: Checkpoint, directory: Path) -> Path:
    """Write `checkpoint` into `directory` (made if missing) as a new file; its path."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / checkpoint.file_name
        _write_new(path, checkpoint.text.encode(), 0o644)
    except OSError as exc:
        raise UnavailableError(_("cannot write the checkpoint: {exc}", exc=exc)) from None
    return path


def make_checkpoint(
    session: Session, key_file: Path | None, directory: Path | None, now: datetime
) -> tuple[Checkpoint, Path]:
    """Sign the log's current size and head and write the checkpoint into `directory`."""
    if directory is None:
        raise InvalidInputError(
            _("no checkpoint directory configured"),
            hint=_("set checkpoints_dir (env AIDFLOW_CHECKPOINTS)"),
        )
    checkpoint = sign_checkpoint(session, key_file, now)
    return checkpoint, write_checkpoint(checkpoint, directory)


def trusted_key(public_key_file: Path | None, key_file: Path | None) -> str | None:
    """The public key checkpoints must be signed by: --public-key, else the signing key's."""
    if public_key_file is not None:
        try:
            text = public_key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(
                _(
                    "cannot read public key {public_key_file}: {exc}",
                    public_key_file=public_key_file,
                    exc=exc,
                )
            ) from None
        return checkpoints.parse_public_key(text, str(public_key_file))
    if key_file is not None:
        return checkpoints.public_key_of(_read_key(key_file), str(key_file))
    return None


@dataclass(frozen=True)
class LogReport:
    entries: int
    checkpoints: int  # checkpoints that verified
    findings: list[LogFinding]


def check_log(session: Session, directory: Path | None, public_key: str | None) -> LogReport:
    """Recompute the log and hold it against every checkpoint in `directory`."""
    result = auditlog.check(session)
    findings = list(result.findings)
    good = 0
    if directory is None:
        return LogReport(len(result.heads), good, findings)
    files = _checkpoint_files(directory)
    if files and public_key is None:
        raise InvalidInputError(
            _("no public key to check the checkpoints against"),
            hint=_("give --public-key FILE, or set signing_key_file (env AIDFLOW_SIGNING_KEY)"),
        )
    loaded: list[tuple[Checkpoint, Path]] = []
    for path in files:
        checkpoint = checkpoints.from_json(path.read_text(encoding="utf-8", errors="replace"))
        if checkpoint is None:
            findings.append(
                LogFinding(_("checkpoint {name}", name=path.name), _("not a checkpoint file"))
            )
        elif public_key is None or not checkpoints.signed_by(checkpoint, public_key):
            findings.append(
                LogFinding(
                    _("checkpoint {name}", name=path.name),
                    _(
                        "not signed by the trusted key: refused (signed by key {key}...)",
                        key=checkpoint.key[:16],
                    ),
                )
            )
        else:
            loaded.append((checkpoint, path))
    loaded.sort(key=lambda item: (item[0].size, item[0].at))
    matched = 0  # size of the longest prefix a checkpoint vouches for
    for checkpoint, path in loaded:
        where = _(
            "checkpoint {name} (size {size}, {at})",
            name=path.name,
            size=checkpoint.size,
            at=checkpoint.at.isoformat(),
        )
        size = checkpoint.size
        if size > len(result.heads):
            findings.append(
                LogFinding(
                    where,
                    _(
                        "the log has {entries} entries but {size} were signed: entries "
                        "#{first}..#{size} were removed from the end",
                        entries=len(result.heads),
                        size=size,
                        first=len(result.heads) + 1,
                    ),
                )
            )
        elif (result.heads[size - 1] if size else auditlog.GENESIS) != checkpoint.head:
            findings.append(
                LogFinding(
                    where,
                    _(
                        "the log differs from what was signed: an entry between #{first} and "
                        "#{size} was edited, removed or reordered",
                        first=matched + 1,
                        size=size,
                    ),
                )
            )
        else:
            good += 1
            matched = size
    return LogReport(len(result.heads), good, findings)


def _checkpoint_files(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.suffix == ".json" and p.is_file())
    except FileNotFoundError:
        raise InvalidInputError(
            _("checkpoint directory {directory} does not exist", directory=directory)
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            _("cannot read checkpoint directory {directory}: {exc}", directory=directory, exc=exc)
        ) from None
