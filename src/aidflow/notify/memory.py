"""The in-memory channel, for tests: keeps every Message it is given.

As httpx's MockTransport calls a function per request, `MemoryMailer(handler)` calls
`handler` per message first; a handler that raises DeliveryError simulates a refusal or an
outage, so delivery's retry and failure paths run without a mail server.
"""

from __future__ import annotations

from collections.abc import Callable

from aidflow.notify.mailer import Message


class MemoryMailer:
    """Keeps what it is given; `handler` may raise DeliveryError to simulate failures."""

    def __init__(self, handler: Callable[[Message], None] | None = None) -> None:
        self.sent: list[Message] = []
        self._handler = handler

    def send(self, msg: Message) -> None:
        if self._handler is not None:
            self._handler(msg)
        self.sent.append(msg)
