"""The HTTP JSON API: `aidflow serve` runs it on uvicorn; clients call it (aidflow.client).
The web pages (aidflow.server.web) are served beside it, through the same `Api`.

Endpoints, all under /api/v1:

- `GET health` - {"status": "ok"}: the process answers (no database round trip).
- `POST login` {user, password} -> {token, user, expires_at, must_change_password}.
- `POST logout` (Bearer) - revokes the token.
- `GET whoami` (Bearer) - {user, display_name, must_change_password}.
- `POST ops/NAME` (Bearer) {params, lang, key, now?} -> {"result": ...}: the operation NAME
  (aidflow.operations) for the token's user, in one unit of work.

An error is {"error", "hint", "exit_code", "type"} with the HTTP status of its kind, the
same message and exit code the CLI gives in local mode. An unexpected exception is logged
here with its traceback and answered as a bare internal error: no SQL or stack leaves the
server.

Why Starlette and not FastAPI: the API is a thin RPC over the operations registry, whose
parameters are declared and checked once by the operations layer; FastAPI's per-route models
and OpenAPI schema would declare every parameter a second time. Starlette is the ASGI toolkit
FastAPI is built on. The operations and the services are synchronous (SQLAlchemy sessions), so
each request's work runs in Starlette's thread pool, and the event loop only parses and answers.

The time: authentication and every write take the server's clock. A request may carry
`now`; it runs on a runtime with that time, and the runtime refuses it for writes unless the
database is a training database (aidflow.services.runtime). The server never creates a first
user: users come from `aidflow user add` on the server host.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aidflow.errors import (
    AidflowError,
    AuthenticationError,
    ExitCode,
    ForbiddenError,
    InvalidInputError,
)
from aidflow.i18n import _, use_language

if TYPE_CHECKING:
    from aidflow.services.runtime import Runtime

log = logging.getLogger("aidflow.server")

# The HTTP status of each exit code; anything else is a 500.
STATUS = {
    ExitCode.INVALID_INPUT: 400,
    ExitCode.NOT_FOUND: 404,
    ExitCode.FORBIDDEN: 403,
    ExitCode.REFUSED: 409,
    ExitCode.CONFLICT: 409,
    ExitCode.UNAVAILABLE: 503,
    ExitCode.UNAUTHENTICATED: 401,
}

# What a user whose password must be changed may do with a token (and nothing else).
PASSWORD_CHANGE_OPERATIONS = frozenset({"user.passwd"})  # aidflow.operations.users

MAX_BODY = 1 << 20  # a request body larger than this is refused before it is parsed


def error_response(exc: AidflowError) -> JSONResponse:
    return JSONResponse(
        {
            "error": exc.message,
            "hint": exc.hint,
            "exit_code": exc.exit_code,
            "type": type(exc).__name__,
        },
        status_code=STATUS.get(exc.exit_code, 500),
    )


def internal_error() -> JSONResponse:
    return JSONResponse(
        {
            "error": _("internal error on the aidflow server"),
            "hint": _("the server's log has the details; report it to the administrator"),
            "exit_code": ExitCode.INTERNAL,
            "type": "InternalError",
        },
        status_code=500,
    )


async def body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object; InvalidInputError for anything else."""
    raw = bytearray()
    async for chunk in request.stream():  # read up to the limit, never the whole of a huge body
        raw += chunk
        if len(raw) > MAX_BODY:
            raise InvalidInputError(
                _("the request body is larger than {limit} bytes", limit=MAX_BODY)
            )
    if not raw:
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidInputError(_("the request body is not JSON")) from None
    if not isinstance(data, dict):
        raise InvalidInputError(_("the request body is not a JSON object"))
    return data


def request_language(request: Request) -> str:
    """The language the client asks for (`Accept-Language`, which aidflow's client sets to
    its --lang): 'zh' or 'en'."""
    asked = request.headers.get("accept-language", "").strip().lower()
    return "zh" if asked.startswith("zh") else "en"


def _speaking(lang: str, work: Callable[..., Any], *args: Any) -> Any:
    """`work(*args)` in `lang`: its messages and errors (run in the thread pool's thread)."""
    with use_language(lang):
        return work(*args)


def bearer(request: Request) -> str:
    """The token of the request's `Authorization: Bearer` header."""
    scheme, _space, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            _("this request carries no token"), hint=_("log in first: aidflow login URL")
        )
    return token.strip()


def _text(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise InvalidInputError(
            _("{name!r} must be a non-empty text", name=name)
            if required
            else _("{name!r} must be text", name=name)
        )
    return value


class Api:
    """The endpoints, over one runtime (the server's settings, database and clock)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def authenticate(self, token: str) -> tuple[str, bool]:
        """(user name, must change password) of a valid token, at the server's time."""
        from aidflow.services import auth

        with self.runtime.reading() as svc:
            found = auth.authenticate(svc.session, token, self.runtime.clock.now())
            return found.user, found.must_change_password

    def login(self, data: dict[str, Any]) -> dict[str, Any]:
        from aidflow.services import auth

        user = _text(data, "user")
        password = _text(data, "password")
        assert user is not None and password is not None
        issued = auth.sign_in(self.runtime, user, password)  # failures are committed too
        log.info("login: %s", issued.user)
        return {
            "token": issued.token,
            "user": issued.user,
            "expires_at": issued.expires_at.isoformat(),
            "must_change_password": issued.must_change_password,
        }

    def logout(self, token: str) -> dict[str, Any]:
        from aidflow.services import auth

        with self.runtime.transaction() as svc:
            auth.logout(svc.session, token, self.runtime.clock.now())
        return {"ok": True}

    def whoami(self, token: str) -> dict[str, Any]:
        from aidflow.store.users import get_user

        user, must_change = self.authenticate(token)
        with self.runtime.reading() as svc:
            display_name = get_user(svc.session, user).display_name
        return {"user": user, "display_name": display_name, "must_change_password": must_change}

    def operation(self, token: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
        from aidflow.operations import Caller, execute

        params = data.get("params", {})
        if not isinstance(params, dict):
            raise InvalidInputError(_("'params' must be a JSON object"))
        lang = data.get("lang", "en")
        if lang not in ("zh", "en"):
            raise InvalidInputError(_("'lang' {lang!r} is not one of zh, en", lang=lang))
        key = _text(data, "key", required=False)
        now = _text(data, "now", required=False)
        with use_language(lang):  # the operation speaks the client's language
            user, must_change = self.authenticate(token)
            if must_change and name not in PASSWORD_CHANGE_OPERATIONS:
                raise ForbiddenError(
                    _("{user} must change the initial password first", user=user),
                    hint=_("change it with `aidflow user passwd`"),
                )
            runtime = self.runtime
            if now is not None:
                runtime = replace(runtime, settings=replace(runtime.settings, now=now), _clock=None)
            caller = Caller(user=user, lang=lang, key=key)
            result = execute(runtime, name, caller, params)
        log.info("%s: ok for %s", name, user)
        answer: dict[str, Any] = {"result": result}
        if runtime.database.training:  # every answer from a training database says so
            answer["training"] = True
            answer["at"] = runtime.clock.now().isoformat() if runtime.simulated else None
        return answer


def create_app(runtime: Runtime, on_shutdown: Callable[[], None] | None = None) -> Starlette:
    """The API over `runtime`: its database, clock and county files are opened here, once,
    so that the first requests do not race to open them. `on_shutdown` runs when the server
    shuts down (after its last request, before the process exits): the scheduler's rounds
    that `serve --with-scheduler` runs beside the API stop there."""
    runtime.database  # noqa: B018 - opens the engine (and checks the schema) at start-up
    runtime.calendar  # noqa: B018
    runtime.clock  # noqa: B018
    api = Api(runtime)

    async def answer(what: str, lang: str, work: Any, *args: Any) -> JSONResponse:
        # the log names the request and how it ended, never a password, token or parameter
        try:
            return JSONResponse(await run_in_threadpool(_speaking, lang, work, *args))
        except AidflowError as exc:
            log.info("%s: %s (exit %s)", what, type(exc).__name__, exc.exit_code)
            return error_response(exc)
        except Exception as exc:
            from aidflow.store.failures import translate

            with use_language(lang):
                translated = translate(exc, None)
                if translated is not None:
                    return error_response(translated)
                log.exception("%s: internal error", what)
                return internal_error()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def login(request: Request) -> JSONResponse:
        lang = request_language(request)
        try:
            with use_language(lang):
                data = await body_of(request)
        except AidflowError as exc:
            return error_response(exc)
        return await answer("login", lang, api.login, data)

    def with_token(what: str, work: Any) -> Any:
        """An endpoint that runs `work(token)` for the request's Bearer token."""

        async def endpoint(request: Request) -> JSONResponse:
            lang = request_language(request)
            try:
                with use_language(lang):
                    token = bearer(request)
            except AidflowError as exc:
                return error_response(exc)
            return await answer(what, lang, work, token)

        return endpoint

    logout = with_token("logout", api.logout)
    whoami = with_token("whoami", api.whoami)

    async def operation(request: Request) -> JSONResponse:
        lang = request_language(request)
        try:
            with use_language(lang):
                token = bearer(request)
                data = await body_of(request)
        except AidflowError as exc:
            return error_response(exc)
        name = request.path_params["name"]
        asked = data.get("lang")
        return await answer(
            name, asked if asked in ("zh", "en") else lang, api.operation, token, name, data
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            await run_in_threadpool(on_shutdown)

    from aidflow.server import web

    return Starlette(
        routes=[
            Route("/api/v1/health", health, methods=["GET"]),
            Route("/api/v1/login", login, methods=["POST"]),
            Route("/api/v1/logout", logout, methods=["POST"]),
            Route("/api/v1/whoami", whoami, methods=["GET"]),
            Route("/api/v1/ops/{name}", operation, methods=["POST"]),
            *web.routes(api, runtime),
        ],
        lifespan=lifespan,
    )
