from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dmpilot.channels.manychat_api import ManyChatSender
from dmpilot.store import Store
from fakes.alert_receivers import FakeWebhook
from fakes.anthropic_api import FakeAnthropic, FakeServer
from fakes.graph_api import FakeGraphAPI
from fakes.manychat_api import DEFAULT_KEY, FakeManyChat
from fakes.meta_webhooks import ACCESS_TOKEN, ACCOUNT_ID
from support import FakeClock, fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store-level test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dmpilot.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, for what only PostgreSQL is asked to do."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url, pool_size=20)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> FakeClock:
    """The engine's clock, at T0 until a test moves it."""
    return FakeClock()


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeAnthropic]:
    """A fake Anthropic Messages API on loopback; its address is `anthropic_fake.url`."""
    api = FakeAnthropic()
    with FakeServer(api.app()) as server:
        api.url = server.url
        yield api


@pytest.fixture(scope="module")
def manychat_server() -> Iterator[FakeManyChat]:
    """A fake ManyChat Public API on loopback, shared by a module's tests."""
    with FakeManyChat().serve() as fake:
        yield fake


@pytest.fixture
def manychat(manychat_server: FakeManyChat) -> FakeManyChat:
    """The fake ManyChat API, reset: no scripted behaviour, nothing recorded."""
    manychat_server.reset()
    return manychat_server


@pytest.fixture
async def manychat_sender(manychat: FakeManyChat) -> AsyncIterator[ManyChatSender]:
    """The real ManyChatSender against the fake ManyChat API, quick to give up on it."""
    opened = ManyChatSender(DEFAULT_KEY, base_url=manychat.url, timeout_seconds=0.5)
    yield opened
    await opened.aclose()


@pytest.fixture(scope="module")
def hook_server() -> Iterator[FakeWebhook]:
    """A fake alert webhook (Slack's format) on loopback, shared by a module's tests."""
    with FakeWebhook().serve() as fake:
        yield fake


@pytest.fixture
def hook(hook_server: FakeWebhook) -> FakeWebhook:
    """The fake alert webhook, reset: answering ok, nothing recorded."""
    hook_server.reset()
    return hook_server


@pytest.fixture(scope="module")
def graph_server() -> Iterator[FakeGraphAPI]:
    """A fake Instagram Graph API on loopback for the account of fakes.meta_webhooks."""
    with FakeGraphAPI(access_token=ACCESS_TOKEN, account_id=ACCOUNT_ID).serve() as fake:
        yield fake


@pytest.fixture
def graph(graph_server: FakeGraphAPI) -> Iterator[FakeGraphAPI]:
    """The fake Graph API, reset: no scripted behaviour, nothing recorded."""
    graph_server.reset()
    yield graph_server
    graph_server.on_send = None  # configuration survives reset(): never leak a hook
