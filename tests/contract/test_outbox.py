"""The outbox's promises, on every store: a delivery per committed text, claimed by one
worker at a time, fenced at claim time, never sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from contract.driver import Driver, at_once, turn_for
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.delivery import DeliveryKind, DeliveryState, RetryPolicy, SendResult
from dmpilot.domain.turns import CommitKind
from dmpilot.store import Store
from dmpilot.store.schema import contacts, deliveries, events, messages, turns
from support import T0, inbound

LATER = T0 + timedelta(minutes=3)


@pytest.fixture
def db(store: Store) -> Driver:
    return Driver(store)


def queued(db: Driver, contact: str = "c1", text: str = "hey", **kw: object) -> int:
    """A contact writes, a turn commits a reply for the worker; the delivery's id."""
    rec = db.record(inbound(contact=contact, text=f"{text} from {contact}"), T0)
    assert db.claim(rec.contact_id, "turn") is not None
    delivery = db.commit(turn_for(rec, "turn", text=f"reply to {contact}", **kw)).delivery_id  # type: ignore[arg-type]
    assert delivery is not None
    return delivery


def state_of(db: Driver, delivery_id: int) -> str:
    (row,) = db.rows(select(deliveries.c.state).where(deliveries.c.id == delivery_id))
    return str(row.state)


def test_a_commit_writes_the_reply_and_its_delivery_together(db: Driver) -> None:
    pushed = queued(db, not_before=LATER)
    inline = db.record(inbound(contact="c2"), T0)
    assert db.claim(inline.contact_id, "turn") is not None
    answered = db.commit(turn_for(inline, "turn", in_response=True)).delivery_id
    rows = {
        row.id: row
        for row in db.rows(select(deliveries).where(deliveries.c.id.in_([pushed, answered])))
    }
    assert rows[pushed].state == "pending" and rows[pushed].not_before == LATER
    assert rows[pushed].text == "reply to c1" and rows[pushed].recipient == "c1"
    assert rows[pushed].attempts == 0 and rows[pushed].sent_at is None
    assert (rows[answered].state, rows[answered].via) == ("sent", "response")
    assert rows[answered].sent_at == T0
    assert db.count(deliveries) == db.count(messages, messages.c.direction == "out") == 2


def test_only_due_deliveries_are_claimed_and_each_claim_counts_an_attempt(db: Driver) -> None:
    delivery = queued(db, not_before=LATER)
    assert db.claim_deliveries(T0).deliveries == []
    (claimed,) = db.claim_deliveries(LATER).deliveries
    assert (claimed.id, claimed.attempts, claimed.recipient) == (delivery, 1, "c1")
    assert claimed.kind is DeliveryKind.REPLY
    assert state_of(db, delivery) == "sending"
    assert db.claim_deliveries(LATER, "w2").deliveries == []  # held by w1


def test_concurrent_workers_never_claim_one_delivery_twice(db: Driver) -> None:
    ids = {queued(db, contact=f"c{i}") for i in range(40)}
    claims = at_once(8, lambda i: db.claim_deliveries(T0, f"w{i}", limit=10).deliveries)
    claimed = [d.id for claim in claims for d in claim]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) <= ids
    assert len(claimed) == 40


def test_an_expired_claim_becomes_unknown_and_is_never_sent_again(db: Driver) -> None:
    delivery = queued(db)
    db.claim_deliveries(T0, "dead-worker", ttl=timedelta(seconds=30))
    later = db.claim_deliveries(T0 + timedelta(seconds=31), "w2")
    assert later.expired == 1 and later.deliveries == []
    assert state_of(db, delivery) == "unknown"
    assert db.claim_deliveries(T0 + timedelta(minutes=10), "w3").deliveries == []
    # the dead worker's late answer may still say what happened; it never sends again
    assert db.record_send(delivery, SendResult.sent("mid-1"), LATER, "dead-worker") is (
        DeliveryState.SENT
    )


def test_outcomes_sent_retry_failed_unknown(db: Driver) -> None:
    ids = [queued(db, contact=f"c{i}") for i in range(4)]
    db.claim_deliveries(T0)
    sent, retry, failed, unknown = ids
    assert db.record_send(sent, SendResult.sent("mid"), T0) is DeliveryState.SENT
    assert db.record_send(retry, SendResult.retry("429", 30), T0) is DeliveryState.PENDING
    assert db.record_send(failed, SendResult.failed("400"), T0) is DeliveryState.FAILED
    assert db.record_send(unknown, SendResult.unknown("read timeout"), T0) is (
        DeliveryState.UNKNOWN
    )
    rows = {r.id: r for r in db.rows(select(deliveries))}
    assert (rows[sent].state, rows[sent].provider_message_id) == ("sent", "mid")
    assert rows[retry].state == "pending" and rows[retry].not_before >= T0 + timedelta(seconds=30)
    assert rows[failed].state == "failed" and rows[failed].last_error == "400"
    assert rows[unknown].state == "unknown"
    # a failed delivery never reached the contact: it leaves the conversation's history
    (withdrawn,) = db.rows(
        select(messages.c.cancelled).where(messages.c.id == rows[failed].message_id)
    )
    assert withdrawn.cancelled
    kinds = {kind for (kind,) in db.rows(select(events.c.kind))}
    assert {"delivered", "delivery_retry", "delivery_failed", "delivery_unknown"} <= kinds


def test_retries_stop_at_the_limit(db: Driver) -> None:
    delivery = queued(db)
    policy = RetryPolicy(max_attempts=2, base_seconds=1, max_seconds=1)
    now = T0
    db.claim_deliveries(now)
    assert db.record_send(delivery, SendResult.retry("500"), now, policy=policy) is (
        DeliveryState.PENDING
    )
    now += timedelta(seconds=5)
    (again,) = db.claim_deliveries(now).deliveries
    assert again.attempts == 2
    assert db.record_send(delivery, SendResult.retry("500"), now, policy=policy) is (
        DeliveryState.FAILED
    )


def test_only_the_claim_holder_records_an_outcome(db: Driver) -> None:
    delivery = queued(db)
    db.claim_deliveries(T0, "w1")
    assert db.record_send(delivery, SendResult.sent(), T0, owner="intruder") is None
    assert state_of(db, delivery) == "sending"


def test_the_kill_switch_cancels_what_is_due(db: Driver, store: Store) -> None:
    delivery = queued(db)
    with store.writing() as unit:
        unit.control.set_paused(True, "checking", "test", T0)
    claim = db.claim_deliveries(T0)
    assert claim.deliveries == [] and claim.cancelled == 1
    assert state_of(db, delivery) == "cancelled"
    (turn,) = db.rows(select(turns))
    assert turn.outcome == "cancelled"  # what it answered is pending again
    state = db.state(turn.contact_id)
    assert [m.text for m in state.pending] == ["hey from c1"]
    assert state.recent_replies == () and state.cycle_outbound == ()


def test_a_stopped_contact_gets_no_reply_but_its_goodbye(db: Driver) -> None:
    reply = queued(db, contact="c1")
    exit_ = queued(
        db, contact="c2", kind=CommitKind.EXIT, exit_texts=("bye",), exit_choices={None: 0, 0: 0}
    )
    with db.store.writing() as unit:
        unit.db.execute(contacts.update().values(stopped_at=T0, stop_reason="cap"))
    claim = db.claim_deliveries(T0)
    assert [d.id for d in claim.deliveries] == [exit_]
    assert state_of(db, reply) == "cancelled"


def test_the_24_hour_window_cancels_late_deliveries(db: Driver) -> None:
    delivery = queued(db, not_before=T0 + timedelta(hours=25))
    claim = db.claim_deliveries(T0 + timedelta(hours=25))
    assert claim.deliveries == [] and claim.cancelled == 1
    (row,) = db.rows(select(deliveries.c.last_error).where(deliveries.c.id == delivery))
    assert row.last_error == "window_closed"


def test_one_contact_is_sent_to_in_order_with_a_minimum_gap(db: Driver) -> None:
    first = queued(db, text="one")
    rec = db.record(inbound(text="two"), T0)
    assert db.claim(rec.contact_id, "turn") is not None
    second = db.commit(turn_for(rec, "turn", text="second reply")).delivery_id
    gap = timedelta(seconds=10)
    # `second` superseded `first` when its turn took the lease: one reply answers both
    assert state_of(db, first) == "cancelled"
    (claimed,) = db.claim_deliveries(T0, gap=gap).deliveries
    assert claimed.id == second
    db.record_send(second, SendResult.sent(), T0)

    third = db.record(inbound(text="three"), T0 + timedelta(seconds=1))
    assert db.claim(third.contact_id, "turn", T0 + timedelta(seconds=1)) is not None
    later = db.commit(turn_for(third, "turn", text="third", now=T0 + timedelta(seconds=1)))
    assert db.claim_deliveries(T0 + timedelta(seconds=5), gap=gap).deliveries == []
    (due,) = db.claim_deliveries(T0 + timedelta(seconds=11), gap=gap).deliveries
    assert due.id == later.delivery_id


def test_the_account_rate_limit_holds_across_claims(db: Driver) -> None:
    for i in range(10):
        queued(db, contact=f"c{i}")
    first = db.claim_deliveries(T0, per_second=4).deliveries
    second = db.claim_deliveries(T0 + timedelta(milliseconds=500), per_second=4).deliveries
    third = db.claim_deliveries(T0 + timedelta(seconds=2), per_second=4).deliveries
    assert (len(first), len(second), len(third)) == (4, 0, 4)


def test_a_newer_turn_supersedes_a_queued_reply_and_keeps_its_slot(db: Driver) -> None:
    slot = T0 + timedelta(minutes=4)
    old = queued(db, not_before=slot)
    newer = db.record(inbound(text="and another thing"), T0 + timedelta(minutes=1))
    state = db.claim(newer.contact_id, "turn2", T0 + timedelta(minutes=1))
    assert state is not None
    assert state.superseded_not_before == slot
    assert [m.text for m in state.pending] == ["hey from c1", "and another thing"]
    assert state_of(db, old) == "cancelled"
    (event,) = db.rows(select(events).where(events.c.kind == EventKind.DELIVERY_CANCELLED.value))
    assert event.reason == "superseded"


def test_a_safety_stop_cancels_everything_queued(db: Driver) -> None:
    reply = queued(db)
    minor = db.record(inbound(text="I'm 15"), T0, safety_stop=Reason.MINOR)
    assert minor.safety_stop is Reason.MINOR and not minor.goodbye_due
    assert state_of(db, reply) == "cancelled"


def test_an_opt_out_while_the_exit_waits_is_owed_the_goodbye(db: Driver) -> None:
    exit_ = queued(db, kind=CommitKind.EXIT, exit_texts=("bye",), exit_choices={None: 0, 0: 0})
    stop = db.record(inbound(text="stop"), T0, safety_stop=Reason.OPT_OUT)
    assert stop.stopped and stop.goodbye_due
    assert state_of(db, exit_) == "cancelled"


def test_take_for_response_sends_once_and_never_after_a_stop(db: Driver) -> None:
    taken = queued(db, contact="c1")
    stopped = queued(db, contact="c2")
    with db.store.writing() as unit:
        assert unit.outbox.take_for_response(taken, T0)
        assert not unit.outbox.take_for_response(taken, T0)  # already sent
        unit.db.execute(
            contacts.update().where(contacts.c.external_id == "c2").values(stopped_at=T0)
        )
        assert not unit.outbox.take_for_response(stopped, T0)
    assert state_of(db, taken) == "sent"


def test_release_hands_back_an_unstarted_claim(db: Driver) -> None:
    delivery = queued(db)
    db.claim_deliveries(T0, "w1")
    with db.store.writing() as unit:
        assert unit.outbox.release([delivery], "w1", T0) == 1
    (claimed,) = db.claim_deliveries(T0, "w2").deliveries
    assert claimed.attempts == 1


def test_owed_turns_are_due_once_and_settled_by_the_commit(db: Driver) -> None:
    due = T0 + timedelta(seconds=2)
    first = db.record(inbound(text="one"), T0, schedule_at=due)
    db.record(
        inbound(text="two"), T0 + timedelta(seconds=1), schedule_at=due + timedelta(seconds=1)
    )
    assert db.claim_due("w", due) is None  # pushed back by the second message
    winners = at_once(6, lambda i: db.claim_due(f"w{i}", due + timedelta(seconds=1)))
    claimed = [state for state in winners if state is not None]
    assert len(claimed) == 1 and [m.text for m in claimed[0].pending] == ["one", "two"]
    owner = f"w{winners.index(claimed[0])}"
    db.commit(turn_for(first, owner, last_inbound_id=claimed[0].pending[-1].id, now=due))
    assert db.claim_due("w", T0 + timedelta(hours=1)) is None
