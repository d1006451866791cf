"""/webhooks/instagram never answers a 5xx to what a client sends: arbitrary JSON and bytes,
signed or not, and bodies built to hurt (lone surrogates, NUL, 100k characters, deep nesting,
1,000 items) get a 200 or a clear 4xx; what is a message among them is stored and answered.

A 5xx would make Meta retry the POST for 36 hours; only a database that is down may cause one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dmpilot.bootstrap import System, bootstrap
from dmpilot.brains import ScriptedBrain
from dmpilot.channels.instagram_api import InstagramSender
from dmpilot.domain.commands import TurnDue
from dmpilot.personas import load_persona
from dmpilot.runtime import SystemRandom
from dmpilot.store import Store
from dmpilot.store.schema import contacts, deliveries, events, messages
from dmpilot.web.app import create_app
from dmpilot.worker import Worker
from fakes import meta_webhooks as meta
from fakes.graph_api import FakeGraphAPI
from support import FakeClock, engine_config, settings_for

WEBHOOK = "/webhooks/instagram"
ANSWERS = {200, 400, 403, 413}
PERSONA = load_persona()
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any code point, lone surrogates and NUL drawn often (json.dumps escapes them as \\udXXX and
# \\u0000). Built from a list: st.text() leaves surrogates out whatever the alphabet.
TEXT = st.lists(
    st.characters() | st.sampled_from(["\ud800", "\udfff", "\x00", "\x1f", "{"]), max_size=60
).map("".join)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=16,
)
IDS = st.sampled_from(["ig-f1", "ig-f2", 17841400000000002, meta.ACCOUNT_ID]) | TEXT | JSON
# Meta's shape with any value in any place: what gets past the signature and the JSON decoder.
MESSAGE = st.fixed_dictionaries(
    {"mid": st.sampled_from(["mid.f1", "mid.f2"]) | TEXT | JSON},
    optional={
        "text": TEXT | JSON,
        "is_echo": st.booleans() | JSON,
        "is_deleted": st.booleans() | JSON,
        "attachments": st.lists(
            st.fixed_dictionaries({"type": TEXT, "payload": st.fixed_dictionaries({"url": TEXT})})
        )
        | JSON,
        "reply_to": st.fixed_dictionaries({"story": st.fixed_dictionaries({"url": TEXT})}) | JSON,
        "referral": st.fixed_dictionaries({"ad_id": IDS, "source": TEXT}) | JSON,
    },
)
ITEM = st.fixed_dictionaries(
    {"sender": st.fixed_dictionaries({"id": IDS}), "recipient": st.fixed_dictionaries({"id": IDS})},
    optional={
        "message": MESSAGE | JSON,
        "reaction": st.fixed_dictionaries({"mid": TEXT, "emoji": TEXT, "action": TEXT}) | JSON,
        "read": st.fixed_dictionaries({"mid": TEXT}) | JSON,
        "postback": st.fixed_dictionaries({"title": TEXT, "payload": TEXT}) | JSON,
        "referral": st.fixed_dictionaries({"ref": TEXT, "ad_id": IDS}) | JSON,
    },
)
META_BODY = st.fixed_dictionaries(
    {
        "object": st.just("instagram") | JSON,
        "entry": st.lists(
            st.fixed_dictionaries({"id": IDS, "messaging": st.lists(ITEM, max_size=4) | JSON}),
            max_size=3,
        )
        | JSON,
    }
)


def make_system(store: Store, graph: FakeGraphAPI, clock: FakeClock) -> System:
    url = store.engine.url.render_as_string(hide_password=False)
    sender = InstagramSender(meta.ACCESS_TOKEN, meta.ACCOUNT_ID, graph.url, timeout_seconds=2.0)
    return bootstrap(
        settings_for(url, **meta.META_SETTINGS),
        store=store,
        brain=ScriptedBrain(seed=3),
        persona=PERSONA,
        config=engine_config(daily_new_conversations=1_000_000),
        clock=clock,
        random=SystemRandom(3),
        senders={"instagram": sender},
    )


def client_for(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: a bug must show as the 500 a client would get, not as an
    # exception raised into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="https://dm.example.com")


# -- Hypothesis, through the whole app on SQLite -----------------------------------------------


@pytest.fixture
def app(tmp_path: Path, graph: FakeGraphAPI) -> Iterator[FastAPI]:
    store = Store.open(f"sqlite:///{tmp_path / 'fuzz.db'}", pool_size=4)
    system = make_system(store, graph, FakeClock())
    yield create_app(system=system)
    for sender in system.senders.values():
        asyncio.run(sender.aclose())
    store.close()


def post(app: FastAPI, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with client_for(app) as client:
            return await client.post(
                WEBHOOK, content=body, headers=meta.signed(body) if headers is None else headers
            )

    return asyncio.run(go())


def assert_handled(response: httpx.Response, what: object) -> None:
    assert response.status_code in ANSWERS, (response.status_code, response.text, what)
    answer = response.json()
    if response.status_code == 200:
        # every item was stored or refused; none failed on a bug
        assert set(answer) <= {"received", "messages", "events", "refused"}, (answer, what)
        assert answer["received"] == sum(v for k, v in answer.items() if k != "received")
    else:
        assert answer["error"], answer


@FUZZ
@given(value=JSON | META_BODY)
def test_any_signed_json_body_is_stored_or_refused_never_a_server_error(
    app: FastAPI, value: Any
) -> None:
    body = json.dumps(value).encode()  # NaN and Infinity too: Python's decoder reads them
    response = post(app, body)
    assert_handled(response, value)
    assert response.status_code == 200, (response.text, value)  # valid JSON, signed


@FUZZ
@given(body=st.binary(max_size=3000), signed=st.booleans())
def test_any_bytes_signed_or_not_are_never_a_server_error(
    app: FastAPI, body: bytes, signed: bool
) -> None:
    headers = meta.signed(body) if signed else {"Content-Type": "application/json"}
    response = post(app, body, headers)
    assert_handled(response, body)
    if not signed:
        assert response.status_code in (400, 403), response.text


def post_with_signature(app: FastAPI, body: bytes, header: bytes) -> httpx.Response:
    async def go() -> httpx.Response:
        async with client_for(app) as client:
            return await client.post(
                WEBHOOK, content=body, headers=[(b"X-Hub-Signature-256", header)]
            )

    return asyncio.run(go())


@FUZZ
@given(header=st.binary(max_size=100) | st.binary(max_size=80).map(lambda b: b"sha256=" + b))
def test_any_other_signature_header_is_a_403(app: FastAPI, header: bytes) -> None:
    response = post_with_signature(app, meta.batch(meta.message("ig-f", "hello")), header)
    assert response.status_code == 403, (header, response.text)


@pytest.mark.parametrize("header", [b"sha256=\xff", b"sha256=" + b"a" * 63 + b"\xe9"])
def test_a_non_ascii_signature_header_is_a_403_not_a_500(app: FastAPI, header: bytes) -> None:
    # hmac.compare_digest raises on a non-ASCII str: this once was a 500
    body = meta.batch(meta.message("ig-f", "hello"))
    assert post_with_signature(app, body, header).status_code == 403


# -- nasty bodies, on both stores, stored and answered ----------------------------------------


@dataclass
class Channel:
    system: System
    client: httpx.AsyncClient
    worker: Worker
    clock: FakeClock

    async def post(self, body: bytes) -> httpx.Response:
        return await self.client.post(WEBHOOK, content=body, headers=meta.signed(body))

    async def work(self) -> None:
        """Let the worker run what is due, past every gap between two sends; a failure of
        the worker itself raises here."""
        for _ in range(6):
            await self.worker.run_once()
            self.clock.advance(seconds=3)

    def rows(self, statement: Any) -> list[Any]:
        with self.system.store.reading() as reads:
            return list(reads.db.execute(statement).all())

    def inbound(self, contact: str) -> list[Any]:
        return self.rows(
            select(messages.c.text, messages.c.kind)
            .join(contacts, contacts.c.id == messages.c.contact_id)
            .where(contacts.c.external_id == contact, messages.c.direction == "in")
            .order_by(messages.c.id)
        )

    def count(self, table: Any) -> int:
        return int(self.rows(select(func.count()).select_from(table))[0][0])


@pytest.fixture
async def channel(store: Store, graph: FakeGraphAPI) -> AsyncIterator[Channel]:
    clock = FakeClock()
    system = make_system(store, graph, clock)
    async with client_for(create_app(system=system)) as client:
        yield Channel(system, client, Worker(system.engine, concurrency=4), clock)
    for sender in system.senders.values():
        await sender.aclose()


# meta.batch is json.dumps: a lone surrogate goes out as the escape \\ud800, NUL as \\u0000.
NASTY_MESSAGES: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (the item, the contact it is stored under, the text stored; "" for the long one)
    "lone-surrogates": (
        meta.message("ig-sur\ud800", "hi \ud800there\udfff \udc00", mid="mid.\udfffsur"),
        "ig-sur",
        "hi there",
    ),
    "nul": (
        meta.message("ig-nul\u0000", "nul\u0000 inside", mid="mid.\u0000nul"),
        "ig-nul",
        "nul inside",
    ),
    "100k-text": (meta.message("ig-long", "words " * 16_667, mid="mid.long"), "ig-long", ""),
    "nested-extra-field": (
        {
            **meta.message("ig-deep", "deep down", mid="mid.deep"),
            "extra": json.loads("[" * 200 + "]" * 200),
        },
        "ig-deep",
        "deep down",
    ),
}


@pytest.mark.parametrize("name", sorted(NASTY_MESSAGES))
async def test_a_nasty_but_valid_message_is_stored_and_answered(
    channel: Channel, graph: FakeGraphAPI, name: str
) -> None:
    item, contact, text = NASTY_MESSAGES[name]
    response = await channel.post(meta.batch(item))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "messages": 1}
    ((stored, kind),) = channel.inbound(contact)
    assert kind == "text"
    if text:
        assert stored == text
    else:
        assert stored.startswith("words words") and len(stored) <= 4000
    await channel.work()
    assert len(graph.delivered_texts(contact)) == 1
    (state,) = channel.rows(select(deliveries.c.state))
    assert state == ("sent",)
    assert channel.rows(select(events.c.kind).where(events.c.reason == "error")) == []
    assert (await channel.post(meta.batch(item))).status_code == 200  # Meta's retry: stored once
    await channel.work()
    assert len(channel.inbound(contact)) == 1
    assert len(graph.delivered_texts(contact)) == 1


async def test_a_batch_of_1000_items_is_stored_and_each_contact_answered_once(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    # 8 contacts writing 125 times each: more than a turn reads of one contact's messages
    items = [meta.message(f"ig-k{i % 8}", f"message {i} for you") for i in range(1000)]
    response = await channel.post(meta.batch(*items, per_entry=250))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1000, "messages": 1000}
    assert len(channel.inbound("ig-k0")) == 125
    await channel.work()
    for i in range(8):
        assert len(graph.delivered_texts(f"ig-k{i}")) == 1, f"ig-k{i}"
    assert channel.rows(select(events.c.kind).where(events.c.reason == "error")) == []


async def test_a_contact_with_51_unanswered_messages_is_answered_once(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    items = [meta.message("ig-many", f"message {i} of my long story") for i in range(51)]
    response = await channel.post(meta.batch(*items))
    assert response.json() == {"received": 51, "messages": 51}
    # TurnDue by hand, a bounded number of times: a worker spinning on it would never end.
    reasons: list[str | None] = []
    for _ in range(4):
        decision = await channel.system.engine.handle(TurnDue())
        reasons.append(None if decision is None else (decision.reason or decision.action).value)
    assert reasons[0] == "send", reasons
    assert reasons[1:] == [None] * 3, reasons  # nothing left due for the contact
    await channel.work()
    assert len(graph.delivered_texts("ig-many")) == 1


NASTY_BODIES: dict[str, tuple[bytes, int]] = {
    # name: (the body, posted signed, and the status it gets)
    "nested-100k": (b"[" * 100_000 + b"]" * 100_000, 400),
    "nested-objects": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400),
    "nested-in-a-message": (
        meta.batch(meta.message("ig-deeper", "hi")).replace(b'"hi"', b"[" * 50_000 + b"]" * 50_000),
        400,
    ),
    "surrogate-key": (b'{"object": "instagram", "\\ud800": 1, "entry": []}', 200),
    "nul-only": (b'"\\u0000"', 200),
    "lone-surrogate-only": (b'"\\udfff"', 200),
    "not-utf8": (b'{"object": "instagram\xff"}', 400),
    # json.loads detects UTF-16 and UTF-32 by their byte patterns (RFC 4627)
    "utf16": ('{"object": "instagram", "entry": []}'.encode("utf-16"), 200),
    "nan": (b'{"object": "instagram", "entry": [NaN, Infinity]}', 200),
    "huge-number": (b'{"object": "instagram", "entry": [' + b"9" * 5000 + b"]}", 400),
    "blank": (b"   \n", 400),
    "over-8mb": (b"[" + b"1," * (4 * 1024 * 1024 + 1) + b"1]", 413),
}


async def test_nasty_bodies_are_a_200_or_a_clear_4xx(channel: Channel) -> None:
    # One database for all of them (a fresh PostgreSQL one per body costs more than the test).
    for name, (body, status) in NASTY_BODIES.items():
        response = await channel.post(body)
        assert response.status_code == status, (name, response.text[:300])
        answer = response.json()
        if status == 200:
            assert set(answer) <= {"received", "events", "refused", "messages"}, (name, answer)
        else:
            assert answer["error"], name
    assert channel.count(messages) == 0


async def test_an_endless_body_without_a_length_is_cut_off_with_a_413(channel: Channel) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(200):  # 12.8 MB in all, never said in a Content-Length
            yield b"[" * 65_536

    response = await channel.client.post(
        WEBHOOK,
        content=chunks(),
        headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
    )
    assert response.status_code == 413, response.text
    assert channel.count(messages) == 0
