"""Files a command sends to an operation, and files an operation sends back.

The operation may run on the server (aidflow.operations.uploads): a file the user names is
read here and sent as bytes with its name; a file an operation makes comes back as bytes
and is written here, where the user asked.
"""

from __future__ import annotations

from pathlib import Path


def send_file(file: Path) -> dict[str, str]:
    """The parameters that carry a file to an operation: its bytes (base64) and its name as
    the user wrote it, for messages. A missing file or one of a type no reader knows is
    refused here, before anything is sent."""
    import base64

    from aidflow.errors import InvalidInputError
    from aidflow.files.table import check_file

    check_file(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {file}: {exc.strerror}") from None
    return {"content_b64": base64.b64encode(data).decode("ascii"), "file_name": str(file)}


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all: into a new temporary file beside it
    (created private, never an existing file or a symlink's target), synced, then renamed
    over `path`."""
    import os
    import tempfile

    from aidflow.errors import InvalidInputError

    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
