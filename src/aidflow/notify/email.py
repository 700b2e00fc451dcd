"""The email channel: SMTPMailer (the only user of smtplib) and the MIME message it sends.

Every failure leaves `SMTPMailer.send` as a `DeliveryError` (notify.mailer) whose
`permanent` flag tells the outbox whether retrying the same message can ever help.

One SMTP transaction per message, all or nothing: MAIL FROM, then RCPT TO for each
recipient; if any recipient is refused we send RSET and raise, so a message is never
delivered to some recipients and reported failed (or retried) for the others. The outbox
should therefore keep one recipient per row where it can.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Literal

from aidflow.clock import Clock, SystemClock
from aidflow.errors import InvalidInputError
from aidflow.i18n import _
from aidflow.notify.mailer import DeliveryError, Message, one_line

Security = Literal["none", "starttls", "ssl"]
_SECURITY: tuple[Security, ...] = ("none", "starttls", "ssl")
# Headers the mailer writes itself; a Message may not override them.
_OWN_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


def build_email(msg: Message, *, sender: str, date: datetime) -> EmailMessage:
    """A multipart/alternative UTF-8 email: the plain text first, then the HTML.

    Bodies are base64-encoded, so the message is 7-bit clean and needs neither 8BITMIME nor
    SMTPUTF8; the subject is RFC 2047-encoded when the message is serialised.
    """
    email = EmailMessage(policy=policy.SMTP)
    email["From"] = sender
    email["To"] = ", ".join(msg.to)
    email["Subject"] = one_line(msg.subject)
    email["Date"] = format_datetime(date)
    for name, value in msg.headers.items():
        if name.lower() in _OWN_HEADERS:
            raise InvalidInputError(
                _(
                    "header {name!r} is set by the mailer; remove it from the message's headers",
                    name=name,
                )
            )
        if "\r" in value or "\n" in value:
            raise InvalidInputError(_("header {name!r} contains a line break", name=name))
        email[name] = value
    if "Message-ID" not in email:
        email["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    email.set_content(msg.text, subtype="plain", charset="utf-8", cte="base64")
    email.add_alternative(msg.html, subtype="html", charset="utf-8", cte="base64")
    return email


class SMTPMailer:
    """Sends each Message in its own SMTP session.

    `security`: "none" (plain, e.g. a relay on localhost), "starttls" (usually port 587) or
    "ssl" (implicit TLS, usually 465). `ssl_context` defaults to the system's trusted CAs
    with host-name checking. `timeout` bounds each network operation, in seconds.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security,
        username: str | None = None,
        password: str | None = None,
        sender: str,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if security not in _SECURITY:
            raise InvalidInputError(
                _(
                    "SMTP security {security!r} is not one of: {known}",
                    security=security,
                    known=", ".join(_SECURITY),
                )
            )
        if (username is None) != (password is None):
            raise InvalidInputError(
                _("SMTP username and password go together; give both or neither")
            )
        if username is not None and security == "none":
            raise InvalidInputError(
                _("SMTP login with security='none' would send the password in clear text"),
                hint=_("use security='starttls' or 'ssl'"),
            )
        envelope_from = parseaddr(sender)[1]
        if "@" not in envelope_from or not envelope_from.isascii():
            raise InvalidInputError(
                _(
                    "SMTP sender {sender!r} has no plain address such as aidflow@county.example",
                    sender=sender,
                )
            )
        if timeout <= 0:
            raise InvalidInputError(
                _("SMTP timeout must be positive, not {timeout}", timeout=timeout)
            )
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.sender = sender
        self.timeout = timeout
        self._envelope_from = envelope_from
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self._clock: Clock = clock if clock is not None else SystemClock()

    def __repr__(self) -> str:  # never shows the password
        return (
            f"SMTPMailer({self.host!r}, {self.port}, security={self.security!r}, "
            f"username={self.username!r}, sender={self.sender!r})"
        )

    def send(self, msg: Message) -> None:
        try:
            email = build_email(msg, sender=self.sender, date=self._clock.now())
        except InvalidInputError as exc:
            raise DeliveryError(
                _(
                    "message {message_id} cannot be sent: {error}",
                    message_id=msg.headers.get("Message-ID", ""),
                    error=exc.message,
                ),
                permanent=True,
            ) from None
        for address in msg.to:
            if not address.isascii() or "@" not in address or any(c.isspace() for c in address):
                raise DeliveryError(
                    _("recipient {address!r} is not a plain ASCII address", address=address),
                    permanent=True,
                )
        data = email.as_bytes(policy=policy.SMTP)
        conn = self._connect()
        try:
            self._transaction(conn, list(msg.to), data)
        except BaseException:
            conn.close()  # no QUIT: after a timeout it would wait for the server again
            raise
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()  # the message was accepted; a failed goodbye changes nothing

    # --- one session ------------------------------------------------------------------------

    def _where(self) -> str:
        return _("SMTP server {host}:{port}", host=self.host, port=self.port)

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        try:  # the constructors connect and read the greeting
            if self.security == "ssl":
                conn = _SMTPOverTLS(
                    self.host,
                    self.port,
                    local_hostname=self._local_hostname,
                    timeout=self.timeout,
                    context=self._context(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=self._local_hostname, timeout=self.timeout
                )
        except Exception as exc:
            raise self._translate(exc, "connect", session=True) from exc
        stage = "EHLO"
        try:
            conn.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                stage = "STARTTLS"
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.username is not None and self._password is not None:
                stage = "AUTH"
                conn.login(self.username, self._password)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, Exception):
                raise self._translate(exc, stage, session=True) from exc
            raise
        return conn

    def _transaction(self, conn: smtplib.SMTP, recipients: list[str], data: bytes) -> None:
        stage = "MAIL FROM"
        try:
            code, reply = conn.mail(self._envelope_from)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self._envelope_from)
            stage = "RCPT TO"
            refused: dict[str, tuple[int, str]] = {}
            for address in recipients:
                code, reply = conn.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, _text(reply))
            if refused:
                # the session is closed next anyway; report the refusal
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    conn.rset()
                raise self._refused(refused, len(recipients))
            stage = "DATA"
            # After the final "." the server may accept the message and then lose the
            # connection (or stall past our timeout) before we read its 250. We cannot tell
            # that from a failure, so it is a temporary error and the outbox retries; the
            # retry carries the same Message-ID, so the receiving side can drop the duplicate.
            code, reply = conn.data(data)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except DeliveryError:
            raise
        except Exception as exc:
            raise self._translate(exc, stage, session=False) from exc

    def _refused(self, refused: dict[str, tuple[int, str]], total: int) -> DeliveryError:
        # One 5xx recipient means the message as addressed can never be fully delivered.
        permanent = any(500 <= code < 600 for code, _ in refused.values())
        listed = "; ".join(f"{addr}: {code} {text}" for addr, (code, text) in refused.items())
        first_code, first_text = next(iter(refused.values()))
        return DeliveryError(
            _(
                "{server} refused {n} of {total} recipient(s) ({listed}); nothing was sent",
                server=self._where(),
                n=len(refused),
                total=total,
                listed=listed,
            ),
            permanent=permanent,
            code=first_code,
            reply=first_text,
            refused=refused,
        )

    def _translate(self, exc: Exception, stage: str, *, session: bool) -> DeliveryError:
        where = self._where()
        settings_hint = _("check the SMTP host, port, security, user name and password settings")
        if isinstance(exc, smtplib.SMTPResponseException):
            code, text = exc.smtp_code, _text(exc.smtp_error)
            # A 5xx during the session (greeting, EHLO, STARTTLS, AUTH) says nothing about
            # this message: retrying once the setup is fixed will work.
            permanent = 500 <= code < 600 and not session
            kind = _("permanent") if permanent else _("temporary")
            hint = settings_hint if session else None
            return DeliveryError(
                _(
                    "{server} answered {stage} with {code} {text} ({kind})",
                    server=where,
                    stage=stage,
                    code=code,
                    text=text,
                    kind=kind,
                ),
                permanent=permanent,
                code=code,
                reply=text,
                hint=hint,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
            exc.__context__, TimeoutError
        ):
            exc = exc.__context__  # smtplib reports a read timeout as a disconnect
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return DeliveryError(
                _(
                    "{server} closed the connection during {stage}: {error}",
                    server=where,
                    stage=stage,
                    error=exc,
                ),
                permanent=False,
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return DeliveryError(
                _(
                    "{server} does not support {stage}: {error}",
                    server=where,
                    stage=stage,
                    error=exc,
                ),
                permanent=False,
                hint=settings_hint,
            )
        if isinstance(exc, smtplib.SMTPException):
            return DeliveryError(
                _("{server} failed during {stage}: {error}", server=where, stage=stage, error=exc),
                permanent=False,
            )
        if isinstance(exc, ssl.SSLError):
            return DeliveryError(
                _(
                    "{server}: TLS failed during {stage}: {error}",
                    server=where,
                    stage=stage,
                    error=exc,
                ),
                permanent=False,
                hint=settings_hint,
            )
        if isinstance(exc, TimeoutError):
            return DeliveryError(
                _(
                    "{server} did not answer within {seconds} s during {stage}",
                    server=where,
                    seconds=format(self.timeout, "g"),
                    stage=stage,
                ),
                permanent=False,
            )
        if isinstance(exc, ConnectionRefusedError):
            return DeliveryError(
                _("{server} refused the connection", server=where),
                permanent=False,
                hint=_("is the mail server running and the port right?"),
            )
        if isinstance(exc, OSError):
            return DeliveryError(
                _(
                    "{server} could not be reached during {stage}: {error}",
                    server=where,
                    stage=stage,
                    error=exc.strerror or exc,
                ),
                permanent=False,
            )
        return DeliveryError(
            _(
                "{server} failed during {stage}: {error}",
                server=where,
                stage=stage,
                error=repr(exc),
            ),
            permanent=False,
        )


class _SMTPOverTLS(smtplib.SMTP_SSL):
    """SMTP_SSL that closes its TCP socket when the TLS handshake fails (smtplib leaks it)."""

    def _get_socket(self, host: str, port: int, timeout: float) -> ssl.SSLSocket:
        # typeshed omits this hook, which SMTP_SSL and LMTP themselves override
        sock = smtplib.SMTP._get_socket(self, host, port, timeout)  # type: ignore[attr-defined]
        try:
            return self.context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return reply
