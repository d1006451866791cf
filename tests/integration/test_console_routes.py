"""The operator console over the ASGI app, on SQLite and PostgreSQL: sessions, CSRF, every
page and every action, inbox filters and keyset pages, the live timeline fragment, and
hostile input. Conversations are made by driving the real engine (ReceiveMessage)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select

from dmpilot.bootstrap import System, bootstrap
from dmpilot.brains import BrainError, BrainReply, BrainRequest, ScriptedBrain
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.contacts import ContactRef, ContactStatus, RefKind
from dmpilot.domain.decision import Decision
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.domain.guard import GuardConfig
from dmpilot.engine import EngineConfig
from dmpilot.runtime import SystemRandom
from dmpilot.store import Store
from dmpilot.store.schema import audit_findings, contacts, messages
from dmpilot.web.app import create_app
from dmpilot.web.console.session import COOKIE_NAME, Sessions
from support import FakeClock, engine_config, inbound, settings_for

PASSWORD = "correct-horse-battery-staple"
HOURS = 2.0
BASE = "http://console.test"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ROW = re.compile(r'data-testid="contact-row" data-contact-id="(\d+)"')
KEY = re.compile(r'name="key" value="([^"]+)"')


# -- the system and a signed-in browser ------------------------------------------------------------


def make_system(
    store: Store,
    database_url: str,
    clock: FakeClock,
    *,
    delivery: DeliveryMode = DeliveryMode.INLINE,
    **settings: Any,
) -> System:
    config: EngineConfig = engine_config(delivery=delivery, daily_new_conversations=1_000_000)
    values = {"console_password": PASSWORD, "console_session_hours": HOURS} | settings
    return bootstrap(
        settings_for(database_url, **values),
        store=store,
        brain=ScriptedBrain(seed=1),
        config=config,
        clock=clock,
        random=SystemRandom(1),
        senders={},
    )


class Console:
    """An httpx client over the app, with what a browser would do: sign in, read the CSRF
    token off a page, post forms."""

    def __init__(self, client: httpx.AsyncClient, system: System) -> None:
        self.client = client
        self.system = system

    async def sign_in(self, password: str = PASSWORD, next_path: str = "") -> httpx.Response:
        return await self.client.post(
            "/console/sign-in", data={"password": password, "next": next_path}
        )

    async def get(self, path: str, **params: str) -> httpx.Response:
        # params=None: an empty dict would drop the query already in `path`
        return await self.client.get(path, params=params or None)

    async def page(self, path: str, **params: str) -> str:
        response = await self.get(path, **params)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.text

    async def csrf(self) -> str:
        found = CSRF.search(await self.page("/console/overview"))
        assert found is not None
        return found.group(1)

    async def post(self, path: str, **fields: str) -> httpx.Response:
        return await self.client.post(path, data={"csrf": await self.csrf(), **fields})

    async def receive(self, contact: str, text: str, **kw: Any) -> Decision:
        clock = self.system.clock
        assert isinstance(clock, FakeClock)
        clock.advance(seconds=5)
        message = inbound(contact, text, clock.current, **kw)
        return await self.system.engine.handle(ReceiveMessage(message))

    async def named(self, contact: str, text: str, username: str, name: str) -> Decision:
        clock = self.system.clock
        assert isinstance(clock, FakeClock)
        clock.advance(seconds=5)
        message = replace(
            inbound(contact, text, clock.current, name=name), contact_username=username
        )
        return await self.system.engine.handle(ReceiveMessage(message))

    def contact_id(self, external: str) -> int:
        with self.system.store.reading() as reads:
            found = reads.find_contact(ContactRef(RefKind.EXTERNAL, external))
        assert found is not None
        return found.id


@pytest.fixture
def system(store: Store, database_url: str, clock: FakeClock) -> System:
    return make_system(store, database_url, clock)


@pytest.fixture
def app(system: System) -> FastAPI:
    return create_app(system=system)


async def open_console(app: FastAPI, system: System, base: str = BASE) -> Console:
    transport = httpx.ASGITransport(app=app)
    return Console(httpx.AsyncClient(transport=transport, base_url=base), system)


@pytest.fixture
async def anonymous(app: FastAPI, system: System) -> AsyncIterator[Console]:
    console = await open_console(app, system)
    async with console.client:
        yield console


@pytest.fixture
async def console(anonymous: Console) -> Console:
    response = await anonymous.sign_in()
    assert response.status_code == 303, response.text
    return anonymous


def count(store: Store, table: Any, *where: Any) -> int:
    with store.reading() as reads:
        return int(reads.db.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def status_of(html: str) -> str:
    found = re.search(r'data-testid="contact-status"[^>]*>([^<]+)<', html)
    assert found is not None
    return found.group(1)


def flash_of(html: str) -> str:
    found = re.search(r'data-testid="flash"[^>]*>([^<]+)<', html)
    assert found is not None, "no flash on the page"
    return found.group(1)


def entry_kinds(html: str) -> list[str]:
    return re.findall(r'data-testid="timeline-entry" data-kind="(\w+)"', html)


async def follow(console: Console, response: httpx.Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return await console.page(response.headers["location"])


# -- sessions --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/console", "/console/overview", "/console/inbox", "/console/contacts/1", "/console/audit"],
)
async def test_every_page_sends_a_stranger_to_the_sign_in(anonymous: Console, path: str) -> None:
    response = await anonymous.get(path, q="x")
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/console/sign-in"
    assert parse_qs(location.query)["next"] == [f"{path}?q=x"]


async def test_a_fragment_without_a_session_is_a_401_and_a_form_does_nothing(
    anonymous: Console, store: Store
) -> None:
    await anonymous.receive("fan", "hello there")
    fragment = await anonymous.get("/console/contacts/1/timeline", after="0_0")
    assert fragment.status_code == 401
    assert "sign in" in fragment.text
    pause = await anonymous.client.post("/console/pause", data={"reason": "x", "csrf": "x"})
    assert pause.status_code == 303
    assert urlsplit(pause.headers["location"]).path == "/console/sign-in"
    with store.reading() as reads:
        assert not reads.control().paused


async def test_a_wrong_password_is_refused_and_the_right_one_signs_in(
    anonymous: Console,
) -> None:
    wrong = await anonymous.sign_in("guess")
    assert wrong.status_code == 401
    assert "That password is not right." in wrong.text
    assert 'name="password" type="password"' in wrong.text
    assert COOKIE_NAME not in wrong.headers.get("set-cookie", "")
    assert PASSWORD not in wrong.text  # the page never prints the secret

    right = await anonymous.sign_in(next_path="/console/inbox?state=handoff")
    assert right.status_code == 303
    assert right.headers["location"] == "/console/inbox?state=handoff"
    cookie = right.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert f"max-age={int(HOURS * 3600)}" in cookie.lower()
    assert "path=/console" in cookie.lower()
    assert (await anonymous.get("/console/overview")).status_code == 200


async def test_over_https_the_cookie_is_secure(app: FastAPI, system: System) -> None:
    console = await open_console(app, system, base="https://console.test")
    async with console.client:
        response = await console.sign_in()
        attributes = {part.strip().lower() for part in response.headers["set-cookie"].split(";")}
        assert "secure" in attributes
        assert (await console.get("/console/overview")).status_code == 200


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example/console",
        "https://evil.example/console",
        "/console\\@evil.example",
        "/consolex",
        "javascript:alert(1)",
        "/console/\x00",
    ],
)
async def test_signing_in_never_redirects_off_the_console(
    anonymous: Console, next_path: str
) -> None:
    response = await anonymous.sign_in(next_path=next_path)
    assert response.headers["location"] == "/console/overview"


async def test_without_any_secret_nobody_can_sign_in(
    store: Store, database_url: str, clock: FakeClock
) -> None:
    system = make_system(store, database_url, clock, console_password=None, webhook_token=None)
    console = await open_console(create_app(system=system), system)
    async with console.client:
        page = await console.get("/console/sign-in")
        assert page.status_code == 503
        assert "DMPILOT_CONSOLE_PASSWORD" in page.text
        assert 'name="password"' not in page.text
        attempt = await console.sign_in("")
        assert COOKIE_NAME not in attempt.headers.get("set-cookie", "")
        assert (await console.get("/console/overview")).status_code == 303


async def test_a_session_ends_after_its_hours(console: Console, clock: FakeClock) -> None:
    clock.advance(seconds=HOURS * 3600 - 60)
    assert (await console.get("/console/overview")).status_code == 200
    clock.advance(seconds=120)
    expired = await console.get("/console/overview")
    assert expired.status_code == 303
    assert urlsplit(expired.headers["location"]).path == "/console/sign-in"


async def test_a_forged_or_foreign_cookie_is_no_session(
    anonymous: Console, clock: FakeClock
) -> None:
    foreign = Sessions("another-password").issue(clock.now(), HOURS)[1]
    session_id, expires, signature = Sessions(PASSWORD).issue(clock.now(), HOURS)[1].split(".")
    stretched = f"{session_id}.{int(expires) + 10**6}.{signature}"
    for cookie in (foreign, stretched, "garbage", "a.b.c", "x" * 5000):
        anonymous.client.cookies.set(COOKIE_NAME, cookie, domain="console.test", path="/console")
        assert (await anonymous.get("/console/overview")).status_code == 303, cookie[:40]
        anonymous.client.cookies.clear()


async def test_processes_sharing_the_secret_accept_each_others_sessions_until_it_changes(
    console: Console, store: Store, database_url: str, clock: FakeClock
) -> None:
    cookie = console.client.cookies.get(COOKIE_NAME)
    assert cookie is not None
    other = make_system(store, database_url, clock)
    changed = make_system(store, database_url, clock, console_password="a-new-password")
    for system, expected in ((other, 200), (changed, 303)):
        peer = await open_console(create_app(system=system), system)
        async with peer.client:
            peer.client.cookies.set(COOKIE_NAME, cookie, domain="console.test", path="/console")
            assert (await peer.get("/console/overview")).status_code == expected


async def test_a_form_without_the_right_csrf_token_is_forbidden(
    console: Console, store: Store
) -> None:
    for fields in ({"reason": "testing"}, {"reason": "testing", "csrf": "forged"}):
        response = await console.client.post("/console/pause", data=fields)
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert (await console.client.post("/console/sign-out", data={})).status_code == 403
    with store.reading() as reads:
        assert not reads.control().paused


async def test_a_csrf_token_of_another_session_is_refused(
    console: Console, app: FastAPI, system: System, store: Store
) -> None:
    other = await open_console(app, system)
    async with other.client:
        await other.sign_in()
        their_token = await other.csrf()
    assert their_token != await console.csrf()
    response = await console.client.post(
        "/console/pause", data={"reason": "x", "csrf": their_token}
    )
    assert response.status_code == 403


async def test_signing_out_clears_the_cookie(console: Console) -> None:
    response = await console.post("/console/sign-out")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in")
    assert f'{COOKIE_NAME}=""' in response.headers["set-cookie"] or "max-age=0" in (
        response.headers["set-cookie"].lower()
    )
    assert (await console.get("/console/overview")).status_code == 303
    signed_out = await console.page(response.headers["location"])
    assert flash_of(signed_out) == "You are signed out."


async def test_pages_carry_a_strict_content_security_policy(console: Console) -> None:
    response = await console.get("/console/overview")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_assets_come_from_the_package(anonymous: Console) -> None:
    css = await anonymous.get("/console/static/console.css")
    js = await anonymous.get("/console/static/console.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "fetch(" in js.text
    page = (await anonymous.get("/console/sign-in")).text
    assert "http://" not in page and "https://" not in page  # nothing from a CDN


async def test_an_unknown_console_page_is_a_404_page(console: Console) -> None:
    response = await console.get("/console/nowhere")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


# -- overview --------------------------------------------------------------------------------------


async def test_the_overview_shows_today_and_the_kill_switch(
    console: Console, store: Store, clock: FakeClock
) -> None:
    for n in range(3):
        await console.receive(f"fan{n}", "hello, where are you now?")
    html = await console.page("/console/overview")
    assert re.search(r'data-testid="kill-switch".*?Running', html, re.S)
    assert 'data-testid="pause-form"' in html and 'name="reason"' in html
    assert 'data-testid="funnel-chart"' in html and 'data-testid="replies-chart"' in html
    assert re.search(r'data-testid="today-inbound">3<', html)
    replies = count(store, messages, messages.c.direction == "out")
    assert re.search(rf'data-testid="today-replies">{replies}<', html)
    assert re.search(r'data-testid="today-new">3<small> / 1,000,000', html)
    assert "<svg" in html and "<script>" not in html

    paused = await console.post("/console/pause", reason="checking the persona")
    html = await follow(console, paused)
    assert flash_of(html).startswith("Paused")
    assert re.search(r'data-testid="kill-switch".*?Paused.*?checking the persona', html, re.S)
    assert ">Resume</button>" in html and 'data-testid="pause-form"' not in html
    with store.reading() as reads:
        assert reads.control().changed_by == "console"

    resumed = await follow(console, await console.post("/console/resume"))
    assert re.search(r'data-testid="kill-switch".*?Running', resumed, re.S)
    again = await follow(console, await console.post("/console/resume"))
    assert flash_of(again) == "It was already running."


async def test_a_pause_needs_a_reason(console: Console, store: Store) -> None:
    for reason in ("", "   ", "x\x00y", "\ud800"):
        response = await console.client.post(
            "/console/pause",
            content=_form(csrf=await console.csrf(), reason=reason),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400, reason
    with store.reading() as reads:
        assert not reads.control().paused


def _form(**fields: str) -> bytes:
    """A urlencoded body written by hand, so broken UTF-8 (a lone surrogate) can be sent."""
    from urllib.parse import quote

    return "&".join(
        f"{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'))}"
        for name, value in fields.items()
    ).encode("ascii")


class FailingBrain(ScriptedBrain):
    """Every draft fails: the anomaly guard's error share climbs."""

    async def generate(self, request: BrainRequest) -> BrainReply:
        raise BrainError("529 overloaded")


async def test_the_overview_lists_the_anomaly_guards_pauses(
    store: Store, database_url: str, clock: FakeClock
) -> None:
    guard = GuardConfig(min_decisions=3, max_error_share=0.5)
    config = engine_config(guard=guard, daily_new_conversations=1_000_000)
    system = bootstrap(
        settings_for(database_url, console_password=PASSWORD),
        store=store,
        brain=FailingBrain(),
        config=config,
        clock=clock,
        random=SystemRandom(1),
        senders={},
    )
    console = await open_console(create_app(system=system), system)
    async with console.client:
        await console.sign_in()
        for n in range(3):
            await console.receive(f"fan{n}", "hello, anyone there?")
        html = await console.page("/console/overview")
    assert re.search(r'data-testid="kill-switch".*?Paused.*?anomaly guard', html, re.S)
    guard_pauses = re.search(r'data-testid="guard-pauses".*?</section>', html, re.S)
    assert guard_pauses is not None and "errors or timeouts" in guard_pauses.group(0)


# -- inbox -----------------------------------------------------------------------------------------


async def test_the_inbox_searches_and_filters(console: Console, store: Store) -> None:
    await console.named("sub-111", "hi from lisbon", "samantha", "Sam One")
    await console.named("sub-222", "hi from porto", "samuel", "Sam Two")
    await console.named("sub-333", "hello", "bob", "Bob")
    await console.receive("teen", "thanks! i'm 15 btw")
    bob = console.contact_id("sub-333")

    async def ids(**params: str) -> list[int]:
        html = await console.page("/console/inbox", **params)
        return [
            int(i) for i in re.findall(r'data-testid="contact-row" data-contact-id="(\d+)"', html)
        ]

    assert len(await ids()) == 4
    assert sorted(await ids(q="@sam")) == sorted(
        [console.contact_id("sub-111"), console.contact_id("sub-222")]
    )
    assert await ids(q="SAMA") == [console.contact_id("sub-111")]  # a prefix, any case
    assert await ids(q="sub-222") == [console.contact_id("sub-222")]
    assert await ids(q="sub-22") == []  # subscriber ids match exactly
    assert await ids(q=f"id:{bob}") == [bob]
    assert await ids(q="@100%") == []  # LIKE wildcards are text
    assert await ids(state="stopped") == [console.contact_id("teen")]
    assert console.contact_id("teen") not in await ids(state="active")
    assert await ids(state="customer") == []
    assert await ids(stage="new", q="@sam") == []


async def test_the_inbox_shows_the_newest_activity_first_with_a_preview(
    console: Console,
) -> None:
    await console.named("older", "the first message", "first", "First")
    await console.named("newer", "the second message", "second", "Second")
    html = await console.page("/console/inbox")
    rows = re.findall(r'data-contact-id="(\d+)"', html)
    assert rows == [str(console.contact_id("newer")), str(console.contact_id("older"))]
    assert html.count('data-testid="contact-row"') == 2
    assert f'href="/console/contacts/{console.contact_id("newer")}"' in html


async def test_keyset_pages_cover_every_contact_once(console: Console, store: Store) -> None:
    # Volume: hand-inserted rows, with ties on last_inbound_at to test the id tiebreak.
    start = datetime(2026, 10, 1)
    rows = [
        {
            "channel": "manychat",
            "external_id": f"bulk-{n:03d}",
            "username": f"bulk{n:03d}",
            "created_at": start,
            "last_inbound_at": start + timedelta(minutes=n // 3),
            "cycle_started_at": start,
        }
        for n in range(123)
    ]
    with store.writing() as unit:
        unit.db.execute(insert(contacts), rows)
    expected = [
        cid
        for (cid,) in store_rows(
            store,
            select(contacts.c.id).order_by(contacts.c.last_inbound_at.desc(), contacts.c.id.desc()),
        )
    ]
    seen: list[int] = []
    url: str | None = "/console/inbox"
    pages = 0
    while url is not None:
        html = await console.page(url)
        ids = [int(i) for i in re.findall(r'data-contact-id="(\d+)"', html)]
        assert len(ids) == (50 if pages < 2 else 23)
        seen += ids
        pages += 1
        older = re.search(r'href="([^"]+)" rel="next"', html)
        url = older.group(1).replace("&amp;", "&") if older else None
        if pages == 2:
            newer = re.search(r'href="([^"]+)" rel="prev"', html)
            assert newer is not None
            back = await console.page(newer.group(1).replace("&amp;", "&"))
            assert [int(i) for i in re.findall(r'data-contact-id="(\d+)"', back)] == seen[:50]
    assert seen == expected  # every contact once, in order: no overlap, no gap
    filtered = await console.page("/console/inbox", q="@bulk1")
    assert len(re.findall(r'data-contact-id="(\d+)"', filtered)) == 23  # bulk100..bulk122


def store_rows(store: Store, query: Any) -> list[Any]:
    with store.reading() as reads:
        return list(reads.db.execute(query).all())


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"after": "yesterday"}, 400),
        ({"after": "2026-11-01T12:00:00_abc"}, 400),
        ({"after": "2026-11-01T12:00:00+02:00_4"}, 400),
        ({"after": "2026-13-45T12:00:00_4"}, 400),
        ({"before": "2026-11-01T12:00:00_" + "9" * 30}, 400),
        ({"q": "x" * 5000}, 413),
        ({"q": "x" * 101}, 422),
        ({"q": "sam\x00"}, 400),
        ({"q": "id:abc"}, 400),
        ({"q": "id:" + "9" * 40}, 400),
        ({"q": "@"}, 400),
        ({"state": "sleeping"}, 400),
        ({"stage": "nowhere"}, 400),
        ({"findings": "yes"}, 400),
    ],
)
async def test_bad_inbox_parameters_are_a_clear_4xx(
    console: Console, params: dict[str, str], status: int
) -> None:
    response = await console.get("/console/inbox", **params)
    assert response.status_code == status, response.text[:300]
    assert 'data-testid="error-message"' in response.text


async def test_a_repeated_parameter_is_refused(console: Console) -> None:
    response = await console.client.get("/console/inbox?state=active&state=stopped")
    assert response.status_code == 400


# -- a conversation --------------------------------------------------------------------------------


async def test_a_conversation_shows_messages_replies_and_decisions(
    console: Console, store: Store
) -> None:
    await console.receive("fan", "hey! where are you travelling now?")
    await console.receive("fan", "hey! where are you travelling now?")  # a duplicate
    cid = console.contact_id("fan")
    html = await console.page(f"/console/contacts/{cid}")
    assert status_of(html) == "active"
    kinds = entry_kinds(html)
    assert kinds.count("in") == 1 and kinds.count("out") == 1
    assert "event" in kinds and "duplicate" in html  # the silence, with its reason
    assert "tokens" in html or "attempt" in html  # the reply's figures
    for button in ("Take over", "Mark converted", "Stop"):
        assert f">{button}</button>" in html
    assert ">Hand back</button>" not in html and ">Reset funnel</button>" not in html
    # inline delivery: the reply form is there, disabled, with the reason
    assert 'data-testid="reply-form"' in html and 'data-testid="reply-blocked"' in html
    assert "DMPILOT_MANYCHAT_API_KEY" in html


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/console/contacts/abc", 400),
        ("/console/contacts/-1", 400),
        ("/console/contacts/99999", 404),
        ("/console/contacts/" + "9" * 30, 400),
        ("/console/contacts/99999999999999999999", 404),
    ],
)
async def test_a_missing_or_malformed_contact_is_a_4xx_page(
    console: Console, path: str, status: int
) -> None:
    response = await console.get(path)
    assert response.status_code == status
    assert 'data-testid="error-message"' in response.text


async def test_the_live_fragment_returns_only_what_came_after_the_cursor(
    console: Console,
) -> None:
    await console.receive("fan", "hello there, first message")
    cid = console.contact_id("fan")
    html = await console.page(f"/console/contacts/{cid}")
    cursor = re.search(r'data-cursor="(\d+_\d+)"', html)
    assert cursor is not None
    empty = await console.get(f"/console/contacts/{cid}/timeline", after=cursor.group(1))
    assert empty.status_code == 200 and "timeline-entry" not in empty.text
    assert empty.headers["x-timeline-cursor"] == cursor.group(1)
    assert empty.headers["x-contact-status"] == "active"

    await console.receive("fan", "and a second one about the mountains")
    fresh = await console.get(f"/console/contacts/{cid}/timeline", after=cursor.group(1))
    assert fresh.status_code == 200
    assert "second one about the mountains" in fresh.text
    assert "first message" not in fresh.text
    assert entry_kinds(fresh.text).count("in") == 1
    following = fresh.headers["x-timeline-cursor"]
    assert following != cursor.group(1)
    again = await console.get(f"/console/contacts/{cid}/timeline", after=following)
    assert "timeline-entry" not in again.text


@pytest.mark.parametrize("after", ["", "abc", "1_", "_1", "1_2_3", "9" * 25 + "_1", "-1_0"])
async def test_a_bad_fragment_cursor_is_a_400(console: Console, after: str) -> None:
    await console.receive("fan", "hello there")
    cid = console.contact_id("fan")
    response = await console.get(f"/console/contacts/{cid}/timeline", after=after)
    assert response.status_code == 400


async def test_a_long_conversation_shows_its_newest_entries_and_loads_earlier(
    console: Console, store: Store
) -> None:
    for n in range(130):
        await console.receive("chatty", f"message number {n} about glaciers")
    cid = console.contact_id("chatty")
    html = await console.page(f"/console/contacts/{cid}")
    assert len(entry_kinds(html)) == 200
    assert "message number 129 about" in html and "message number 0 about" not in html
    earlier = re.search(r'href="(/console/contacts/\d+\?before=\d+_\d+)"', html)
    assert earlier is not None
    older = await console.page(earlier.group(1))
    assert "message number 0 about" in older
    assert "data-live" not in older  # history: nothing is appended to it


async def test_names_and_messages_are_text_never_markup(console: Console) -> None:
    attack = "<script>alert('x')</script>"
    await console.named("xss", f"hi {attack}", "<img src=x onerror=alert(1)>", attack)
    cid = console.contact_id("xss")
    for html in (
        await console.page("/console/inbox"),
        await console.page(f"/console/contacts/{cid}"),
    ):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html


# -- actions on a contact --------------------------------------------------------------------------


async def test_take_over_hand_back_stop_reset_and_convert(console: Console, store: Store) -> None:
    await console.receive("fan", "hey! tell me about iceland")
    cid = console.contact_id("fan")
    base = f"/console/contacts/{cid}"

    html = await follow(console, await console.post(f"{base}/take-over"))
    assert status_of(html) == "handoff" and "the bot stays silent" in flash_of(html)
    assert ">Hand back</button>" in html and ">Take over</button>" not in html
    html = await follow(console, await console.post(f"{base}/take-over"))
    assert flash_of(html) == "A person already has this conversation."

    html = await follow(console, await console.post(f"{base}/hand-back"))
    assert status_of(html) == "active" and flash_of(html).startswith("Handed back")

    html = await follow(console, await console.post(f"{base}/stop"))
    assert status_of(html) == "stopped" and flash_of(html).startswith("Stopped")
    assert ">Stop</button>" not in html and ">Reset funnel</button>" in html
    html = await follow(console, await console.post(f"{base}/stop"))
    assert flash_of(html) == "The contact was already stopped."

    html = await follow(console, await console.post(f"{base}/reset"))
    assert status_of(html) == "active" and flash_of(html).startswith("The funnel starts over")

    html = await follow(console, await console.post(f"{base}/convert"))
    assert status_of(html) == ContactStatus.CUSTOMER.value
    assert ">Mark converted</button>" not in html
    html = await follow(console, await console.post(f"{base}/convert"))
    assert flash_of(html) == "The contact was already marked converted."


@pytest.mark.parametrize(
    ("external", "text", "reason"),
    [("teen", "thanks! i'm 15 btw", "minor"), ("quitter", "please stop messaging me", "opt_out")],
)
async def test_a_minor_or_an_opt_out_can_never_be_reset(
    console: Console, store: Store, external: str, text: str, reason: str
) -> None:
    await console.receive(external, text)
    cid = console.contact_id(external)
    html = await console.page(f"/console/contacts/{cid}")
    assert status_of(html) == "stopped" and f"({reason})" in html
    assert "Reset funnel" not in html and f"/console/contacts/{cid}/reset" not in html
    forged = await console.post(f"/console/contacts/{cid}/reset")
    assert forged.status_code == 409
    assert "never reset" in forged.text
    with store.reading() as reads:
        contact = reads.console_contact(cid)
    assert contact is not None and contact.contact.stop_reason == reason


async def test_actions_on_a_missing_contact_are_404_and_malformed_ids_400(
    console: Console,
) -> None:
    for action in ("take-over", "hand-back", "stop", "reset", "convert", "reply"):
        missing = await console.post(f"/console/contacts/424242/{action}", text="x", key="k1")
        assert missing.status_code == 404, action
        bad = await console.post(f"/console/contacts/x1/{action}", text="x", key="k1")
        assert bad.status_code == 400, action


async def test_a_person_writes_from_the_console_once_per_form(
    store: Store, database_url: str, clock: FakeClock
) -> None:
    system = make_system(store, database_url, clock, delivery=DeliveryMode.PUSH)
    console = await open_console(create_app(system=system), system)
    async with console.client:
        await console.sign_in()
        await console.receive("fan", "is anyone there?")
        cid = console.contact_id("fan")
        html = await console.page(f"/console/contacts/{cid}")
        assert 'data-testid="reply-blocked"' not in html
        key = KEY.search(html)
        assert key is not None
        text = "Hi! It's Lena herself.\nMarch is perfect."
        sent = await follow(
            console,
            await console.post(f"/console/contacts/{cid}/reply", text=text, key=key.group(1)),
        )
        assert flash_of(sent) == "Your message is queued for delivery."
        assert status_of(sent) == "handoff"
        assert "sent by console" in sent and "March is perfect." in sent
        again = await follow(
            console,
            await console.post(f"/console/contacts/{cid}/reply", text=text, key=key.group(1)),
        )
        assert flash_of(again).startswith("That message was already queued")
        humans = count(store, messages, messages.c.author.is_not(None))
        assert humans == 1
        for fields, status in (
            ({"text": "   ", "key": "k2"}, 400),
            ({"text": "hi", "key": ""}, 400),
            ({"text": "hi", "key": "bad key with spaces"}, 400),
            ({"text": "x" * 5000, "key": "k3"}, 422),
        ):
            response = await console.post(f"/console/contacts/{cid}/reply", **fields)
            assert response.status_code == status, fields
        broken = await console.client.post(
            f"/console/contacts/{cid}/reply",
            content=_form(csrf=await console.csrf(), text="hi \ud83d", key="k4"),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert broken.status_code == 400
        too_long = await console.post(f"/console/contacts/{cid}/reply", text="é" * 600, key="k5")
        assert too_long.status_code == 409  # the engine's refusal, shown with its reason
        assert "at most 1000 bytes" in too_long.text
        assert count(store, messages, messages.c.author.is_not(None)) == 1


async def test_inline_delivery_refuses_a_persons_message(console: Console, store: Store) -> None:
    await console.receive("fan", "hello?")
    cid = console.contact_id("fan")
    response = await console.post(f"/console/contacts/{cid}/reply", text="hi", key="key-1")
    assert response.status_code == 409
    assert "DMPILOT_MANYCHAT_API_KEY" in response.text
    assert count(store, messages, messages.c.author.is_not(None)) == 0


async def test_oversized_or_foreign_forms_are_refused(console: Console) -> None:
    csrf = await console.csrf()
    huge = await console.client.post("/console/pause", data={"csrf": csrf, "reason": "x" * 40_000})
    assert huge.status_code == 413
    multipart = await console.client.post(
        "/console/pause", files={"reason": ("r.txt", b"x")}, data={"csrf": csrf}
    )
    assert multipart.status_code == 415


# -- audit -----------------------------------------------------------------------------------------


async def test_running_the_audit_stores_findings_and_links_them(
    console: Console, store: Store, clock: FakeClock
) -> None:
    await console.receive("answered", "hello there")
    with store.writing() as unit:
        unit.control.set_paused(True, "testing", "test", clock.now())
    await console.receive("ignored", "is anyone there?")  # stored, silenced: unanswered
    clock.advance(minutes=15)
    empty = await console.page("/console/audit")
    assert 'data-testid="audit-empty"' in empty and ">Run audit</button>" in empty

    html = await follow(console, await console.post("/console/audit/run"))
    assert flash_of(html).startswith("Audit finished")
    ignored = console.contact_id("ignored")
    rows = re.findall(r'data-testid="finding-row">\s*<td><a href="/console/contacts/(\d+)"', html)
    assert rows == [str(ignored)]
    assert "unanswered" in html
    assert count(store, audit_findings) >= 1

    inbox = await console.page("/console/inbox", findings="1")
    assert re.findall(r'data-contact-id="(\d+)"', inbox) == [str(ignored)]
    assert "1 finding" in inbox


# -- all pages, signed in --------------------------------------------------------------------------


async def test_every_page_renders_for_a_signed_in_operator(
    console: Console, clock: FakeClock
) -> None:
    await console.receive("fan", "hello there")
    cid = console.contact_id("fan")
    pages: dict[str, Callable[[str], bool]] = {
        "/console/overview": lambda html: 'data-testid="kill-switch"' in html,
        "/console/inbox": lambda html: 'data-testid="inbox-search"' in html,
        f"/console/contacts/{cid}": lambda html: 'data-testid="timeline"' in html,
        "/console/audit": lambda html: ">Run audit</button>" in html,
    }
    for path, check in pages.items():
        html = await console.page(path)
        assert check(html), path
        for link in ("Overview", "Inbox", "Audit"):
            assert f">{link}</a>" in html
        assert ">Sign out</button>" in html
    home = await console.get("/console")
    assert home.status_code == 303 and home.headers["location"] == "/console/overview"
