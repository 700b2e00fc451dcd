"""The web pages over HTTP, on a real uvicorn server on loopback (SQLite and PostgreSQL).

The attacks the issue names are performed: a forged POST (no CSRF token, a wrong one, one
from another session), a login form posted from elsewhere, a township user opening another
township's case, a reader without the right role asking for a person's full ID number,
a page framed or scripted by another site (the headers forbid it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

from aidflow.notify.memory import MemoryMailer
from aidflow.notify.render import Templates
from aidflow.server.web import csrf_token
from aidflow.services import auth, delivery
from aidflow.services import escalations as jobs
from aidflow.services.runtime import Runtime
from aidflow.settings import Settings

from .conftest import PERSON_ID, START, World
from .server import running

PASSWORD = "correct horse battery"
MASKED = "110***********002X"
SUPERVISORS = [
    ("tsup", ["township_supervisor"], "城关镇"),
    ("hsup", ["township_supervisor"], "河西镇"),
]


@dataclass
class Site:
    url: str
    world: World
    investigation: int  # case in investigation, overdue, escalated to tsup
    notice: int  # case in public notice
    escalation: int  # tsup's open escalation on `investigation`
    clients: list[httpx.Client] = field(default_factory=list)  # closed when the test ends

    def client(self) -> httpx.Client:
        made = httpx.Client(base_url=self.url)
        self.clients.append(made)
        return made


def build_site(world: World) -> tuple[int, int, int]:
    """Users with passwords; case 1 overdue in investigation and escalated to the township
    supervisor; case 2 in public notice."""

    def setup(svc: Any) -> None:
        for name, roles, area in SUPERVISORS:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        for name in ("li", "wu", "rep1", "tsup", "hsup", "sun"):
            auth.set_password(svc.session, "admin", name, PASSWORD, START, must_change=False)

    world.run(setup)
    first = int(world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id))
    world.fire("li", first, "accept")
    world.fire("li", first, "start_investigation", investigators="li,zhao")
    world.clock.advance(timedelta(days=15))  # past the deadline and the supervisor's rung
    world.run(lambda svc: jobs.sweep_deadlines(svc.session, world.clock, world.calendar))
    second = int(world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id))
    world.fire("li", second, "accept")
    world.fire("li", second, "start_investigation", investigators="li,zhao")
    world.fire(
        "li", second, "submit_findings", note="visited", monthly_income="120", income_stable="no"
    )
    for i in range(1, 6):
        world.run(lambda svc, i=i: svc.vote(svc.actor(f"rep{i}"), second, "yes"))
    world.run(lambda svc: svc.vote(svc.actor("rep6"), second, "no", "she has a son in town"))
    world.fire("chen", second, "review_passed")

    def tsup_escalation(svc: Any) -> int:
        from aidflow.store.models import Escalation

        found = svc.session.execute(
            Escalation.__table__.select().where(
                Escalation.recipient == "tsup", Escalation.case_id == first
            )
        ).one()
        return int(found.id)

    return first, second, int(world.run(tsup_escalation))


@pytest.fixture
def site(world: World, db_url: str) -> Iterator[Site]:
    ids = build_site(world)
    runtime = Runtime(Settings(database_url=db_url), _clock=world.clock)
    with running(runtime) as base:
        made = Site(base, world, *ids)
        yield made
        for client in made.clients:
            client.close()


def login(site: Site, user: str, password: str = PASSWORD) -> httpx.Client:
    """A client logged in through the login form, as a browser does."""
    client = site.client()
    form = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and nonce is not None
    answer = client.post(
        "/login", data={"user": user, "password": password, "csrf": nonce.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client) -> str:
    return csrf_token(client.cookies["aidflow_session"])


def open_escalations(client: httpx.Client) -> list[str]:
    return re.findall(r'id="escalation-(\d+)"', client.get("/escalations").text)


# -- login and the session -------------------------------------------------------------------


def test_login_sets_a_strict_httponly_session_and_pages_forbid_framing_and_scripts(
    site: Site,
) -> None:
    client = site.client()
    assert client.get("/dashboard").headers["location"] == "/login?next=%2Fdashboard"
    form = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce is not None
    answer = client.post(
        "/login?next=/cases/1", data={"user": "li", "password": PASSWORD, "csrf": nonce[1]}
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/cases/1")
    cookie = answer.headers["set-cookie"]
    assert "aidflow_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # served over plain HTTP on loopback
    token = client.cookies["aidflow_session"]
    assert len(token) >= 43  # the API's token kind: 256 random bits
    page = client.get("/cases/1")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp and page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text and "style=" not in page.text
    # every stylesheet and link is aidflow's own: no external URL on any page
    assert not re.findall(r'(?:href|src)="(?:https?:)?//', page.text)
    assert client.get("/static/aidflow.css").headers["content-type"].startswith("text/css")
    # logout revokes the token: the cookie no longer opens anything
    assert client.post("/logout", data={"csrf": csrf_token(token)}).status_code == 303
    again = httpx.get(f"{site.url}/cases/1", cookies={"aidflow_session": token})
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


def test_a_wrong_password_and_a_login_posted_from_elsewhere_are_refused(site: Site) -> None:
    client = site.client()
    client.get("/login")
    nonce = client.cookies["aidflow_login"]
    wrong = client.post("/login", data={"user": "li", "password": "nope", "csrf": nonce})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    assert "aidflow_session" not in client.cookies
    # another site's page cannot read our cookie, so it cannot send the matching field
    forged = httpx.post(
        f"{site.url}/login", data={"user": "li", "password": PASSWORD, "csrf": "guessed"}
    )
    assert forged.status_code == 403
    assert "登录表单不是来自本站的登录页面" in forged.text
    assert "aidflow_session" not in forged.cookies
    # after login the browser goes only to a page of this site, never to another host
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client.get("/login")
        nonce = client.cookies["aidflow_login"]
        answer = client.post(
            "/login",
            params={"next": elsewhere},
            data={"user": "li", "password": PASSWORD, "csrf": nonce},
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard")


def test_the_session_cookie_is_secure_when_the_public_url_is_https(
    world: World, db_url: str
) -> None:
    build_site(world)
    settings = Settings(database_url=db_url, public_url="https://aidflow.county.example")
    with running(Runtime(settings, _clock=world.clock)) as url, httpx.Client(base_url=url) as c:
        c.get("/login")
        answer = c.post(
            "/login", data={"user": "li", "password": PASSWORD, "csrf": c.cookies["aidflow_login"]}
        )
        assert "Secure" in answer.headers["set-cookie"]


# -- CSRF -------------------------------------------------------------------------------------


def test_a_forged_post_is_refused_and_changes_nothing(site: Site) -> None:
    tsup = login(site, "tsup")
    target = f"/escalations/{site.escalation}/ack"
    assert str(site.escalation) in open_escalations(tsup)
    other = login(site, "tsup")  # the same user's other session: its token is not ours
    for form in ({"note": "forged"}, {"note": "x", "csrf": "0" * 64}, {"csrf": csrf_of(other)}):
        answer = tsup.post(target, data=form)
        assert answer.status_code == 403
        assert "表单的防伪校验值缺失或错误" in answer.text
    assert str(site.escalation) in open_escalations(tsup)
    answer = tsup.post(target, data={"note": "phoned li", "csrf": csrf_of(tsup)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/escalations")
    assert str(site.escalation) not in open_escalations(tsup)


# -- the rules, through the pages ---------------------------------------------------------------


def test_another_townships_case_is_refused_with_the_apis_message(site: Site) -> None:
    wu = login(site, "wu")
    page = wu.get(f"/cases/{site.investigation}", params={"lang": "en"})  # the page's language
    assert page.status_code == 403
    assert f"case {site.investigation} is outside wu&#39;s area (河西镇)" in page.text
    assert "王秀英" not in page.text
    hsup = login(site, "hsup")
    assert open_escalations(hsup) == []
    answer = hsup.post(
        f"/escalations/{site.escalation}/ack", data={"csrf": csrf_of(hsup), "note": "x"}
    )
    assert answer.status_code == 403
    assert str(site.escalation) in open_escalations(login(site, "tsup"))
    assert wu.get("/dashboard/城关镇").status_code == 403


def test_the_case_page_shows_the_last_day_votes_dissent_and_why_blocked(site: Site) -> None:
    li = login(site, "li", PASSWORD)
    page = li.get(f"/cases/{site.notice}?lang=en").text
    shown = li.get(f"/cases/{site.notice}").text  # the language is remembered
    assert "Public notice" in shown
    # 7-day notice entered now: the deadline instant is 7 days on, the same day counts
    entered = site.world.clock.now()
    assert f'id="deadline">{(entered + timedelta(days=7)).date().isoformat()}' in page
    assert "she has a son in town" in page and 'class="dissent"' in page
    assert "must run until" in page  # close_notice is blocked by the notice's minimum
    assert MASKED in page and PERSON_ID not in page


def test_the_person_page_masks_by_role(site: Site) -> None:
    sun = login(site, "sun")  # county officer: owns steps of dibao, may see full numbers
    full = sun.get("/persons/1")
    assert PERSON_ID in full.text and "1949-12-31" in full.text
    assert full.headers["cache-control"] == "no-store"
    rep = login(site, "rep1")  # a village representative: masked, and no birth date
    masked = rep.get("/persons/1").text
    assert MASKED in masked and PERSON_ID not in masked and "1949-12-31" not in masked
    assert login(site, "wu").get("/persons/1").status_code == 403


def test_pages_are_chinese_by_default_and_english_on_request(site: Site) -> None:
    li = login(site, "li")
    assert "工作进度" in li.get("/dashboard").text
    assert '<html lang="en">' in li.get("/dashboard?lang=en").text
    village = li.get("/villages/城关镇/东村").text
    assert f'href="/cases/{site.notice}"' in village and 'href="/persons/1"' in village


def test_the_notice_page_publishes_masked_ids_and_allows_only_its_own_style(site: Site) -> None:
    li = login(site, "li")
    page = li.get("/notice/城关镇/东村")
    assert page.status_code == 200
    assert MASKED in page.text and PERSON_ID not in page.text and "1949" not in page.text
    csp = page.headers["content-security-policy"]
    assert re.search(r"style-src 'self' 'sha256-[A-Za-z0-9+/=]+'", csp) and "unsafe" not in csp
    pdf = li.get("/notice/城关镇/东村/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"


# -- escalation emails link to the case page --------------------------------------------------


def test_escalation_emails_link_to_the_case_page(site: Site) -> None:
    mailer = MemoryMailer()
    templates = Templates(
        Templates.shipped().directory, Templates.shipped().tz, "https://aidflow.county.example"
    )
    with site.world.session() as s, s.begin():
        delivery.deliver_outbox(s, site.world.clock, mailer, templates=templates)
    (sent,) = [m for m in mailer.sent if m.to == ("tsup@county.example",)]
    link = f"https://aidflow.county.example/cases/{site.investigation}"
    assert link in sent.text and f'<a href="{link}">' in sent.html


def test_an_initial_password_is_changed_through_its_form_before_anything_else(site: Site) -> None:
    site.world.run(
        lambda svc: auth.set_password(
            svc.session, "admin", "zhao", "initial-pass-1", START, must_change=True
        )
    )
    zhao = login(site, "zhao", "initial-pass-1")
    assert zhao.get("/dashboard").headers["location"] == "/password"
    assert zhao.get(f"/cases/{site.investigation}").headers["location"] == "/password"
    form = {"csrf": csrf_of(zhao), "old": "initial-pass-1", "new": "a new passphrase"}
    differ = zhao.post("/password", data={**form, "again": "another passphrase"})
    assert differ.status_code == 400 and "两次输入的新密码不一致" in differ.text
    assert (
        zhao.post("/password", data={**form, "csrf": "0" * 64, "again": form["new"]}).status_code
        == 403
    )
    changed = zhao.post("/password", data={**form, "again": form["new"]})
    assert (changed.status_code, changed.headers["location"]) == (303, "/dashboard")
    assert zhao.get("/dashboard").status_code == 200
    assert login(site, "zhao", "a new passphrase").get("/dashboard").status_code == 200


def test_data_from_other_departments_is_shown_as_text_never_run(site: Site) -> None:
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'

    def setup(svc: Any) -> int:
        svc.register_person("110105195001010012", hostile, "城关镇", "东村", "rural")
        return int(svc.open_case(svc.actor("li"), "110105195001010012", "dibao").id)

    case_id = site.world.run(setup)
    li = login(site, "li")
    for path in ("/villages/城关镇/东村", f"/cases/{case_id}"):
        page = li.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script" not in page and "<img" not in page


def test_the_dashboard_period_is_a_plain_get_form(site: Site) -> None:
    li = login(site, "li")
    page = li.get("/dashboard", params={"start": "2023-08-01", "end": "2023-08-31"})
    assert page.status_code == 200
    assert 'name="start" value="2023-08-01"' in page.text
    assert 'name="end" value="2023-08-31"' in page.text
    bad = li.get("/dashboard", params={"start": "2023-09-01", "end": "2023-08-01", "lang": "en"})
    assert bad.status_code == 400 and "--from 2023-09-01 is after --to 2023-08-01" in bad.text
    zh = li.get("/dashboard", params={"start": "2023-09-01", "end": "2023-08-01", "lang": "zh"})
    assert zh.status_code == 400 and "--from 2023-09-01 晚于 --to 2023-08-01" in zh.text
