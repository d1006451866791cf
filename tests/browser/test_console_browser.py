"""The operator console in a real browser (Debian's Chromium driven by Playwright) against a
real `dmpilot serve` process, whose in-process worker sends through a fake ManyChat API.

Without /usr/bin/chromium or Playwright these tests skip locally and fail under CI=true
(.ci/run installs Chromium). `DMPILOT_SCREENSHOTS=1` also copies the screenshots into docs/
for the README; otherwise they stay in the test's tmp dir.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

from fakes.manychat_api import DEFAULT_KEY, FakeManyChat
from support import TOKEN, Server, auth, query_sqlite, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, Route

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "console-password-for-tests"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS_ENV = "DMPILOT_SCREENSHOTS"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LIVE_SECONDS = 30.0  # polls every ~3 s; generous for a 2-core box under a full test run
WAIT_MS = 30_000

# Fans as ManyChat sends them: numeric subscriber ids (sendContent refuses others), a name,
# an Instagram username, and what each wrote, in order.
FANS: list[tuple[str, str, str, list[str]]] = [
    (
        "17841400000001",
        "Maya Chen",
        "maya.chen",
        [
            "hey! your iceland photos are unreal 😍",
            "which camera did you use for the northern lights?",
            "i'm going to reykjavik in march, any tips?",
        ],
    ),
    (
        "17841400000002",
        "Camille Durand",
        "camille.drd",
        ["coucou ! j'adore tes photos d'annecy", "tu as pris celle du lac à quelle heure ?"],
    ),
    (
        "17841400000003",
        "Aiko Tanaka",
        "aiko.tnk",
        ["hi! how do you edit your sunsets?", "do you sell presets?"],
    ),
    (
        "17841400000004",
        "Jonas Berg",
        "jonasberg",
        ["hey, great shots from the dolomites", "what time of day was the lake one?"],
    ),
    (
        "17841400000005",
        "Priya Nair",
        "priya.travels",
        ["hello! saving all your posts for my morocco trip", "how much are the presets?"],
    ),
    (
        "17841400000006",
        "Tom Walker",
        "tomwalks",
        ["love the train photos", "which route was that?"],
    ),
]
MAYA = FANS[0]


def require_browser() -> None:
    """Skip without Chromium or Playwright; under CI that is a failure, as for PostgreSQL."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not missing:
        return
    message = "the browser tests need " + " and ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(message + " — CI must run the browser tests, not skip them")
    pytest.skip(message)


# -- the server and the browser --------------------------------------------------------------


class ConsoleServer:
    """The server under test, and ManyChat's side of it: webhooks in, sendContent out."""

    def __init__(self, server: Server, manychat: FakeManyChat, database: Path) -> None:
        self.database = database
        self.url = server.url
        self.origin = urlsplit(server.url).netloc
        self.manychat = manychat
        self.client = httpx.Client(base_url=server.url, headers=auth(), timeout=30)

    def webhook(self, subscriber: str, text: str, **fields: str) -> dict[str, Any]:
        """One inbound DM through the real webhook; its JSON answer (always a 200)."""
        body = {"subscriber": {"id": subscriber, **fields}, "last_input_text": text}
        response = self.client.post("/webhooks/manychat", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def bot_sends_in_flight(self, subscriber: str) -> int:
        """The bot's deliveries to this fan still queued or being sent. On a loaded machine
        a reply may miss the webhook's window and leave through the worker instead."""
        [(count,)] = query_sqlite(
            self.database,
            "select count(*) from deliveries d join contacts c on c.id = d.contact_id "
            "where c.external_id = :who and d.kind != 'human' "
            "and d.state in ('pending', 'sending')",
            who=subscriber,
        )
        return int(count)


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, manychat_server: FakeManyChat
) -> Iterator[ConsoleServer]:
    """`dmpilot serve` on a new SQLite file with the fans' conversations. A ManyChat key
    makes delivery hybrid: the bot answers in the webhook response, and the in-process
    worker sends what an operator writes through the fake sendContent."""
    require_browser()  # before the server: a skip should cost nothing
    workdir = tmp_path_factory.mktemp("console")
    env = {
        "DMPILOT_DATABASE_URL": f"sqlite:///{workdir / 'console.db'}",
        "DMPILOT_WEBHOOK_TOKEN": TOKEN,
        "DMPILOT_CONSOLE_PASSWORD": PASSWORD,
        "DMPILOT_BRAIN": "scripted",  # never a real model, whatever the shell exports
        "DMPILOT_MANYCHAT_API_KEY": DEFAULT_KEY,
        "DMPILOT_MANYCHAT_API_URL": manychat_server.url,
        "DMPILOT_COALESCE_SECONDS": "0",
        "DMPILOT_MIN_SEND_GAP_SECONDS": "0",
        "DMPILOT_WORKER_POLL_SECONDS": "0.1",
        "DMPILOT_LOG_LEVEL": "warning",
    }
    with Server(workdir, env) as server:
        talk = ConsoleServer(server, manychat_server, workdir / "console.db")
        try:
            for subscriber, name, username, texts in FANS:
                for text in texts:
                    talk.webhook(subscriber, text, name=name, ig_username=username)
            yield talk
        finally:
            talk.client.close()


@pytest.fixture(scope="module")
def browser(console: ConsoleServer) -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # a loaded 2-core CI box renders slower than 5 s
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox"],  # CI runs as root, where Chromium's sandbox refuses
        )
        yield launched
        launched.close()


class Session:
    """One browser context on the console: every request it makes is recorded, and any
    that would leave the server is refused, so a page that needs the network breaks here."""

    def __init__(self, browser: Browser, console: ConsoleServer, **options: Any) -> None:
        self.console = console
        self.context: BrowserContext = browser.new_context(base_url=console.url, **options)
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != self.console.origin:
            self.foreign.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def sign_in(self, password: str = PASSWORD, expected: int | None = None) -> None:
        self.page.locator('input[name="password"][type="password"]').fill(password)
        submit(self.page, self.page.get_by_role("button", name="Sign in"), expected)

    def close(self) -> None:
        self.context.close()

    def assert_offline_and_clean(self) -> None:
        assert self.foreign == [], f"the console reached outside the server: {self.foreign}"
        assert self.errors == [], f"JavaScript errors on the page: {self.errors}"


@pytest.fixture
def session(browser: Browser, console: ConsoleServer) -> Iterator[Callable[..., Session]]:
    opened: list[Session] = []

    def open_session(**options: Any) -> Session:
        opened.append(Session(browser, console, **options))
        return opened[-1]

    yield open_session
    for each in opened:
        each.close()


# -- helpers -----------------------------------------------------------------------------------


def path(pattern: str) -> re.Pattern[str]:
    """A URL matcher on the path (the query string may follow)."""
    return re.compile(rf"^[^?#]*{pattern}(?:[?#].*)?$")


def row_link(row: Locator) -> Locator:
    """The row itself when it is the link, else the contact link inside it."""
    if row.evaluate("node => node.tagName") == "A":
        return row
    return row.locator("a[href*='/console/contacts/']").first


def open_conversation(page: Page, query: str, name: str) -> None:
    """Inbox → search → the one matching contact's conversation."""
    from playwright.sync_api import expect

    page.get_by_role("link", name="Inbox", exact=True).first.click()
    expect(page).to_have_url(path("/console/inbox"))
    page.get_by_test_id("inbox-search").fill(query)
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("contact-row")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(name)
    row_link(rows.first).click()
    expect(page).to_have_url(path(r"/console/contacts/\d+"))


def submit(page: Page, button: Locator, expected: int | None = None) -> Response:
    """Click a form's button and wait for the server's answer to its POST, so the next step
    acts on the page that answer leads to, never on the one being left."""
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        button.click()
    answer = posted.value
    if expected is None:
        assert answer.status < 400, f"{answer.url} answered {answer.status}"
    else:
        assert answer.status == expected, f"{answer.url} answered {answer.status}"
    return answer


def entries(page: Page, kind: str, text: str) -> Locator:
    return page.locator(
        f'[data-testid="timeline"] [data-testid="timeline-entry"][data-kind="{kind}"]',
        has_text=text,
    )


def stays(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """`condition` holds now and keeps holding for `seconds` (nothing more arrives)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), what
        time.sleep(0.1)
    assert condition(), what


def screenshot(page: Page, directory: Path, name: str, *, full_page: bool = False) -> Path:
    """Into the test's tmp dir; into docs/ too (for the README) with DMPILOT_SCREENSHOTS=1,
    so an ordinary run leaves the checkout alone."""
    shot = directory / name
    page.screenshot(path=str(shot), full_page=full_page)
    if os.environ.get(SCREENSHOTS_ENV) == "1":
        shutil.copyfile(shot, REPO / "docs" / name)
    return shot


# -- the tests ---------------------------------------------------------------------------------


def test_an_operator_takes_over_a_conversation_replies_and_hands_it_back(
    session: Callable[..., Session], console: ConsoleServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    operator = session(viewport=DESKTOP)
    page = operator.page
    maya_id, maya_name, _, maya_texts = MAYA

    # Signed out, every page leads to the sign-in; a wrong password stays there (the
    # webhook token is not the password once DMPILOT_CONSOLE_PASSWORD is set).
    page.goto("/console/overview")
    expect(page).to_have_url(path("/console/sign-in"))
    operator.sign_in(TOKEN, expected=401)
    expect(page).to_have_url(path("/console/sign-in"))
    operator.sign_in()
    expect(page).to_have_url(path("/console/overview"))

    # The overview: the kill switch, the charts, the navigation.
    expect(page.get_by_test_id("kill-switch")).to_contain_text("Running")
    expect(page.get_by_test_id("funnel-chart")).to_be_visible()
    expect(page.get_by_test_id("replies-chart")).to_be_visible()
    for link in ("Overview", "Inbox", "Audit"):
        expect(page.get_by_role("link", name=link, exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, tmp_path, "console-overview.png", full_page=True)

    # The inbox lists every fan; the search finds one; her conversation shows what she wrote.
    page.get_by_role("link", name="Inbox", exact=True).first.click()
    expect(page.get_by_test_id("contact-row")).to_have_count(len(FANS))
    open_conversation(page, "maya", maya_name)
    status = page.get_by_test_id("contact-status")
    expect(status).to_have_text("active")
    for action in ("Take over", "Mark converted", "Stop"):  # what applies to an active fan
        expect(page.get_by_role("button", name=action, exact=True)).to_be_visible()
    for text in maya_texts:
        expect(entries(page, "in", text)).to_have_count(1)
    expect(page.locator('[data-testid="timeline-entry"][data-kind="out"]').first).to_be_visible()

    # A new message shows up live: same document (the marker survives), no reload.
    page.evaluate("window.__sameDocument = true")
    live = "ok one more question: what about the blue lagoon?"
    console.webhook(maya_id, live)
    expect(entries(page, "in", live)).to_have_count(1, timeout=LIVE_SECONDS * 1000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"

    # Take over: the bot falls silent for her; her next message is answered "handoff".
    submit(page, page.get_by_role("button", name="Take over"))
    expect(status).to_have_text("handoff")
    expect(page.get_by_test_id("flash")).to_be_visible()
    during = "hello? did my last message arrive?"
    answer = console.webhook(maya_id, during)
    assert (answer["should_send"], answer["reason"]) == (False, "handoff"), answer
    expect(entries(page, "in", during)).to_have_count(1, timeout=LIVE_SECONDS * 1000)

    # Whatever the bot sent before the take-over has left (or was withdrawn by it); from
    # here on only the operator's reply may reach her.
    wait_until(lambda: console.bot_sends_in_flight(maya_id) == 0, 15, "the bot's sends settle")
    before = console.manychat.delivered_texts(maya_id)

    # The operator's reply goes through the outbox: ManyChat receives it exactly once.
    reply = "hey maya, lena here in person! march is perfect, bring spikes for the ice caves"
    form = page.get_by_test_id("reply-form")
    form.locator('textarea[name="text"]').fill(reply)
    submit(page, form.get_by_role("button", name="Send"))
    expect(page.get_by_test_id("flash")).to_be_visible()
    wait_until(
        lambda: reply in console.manychat.delivered_texts(maya_id), 15, "the operator's reply"
    )
    stays(
        lambda: console.manychat.delivered_texts(maya_id) == [*before, reply],
        1.5,  # fifteen worker polls: a second send would have happened by now
        f"the operator's reply was sent more than once: {console.manychat.sends}",
    )
    expect(entries(page, "out", reply)).to_have_count(1, timeout=LIVE_SECONDS * 1000)
    page.reload()  # the entry as it stands now: sent, not the pending it was appended as
    expect(entries(page, "out", reply)).to_have_count(1)
    screenshot(page, tmp_path, "console-conversation.png", full_page=True)

    # Hand back: the bot answers her again.
    submit(page, page.get_by_role("button", name="Hand back"))
    expect(status).to_have_text("active")
    again = console.webhook(maya_id, "thanks! and what lens for the aurora?")
    assert again["reason"] != "handoff", again

    # The kill switch: paused with a reason (webhooks answer "paused"), then resumed.
    page.get_by_role("link", name="Overview", exact=True).first.click()
    expect(page).to_have_url(path("/console/overview"))
    pause_form = page.get_by_test_id("pause-form")
    pause_form.locator('input[name="reason"]').fill("checking the new persona")
    submit(page, pause_form.get_by_role("button", name="Pause"))
    kill_switch = page.get_by_test_id("kill-switch")
    expect(kill_switch).to_contain_text("Paused")
    assert console.webhook(FANS[1][0], "are you there?")["reason"] == "paused"
    submit(page, page.get_by_role("button", name="Resume"))
    expect(kill_switch).to_contain_text("Running")
    assert console.webhook(FANS[2][0], "are you there?")["reason"] != "paused"

    # The audit runs from the console.
    page.get_by_role("link", name="Audit", exact=True).first.click()
    expect(page).to_have_url(path("/console/audit"))
    submit(page, page.get_by_role("button", name="Run audit"))
    expect(page.get_by_role("button", name="Run audit")).to_be_visible()

    # Signed out, the console is closed again.
    submit(page, page.get_by_role("button", name="Sign out"))
    expect(page).to_have_url(path("/console/sign-in"))
    page.goto("/console/overview")
    expect(page).to_have_url(path("/console/sign-in"))

    operator.assert_offline_and_clean()


def test_a_conversation_fits_a_phone(
    session: Callable[..., Session], console: ConsoleServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    phone = session(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = phone.page
    page.goto("/console/sign-in")
    phone.sign_in()
    expect(page).to_have_url(path("/console/overview"))
    open_conversation(page, "maya", MAYA[1])
    expect(page.get_by_test_id("timeline")).to_be_visible()
    form = page.get_by_test_id("reply-form")
    form.scroll_into_view_if_needed()
    expect(form.get_by_role("button", name="Send")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling to read or answer.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, tmp_path, "console-phone.png")
    phone.assert_offline_and_clean()
