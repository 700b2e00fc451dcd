"""The channel seam: the Message a channel sends, the Mailer protocol, and DeliveryError.

A channel (notify.email over SMTP, notify.memory for tests) delivers a rendered Message
completely or raises DeliveryError; its `permanent` flag tells the outbox whether sending
the same message again can ever help (services.delivery retries the others with backoff).
A new channel implements `Mailer.send` and raises only DeliveryError.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from aidflow.errors import UnavailableError


@dataclass(frozen=True)
class Message:
    """One rendered email, ready for a Mailer; `headers` carries the caller's stable Message-ID."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def one_line(text: str) -> str:
    """Collapse every run of whitespace or control characters to one space (header safety)."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(cleaned.split())


class DeliveryError(UnavailableError):
    """A message was not delivered.

    `permanent` is True when the server refused this message or a recipient with a 5xx
    reply to MAIL, RCPT or DATA: sending the same message again will fail again. Everything
    else is temporary: connection refused, timeouts, disconnects, 4xx replies, and problems
    of the session itself (greeting, EHLO, STARTTLS, AUTH, TLS certificates), which are the
    server's or the configuration's fault, not the message's, and heal once fixed.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        reply: str | None = None,
        refused: Mapping[str, tuple[int, str]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent
        self.code = code
        self.reply = reply
        self.refused: dict[str, tuple[int, str]] = dict(refused or {})


class Mailer(Protocol):
    def send(self, msg: Message) -> None:
        """Deliver the message completely or raise DeliveryError."""
        ...
