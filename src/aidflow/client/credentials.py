"""The saved login: the server's URL, the user, the token and its expiry, in one JSON file.

The file lives in the user's config directory (the `credentials_file` setting) and is
readable by its owner only: created with mode 0600 (and set to 0600 if it was there
before), in a directory of mode 0700. The token is as good as the password until it expires
or `aidflow logout` revokes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from aidflow.errors import InvalidInputError
from aidflow.i18n import _


@dataclass(frozen=True)
class Login:
    """What `aidflow login` saves."""

    url: str
    user: str
    token: str
    expires_at: str


def load(path: Path) -> Login | None:
    """The saved login, or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidInputError(
            _("cannot read the saved login {path}: {strerror}", path=path, strerror=exc.strerror),
            hint=_("run `aidflow login URL` again"),
        ) from None
    try:
        data = json.loads(text)
        return Login(
            url=str(data["url"]),
            user=str(data["user"]),
            token=str(data["token"]),
            expires_at=str(data["expires_at"]),
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidInputError(
            _("the saved login {path} is not one aidflow wrote", path=path),
            hint=_("remove it and run `aidflow login URL` again: rm {path}", path=path),
        ) from None


def save(path: Path, login: Login) -> None:
    """Write the login, readable by its owner only (never through a symbolic link)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file that was there before keeps its mode without this
            os.write(fd, json.dumps(asdict(login), indent=2).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise InvalidInputError(
            _("cannot save the login to {path}: {strerror}", path=path, strerror=exc.strerror),
            hint=_("set credentials_file (AIDFLOW_CREDENTIALS) to a file in a directory of yours"),
        ) from None


def delete(path: Path) -> bool:
    """Remove the saved login; whether there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
