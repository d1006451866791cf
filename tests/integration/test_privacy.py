"""A contact's data, on SQLite and PostgreSQL: the export holds every row of every table
that names the contact; forgetting leaves none of its texts anywhere, keeps the counts,
and keeps anyone with its channel id stopped; retention blanks old texts without moving a
figure of `stats` or a finding of the audit. Time is an injected clock: nothing sleeps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Date, DateTime, ForeignKey, Table, func, insert, select, update

from dmpilot.audit import run_audit
from dmpilot.audit.synthetic import generate
from dmpilot.bootstrap import System, bootstrap
from dmpilot.domain.channel_events import ChannelEvent, ChannelEventKind
from dmpilot.domain.commands import (
    ForgetContact,
    ReceiveMessage,
    RecordChannelEvent,
    RecordClick,
    SendAsHuman,
)
from dmpilot.domain.contacts import ActionOutcome, ContactRef
from dmpilot.domain.decision import Reason
from dmpilot.domain.delivery import DeliveryMode, OutboundDelivery, SendResult
from dmpilot.domain.findings import AuditReport, Finding
from dmpilot.domain.follow_ups import FollowUpState
from dmpilot.domain.inbound import Inbound, InboundKind
from dmpilot.domain.privacy import FORGOTTEN_PREFIX, ForgetResult
from dmpilot.engine.privacy import apply_retention
from dmpilot.personas import load_persona
from dmpilot.store import Store
from dmpilot.store.privacy.export import contact_tables, export_bytes
from dmpilot.store.privacy.forget import FORGET_COVERS
from dmpilot.store.reads.stats import RawStats
from dmpilot.store.schema import (
    alerts,
    audit_findings,
    contacts,
    deliveries,
    events,
    follow_ups,
    link_clicks,
    link_tokens,
    messages,
    metadata,
    privacy,
    tombstones,
)
from support import FakeClock, build_engine, engine_config, settings_for

PERSONA = load_persona()
EXTERNAL = "ig-forget-8812345"
USERNAME = "zeph_quill"
NAME = "Zephyrine Quillfeather"
WORDS = [
    "hi! my name is Zephyrine and I live in Valparaiso",
    "what camera do you shoot with? my secret word is PLUMBLOSSOM",
]
HUMAN_TEXT = "hey Zephyrine, it's Alex from the team"
HUMAN_KEY = "key-zephyrine-7"
USER_AGENT = "ZephyrineBrowser/9.1"
TOKEN = "tokzephyr01"
OTHER = "other-fan-1"
OTHER_WORDS = "hello from another fan CORMORANT"


class RecordingSender:
    """The Sender port: every send succeeds, and is kept."""

    channel = "manychat"

    def __init__(self) -> None:
        self.sent: list[OutboundDelivery] = []

    async def send(self, delivery: OutboundDelivery) -> SendResult:
        self.sent.append(delivery)
        return SendResult.sent(f"mid-{delivery.id}-{delivery.recipient}")

    async def aclose(self) -> None: ...


def build(store: Store, clock: FakeClock, **settings: Any) -> tuple[System, RecordingSender]:
    sender = RecordingSender()
    harness = build_engine(
        store,
        persona=PERSONA,
        config=engine_config(delivery=DeliveryMode.PUSH, min_send_gap=timedelta(0)),
        clock=clock,
        senders={"manychat": sender, "instagram": sender},
        seed=7,
        settings=settings,
    )
    return harness.system, sender


def message(text: str, at: datetime, contact: str = EXTERNAL, channel: str = "manychat") -> Inbound:
    return Inbound(
        channel,
        contact,
        InboundKind.TEXT,
        text,
        at,
        contact_name=NAME if contact == EXTERNAL else "Other Fan",
        contact_username=USERNAME if contact == EXTERNAL else "other_fan",
    )


@pytest.fixture
def seeded(store: Store, clock: FakeClock) -> Iterator[tuple[System, int]]:
    """A contact with a row in every table that can name one: messages and replies sent
    through the outbox, facts, a person's message, a clicked tracked link, a follow-up, an
    alert, an audit finding, and an event written before it had a row."""
    system, _ = build(store, clock)
    asyncio.run(_seed(system, clock))
    with store.reading() as reads:
        found = reads.find_contact(ContactRef.parse(EXTERNAL))
    assert found is not None
    _plant_rows(store, found.id, clock.current)
    yield system, found.id


async def _seed(system: System, clock: FakeClock) -> None:
    engine, worker = system.engine, system.worker
    # A reaction from the contact on the other channel, before it ever wrote there.
    await engine.handle(
        RecordChannelEvent(
            ChannelEvent(
                ChannelEventKind.REACTION,
                "instagram",
                EXTERNAL,
                clock.current,
                message_id="mid-before",
                detail={"emoji": "❤"},
            )
        )
    )
    for text in WORDS:
        await engine.handle(ReceiveMessage(message(text, clock.current)))
        clock.advance(seconds=5)
        await worker.run_once()
        clock.advance(minutes=2)
    await engine.handle(ReceiveMessage(message(OTHER_WORDS, clock.current, contact=OTHER)))
    clock.advance(seconds=5)
    await worker.run_once()
    said = await engine.handle(
        SendAsHuman(ContactRef.parse(EXTERNAL), "console:alex", HUMAN_TEXT, HUMAN_KEY)
    )
    assert said.outcome is ActionOutcome.DONE, said
    await worker.run_once()


def _plant_rows(store: Store, contact_id: int, now: datetime) -> None:
    """The rows the engine does not write on its own in a short conversation."""
    with store.writing() as unit:
        db = unit.db
        reply = db.scalar(
            select(func.max(messages.c.id)).where(
                messages.c.contact_id == contact_id, messages.c.direction == "out"
            )
        )
        db.execute(
            insert(link_tokens).values(
                token=TOKEN, contact_id=contact_id, message_id=reply, stage="pitch", created_at=now
            )
        )
        if db.scalar(select(follow_ups.c.contact_id).where(follow_ups.c.contact_id == contact_id)):
            db.execute(follow_ups.delete().where(follow_ups.c.contact_id == contact_id))
        db.execute(
            insert(follow_ups).values(
                contact_id=contact_id,
                reply_id=reply,
                stage="warm",
                due_at=now + timedelta(hours=3),
                state=FollowUpState.PENDING.value,
                created_at=now,
                updated_at=now,
            )
        )
        db.execute(
            insert(alerts).values(
                key=f"human:{contact_id}",
                kind="human",
                contact_id=contact_id,
                opened_at=now,
                last_sent_at=now,
                next_at=now,
                count=1,
                summary=f"@{USERNAME} ({EXTERNAL}) asked for a real person",
            )
        )
        db.execute(
            insert(audit_findings).values(
                contact_id=contact_id, finding="UNANSWERED", count=1, found_at=now
            )
        )
    asyncio.run(_click(store, now))


async def _click(store: Store, now: datetime) -> None:
    system = bootstrap(
        settings_for(store.engine.url.render_as_string(hide_password=False)),
        store=store,
        persona=PERSONA,
        clock=FakeClock(now),
    )
    assert await system.engine.handle(RecordClick(TOKEN, USER_AGENT))


def rows_of(store: Store, table: Table, *where: Any) -> list[dict[str, Any]]:
    with store.reading() as reads:
        order = list(table.primary_key.columns)
        return [
            dict(r)
            for r in reads.db.execute(select(table).where(*where).order_by(*order)).mappings()
        ]


def decoded(table: Table, exported: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exported rows read back with their columns' types: ISO times become datetimes."""
    back = []
    for row in exported:
        assert set(row) == set(table.c.keys()), (table.name, set(row) ^ set(table.c.keys()))
        item = dict(row)
        for column in table.c:
            value = item[column.name]
            if value is not None and isinstance(column.type, DateTime):
                item[column.name] = datetime.fromisoformat(value)
            elif value is not None and isinstance(column.type, Date):
                item[column.name] = date.fromisoformat(value)
        back.append(item)
    return back


def export(store: Store, contact_id: int, now: datetime) -> dict[str, Any]:
    with store.reading() as reads:
        document = reads.export_contact(contact_id, now)
    assert document is not None
    # What leaves is JSON: read it back the way a recipient would.
    parsed: dict[str, Any] = json.loads(export_bytes(document))
    return parsed


async def forget(system: System, reference: str) -> ForgetResult:
    return await system.engine.handle(ForgetContact(ContactRef.parse(reference), "test"))


def raw_stats(store: Store) -> RawStats:
    with store.reading() as reads:
        return reads.raw_stats(None)


def audit(store: Store, system: System, now: datetime) -> AuditReport:
    with store.reading() as reads:
        return run_audit(reads, PERSONA, now, links=system.engine.links)


# -- coverage --------------------------------------------------------------------------


def test_every_table_that_names_a_contact_is_exported_and_forgotten() -> None:
    """A table added with a contact_id column (or a key to contacts) fails here until
    forgetting knows what to do with it; the export finds it by itself."""
    naming = {
        table.name
        for table in metadata.sorted_tables
        if "contact_id" in table.c
        or any(
            isinstance(fk, ForeignKey) and fk.column.table is contacts
            for column in table.c
            for fk in column.foreign_keys
        )
    }
    exported = {table.name for table in contact_tables()}
    assert naming <= exported
    assert naming | {"contacts", "link_clicks"} == set(FORGET_COVERS), (
        "tell store/privacy/forget.py how to forget these tables: "
        f"{sorted((naming | {'contacts', 'link_clicks'}) ^ set(FORGET_COVERS))}"
    )


# -- export ------------------------------------------------------------------------------


def test_the_export_round_trips_every_table(
    store: Store, seeded: tuple[System, int], clock: FakeClock
) -> None:
    _, contact_id = seeded
    document = export(store, contact_id, clock.current)
    assert document["format"] == "dmpilot.contact-export" and document["version"] == 1
    assert datetime.fromisoformat(document["exported_at"]) == clock.current
    assert decoded(contacts, [document["contact"]]) == rows_of(
        store, contacts, contacts.c.id == contact_id
    )
    tables = document["tables"]
    assert set(tables) == {t.name for t in contact_tables()} | {"link_clicks"}
    for table in contact_tables():
        expected = rows_of(store, table, table.c.contact_id == contact_id)
        if table is events:
            # … and the reaction stored before the contact had a row, naming its id.
            orphans = rows_of(store, events, events.c.contact_id.is_(None))
            assert len(orphans) == 1 and orphans[0]["detail"]["external_id"] == EXTERNAL
            expected = sorted(expected + orphans, key=lambda row: row["id"])
        assert expected, f"the seed wrote no {table.name} row: the round trip proves nothing"
        assert decoded(table, tables[table.name]) == expected, table.name
    tokens = select(link_tokens.c.token).where(link_tokens.c.contact_id == contact_id)
    clicks = rows_of(store, link_clicks, link_clicks.c.token.in_(tokens))
    assert decoded(link_clicks, tables["link_clicks"]) == clicks
    assert clicks[0]["user_agent"] == USER_AGENT
    # The other contact is nowhere in it.
    assert OTHER not in json.dumps(document) and "CORMORANT" not in json.dumps(document)


def test_an_unknown_contact_has_no_export(store: Store, clock: FakeClock) -> None:
    with store.reading() as reads:
        assert reads.export_contact(987_654, clock.current) is None


# -- forget ------------------------------------------------------------------------------


def _needles(store: Store, contact_id: int) -> list[str]:
    """Every text that names or quotes the contact: what it wrote, what was written to it
    (unless the scripted brain said the same to the other contact), who it is, what it
    told us, how it clicked."""
    with store.reading() as reads:
        sent = reads.db.execute(
            select(messages.c.contact_id, messages.c.text).where(messages.c.direction == "out")
        ).all()
    elsewhere = " ".join(text for owner, text in sent if owner != contact_id)
    replies = [
        text
        for owner, text in sent
        if owner == contact_id
        and len(text) >= 12
        and text not in elsewhere
        and str(PERSONA.link.url) not in text
    ]
    assert len(replies) >= 2
    return [
        EXTERNAL,
        USERNAME,
        "Zephyrine",
        "Quillfeather",
        "Valparaiso",
        "PLUMBLOSSOM",
        HUMAN_KEY,
        "ZephyrineBrowser",
        *WORDS,
        *replies,
    ]


def _scan(store: Store, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every needle found in any column of any table."""
    wanted = [needle.casefold() for needle in needles]
    found = []
    with store.reading() as reads:
        for table in metadata.sorted_tables:
            for row in reads.db.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = (
                        json.dumps(value, ensure_ascii=False)
                        if isinstance(value, dict | list)
                        else str(value)
                    ).casefold()
                    found += [(table.name, column, n) for n in wanted if n in text]
    return found


def test_after_forget_no_text_of_the_contact_is_left_in_any_table(
    store: Store, seeded: tuple[System, int], clock: FakeClock
) -> None:
    system, contact_id = seeded
    needles = _needles(store, contact_id)
    assert _scan(store, needles)  # the scan does see them while they are there
    result = asyncio.run(forget(system, f"@{USERNAME}"))
    assert result.outcome is ActionOutcome.DONE and result.contact is not None
    assert result.contact.id == contact_id
    assert _scan(store, needles) == []
    # Everyone else's data is untouched.
    assert _scan(store, [OTHER_WORDS, "other_fan"]) != []

    shell = rows_of(store, contacts, contacts.c.id == contact_id)[0]
    assert shell["external_id"].startswith(FORGOTTEN_PREFIX)
    assert (shell["name"], shell["username"], shell["source"]) == (None, None, None)
    assert (shell["stop_reason"], shell["stage"]) == (Reason.FORGOTTEN.value, "stopped")
    assert shell["stopped_at"] == clock.current
    # The rows the counts are made of stay; what the contact told us about itself is gone.
    assert result.scrubbed["messages"] == len(
        rows_of(store, messages, messages.c.contact_id == contact_id)
    )
    assert result.scrubbed["contact_facts"] == 2
    assert {
        row["state"] for row in rows_of(store, follow_ups, follow_ups.c.contact_id == contact_id)
    } == {FollowUpState.CANCELLED.value}
    assert len(rows_of(store, tombstones)) == 1
    (event,) = rows_of(store, events, events.c.kind == "forgotten")
    assert event["contact_id"] == contact_id
    assert event["detail"]["by"] == "test"
    assert all(isinstance(v, int) for k, v in event["detail"].items() if k != "by")
    # Its references are gone with it: only its row id still names the shell.
    with store.reading() as reads:
        assert reads.find_contact(ContactRef.parse(f"@{USERNAME}")) is None
        assert reads.find_contact(ContactRef.parse(EXTERNAL)) is None
    assert asyncio.run(forget(system, f"id:{contact_id}")).outcome is ActionOutcome.ALREADY
    assert asyncio.run(forget(system, "@nobody")).contact is None


def test_a_forgotten_contact_writing_again_is_stopped_from_its_first_message(
    store: Store, seeded: tuple[System, int], clock: FakeClock
) -> None:
    system, contact_id = seeded
    assert asyncio.run(forget(system, EXTERNAL)).outcome is ActionOutcome.DONE
    clock.advance(days=3)
    # A restart: a new process, the same database (and the salt it keeps).
    store_again = Store.open(store.engine.url.render_as_string(hide_password=False), pool_size=2)
    try:
        restarted, sender = build(store_again, clock)
        decision = asyncio.run(
            restarted.engine.handle(
                ReceiveMessage(message("hi, it's me again, love your page", clock.current))
            )
        )
        assert decision.reason is Reason.STOPPED and not decision.should_send
        clock.advance(minutes=5)
        asyncio.run(restarted.worker.run_once())
        assert sender.sent == []
        with store_again.reading() as reads:
            again = reads.find_contact(ContactRef.parse(EXTERNAL))
        assert again is not None and again.id != contact_id
        assert (again.stop_reason, again.stage) == (Reason.FORGOTTEN.value, "stopped")
        # Nothing undoes it: not a minor's stop, not an operator's reset.
        decision = asyncio.run(
            restarted.engine.handle(
                ReceiveMessage(message("im 15 btw", clock.current + timedelta(seconds=1)))
            )
        )
        assert not decision.should_send
    finally:
        store_again.close()


def test_a_forgotten_instagram_contact_named_by_a_referral_starts_stopped(
    store: Store, clock: FakeClock
) -> None:
    system, sender = build(store, clock)
    igsid = "17841400000000042"
    inbound = message("hey there, saw your reel", clock.current, contact=igsid, channel="instagram")
    asyncio.run(system.engine.handle(ReceiveMessage(inbound)))
    assert asyncio.run(forget(system, igsid)).outcome is ActionOutcome.DONE
    referral = ChannelEvent(
        ChannelEventKind.REFERRAL, "instagram", igsid, clock.current, detail={"source": "ads:1"}
    )
    created = asyncio.run(system.engine.handle(RecordChannelEvent(referral)))
    assert created.contact_id is not None
    with store.reading() as reads:
        again = reads.find_contact(ContactRef.parse(f"id:{created.contact_id}"))
    assert again is not None and again.stop_reason == Reason.FORGOTTEN.value
    clock.advance(seconds=1)
    decision = asyncio.run(
        system.engine.handle(
            ReceiveMessage(message("hello?", clock.current, contact=igsid, channel="instagram"))
        )
    )
    assert decision.reason is Reason.STOPPED
    clock.advance(minutes=5)
    asyncio.run(system.worker.run_once())
    assert [d for d in sender.sent if d.recipient == igsid] == []


def test_a_person_writing_from_the_app_to_a_forgotten_contact_meets_a_stopped_one(
    store: Store, clock: FakeClock
) -> None:
    """An echo names the contact too (Statements.ensure_contact): the new row is stopped,
    so the person's message is kept but hands nothing over to a fresh funnel."""
    system, _ = build(store, clock)
    igsid = "17841400000000077"
    inbound = message("hey, nice reel", clock.current, contact=igsid, channel="instagram")
    asyncio.run(system.engine.handle(ReceiveMessage(inbound)))
    assert asyncio.run(forget(system, igsid)).outcome is ActionOutcome.DONE
    echo = ChannelEvent(
        ChannelEventKind.ECHO, "instagram", igsid, clock.current, "mid-app-1", "hi from the app"
    )
    result = asyncio.run(system.engine.handle(RecordChannelEvent(echo)))
    assert result.contact_id is not None and not result.handed_off
    with store.reading() as reads:
        again = reads.find_contact(ContactRef.parse(igsid))
    assert again is not None and again.id == result.contact_id
    assert again.stop_reason == Reason.FORGOTTEN.value and not again.in_handoff(clock.current)


def test_forgetting_waits_for_a_send_or_a_turn_in_flight(
    store: Store, seeded: tuple[System, int], clock: FakeClock
) -> None:
    system, contact_id = seeded
    with store.writing() as unit:
        first = unit.db.scalar(
            select(func.min(deliveries.c.id)).where(deliveries.c.contact_id == contact_id)
        )
        unit.db.execute(update(deliveries).where(deliveries.c.id == first).values(state="sending"))
    started = clock.current
    refused = asyncio.run(forget(system, EXTERNAL))
    assert refused.outcome is ActionOutcome.REFUSED and "being sent" in (refused.detail or "")
    assert clock.current > started  # it waited (on the injected clock) before refusing
    assert rows_of(store, tombstones) == []  # and wrote nothing
    with store.writing() as unit:
        unit.db.execute(update(deliveries).where(deliveries.c.id == first).values(state="sent"))
        unit.db.execute(
            update(contacts)
            .where(contacts.c.id == contact_id)
            .values(lease_owner="a-turn", lease_expires_at=clock.current + timedelta(minutes=5))
        )
    busy = asyncio.run(forget(system, EXTERNAL))
    assert busy.outcome is ActionOutcome.REFUSED and "being written" in (busy.detail or "")
    # The turn's lease runs out while forget waits: it goes ahead, and the turn is fenced.
    with store.writing() as unit:
        unit.db.execute(
            update(contacts)
            .where(contacts.c.id == contact_id)
            .values(lease_expires_at=clock.current + timedelta(seconds=3))
        )
    done = asyncio.run(forget(system, EXTERNAL))
    assert done.outcome is ActionOutcome.DONE
    shell = rows_of(store, contacts, contacts.c.id == contact_id)[0]
    assert shell["lease_owner"] is None


def test_forgetting_keeps_stats_and_the_audit(store: Store, clock: FakeClock) -> None:
    """Every figure of `stats` and every finding of the audit stay, for contacts already
    stopped; an active contact only moves from its stage to stopped (`forgotten`)."""
    now = clock.current
    _, planted = generate(store, PERSONA, contact_count=40, per_plant=3, now=now)
    system, _ = build(store, clock)
    asyncio.run(system.engine.handle(ReceiveMessage(message("hello, I'm 15", now))))
    before, found_before = raw_stats(store), audit(store, system, now)
    assert dict(found_before.totals) == dict(planted)
    # One planted contact per finding, and the minor.
    for index in range(0, 33, 3):
        assert asyncio.run(forget(system, f"s{index}")).outcome is ActionOutcome.DONE
    assert asyncio.run(forget(system, EXTERNAL)).outcome is ActionOutcome.DONE
    after, found_after = raw_stats(store), audit(store, system, now)
    # Repeats, loops, links over budget, double replies… all still found without a text;
    # only the forgotten contact's unanswered messages are no one's to answer any more.
    expected = dict(planted)
    expected[Finding.UNANSWERED] -= 2
    assert dict(found_after.totals) == expected
    changed = {k for k, v in asdict(before).items() if asdict(after)[k] != v}
    assert changed == {"by_stage", "stops"}
    # Ten active contacts and one the funnel had stopped are `forgotten` now; the minor
    # stays a minor.
    assert after.stops["forgotten"] == 11
    assert after.stops["cap"] == before.stops["cap"] - 1
    assert after.stops["minor"] == before.stops["minor"] == 1
    assert after.by_stage["warm"] == before.by_stage["warm"] - 10
    assert sum(after.by_stage.values()) == sum(before.by_stage.values()) == before.contacts


# -- retention -------------------------------------------------------------------------


def test_retention_blanks_old_texts_and_keeps_stats_and_the_audit(
    store: Store, clock: FakeClock
) -> None:
    now = clock.current
    written, planted = generate(store, PERSONA, contact_count=40, per_plant=3, now=now)
    system, _ = build(store, clock, retention_days=2)
    asyncio.run(system.engine.handle(ReceiveMessage(message("a fresh message NEWWORDS", now))))
    before, found_before = raw_stats(store), audit(store, system, now)
    assert dict(found_before.totals) == dict(planted)

    done = asyncio.run(system.worker.run_chores())
    assert done["retention"] >= written

    after, found_after = raw_stats(store), audit(store, system, now)
    assert asdict(after) == asdict(before)
    assert dict(found_after.totals) == dict(planted)  # no false loop on blank texts either
    link = str(PERSONA.link.url)
    with store.reading() as reads:
        texts = reads.db.execute(
            select(messages.c.text, messages.c.redacted_at, messages.c.created_at)
        ).all()
    old = [row for row in texts if row.created_at < now - timedelta(days=2)]
    assert len(old) == written
    assert {row.text for row in old} == {"", link}  # a link sent stays countable
    assert all(row.redacted_at == now for row in old)
    fresh = [row for row in texts if row.created_at >= now - timedelta(days=2)]
    assert [row.text for row in fresh if row.text] == ["a fresh message NEWWORDS"]
    assert all(row.redacted_at is None for row in fresh)
    # Nothing left to do: a second run blanks nothing.
    assert asyncio.run(system.worker.run_chores()) == {"retention": 0}


def test_retention_runs_in_bounded_batches_and_waits_for_young_and_unsent_messages(
    store: Store, seeded: tuple[System, int], clock: FakeClock
) -> None:
    system, contact_id = seeded
    with store.writing() as unit:
        pending = unit.db.scalar(
            select(func.min(deliveries.c.message_id)).where(deliveries.c.contact_id == contact_id)
        )
        unit.db.execute(
            update(deliveries).where(deliveries.c.message_id == pending).values(state="pending")
        )
    clock.advance(days=3)
    assert asyncio.run(apply_retention(system.engine, 2)) > 0
    with store.reading() as reads:
        done_to = reads.db.scalar(select(privacy.c.retained_message_id))
        first_out = reads.db.execute(
            select(messages.c.id, messages.c.text, messages.c.redacted_at).where(
                messages.c.id == pending
            )
        ).one()
    # The reply whose delivery may still go out keeps its text, and so does all after it.
    assert first_out.redacted_at is None and first_out.text
    assert done_to == pending - 1
    with store.writing() as unit:
        unit.db.execute(
            update(deliveries).where(deliveries.c.message_id == pending).values(state="sent")
        )
    assert asyncio.run(apply_retention(system.engine, 2)) > 0
    with store.reading() as reads:
        left = reads.db.execute(select(messages.c.id).where(messages.c.redacted_at.is_(None))).all()
    assert left == []


def test_two_processes_running_retention_at_once_blank_each_text_once(
    store: Store, clock: FakeClock
) -> None:
    now = clock.current
    written, _ = generate(store, PERSONA, contact_count=24, per_plant=2, now=now)
    first, _ = build(store, clock)
    second, _ = build(store, clock)

    async def both() -> list[int]:
        return list(
            await asyncio.gather(
                apply_retention(first.engine, 2), apply_retention(second.engine, 2)
            )
        )

    counts = asyncio.run(both())
    with store.reading() as reads:
        messages_done = reads.db.scalar(select(privacy.c.retained_message_id))
        left = reads.db.scalar(
            select(func.count()).select_from(messages).where(messages.c.redacted_at.is_(None))
        )
        events_total = reads.db.scalar(select(func.count()).select_from(events))
    assert left == 0
    assert messages_done == written
    assert sum(counts) == written + (events_total or 0)  # each row once, by one of them


def test_the_retention_setting_is_bounded() -> None:
    with pytest.raises(ValueError, match="retention_days"):
        settings_for("sqlite://", retention_days=1)
    with pytest.raises(ValueError, match="DEDUP_WINDOW"):
        settings_for("sqlite://", retention_days=2, dedup_window_seconds=3 * 86_400)
    assert settings_for("sqlite://").retention_days is None
    assert settings_for("sqlite://", retention_days=30).retention_days == 30


def test_retention_is_a_worker_chore_only_when_set(store: Store, clock: FakeClock) -> None:
    assert [c.name for c in build(store, clock)[0].chores] == []
    assert [c.name for c in build(store, clock, retention_days=30)[0].chores] == ["retention"]
