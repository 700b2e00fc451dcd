"""Files that travel with an operation: a list sent by the client, a bank file sent back.

A command that reads a file (`person import`, `payments reconcile`) reads it on the client
and sends its bytes, base64 in a `content_b64` parameter, with the name the user gave it;
the operation writes them to a private temporary file and reads that with the one table
reader (aidflow.files.table). Every message names the file as the user named it, never the
temporary file, so a problem reads the same in local mode and from the server. A command
that writes a file (`payments export`, `ledger export`) makes it in memory (no temporary
file holds its names and ID numbers), gets its bytes back in the result, and the CLI writes
them where the user asked (aidflow.cli.files.write_file).
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

from aidflow import failpoints
from aidflow.errors import InvalidInputError
from aidflow.i18n import _

# a decoded upload larger than this is refused before it is written anywhere
MAX_BYTES = 256 * 1024 * 1024


class _Named(type(Path())):  # type: ignore[misc]
    """A path to the temporary copy that prints as the user's own file name.

    The file system is reached through `__fspath__` (open, stat, openpyxl's zip reader);
    messages format the path with `str`, which gives the name the user typed.
    """

    _shown: str
    _real: str

    def __str__(self) -> str:
        return self._shown

    def __fspath__(self) -> str:
        return self._real

    @property
    def suffix(self) -> str:  # the type the user's name says (the copy may have no name)
        return PurePath(self._shown).suffix


def decode(content_b64: str, name: str) -> bytes:
    """The bytes of an upload; InvalidInputError naming the file if they are not base64."""
    try:
        data = base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            _("{name}: the file's content is not base64", name=name),
            hint=_("send the file's bytes in base64"),
        ) from None
    if len(data) > MAX_BYTES:
        raise InvalidInputError(
            _(
                "{name}: the file is larger than {mib} MiB",
                name=name,
                mib=MAX_BYTES // (1024 * 1024),
            ),
            hint=_("split the list into smaller files"),
        )
    return data


def encode(data: bytes) -> str:
    """Bytes as the base64 text a result carries."""
    return base64.b64encode(data).decode("ascii")


@contextmanager
def received(content_b64: str, name: str) -> Iterator[Path]:
    """The upload as a private temporary file (gone at the end), as a path whose `str` is
    `name`; the suffix of `name` picks the reader.

    On Linux the copy is an unnamed file (O_TMPFILE) reached as /proc/self/fd/N: a process
    killed while reading it leaves no file, with the list's names and ID numbers, in the
    temporary directory. Elsewhere it is a file in a private temporary directory."""
    if not name.strip() or "\x00" in name:
        raise InvalidInputError(_("a file sent with a command needs its name"))

    data = decode(content_b64, name)
    try:
        fd = os.open(tempfile.gettempdir(), os.O_TMPFILE | os.O_RDWR, 0o600)
    except (AttributeError, OSError):  # no unnamed files here
        fd = -1
    if fd >= 0:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            failpoints.reach("uploads.received")  # the copy written, not read yet
            yield _named(f"/proc/self/fd/{fd}", name)
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="aidflow-upload-") as directory:
        real = os.path.join(directory, "upload" + PurePath(name).suffix)
        fd = os.open(real, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        failpoints.reach("uploads.received")
        yield _named(real, name)


def _named(real: str, shown: str) -> Path:
    path = _Named(real)
    path._shown = shown
    path._real = real
    return path
