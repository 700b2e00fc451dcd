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
    from aidflow.i18n import _

    check_file(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            _("cannot read {file}: {reason}", file=file, reason=exc.strerror)
        ) from None
    return {"content_b64": base64.b64encode(data).decode("ascii"), "file_name": str(file)}


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all, readable by its owner only (0600).

    On Linux the bytes go into an unnamed file in the target directory (O_TMPFILE), which
    gets a name only once complete and synced: a process killed while writing leaves
    nothing behind. Elsewhere it is a new temporary file beside `path` (tempfile.mkstemp:
    O_CREAT | O_EXCL | O_NOFOLLOW, 0600), removed on any failure. Either is then renamed
    over `path`: a symlink planted at `path` is replaced, never followed, and no existing
    file is ever opened for writing.
    """
    import os
    import tempfile

    from aidflow import failpoints
    from aidflow.errors import InvalidInputError
    from aidflow.i18n import _

    directory = path.parent
    anonymous = hasattr(os, "O_TMPFILE")
    try:
        if anonymous:
            try:
                fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o600)
            except OSError:  # a file system without unnamed files
                anonymous = False
        if not anonymous:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise InvalidInputError(
            _("cannot write {path}: {reason}", path=path, reason=exc.strerror)
        ) from None

    named: str | None = None if anonymous else tmp
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            failpoints.reach("files.write")  # half the file written
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
            if anonymous:
                named = _link_anonymous(f.fileno(), path)
        assert named is not None
        os.replace(named, path)
    except BaseException:
        if named is not None:
            Path(named).unlink(missing_ok=True)
        raise


def _link_anonymous(fd: int, path: Path) -> str:
    """Give the unnamed file `fd` a new random name beside `path` (linkat fails rather than
    follow or replace anything already there); that name."""
    import os
    import secrets

    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            name = f".{path.name}.{secrets.token_hex(8)}.part"
            try:
                # with a dir fd os.link is linkat(..., AT_SYMLINK_FOLLOW): it links the file
                # /proc/self/fd/N stands for (plain link() would link the magic link itself)
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=directory, follow_symlinks=True)
            except FileExistsError:
                continue
            return str(path.parent / name)
    finally:
        os.close(directory)
