"""The HTTP API seen from a client: the one module that imports httpx.

`Connection` holds one HTTP connection to the server (keep-alive) and calls its endpoints;
`call` is a one-shot `Connection.call`. The server answers an error with
`{"error", "hint", "exit_code", "type"}`, which becomes the AidflowError subclass of that
name again (the exit code comes with it), so a command fails the same way in client mode as
in local mode. A server that cannot be reached is an UnavailableError naming the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from aidflow.errors import AidflowError, UnavailableError
from aidflow.i18n import _

API = "/api/v1"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class RemoteError(AidflowError):
    """An error the server named with a type this client does not know (a newer server)."""

    def __init__(self, message: str, *, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


def _error_classes() -> dict[str, type[AidflowError]]:
    found: dict[str, type[AidflowError]] = {}
    todo: list[type[AidflowError]] = [AidflowError]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def error_of(answer: dict[str, Any]) -> AidflowError:
    """The AidflowError a server's error answer names, with its message, hint and exit code."""
    message = str(answer.get("error") or _("the server refused the request"))
    hint = answer.get("hint")
    hint = str(hint) if hint is not None else None
    exit_code = answer.get("exit_code")
    cls = _error_classes().get(str(answer.get("type")))
    if cls is None or not isinstance(exit_code, int) or cls.exit_code != exit_code:
        return RemoteError(
            message, hint=hint, exit_code=exit_code if isinstance(exit_code, int) else 1
        )
    # made without the subclass's own __init__: some take more than a message (the problems
    # of a workflow file), which the answer carries already written out in the message
    exc = cls.__new__(cls)
    AidflowError.__init__(exc, message, hint=hint)
    return exc


class Connection:
    """One client's connection to the aidflow server at `url`, with its token (if logged in)."""

    def __init__(self, url: str, token: str | None = None, lang: str = "en") -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.lang = lang  # the server answers (errors included) in it
        self._http = httpx.Client(base_url=self.url, timeout=TIMEOUT)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request to the API; its JSON answer, or the error it names, raised."""
        headers = {"Accept-Language": self.lang}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self._http.request(method, API + path, json=body, headers=headers)
        except httpx.TimeoutException:
            raise UnavailableError(
                _("the aidflow server at {url} did not answer in time", url=self.url),
                hint=_("retry; a writing command with --idempotency-key is safe to repeat"),
            ) from None
        except httpx.HTTPError as exc:
            raise UnavailableError(
                _("cannot reach the aidflow server at {url}: {exc}", url=self.url, exc=exc),
                hint=_(
                    "check the URL (aidflow whoami shows it) and that `aidflow serve` runs there"
                ),
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise UnavailableError(
                _(
                    "the server at {url} answered {status_code} without aidflow's JSON",
                    url=self.url,
                    status_code=response.status_code,
                ),
                hint=_("check that the URL names an aidflow server (and a proxy passes /api/v1)"),
            )
        if response.is_error or "error" in answer:
            raise error_of(answer)
        return answer

    def call(
        self,
        name: str,
        params: dict[str, Any],
        *,
        lang: str = "en",
        key: str | None = None,
        now: str | None = None,
        training: Callable[[str | None], None] | None = None,
    ) -> Any:
        """Run the operation `name` on the server as the token's user; its result.

        An answer from a training database is passed to `training` with its simulated
        time (an ISO string, or None when the server's own clock was used)."""
        body: dict[str, Any] = {"params": params, "lang": lang, "key": key}
        if now is not None:
            body["now"] = now
        answer = self.request("POST", f"/ops/{name}", body)
        if answer.get("training") and training is not None:
            training(answer.get("at"))
        return answer["result"]

    def login(self, user: str, password: str) -> dict[str, Any]:
        """A new token for `user`: {token, user, expires_at, must_change_password}."""
        answer: dict[str, Any] = self.request(
            "POST", "/login", {"user": user, "password": password}
        )
        return answer

    def logout(self) -> None:
        """Revoke this connection's token on the server."""
        self.request("POST", "/logout", {})

    def whoami(self) -> dict[str, Any]:
        """The token's user as the server sees it."""
        answer: dict[str, Any] = self.request("GET", "/whoami")
        return answer


def call(
    url: str,
    token: str,
    name: str,
    params: dict[str, Any],
    lang: str = "en",
    key: str | None = None,
    now: str | None = None,
    training: Callable[[str | None], None] | None = None,
) -> Any:
    """Run one operation on the server at `url` with `token` (one connection, closed after)."""
    with Connection(url, token, lang) as connection:
        return connection.call(name, params, lang=lang, key=key, now=now, training=training)
