"""The Instagram channel end to end in one process: signed webhooks into the real app,
the worker (driven by `run_once` on an injected clock) answering through InstagramSender
against a fake Graph API on loopback. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dmpilot.bootstrap import System, bootstrap
from dmpilot.brains import ScriptedBrain
from dmpilot.channels.instagram_api import InstagramSender
from dmpilot.domain.commands import SendAsHuman, TurnDue
from dmpilot.domain.contacts import ActionOutcome, ContactRef, RefKind
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.delivery import CancelReason, DeliveryState, RetryPolicy, SendResult
from dmpilot.personas import load_persona
from dmpilot.runtime import SystemRandom
from dmpilot.store import Store
from dmpilot.store.schema import contacts, deliveries, events, messages
from dmpilot.web.app import create_app
from dmpilot.worker import Worker
from fakes import meta_webhooks as meta
from fakes.graph_api import FakeGraphAPI
from support import FakeClock, RecordingBrain, engine_config, settings_for

PERSONA = load_persona()
WEBHOOK = "/webhooks/instagram"


@dataclass
class Channel:
    """The app, its worker and its store, as Meta and the operator see them."""

    system: System
    client: httpx.AsyncClient
    worker: Worker
    clock: FakeClock
    brain: RecordingBrain

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(
            WEBHOOK, content=body, headers=meta.signed(body) if headers is None else headers
        )

    async def deliver(self, *items: dict[str, Any]) -> dict[str, Any]:
        response = await self.post(meta.batch(*items))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def work(self) -> tuple[int, int]:
        """Let the worker run what is due, past every gap between two sends."""
        turns = sends = 0
        for _ in range(6):
            done = await self.worker.run_once()
            turns, sends = turns + done[0], sends + done[1]
            self.clock.advance(seconds=3)
        return turns, sends

    def scalar(self, statement: Any) -> Any:
        with self.system.store.reading() as reads:
            return reads.db.execute(statement).scalar()

    def rows(self, statement: Any) -> list[Any]:
        with self.system.store.reading() as reads:
            return list(reads.db.execute(statement).all())

    def contact(self, external_id: str) -> Any:
        found = self.rows(
            select(contacts).where(
                contacts.c.channel == "instagram", contacts.c.external_id == external_id
            )
        )
        return found[0] if found else None

    def inbound_count(self) -> int:
        count: int = self.scalar(
            select(func.count()).select_from(messages).where(messages.c.direction == "in")
        )
        return count

    def events_of(self, kind: EventKind) -> list[Any]:
        return self.rows(select(events).where(events.c.kind == kind.value).order_by(events.c.id))


def make_system(
    store: Store, graph: FakeGraphAPI, clock: FakeClock, brain: Any, **kw: Any
) -> System:
    url = store.engine.url.render_as_string(hide_password=False)
    sender = InstagramSender(meta.ACCESS_TOKEN, meta.ACCOUNT_ID, graph.url, timeout_seconds=1.0)
    return bootstrap(
        settings_for(url, **meta.META_SETTINGS, **kw),
        store=store,
        brain=brain,
        persona=PERSONA,
        config=engine_config(),
        clock=clock,
        random=SystemRandom(3),
        senders={"instagram": sender},
    )


@pytest.fixture
async def channel(store: Store, graph: FakeGraphAPI) -> AsyncIterator[Channel]:
    clock = FakeClock()
    brain = RecordingBrain()
    system = make_system(store, graph, clock, brain)
    app = create_app(system=system)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://dm.example.com") as client:
        yield Channel(system, client, Worker(system.engine, concurrency=4), clock, brain)
    for sender in system.senders.values():
        await sender.aclose()


# -- the subscription check and the signature ---------------------------------------------


async def test_the_subscription_check_echoes_the_challenge_only_for_the_verify_token(
    channel: Channel,
) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": meta.VERIFY_TOKEN}
    good = await channel.client.get(WEBHOOK, params={**params, "hub.challenge": "1158201444"})
    assert (good.status_code, good.text) == (200, "1158201444")
    assert good.headers["content-type"].startswith("text/plain")
    wrong = await channel.client.get(
        WEBHOOK, params={**params, "hub.verify_token": "guess", "hub.challenge": "1"}
    )
    assert wrong.status_code == 403
    assert "DMPILOT_META_VERIFY_TOKEN" in wrong.json()["problems"][0]
    unsubscribe = await channel.client.get(
        WEBHOOK, params={**params, "hub.mode": "unsubscribe", "hub.challenge": "1"}
    )
    assert unsubscribe.status_code == 403
    assert (await channel.client.get(WEBHOOK)).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=abc"},
        {"X-Hub-Signature-256": "sha256="},
    ],
    ids=["missing", "wrong", "other-scheme", "empty"],
)
async def test_an_unsigned_or_badly_signed_post_is_refused_and_nothing_is_stored(
    channel: Channel, headers: dict[str, str]
) -> None:
    body = meta.batch(meta.message("ig-1", "hi there"))
    response = await channel.post(body, headers=headers)
    assert response.status_code == 403
    assert "X-Hub-Signature-256" in response.json()["error"]
    # signed with another app's secret
    forged = await channel.post(body, headers=meta.signed(body, secret="not-the-secret"))
    assert forged.status_code == 403
    assert channel.inbound_count() == 0
    assert channel.contact("ig-1") is None


async def test_a_signature_covers_the_exact_bytes(channel: Channel) -> None:
    body = meta.batch(meta.message("ig-1", "hi there"))
    headers = meta.signed(body)
    tampered = body.replace(b"hi there", b"hi thare")
    assert (await channel.post(tampered, headers=headers)).status_code == 403
    assert channel.inbound_count() == 0


async def test_the_channel_answers_404_when_it_is_not_configured(store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    system = bootstrap(settings_for(url), store=store, brain=ScriptedBrain(seed=1))
    transport = httpx.ASGITransport(app=create_app(system=system))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = meta.batch(meta.message("ig-1", "hi"))
        response = await client.post(WEBHOOK, content=body, headers=meta.signed(body))
    assert response.status_code == 404
    assert "DMPILOT_META_APP_SECRET" in response.json()["problems"][0]


# -- answering -----------------------------------------------------------------------------


async def test_a_signed_dm_is_answered_once_through_the_send_api(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    answer = await channel.deliver(meta.message("ig-100", "hey, what do you do?"))
    assert answer == {"received": 1, "messages": 1}
    assert graph.sends == []  # Meta takes no reply in the webhook's answer
    await channel.work()
    assert len(graph.delivered_texts("ig-100")) == 1
    sent = graph.sends[0]
    row = channel.rows(select(deliveries))[0]
    assert (row.state, row.channel, row.recipient) == ("sent", "instagram", "ig-100")
    assert row.provider_message_id == sent["message_id"]
    assert row.text == sent["text"]
    await channel.work()
    assert len(graph.sends) == 1  # nothing is sent twice


async def test_the_same_mid_three_times_at_once_is_stored_and_answered_once(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    body = meta.batch(meta.message("ig-7", "is this real?", mid="mid.same.1"))
    responses = await asyncio.gather(*(channel.post(body) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    # and once more much later: a mid is a permanent key, not one inside a window
    channel.clock.advance(days=2)
    assert (await channel.post(body)).status_code == 200
    assert channel.inbound_count() == 1
    await channel.work()
    assert len(graph.delivered_texts("ig-7")) == 1


async def test_a_batch_of_50_messages_from_20_contacts_gets_one_reply_each(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    items = [meta.message(f"ig-b{i % 20}", f"message {i} about your work") for i in range(50)]
    answer = await channel.deliver(*items)
    assert answer == {"received": 50, "messages": 50}
    assert channel.inbound_count() == 50
    await channel.work()
    for i in range(20):
        assert len(graph.delivered_texts(f"ig-b{i}")) == 1, f"contact ig-b{i}"
    # a contact who wrote three times in the burst was answered once, for all three
    burst = channel.brain.requests[
        [r.contact_id for r in channel.brain.requests].index(channel.contact("ig-b0").id)
    ]
    assert [m.text for m in burst.pending] == [f"message {i} about your work" for i in (0, 20, 40)]


async def test_one_unreadable_item_never_loses_the_others(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    broken = {"sender": {"id": {"nested": True}}, "recipient": {"id": meta.ACCOUNT_ID}}
    no_mid = {"sender": {"id": "ig-x"}, "recipient": {"id": meta.ACCOUNT_ID}, "message": {}}
    answer = await channel.deliver(
        meta.message("ig-1", "first"), broken, no_mid, meta.message("ig-2", "second")
    )
    assert answer == {"received": 4, "messages": 2, "refused": 2}
    assert channel.inbound_count() == 2
    refused = channel.events_of(EventKind.REFUSED)
    assert [e.reason for e in refused] == ["unreadable", "unreadable"]
    assert '"nested": true' in refused[0].detail["item"]


async def test_valid_json_of_an_unknown_shape_is_stored_and_acknowledged(channel: Channel) -> None:
    for shape in ({"object": "page", "entry": []}, {"hello": "world"}, [1, 2], "text", 7):
        body = json.dumps(shape).encode()
        response = await channel.post(body)
        assert response.status_code == 200, shape
    comments = meta.batch()  # an entry of `changes` instead of `messaging`
    body = comments.replace(
        b'"entry": []', b'"entry": [{"id": "1", "changes": [{"field": "comments"}]}]'
    )
    assert (await channel.post(body)).status_code == 200
    refused = channel.events_of(EventKind.REFUSED)
    assert [e.reason for e in refused] == ["unknown_shape"] * 6
    assert channel.inbound_count() == 0


async def test_a_message_for_another_account_is_refused_not_answered(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    answer = await channel.deliver(meta.message("ig-3", "hello", account="999"))
    assert answer == {"received": 1, "refused": 1}
    (event,) = channel.events_of(EventKind.REFUSED)
    assert event.reason == "wrong_account"
    await channel.work()
    assert graph.sends == []
    assert channel.inbound_count() == 0


async def test_a_bad_json_body_with_a_good_signature_is_a_clear_400(channel: Channel) -> None:
    body = b'{"object": "instagram", "entry": ['
    response = await channel.post(body)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


# -- echoes and the person behind the account ------------------------------------------


async def test_the_echo_of_our_own_reply_is_ignored(channel: Channel, graph: FakeGraphAPI) -> None:
    await channel.deliver(meta.message("ig-e", "hi! who are you?"))
    await channel.work()
    (sent,) = graph.sends
    answer = await channel.deliver(meta.echo("ig-e", sent["text"], sent["message_id"]))
    assert answer == {"received": 1, "events": 1}
    assert channel.events_of(EventKind.HANDOFF) == []
    assert channel.contact("ig-e").handoff_until is None
    await channel.deliver(meta.message("ig-e", "cool, tell me more"))
    await channel.work()
    assert len(graph.delivered_texts("ig-e")) == 2


async def test_an_echo_that_outruns_the_send_api_answer_is_still_ours(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    """Meta may deliver the echo before the Send API's answer is recorded: a send of the
    same words in flight is ours, and an `unknown` one learns that it went out."""
    await channel.deliver(meta.message("ig-r", "hello"))
    graph.queue("timeout")  # delivered, but the answer never comes: `unknown`
    await channel.work()
    (row,) = channel.rows(select(deliveries))
    assert row.state == DeliveryState.UNKNOWN.value
    (sent,) = graph.sends
    await channel.deliver(meta.echo("ig-r", sent["text"], sent["message_id"]))
    (row,) = channel.rows(select(deliveries))
    assert (row.state, row.provider_message_id) == ("sent", sent["message_id"])
    assert channel.events_of(EventKind.HANDOFF) == []


async def test_an_echo_a_person_wrote_silences_the_bot_for_that_contact(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    await channel.deliver(meta.message("ig-h", "hello!"))
    await channel.work()
    human = meta.echo("ig-h", "Hey, it's Mia herself - thanks for writing!", meta.new_mid())
    await channel.deliver(human)
    await channel.deliver(human)  # Meta retries: stored once
    contact = channel.contact("ig-h")
    assert contact.handoff_reason == "human_replied"
    assert contact.handoff_by == "instagram_app"
    written = channel.rows(select(messages).where(messages.c.kind == "human"))
    assert [(m.text, m.author) for m in written] == [
        ("Hey, it's Mia herself - thanks for writing!", "instagram_app")
    ]
    assert len(channel.events_of(EventKind.HANDOFF)) == 1
    await channel.deliver(meta.message("ig-h", "omg hi Mia!!"))
    await channel.work()
    assert len(graph.delivered_texts("ig-h")) == 1  # only the bot's first reply
    skipped = channel.events_of(EventKind.SKIPPED)
    assert skipped[-1].reason == Reason.HANDOFF.value


async def test_a_person_answering_withdraws_the_bots_queued_reply(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    await channel.deliver(meta.message("ig-q", "hi"))
    assert await channel.system.engine.handle(TurnDue()) is not None  # the turn, not the send
    (queued,) = channel.rows(select(deliveries))
    assert queued.state == "pending"
    await channel.deliver(meta.echo("ig-q", "I'll take it from here", meta.new_mid()))
    (row,) = channel.rows(select(deliveries))
    assert (row.state, row.last_error) == ("cancelled", CancelReason.HANDOFF.value)
    await channel.work()
    assert graph.sends == []


# -- every other event ---------------------------------------------------------------------


async def test_a_deleted_message_is_never_shown_to_the_model_again(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    await channel.deliver(meta.message("ig-d", "my number is 555 0100", mid="mid.secret"))
    await channel.deliver(meta.deleted("ig-d", "mid.secret"))
    (row,) = channel.rows(select(messages).where(messages.c.direction == "in"))
    assert row.deleted_at is not None
    (event,) = channel.events_of(EventKind.DELETED)
    assert event.message_id == row.id
    await channel.deliver(meta.message("ig-d", "anyway, what do you post?"))
    await channel.work()
    seen = [text for request in channel.brain.requests for _, text in request.prompt.transcript]
    assert "anyway, what do you post?" in seen
    assert not any("555 0100" in text for text in seen)


async def test_reactions_reads_and_unsupported_messages_are_stored_not_answered(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    await channel.deliver(meta.message("ig-s", "hey"))
    await channel.work()
    (sent,) = graph.sends
    answer = await channel.deliver(
        meta.reaction("ig-s", sent["message_id"]),
        meta.reaction("ig-s", sent["message_id"], action="unreact"),
        meta.seen("ig-s", sent["message_id"]),
        meta.unsupported("ig-s"),
    )
    assert answer == {"received": 4, "events": 4}
    reactions = channel.events_of(EventKind.REACTION)
    assert [(e.detail["action"], e.detail["emoji"]) for e in reactions] == [
        ("react", "\u2764\ufe0f"),
        ("unreact", ""),
    ]
    reply_id = channel.rows(select(deliveries.c.message_id))[0][0]
    assert reactions[0].message_id == reply_id  # which of our messages was loved
    assert len(channel.events_of(EventKind.SEEN)) == 1
    assert len(channel.events_of(EventKind.UNSUPPORTED)) == 1
    await channel.work()
    assert len(graph.sends) == 1
    assert channel.inbound_count() == 1


@pytest.mark.parametrize(
    ("kind", "stored"),
    [
        ("image", "image"),
        ("audio", "voice"),
        ("video", "video"),
        ("file", "file"),
        ("share", "share"),
        ("story_mention", "story_mention"),
        ("ig_reel", "share"),
        ("reel", "share"),
        ("sticker", "sticker"),
        ("like", "sticker"),
        ("something_new", "file"),
    ],
)
async def test_attachments_become_typed_messages(channel: Channel, kind: str, stored: str) -> None:
    await channel.deliver(meta.attachment("ig-a", kind))
    (row,) = channel.rows(select(messages).where(messages.c.direction == "in"))
    assert row.kind == stored
    assert row.media_url is not None


async def test_story_replies_quick_replies_and_postbacks_are_text(channel: Channel) -> None:
    story = {"story": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?story=1", "id": "9"}}
    await channel.deliver(
        meta.message("ig-t", "love this story", reply_to=story),
        meta.message("ig-t", "Tell me more", quick_reply={"payload": "MORE"}),
        meta.message("ig-t", None, quick_reply={"payload": "PRICES"}),
        meta.postback("ig-t", "See the offer", "OFFER"),
    )
    rows = channel.rows(
        select(messages.c.kind, messages.c.text, messages.c.media_url)
        .where(messages.c.direction == "in")
        .order_by(messages.c.id)
    )
    assert [(kind, text) for kind, text, _ in rows] == [
        ("story_reply", "love this story"),
        ("text", "Tell me more"),
        ("text", "PRICES"),
        ("text", "See the offer"),
    ]
    assert rows[0][2] == "https://lookaside.fbsbx.com/ig_messaging_cdn/?story=1"


async def test_a_referral_is_kept_as_the_contacts_source(channel: Channel) -> None:
    await channel.deliver(meta.referral("ig-ad", ad_id="6045246247433"))
    assert channel.contact("ig-ad").source == "ads:6045246247433"
    (event,) = channel.events_of(EventKind.REFERRAL)
    assert event.detail["ref"] == "spring"
    # a later referral does not overwrite where the contact first came from
    await channel.deliver(meta.referral("ig-ad", ad_id="111"))
    assert channel.contact("ig-ad").source == "ads:6045246247433"
    # an ad's first message carries its referral inside the message
    ad_message = meta.message(
        "ig-ad2", "I saw your ad", referral={"ref": "x", "ad_id": "42", "source": "ADS"}
    )
    await channel.deliver(ad_message)
    assert channel.contact("ig-ad2").source == "ads:42"


# -- the outbox's fences and Meta's errors ---------------------------------------------------


async def test_the_24_hour_window_cancels_a_late_delivery(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    await channel.deliver(meta.message("ig-w", "hello?"))
    channel.clock.advance(hours=24, seconds=1)
    await channel.work()
    assert graph.sends == []
    (row,) = channel.rows(select(deliveries))
    assert (row.state, row.last_error) == ("cancelled", CancelReason.WINDOW_CLOSED.value)


async def test_a_rate_limited_send_is_retried_and_sent_once(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    graph.queue("error:4", "status:429:1")
    await channel.deliver(meta.message("ig-l", "hi"))
    for _ in range(8):
        await channel.worker.run_once()
        channel.clock.advance(seconds=60)
    assert len(graph.delivered_texts("ig-l")) == 1
    (row,) = channel.rows(select(deliveries))
    assert (row.state, row.attempts) == ("sent", 3)
    assert len(channel.events_of(EventKind.DELIVERY_RETRY)) == 2


async def test_an_expired_token_pauses_the_account_instead_of_burning_the_queue(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    graph.queue("error:190:463")
    await channel.deliver(meta.message("ig-k1", "hi"))
    await channel.work()
    (row,) = channel.rows(select(deliveries))
    assert row.state == "failed"
    assert meta.ACCESS_TOKEN not in (row.last_error or "")
    with channel.system.store.reading() as reads:
        state = reads.control()
    assert state.paused
    assert "credentials" in (state.reason or "")
    # while paused, nothing else is sent
    await channel.deliver(meta.message("ig-k2", "hello"))
    await channel.work()
    assert graph.sends == []


async def test_an_echo_proves_a_send_whatever_the_send_api_answered(
    channel: Channel, graph: FakeGraphAPI
) -> None:
    """Meta delivered and echoed the message, then the Send API's answer said 5xx: the
    delivery is sent, never retried into a duplicate."""
    await channel.deliver(meta.message("ig-p", "hello"))
    assert await channel.system.engine.handle(TurnDue()) is not None
    now = channel.clock.now()
    with channel.system.store.writing() as unit:
        claim = unit.outbox.claim(now, "w1", timedelta(seconds=60), 4, timedelta(0), 20)
    (delivery,) = claim.deliveries
    await channel.deliver(meta.echo("ig-p", delivery.text, "mid.from.meta"))
    with channel.system.store.writing() as unit:
        state = unit.outbox.record(
            delivery.id,
            "w1",
            SendResult.retry("Instagram unavailable (503)"),
            now,
            RetryPolicy(),
            0.5,
        )
    assert state is DeliveryState.SENT
    (row,) = channel.rows(select(deliveries))
    assert (row.state, row.provider_message_id) == ("sent", "mid.from.meta")
    await channel.work()
    assert graph.sends == []  # nothing went out a second time


async def test_an_echo_to_someone_who_never_wrote_starts_handed_off_with_the_window_closed(
    channel: Channel,
) -> None:
    await channel.deliver(meta.echo("ig-new", "Hi! Saw your comment", meta.new_mid()))
    contact = channel.contact("ig-new")
    assert contact.handoff_reason == "human_replied"
    assert contact.last_inbound_at <= channel.clock.now() - timedelta(hours=24)
    # a person's message from the console is refused: Meta would refuse it too
    result = await channel.system.engine.handle(
        SendAsHuman(ContactRef(RefKind.EXTERNAL, "ig-new"), "operator", "hello", "k-1")
    )
    assert result.outcome is ActionOutcome.REFUSED
