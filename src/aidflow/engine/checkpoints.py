"""Signed checkpoints of the audit log: (size, head hash, time) signed with an Ed25519 key.

A checkpoint commits to the log as it was when it was made; kept where the database's
writers cannot reach, it shows later whether the log was cut or rewritten since (RFC 6962's
signed tree head, for a hash chain). The private key lives in a file outside the database
(PEM, PKCS #8); a public key is written as the 64 hex digits of its raw 32 bytes.

`cryptography` is imported only by the functions that need it: most commands never sign.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from aidflow.errors import InvalidInputError
from aidflow.i18n import _

_FORMAT = "aidflow audit checkpoint v1"


@dataclass(frozen=True)
class Checkpoint:
    """What was signed (size, head, at), by which public key, and the signature (hex)."""

    size: int
    head: str
    at: datetime
    key: str
    signature: str

    def message(self) -> bytes:
        return signed_message(self.size, self.head, self.at)

    @property
    def text(self) -> str:
        """The checkpoint as its file holds it (what `audit verify --checkpoints` reads)."""
        return to_json(self)

    @property
    def file_name(self) -> str:
        """The name its file is written under: sorted by size, then time."""
        return f"checkpoint-{self.size:010d}-{self.at.strftime('%Y%m%dT%H%M%S%f')}.json"


def signed_message(size: int, head: str, at: datetime) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return f"{_FORMAT}\nsize {size}\nhead {head}\nat {at.isoformat()}\n".encode()


def new_private_key() -> tuple[bytes, str]:
    """A new private key as PEM, and its public key (hex)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return pem, _public_hex(key)


def _public_hex(key: object) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(  # type: ignore[attr-defined]
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return bytes(raw).hex()


def _private_key(pem: bytes, name: str) -> object:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInputError(
            _("{name} is not an Ed25519 private key in PEM", name=name),
            hint=_("make one with `aidflow audit keygen FILE`"),
        )
    return key


def public_key_of(pem: bytes, name: str) -> str:
    """The public key (hex) of the private key in PEM `pem` (read from file `name`)."""
    return _public_hex(_private_key(pem, name))


def parse_public_key(text: str, name: str) -> str:
    """A public key as `aidflow audit keygen` printed it (64 hex digits), from file `name`."""
    value = text.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInputError(
            _("{name} does not hold a public key", name=name),
            hint=_("write the 64 hex digits `aidflow audit keygen` printed"),
        )
    return value


def sign(pem: bytes, name: str, size: int, head: str, at: datetime) -> Checkpoint:
    """A checkpoint of (size, head, at) signed with the private key in `pem`."""
    key = _private_key(pem, name)
    signature = key.sign(signed_message(size, head, at))  # type: ignore[attr-defined]
    return Checkpoint(size, head, at, _public_hex(key), bytes(signature).hex())


def signed_by(checkpoint: Checkpoint, public_key: str) -> bool:
    """Whether `public_key` (hex) signed exactly this checkpoint."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            bytes.fromhex(checkpoint.signature), checkpoint.message()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def to_json(checkpoint: Checkpoint) -> str:
    return (
        json.dumps(
            {
                "format": _FORMAT,
                "size": checkpoint.size,
                "head": checkpoint.head,
                "at": checkpoint.at.isoformat(),
                "key": checkpoint.key,
                "signature": checkpoint.signature,
            },
            indent=2,
        )
        + "\n"
    )


def from_json(text: str) -> Checkpoint | None:
    """The checkpoint a file holds, or None when it does not hold one."""
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT or isinstance(data["size"], bool):
            return None
        return Checkpoint(
            int(data["size"]),
            str(data["head"]),
            datetime.fromisoformat(data["at"]),
            str(data["key"]),
            str(data["signature"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
