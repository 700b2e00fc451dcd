"""The web pages `aidflow serve` offers beside the API: login, the dashboard with its
drill-down (county -> township -> village -> cases -> case), the case page, the escalation
list with acknowledgement, the person page and the village's public notice.

Every page is what an API call would answer, rendered: a page calls the same operations
through the same `Api` (aidflow.server.app) with the session's token, so the role and area
rules, the must-change-password rule and the error messages have one home. A refusal is a
page that says why, with the HTTP status the API would give.

The session is a login token (services/auth: random, stored as its SHA-256, with an expiry)
in a cookie that scripts cannot read (HttpOnly), that no other site's page sends
(SameSite=Strict), and that travels only over TLS when the page was served over TLS
(Secure). Every POST carries a CSRF token derived from the session's token (an HMAC the
server recomputes; it is not the stored hash), checked before anything runs; the login
form, which has no session yet, is a double-submit of a random cookie. Pages have no
script at all and only aidflow's own stylesheet: the Content-Security-Policy says so, and
frame-ancestors 'none' keeps them out of other sites' frames. Pages that show personal data
are never stored by a browser or proxy (Cache-Control: no-store).

Templates are Jinja2 files shipped in the package (`shipped/web/`), autoescaped and
StrictUndefined; Chinese by default (?lang=en, remembered in a cookie, or the setting `lang`
when given). Charts are inline SVG (aidflow.files.report's geometry).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from aidflow.errors import AidflowError, AuthenticationError, ForbiddenError, InvalidInputError
from aidflow.i18n import N_, _, use_language
from aidflow.language.calendar import last_day

if TYPE_CHECKING:
    from aidflow.server.app import Api
    from aidflow.services.runtime import Runtime

log = logging.getLogger("aidflow.server.web")

SESSION_COOKIE = "aidflow_session"
LOGIN_COOKIE = "aidflow_login"  # the login form's double-submit value
LANG_COOKIE = "aidflow_lang"
MAX_FORM = 64 * 1024  # a form larger than this is refused before it is parsed
CSRF_FIELD = "csrf"

CSP = (
    "default-src 'none'; style-src 'self'{style}; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# The pages' words, in English (the catalog has them in Chinese); `lang_other` is the name
# of the other language in that language, not a translation.
WORDS: dict[str, str] = {
    "app": N_("aidflow"),
    "login": N_("Log in"),
    "logout": N_("Log out"),
    "user": N_("User name"),
    "password": N_("Password"),
    "dashboard": N_("Dashboard"),
    "escalations": N_("Escalations"),
    "county": N_("County"),
    "township": N_("Township"),
    "village": N_("Village"),
    "villages": N_("Villages"),
    "cases": N_("Cases"),
    "case": N_("Case"),
    "person": N_("Person"),
    "programme": N_("Programme"),
    "state": N_("Step"),
    "entered": N_("Entered the step"),
    "deadline": N_("Deadline (last day that counts)"),
    "overdue": N_("overdue"),
    "dwell": N_("Must stay until"),
    "assigned": N_("Caseworker"),
    "emergency": N_("emergency"),
    "clocks": N_("Clocks"),
    "due": N_("Due (last day)"),
    "status": N_("Status"),
    "history": N_("History"),
    "at": N_("When"),
    "actor": N_("By"),
    "what": N_("What"),
    "note": N_("Note"),
    "votes": N_("Votes"),
    "choice": N_("Vote"),
    "dissent": N_("Dissent"),
    "tally": N_("Tally"),
    "quorum": N_("quorum met"),
    "passed": N_("passed"),
    "yes": N_("yes"),
    "no": N_("no"),
    "actions": N_("What can be done"),
    "allowed": N_("allowed"),
    "blocked": N_("blocked"),
    "why": N_("Why"),
    "id_number": N_("ID number"),
    "birth_date": N_("Born"),
    "sex": N_("Sex"),
    "area": N_("Area"),
    "masked": N_("(partly hidden)"),
    "closed": N_("closed"),
    "open": N_("open"),
    "none": N_("none"),
    "ack": N_("Acknowledge"),
    "ack_note": N_("What was done"),
    "acked": N_("Acknowledged"),
    "fired": N_("Sent"),
    "recipient": N_("To"),
    "rung": N_("Level"),
    "notice": N_("Public notice"),
    "notice_pdf": N_("Public notice (PDF)"),
    "total": N_("Total"),
    "figure": N_("Figure"),
    "notes": N_("Notes"),
    "show": N_("Show"),
    "period": N_("Period"),
    "refused": N_("Refused"),
    "hint": N_("What to do"),
    "back": N_("Back to the dashboard"),
    "no_escalations": N_("No open escalation."),
    "no_cases": N_("No open case."),
    "change_password": N_("Change your password"),
    "must_change": N_("The initial password must be changed before anything else."),
    "old_password": N_("Current password"),
    "new_password": N_("New password"),
    "again": N_("New password again"),
    "training": N_("Training database: the time is simulated and the cases are not real."),
}


def word(key: str, lang: str) -> str:
    """A word of the pages in `lang`."""
    if key == "lang_other":
        return "English" if lang == "zh" else "中文"
    with use_language(lang):
        return _(WORDS[key])


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: an HMAC keyed by the session's (secret) token, so only a
    page served to that session can hold it, and no store is needed to check it."""
    return hmac.new(session_token.encode(), b"aidflow web form", hashlib.sha256).hexdigest()


def _style_hashes(html: str) -> str:
    """CSP sources for the inline <style> blocks of a printable page (the notice), by hash:
    nothing else inline is allowed to style, and no script at all."""
    blocks = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    return "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
        for b in blocks
    )


def _safe_next(target: str | None) -> str:
    """Where to go after login: a path on this site only (never `//host` or a URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


@dataclass
class Visit:
    """One request, as a page handler sees it."""

    token: str
    lang: str
    query: dict[str, str]
    path: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # once the token is authenticated
    must_change: bool = False  # the user's initial password is still to be changed


Handler = Callable[["Web", Visit], Response]


class Web:
    """The pages over one `Api` (and so one runtime)."""

    def __init__(self, api: Api, runtime: Runtime) -> None:
        from aidflow.policy.county import shipped

        self.api = api
        self.runtime = runtime
        self.tz = runtime.calendar.tz
        settings = runtime.settings
        self.default_lang = settings.lang if settings.explicit("lang") else "zh"
        root = shipped("web")
        self.env = Environment(
            loader=FileSystemLoader(str(root)),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )
        self.env.filters["local"] = self.local
        self.env.filters["day"] = self.day
        self.static = {p.name: p.read_bytes() for p in (root / "static").iterdir() if p.is_file()}

    # -- formatting -------------------------------------------------------------------------

    def local(self, iso: str | None) -> str:
        """An ISO time as the county's local date and minute."""
        if not iso:
            return "-"
        return datetime.fromisoformat(iso).astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def day(self, iso: str | None) -> str:
        """A deadline as the last day that counts (language.calendar.last_day)."""
        if not iso:
            return "-"
        return last_day(datetime.fromisoformat(iso), self.tz).isoformat()

    # -- plumbing ---------------------------------------------------------------------------

    def lang_of(self, request: Request) -> str:
        for asked in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
            if asked in ("zh", "en"):
                return asked
        return self.default_lang

    def call(self, visit: Visit, name: str, **params: Any) -> Any:
        """Operation `name` for the session's user: the API's own path, rules and all."""
        data = {"params": params, "lang": visit.lang, "key": None}
        return self.api.operation(visit.token, name, data)["result"]

    def render(
        self, visit: Visit | None, lang: str, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        user = visit.user if visit is not None else None
        html = self.env.get_template(template).render(
            lang=lang,
            w=partial(word, lang=lang),
            user=user,
            csrf=csrf_token(visit.token) if visit is not None and user else "",
            training=self.runtime.database.training,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def refusal(self, visit: Visit | None, lang: str, exc: AidflowError) -> HTMLResponse:
        from aidflow.server.app import STATUS

        return self.render(
            visit,
            lang,
            "error.html",
            STATUS.get(exc.exit_code, 500),
            title=word("refused", lang),
            message=exc.message,
            hint=exc.hint,
        )

    def page(
        self, handler: Handler, *, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint: the session is checked, a POST's CSRF token too, then `handler` runs
        in the thread pool; an AidflowError becomes a refusal page, no session a redirect
        to the login form."""

        async def endpoint(request: Request) -> Response:
            lang = self.lang_of(request)
            token = request.cookies.get(SESSION_COOKIE, "")
            visit = Visit(token, lang, dict(request.query_params), dict(request.path_params))
            try:
                if post:
                    with use_language(lang):  # the form's own refusals, in the page's language
                        visit.form = await _form(request)
                response = await run_in_threadpool(self._run, handler, visit, post)
            except AuthenticationError:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/login?{urlencode({'next': target})}", 303)
            except AidflowError as exc:
                log.info("%s: %s", request.url.path, type(exc).__name__)
                response = await run_in_threadpool(self.refusal, visit, lang, exc)
            except Exception as exc:
                from aidflow.store.failures import translate

                known = translate(exc, None)  # the database's own refusals (busy, conflict)
                if known is None:
                    log.exception("%s: internal error", request.url.path)
                    with use_language(lang):
                        response = HTMLResponse(_("internal error; see the server's log"), 500)
                else:
                    response = await run_in_threadpool(self.refusal, visit, lang, known)
            return self.finish(request, response)

        return endpoint

    def _run(self, handler: Handler, visit: Visit, post: bool) -> Response:
        with use_language(visit.lang):  # the page's messages and refusals, in its language
            return self._checked(handler, visit, post)

    def _checked(self, handler: Handler, visit: Visit, post: bool) -> Response:
        if not visit.token:
            raise AuthenticationError(_("not logged in"))
        visit.user, visit.must_change = self.api.authenticate(visit.token)
        if visit.must_change and handler not in (password, logout):
            # the API refuses such a user everything else too; the form is the way on
            return RedirectResponse("/password", 303)
        if post and not hmac.compare_digest(
            visit.form.get(CSRF_FIELD, "").encode(), csrf_token(visit.token).encode()
        ):
            raise ForbiddenError(
                _(
                    "the form's CSRF token is missing or wrong: it did not come from a page of "
                    "this session"
                ),
                hint=_("open the page again and submit its form"),
            )
        return handler(self, visit)

    def finish(self, request: Request, response: Response, style: str = "") -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["Content-Security-Policy"] = CSP.format(style=style)
        asked = request.query_params.get("lang")
        if asked in ("zh", "en"):
            response.set_cookie(LANG_COOKIE, asked, samesite="strict", httponly=True)
        return response

    def secure(self, request: Request) -> bool:
        public = self.runtime.settings.public_url or ""
        return request.url.scheme == "https" or public.startswith("https://")

    # -- login ------------------------------------------------------------------------------

    def cookie(
        self, request: Request, response: Response, name: str, value: str, path: str
    ) -> None:
        """Set a cookie no script reads, no other site's page sends, and (when the page
        came over TLS) no plain-text connection carries."""
        response.set_cookie(
            name, value, httponly=True, samesite="strict", secure=self.secure(request), path=path
        )

    async def login_page(
        self, request: Request, error: AidflowError | None = None, status: int = 200
    ) -> Response:
        """The login form, with a fresh double-submit value in its cookie and its field."""
        nonce = secrets.token_urlsafe(32)
        response = await run_in_threadpool(
            self.render,
            None,
            self.lang_of(request),
            "login.html",
            status,
            title=word("login", self.lang_of(request)),
            next=_safe_next(request.query_params.get("next")),
            nonce=nonce,
            error=error,
        )
        self.cookie(request, response, LOGIN_COOKIE, nonce, "/login")
        return self.finish(request, response)

    async def login_form(self, request: Request) -> Response:
        return await self.login_page(request)

    async def login(self, request: Request) -> Response:
        from aidflow.server.app import _speaking

        lang = self.lang_of(request)
        try:
            with use_language(lang):
                form = await _form(request)
                cookie = request.cookies.get(LOGIN_COOKIE, "")
                if not cookie or not hmac.compare_digest(
                    cookie.encode(), form.get(CSRF_FIELD, "").encode()
                ):
                    raise ForbiddenError(
                        _("the login form did not come from this site's login page"),
                        hint=_("open the login page again and log in there"),
                    )
            issued = await run_in_threadpool(
                _speaking,
                lang,
                self.api.login,
                {"user": form.get("user", ""), "password": form.get("password", "")},
            )
        except AidflowError as exc:
            status = 401 if isinstance(exc, AuthenticationError) else 403
            return await self.login_page(request, exc, status)
        response = RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        self.cookie(request, response, SESSION_COOKIE, issued["token"], "/")
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return self.finish(request, response)

    # -- static -----------------------------------------------------------------------------

    async def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = self.static.get(name)
        if body is None:
            with use_language(self.lang_of(request)):
                missing = _("not found")
            return self.finish(request, Response(missing, 404, media_type="text/plain"))
        kind = "text/css" if name.endswith(".css") else "application/octet-stream"
        response = Response(body, media_type=kind, headers={"Cache-Control": "max-age=3600"})
        return self.finish(request, response)


async def _form(request: Request) -> dict[str, str]:
    """The request's urlencoded form as text fields; InvalidInputError for anything else."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            raise InvalidInputError(_("the form is larger than {limit} bytes", limit=MAX_FORM))
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInputError(_("the form is not UTF-8")) from None
    return dict(pairs)


# -- the pages --------------------------------------------------------------------------------


def home(web: Web, visit: Visit) -> Response:
    return RedirectResponse("/dashboard", 303)


def logout(web: Web, visit: Visit) -> Response:
    web.api.logout(visit.token)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def password(web: Web, visit: Visit) -> Response:
    """Change one's own password (`user.passwd`): the way on after an initial password."""
    error: AidflowError | None = None
    if visit.form:
        try:
            if visit.form.get("new", "") != visit.form.get("again", ""):
                raise InvalidInputError(
                    _("the two new passwords differ"), hint=_("type the same new password twice")
                )
            web.call(visit, "user.passwd", old=visit.form.get("old", ""), new=visit.form["new"])
            return RedirectResponse("/dashboard", 303)
        except AidflowError as exc:
            error = exc
    return web.render(
        visit,
        visit.lang,
        "password.html",
        400 if error else 200,
        title=word("change_password", visit.lang),
        error=error,
        must_change=visit.must_change,
    )


def dashboard(web: Web, visit: Visit) -> Response:
    """The report for the caller's area, or one township of it, with charts and drill-down."""
    from aidflow.files.report import charts, summary

    township = visit.path.get("township")
    params: dict[str, Any] = {"township": township}
    for name in ("start", "end"):
        if visit.query.get(name):
            params[name] = visit.query[name]
    report = web.call(visit, "report.county", **params)
    villages: list[str] = []
    if township is not None:
        villages = [v for t, v in web.call(visit, "area.list") if t == township and v]
    sections = [(word("total", visit.lang), "", report["total"])] + [
        (t, t, values) for t, values in report["townships"].items()
    ]
    return web.render(
        visit,
        visit.lang,
        "dashboard.html",
        title=township or word("dashboard", visit.lang),
        report=report,
        township=township,
        villages=villages,
        sections=sections,
        charts=charts(report),
        summary=lambda name, value: summary(name, value, report),
        quote=quote,
    )


def village(web: Web, visit: Visit) -> Response:
    """The open cases of one village, each linked to its case and person pages."""
    township, name = visit.path["township"], visit.path["village"]
    listed = web.call(visit, "case.list", township=township, village=name, limit=1000)
    return web.render(
        visit,
        visit.lang,
        "village.html",
        title=f"{township} / {name}",
        township=township,
        village=name,
        cases=listed["cases"],
        quote=quote,
    )


def case(web: Web, visit: Visit) -> Response:
    """A case as `case show` has it: state, deadline, clocks, actions and why blocked,
    votes and dissent, history."""
    case_id = _whole(visit.path["case_id"], N_("case"))
    shown = web.call(visit, "case.show", case_id=case_id)
    view = shown["view"]
    votes = [e for e in view["history"] if e["kind"] == "vote"]
    escalations = [e for e in web.call(visit, "escalation.list") if e["case_id"] == case_id]
    return web.render(
        visit,
        visit.lang,
        "case.html",
        title=f"{word('case', visit.lang)} #{case_id}",
        view=view,
        labels=shown["labels"],
        votes=votes,
        escalations=escalations,
    )


def escalations(web: Web, visit: Visit) -> Response:
    listed = web.call(visit, "escalation.list")
    return web.render(
        visit,
        visit.lang,
        "escalations.html",
        title=word("escalations", visit.lang),
        escalations=listed,
    )


def acknowledge(web: Web, visit: Visit) -> Response:
    escalation_id = _whole(visit.path["escalation_id"], N_("escalation"))
    note = visit.form.get("note", "").strip() or None
    web.call(visit, "escalation.ack", escalation_id=escalation_id, note=note)
    back = visit.form.get("back", "")
    return RedirectResponse(_safe_next(back) if back else "/escalations", 303)


def person(web: Web, visit: Visit) -> Response:
    shown = web.call(visit, "person.show", person_id=_whole(visit.path["person_id"], N_("person")))
    return web.render(visit, visit.lang, "person.html", title=shown["name"], person=shown)


def _notice(web: Web, visit: Visit) -> dict[str, Any]:
    township, name = visit.path["township"], visit.path["village"]
    result: dict[str, Any] = web.call(visit, "notice.village", township=township, village=name)
    return result


def notice(web: Web, visit: Visit) -> Response:
    """The village's public notice as a printable page (its own <style>, no site frame)."""
    from aidflow.files.notice import render_html

    return HTMLResponse(render_html(_notice(web, visit)))


def notice_pdf(web: Web, visit: Visit) -> Response:
    from aidflow.files.notice import pdf_bytes

    return Response(
        pdf_bytes(_notice(web, visit)),
        media_type="application/pdf",
        headers={"Content-Disposition": "inline; filename=notice.pdf"},
    )


def _whole(text: str, what: str) -> int:
    if not text.isdigit():
        raise InvalidInputError(_("{what} {text!r} is not a number", what=_(what), text=text))
    return int(text)


def routes(api: Api, runtime: Runtime) -> list[BaseRoute]:
    """The pages' routes, for create_app."""
    web = Web(api, runtime)
    notice_endpoint = web.page(notice)

    async def notice_page(request: Request) -> Response:
        response = await notice_endpoint(request)
        if response.media_type == "text/html" and response.status_code == 200:
            # the printable page carries its own <style>, allowed by hash and nothing else
            body = bytes(response.body).decode("utf-8")
            web.finish(request, response, _style_hashes(body))
        return response

    return [
        Route("/", web.page(home), methods=["GET"]),
        Route("/login", web.login_form, methods=["GET"]),
        Route("/login", web.login, methods=["POST"]),
        Route("/logout", web.page(logout, post=True), methods=["POST"]),
        Route("/password", web.page(password), methods=["GET"]),
        Route("/password", web.page(password, post=True), methods=["POST"]),
        Route("/dashboard", web.page(dashboard), methods=["GET"]),
        Route("/dashboard/{township}", web.page(dashboard), methods=["GET"]),
        Route("/villages/{township}/{village}", web.page(village), methods=["GET"]),
        Route("/cases/{case_id}", web.page(case), methods=["GET"]),
        Route("/escalations", web.page(escalations), methods=["GET"]),
        Route(
            "/escalations/{escalation_id}/ack", web.page(acknowledge, post=True), methods=["POST"]
        ),
        Route("/persons/{person_id}", web.page(person), methods=["GET"]),
        Route("/notice/{township}/{village}", notice_page, methods=["GET"]),
        Route("/notice/{township}/{village}/pdf", web.page(notice_pdf), methods=["GET"]),
        Route("/static/{name}", web.static_file, methods=["GET"]),
    ]


__all__ = ["csrf_token", "routes"]
