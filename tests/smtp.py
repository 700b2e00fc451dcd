"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, a free port, knobs to refuse or stall.

    server = SMTPServer()
    server.start()
    ...                                   # send to server.port
    server.messages[0].message["Subject"]
    server.refuse("RCPT", "550 5.1.1 No such user")
    server.delay("DATA", 2.0)             # stall before answering DATA
    server.stop()                         # connections are now refused; start() again works

The server runs in aiosmtpd's own thread and event loop. It answers under the fixed name
`aidflow-test.local` (the default, socket.getfqdn(), can stall on machines without DNS).
aiosmtpd 1.4 emits no Python warnings with these settings, so nothing is filtered (see
`start` for the one combination that would warn, and how it is avoided).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Command = Literal["MAIL", "RCPT", "DATA"]
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes


class _Controller(Controller):
    """Binds port 0 and learns the port the OS chose before aiosmtpd connects to itself."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Handler:
    def __init__(self, owner: SMTPServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        await self.owner._stall("MAIL")
        reply = self.owner._refusal("MAIL", address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await self.owner._stall("RCPT")
        reply = self.owner._refusal("RCPT", address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self.owner._stall("DATA")
        reply = self.owner._refusal("DATA", None)
        if reply:
            return reply
        raw = envelope.original_content or b""
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        self.owner.messages.append(
            Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed, raw)
        )
        return "250 2.0.0 Message accepted for delivery"


class SMTPServer:
    """An aiosmtpd server recording what it accepts.

    `tls_context` turns on STARTTLS, required (or implicit TLS with `implicit_tls=True`);
    `logins` ({user: password}) turns on AUTH: required after STARTTLS, offered and checked
    over implicit TLS.
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        logins: dict[str, str] | None = None,
    ) -> None:
        self.port = 0
        self.messages: list[Received] = []
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._logins = logins
        self._refusals: dict[Command, tuple[str, frozenset[str] | None]] = {}
        self._delays: dict[Command, float] = {}
        self._lock = threading.Lock()
        self._controller: _Controller | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen (again, on the same port after a stop)."""
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {"server_hostname": "aidflow-test.local", "ready_timeout": 5.0}
        if self._implicit_tls:
            kwargs["ssl_context"] = self._tls_context
        elif self._tls_context is not None:
            kwargs["tls_context"] = self._tls_context
            kwargs["require_starttls"] = True
        if self._logins is not None:
            kwargs["authenticator"] = self._authenticate
            if self._implicit_tls:
                # aiosmtpd only counts STARTTLS as TLS for AUTH, so over implicit TLS we must
                # drop auth_require_tls; we also leave AUTH optional, because requiring it
                # without auth_require_tls makes aiosmtpd emit a UserWarning per connection.
                kwargs["auth_require_tls"] = False
            else:
                kwargs["auth_required"] = True
        controller = _Controller(_Handler(self), hostname=HOST, port=self.port, **kwargs)
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; stalled handlers are cancelled. Safe to call twice."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self, command: Command, reply: str, *, only: set[str] | None = None) -> None:
        """Answer `command` with `reply` (e.g. "550 5.1.1 No such user"); for RCPT, `only`
        limits the refusal to those addresses."""
        with self._lock:
            self._refusals[command] = (reply, frozenset(only) if only is not None else None)

    def delay(self, command: Command, seconds: float) -> None:
        """Wait `seconds` before answering `command` (to outlast a client's timeout)."""
        with self._lock:
            self._delays[command] = seconds

    def reset(self) -> None:
        """Forget the knobs and the received messages."""
        with self._lock:
            self._refusals.clear()
            self._delays.clear()
            self.messages.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # called from the server's thread
    def _refusal(self, command: Command, address: str | None) -> str | None:
        with self._lock:
            found = self._refusals.get(command)
        if found is None:
            return None
        reply, only = found
        if only is not None and address not in only:
            return None
        return reply

    async def _stall(self, command: Command) -> None:
        with self._lock:
            seconds = self._delays.get(command, 0.0)
        if seconds:
            await asyncio.sleep(seconds)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self._logins is not None
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            if self._logins.get(user) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)
