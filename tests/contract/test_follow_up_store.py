"""Follow-ups' promises, on every store: at most one pending per contact, scheduled with
the reply, cancelled when the contact writes, claimed by one worker at a time, and one
nudge per reply ever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from contract.driver import Driver, at_once, turn_for
from dmpilot.domain.decision import ContactState, Reason
from dmpilot.domain.follow_ups import DueFollowUp, FollowUpPlan, FollowUpState, nudge_trigger
from dmpilot.domain.turns import CommitKind, Recorded, TurnRejected
from dmpilot.store import Store
from dmpilot.store.schema import events, follow_ups
from support import T0, inbound

DUE = T0 + timedelta(hours=20)
TTL = timedelta(seconds=60)


@pytest.fixture
def db(store: Store) -> Driver:
    return Driver(store)


def replied(
    db: Driver, text: str = "hey there", at: timedelta = timedelta(0)
) -> tuple[Recorded, int]:
    """The contact writes and a reply schedules its follow-up; (the message, the reply)."""
    now = T0 + at
    rec = db.record(inbound(text=text, at=now), now)
    assert db.claim(rec.contact_id, "turn", now) is not None
    committed = db.commit(
        turn_for(rec, "turn", now=now, in_response=True, follow_up=FollowUpPlan(DUE + at))
    )
    assert committed.message_id is not None
    return rec, committed.message_id


def test_a_newer_reply_reschedules_the_one_pending_follow_up(db: Driver) -> None:
    replied(db)
    _, second = replied(db, "are you there?", at=timedelta(hours=1))
    (row,) = db.rows(select(follow_ups))
    assert (row.reply_id, row.state, row.due_at) == (
        second,
        FollowUpState.PENDING.value,
        DUE + timedelta(hours=1),
    )
    reasons = db.rows(select(events.c.reason).where(events.c.kind == "follow_up_cancelled"))
    assert [r.reason for r in reasons] == ["contact_wrote"]  # the second message, at once


def test_a_due_follow_up_is_claimed_by_one_worker_with_the_contacts_lease(db: Driver) -> None:
    rec, reply = replied(db)
    with db.store.writing() as unit:
        assert unit.follow_ups.claim("early", DUE - timedelta(seconds=1), TTL, 20) is None
    results = at_once(8, lambda i: _claim(db, f"w{i}"))
    taken = [r for r in results if r is not None]
    assert len(taken) == 1
    due, state = taken[0]
    assert (due.reply_id, due.claims, due.reply_in_cycle) == (reply, 1, True)
    assert state.contact_id == rec.contact_id
    # The contact's lease is held: a reply turn cannot start until it is released.
    assert db.claim(rec.contact_id, "reply-turn", DUE) is None


def _claim(db: Driver, owner: str) -> tuple[DueFollowUp, ContactState] | None:
    with db.store.writing() as unit:
        return unit.follow_ups.claim(owner, DUE, TTL, 20)


def test_one_nudge_per_reply_ever(db: Driver) -> None:
    rec, reply = replied(db)
    assert _claim(db, "w1") is not None
    nudge = turn_for(
        rec, "w1", now=DUE, kind=CommitKind.NUDGE, trigger=nudge_trigger(reply), follows=reply
    )
    assert db.commit(nudge).delivery_id is not None
    (row,) = db.rows(select(follow_ups.c.state))
    assert row.state == FollowUpState.SENT.value
    assert db.claim(rec.contact_id, "w2", DUE) is not None
    again = turn_for(
        rec, "w2", now=DUE, kind=CommitKind.NUDGE, trigger=nudge_trigger(reply), follows=reply
    )
    with pytest.raises(TurnRejected) as refused:
        db.commit(again)
    assert refused.value.reason is Reason.DUPLICATE
