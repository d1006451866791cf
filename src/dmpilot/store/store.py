"""Every query dmpilot runs. Each guarantee is one atomic statement or one transaction.

- dedup: an upsert on (contact, key) that only succeeds outside the window;
- one turn in flight per contact: a conditional UPDATE that takes an expiring lease;
- one reply per turn: UNIQUE(contact, last_inbound_id) and UNIQUE(messages.turn_id);
- stop before exit: the stop and the exit message commit together, fenced by the lease.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Update, and_, bindparam, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from dmpilot.domain.decision import ContactState, MessageView, Reason
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.repetition import text_key
from dmpilot.store.database import create_db_engine, migrate
from dmpilot.store.schema import (
    contacts,
    control,
    events,
    exit_rotation,
    link_clicks,
    link_tokens,
    messages,
)
from dmpilot.store.statements import USAGE_COLUMNS, Statements


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of storing one inbound delivery."""

    contact_id: int
    message_id: int | None  # None for a duplicate delivery
    duplicate_of: int | None
    paused: bool
    stopped: bool
    stage: str | None  # the contact's stage before this message; None before any reply
    safety_stop: Reason | None = None  # this message stopped the contact (minor, opt-out)

    @property
    def duplicate(self) -> bool:
        return self.message_id is None


@dataclass(frozen=True, slots=True)
class ControlState:
    paused: bool
    reason: str | None
    changed_at: datetime | None
    changed_by: str | None


class CommitKind(StrEnum):
    REPLY = "reply"  # a funnel reply
    DISCLOSURE = "disclosure"  # the persona's AI disclosure; does not advance the funnel
    EXIT = "exit"  # the goodbye that ends the funnel; stops the contact in the same commit
    GOODBYE = "goodbye"  # the one short answer to an opt-out; the contact is already stopped


@dataclass(slots=True)
class TurnCommit:
    """What a turn wants to send, ready to be committed by the turn that holds the lease."""

    contact_id: int
    owner: str
    last_inbound_id: int
    stage: str
    text: str
    language: str
    now: datetime
    kind: CommitKind = CommitKind.REPLY
    exit_texts: tuple[str, ...] = ()  # for EXIT: the variants, one chosen at commit time
    choose_exit: Callable[[int | None], int] | None = None
    reactivate: bool = False
    stop_reason: Reason = Reason.CAP  # for EXIT: why the contact stops (cap, converted)
    new_conversation_limit: int | None = None  # first reply: claim one from today's budget
    usage: dict[str, Any] = field(default_factory=dict)  # model, tokens, brain_ms, attempts
    # (persona link, public base URL): send a tracked /l/<token> link in its place
    track_link: tuple[str, str] | None = None
    latency_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_exit(self) -> bool:
        return self.kind is CommitKind.EXIT


@dataclass(frozen=True, slots=True)
class Committed:
    turn_id: int
    message_id: int
    text: str  # as sent: with the tracked link when attribution is on
    exit_variant: int | None


class TurnRejected(Exception):
    """The commit was refused; `reason` says why (paused, stopped, lease lost, duplicate)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        is_sqlite = engine.dialect.name == "sqlite"
        self._dialect = sqlite if is_sqlite else postgresql
        # SQLite has one writer at a time. Queueing this process's writers here keeps them
        # out of SQLite's busy handler, which sleeps in growing steps; other processes
        # still wait on busy_timeout. PostgreSQL needs no such queue.
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if is_sqlite else nullcontext()
        )
        self._sql = Statements(engine.dialect.name)
        self._fences: dict[tuple[bool, bool], Update] = {}

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True, pool_size: int = 10) -> Store:
        engine = create_db_engine(url, pool_size=pool_size)
        if run_migrations:
            migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with (
            self.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection,
            connection.begin(),
        ):
            yield connection

    # -- inbound -------------------------------------------------------------------------

    def record_inbound(
        self,
        inbound: Inbound,
        now: datetime,
        dedup_window: timedelta,
        language: str | None,
        safety_stop: Reason | None = None,
    ) -> Recorded:
        """Store one delivery exactly once; recognise a repeat of it atomically.

        `safety_stop` (a minor, an opt-out) stops the contact in the same transaction, so
        a reply already in flight fails its commit fence and nothing follows.
        """
        sql = self._sql
        with self._write() as db:
            contact_id, stopped_at, stage = db.execute(
                sql.upsert_contact,
                {
                    "channel": inbound.channel,
                    "external_id": inbound.contact_external_id,
                    "name": inbound.contact_name,
                    "username": inbound.contact_username,
                    "language": language,
                    "now": now,
                },
            ).one()
            paused = bool(db.scalar(sql.paused))
            stopped = stopped_at is not None

            key = inbound.dedup_key()
            if key is not None:
                ids = {"contact_id": contact_id, "key": key}
                claimed = db.execute(
                    sql.claim_key, {**ids, "now": now, "cutoff": now - dedup_window}
                )
                if claimed.first() is None:
                    original = db.scalar(sql.key_message, ids)
                    return Recorded(contact_id, None, original, paused, stopped, stage)

            message_id = db.execute(
                sql.insert_message,
                {
                    "contact_id": contact_id,
                    "direction": "in",
                    "kind": inbound.kind.value,
                    "text": inbound.text,
                    "media_url": inbound.media_url,
                    "language": language,
                    "created_at": now,
                },
            ).scalar_one()
            if key is not None:
                db.execute(
                    sql.link_key,
                    {"b_contact_id": contact_id, "b_key": key, "b_message_id": message_id},
                )
            applied = None
            if safety_stop is not None:
                statement = sql.stop_minor if safety_stop is Reason.MINOR else sql.stop_opt_out
                if db.execute(statement, {"b_id": contact_id, "b_now": now}).rowcount == 1:
                    applied = safety_stop
                    self._event(db, now, "stopped", safety_stop, contact_id, message_id, None)
            return Recorded(contact_id, message_id, None, paused, stopped, stage, applied)

    def newest_inbound_id(self, contact_id: int) -> int | None:
        with self._read() as db:
            return db.scalar(self._sql.newest_inbound, {"contact_id": contact_id})

    # -- the turn lease ------------------------------------------------------------------

    def claim_lease(self, contact_id: int, owner: str, now: datetime, ttl: timedelta) -> bool:
        with self._write() as db:
            claimed = db.execute(
                self._sql.claim_lease,
                {"contact_id": contact_id, "owner": owner, "now": now, "expires": now + ttl},
            )
            return claimed.rowcount == 1

    def release_lease(self, contact_id: int, owner: str) -> None:
        with self._write() as db:
            db.execute(self._sql.release_lease, {"contact_id": contact_id, "owner": owner})

    # -- state ---------------------------------------------------------------------------

    def load_state(
        self, contact_id: int, history_limit: int, recent_limit: int = 20
    ) -> ContactState:
        with self._read() as db:
            return self._state(db, contact_id, history_limit, recent_limit)

    def claim_lease_and_load(
        self, contact_id: int, owner: str, now: datetime, ttl: timedelta, history_limit: int
    ) -> ContactState | None:
        """Take the contact's lease and read its state in one transaction; None if taken.

        For a contact never answered, the state also says how many new conversations
        today's budget has engaged (the commit claims one atomically)."""
        with self._write() as db:
            claimed = db.execute(
                self._sql.claim_lease,
                {"contact_id": contact_id, "owner": owner, "now": now, "expires": now + ttl},
            )
            if claimed.rowcount != 1:
                return None
            state = self._state(db, contact_id, history_limit)
            if not state.recent_replies:
                engaged = db.scalar(self._sql.budget_used, {"day": now.date()}) or 0
                state = replace(state, new_conversations_today=engaged)
            return state

    def _state(
        self, db: Connection, contact_id: int, history_limit: int, recent_limit: int = 20
    ) -> ContactState:
        sql = self._sql
        ids = {"contact_id": contact_id}
        contact = db.execute(sql.contact, ids).one()
        pending = db.execute(sql.pending, ids).all()
        history = db.execute(sql.history, {**ids, "limit": history_limit}).all()
        cycle = db.scalars(
            sql.cycle_replies, {**ids, "cycle_started_at": contact.cycle_started_at}
        ).all()
        recent = db.scalars(sql.recent_replies, {**ids, "limit": recent_limit}).all()
        return ContactState(
            contact_id=contact_id,
            name=contact.name,
            language=contact.language,
            stopped_at=contact.stopped_at,
            stop_reason=contact.stop_reason,
            converted_at=contact.converted_at,
            cycle_replies=tuple(cycle),
            history=tuple(MessageView(*row) for row in reversed(history)),
            pending=tuple(MessageView(*row) for row in pending),
            recent_replies=tuple(recent),
        )

    # -- committing a turn ---------------------------------------------------------------

    def commit_turn(self, turn: TurnCommit) -> Committed:
        """Commit a reply (or an exit together with the stop) if this turn may still speak.

        The same transaction checks the kill switch, that no newer message arrived (a newer
        turn will answer everything), the lease (fencing a turn that outlived it), the
        daily budget of new conversations, and releases the lease on success.
        """
        sql = self._sql
        ids = {"contact_id": turn.contact_id}
        with self._write() as db:
            if db.scalar(sql.paused):
                raise TurnRejected(Reason.PAUSED)
            newest = db.scalar(sql.newest_inbound, ids)
            if newest is not None and newest > turn.last_inbound_id:
                raise TurnRejected(Reason.COALESCED)
            fenced = db.execute(
                self._fence(turn.kind, turn.reactivate),
                {
                    **ids,
                    "owner": turn.owner,
                    "now": turn.now,
                    "new_stage": turn.stage,
                    "b_stop_reason": turn.stop_reason.value,
                },
            )
            if fenced.rowcount != 1:
                raise TurnRejected(self._why_fenced(db, turn))
            if turn.new_conversation_limit is not None:
                claimed = db.execute(
                    sql.claim_budget,
                    {"day": turn.now.date(), "limit": turn.new_conversation_limit},
                )
                if claimed.first() is None:
                    raise TurnRejected(Reason.BUDGET)

            text, variant = turn.text, None
            if turn.is_exit:
                variant = self._rotate_exit(db, turn)
                text = turn.exit_texts[variant]
            outcome = {CommitKind.EXIT: "exit", CommitKind.GOODBYE: "goodbye"}.get(
                turn.kind, "sent"
            )
            try:
                turn_id = db.execute(
                    sql.insert_turn,
                    {
                        "contact_id": turn.contact_id,
                        "last_inbound_id": turn.last_inbound_id,
                        "stage": turn.stage,
                        "outcome": outcome,
                        "created_at": turn.now,
                    },
                ).scalar_one()
            except IntegrityError as exc:
                raise TurnRejected(Reason.DUPLICATE) from exc
            message_id = db.execute(
                sql.insert_message,
                {
                    "contact_id": turn.contact_id,
                    "direction": "out",
                    "kind": turn.kind.value,
                    "text": text,
                    "media_url": None,
                    "language": turn.language,
                    "stage": turn.stage,
                    "turn_id": turn_id,
                    "exit_variant": variant,
                    "created_at": turn.now,
                    "text_key": text_key(text),
                    **{column: turn.usage.get(column) for column in USAGE_COLUMNS},
                },
            ).scalar_one()
            sent = text
            if turn.track_link is not None and turn.track_link[0] in text:
                link, base = turn.track_link
                token = secrets.token_urlsafe(9)
                db.execute(
                    link_tokens.insert().values(
                        token=token,
                        contact_id=turn.contact_id,
                        message_id=message_id,
                        stage=turn.stage,
                        created_at=turn.now,
                    )
                )
                sent = text.replace(link, f"{base.rstrip('/')}/l/{token}")
            detail = dict(turn.detail)
            if variant is not None:
                detail["exit_variant"] = variant
            if turn.kind is CommitKind.DISCLOSURE:
                detail["disclosure"] = True
            reason = {CommitKind.EXIT: turn.stop_reason, CommitKind.GOODBYE: Reason.OPT_OUT}.get(
                turn.kind
            )
            self._event(
                db,
                turn.now,
                "exit" if turn.is_exit else "sent",
                reason,
                turn.contact_id,
                message_id,
                turn_id,
                turn.latency_ms,
                detail,
            )
            if turn.is_exit:
                self._event(
                    db, turn.now, "stopped", turn.stop_reason, turn.contact_id, None, turn_id
                )
        return Committed(turn_id, message_id, sent, variant)

    def _fence(self, kind: CommitKind, reactivate: bool) -> Update:
        """UPDATE that proves the turn still holds a live lease and may speak, records the
        stage (and the stop, for an exit) and releases the lease. Built once per variant."""
        key = (kind, reactivate)
        statement = self._fences.get(key)
        if statement is not None:
            return statement
        values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        if kind is CommitKind.GOODBYE:
            # The opt-out already stopped the contact; only its own goodbye may follow.
            may_speak = contacts.c.stop_reason == Reason.OPT_OUT.value
        elif reactivate:
            may_speak = contacts.c.stopped_at.is_not(None)
            values |= {
                "stopped_at": None,
                "stop_reason": None,
                "cycle_started_at": bindparam("now"),
                "stage": bindparam("new_stage"),
            }
        else:
            may_speak = contacts.c.stopped_at.is_(None)
            values["stage"] = bindparam("new_stage")
        if kind is CommitKind.EXIT:
            values |= {
                "stopped_at": bindparam("now"),
                "stop_reason": bindparam("b_stop_reason"),
                "stage": STOPPED_STAGE,
            }
        statement = (
            update(contacts)
            .where(
                contacts.c.id == bindparam("contact_id"),
                contacts.c.lease_owner == bindparam("owner"),
                contacts.c.lease_expires_at > bindparam("now"),
                may_speak,
            )
            .values(**values)
        )
        self._fences[key] = statement
        return statement

    def _why_fenced(self, db: Connection, turn: TurnCommit) -> Reason:
        row = db.execute(
            select(contacts.c.lease_owner, contacts.c.lease_expires_at).where(
                contacts.c.id == turn.contact_id
            )
        ).one()
        if row.lease_owner != turn.owner or row.lease_expires_at <= turn.now:
            return Reason.LEASE_LOST
        return Reason.STOPPED

    def _rotate_exit(self, db: Connection, turn: TurnCommit) -> int:
        """Pick the exit variant and record it, compare-and-set, so concurrent exits for
        different contacts never send the same variant twice in a row."""
        assert turn.choose_exit is not None
        while True:
            last = db.scalar(
                select(exit_rotation.c.last_variant).where(
                    exit_rotation.c.language == turn.language
                )
            )
            choice = turn.choose_exit(last)
            if last is None:
                inserted = db.execute(
                    self._dialect.insert(exit_rotation)
                    .values(language=turn.language, last_variant=choice, changed_at=turn.now)
                    .on_conflict_do_nothing()
                )
                if inserted.rowcount == 1:
                    return choice
                continue
            swapped = db.execute(
                update(exit_rotation)
                .where(
                    exit_rotation.c.language == turn.language,
                    exit_rotation.c.last_variant == last,
                )
                .values(last_variant=choice, changed_at=turn.now)
            )
            if swapped.rowcount == 1:
                return choice

    # -- account safety ------------------------------------------------------------------

    def new_conversations(self, day: date) -> int:
        with self._read() as db:
            return db.scalar(self._sql.budget_used, {"day": day}) or 0

    def recent_outbound(
        self, since: datetime, exclude_contact: int, limit: int = 500
    ) -> list[tuple[int, str]]:
        """Replies sent to other contacts since `since`, newest first (for broadcast checks)."""
        with self._read() as db:
            rows = db.execute(
                self._sql.recent_outbound,
                {"since": since, "contact_id": exclude_contact, "limit": limit},
            ).all()
        return [(contact_id, text) for contact_id, text in rows]

    # -- contacts ------------------------------------------------------------------------

    def mark_converted(self, channel: str, external_id: str, now: datetime, by: str) -> bool:
        """Record a conversion; the contact's next turn is the goodbye. False: no such contact."""
        with self._write() as db:
            contact_id = db.scalar(
                select(contacts.c.id).where(
                    contacts.c.channel == channel, contacts.c.external_id == external_id
                )
            )
            if contact_id is None:
                return False
            changed = db.execute(
                update(contacts)
                .where(contacts.c.id == contact_id, contacts.c.converted_at.is_(None))
                .values(converted_at=now, stage="converted")
            )
            if changed.rowcount:
                self._event(db, now, "converted", None, contact_id, None, None, detail={"by": by})
            return True

    # -- events --------------------------------------------------------------------------

    def record_event(
        self,
        now: datetime,
        kind: str,
        reason: Reason | str | None = None,
        contact_id: int | None = None,
        message_id: int | None = None,
        turn_id: int | None = None,
        latency_ms: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._write() as db:
            self._event(db, now, kind, reason, contact_id, message_id, turn_id, latency_ms, detail)

    @staticmethod
    def _event(
        db: Connection,
        now: datetime,
        kind: str,
        reason: Reason | str | None,
        contact_id: int | None,
        message_id: int | None,
        turn_id: int | None,
        latency_ms: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        db.execute(
            events.insert(),
            dict(
                created_at=now,
                kind=kind,
                reason=str(reason) if reason is not None else None,
                contact_id=contact_id,
                message_id=message_id,
                turn_id=turn_id,
                latency_ms=latency_ms,
                detail=detail or None,
            ),
        )

    # -- attribution -----------------------------------------------------------------------

    def record_click(self, token: str, now: datetime, user_agent: str | None) -> bool:
        """Record a click on a tracked link; False for a token dmpilot never issued."""
        with self._write() as db:
            known = db.scalar(select(link_tokens.c.token).where(link_tokens.c.token == token))
            if known is None:
                return False
            db.execute(
                link_clicks.insert().values(
                    token=token, clicked_at=now, user_agent=(user_agent or "")[:200] or None
                )
            )
            return True

    # -- the kill switch -----------------------------------------------------------------

    def control(self) -> ControlState:
        with self._read() as db:
            row = db.execute(select(control).where(control.c.id == 1)).one()
        return ControlState(bool(row.paused), row.reason, row.changed_at, row.changed_by)

    def set_paused(self, paused: bool, reason: str | None, by: str, now: datetime) -> ControlState:
        with self._write() as db:
            db.execute(
                update(control)
                .where(control.c.id == 1)
                .values(paused=paused, reason=reason, changed_at=now, changed_by=by)
            )
            self._event(
                db,
                now,
                "paused" if paused else "resumed",
                None,
                None,
                None,
                None,
                detail={"reason": reason, "by": by},
            )
        return ControlState(paused, reason, now, by)

    def decision_mix(self, since: datetime) -> dict[tuple[str, str | None], int]:
        """Event counts by (kind, reason) since `since`: the anomaly guard's window."""
        with self._read() as db:
            rows = db.execute(
                select(events.c.kind, events.c.reason, func.count())
                .where(events.c.created_at >= since)
                .group_by(events.c.kind, events.c.reason)
            ).all()
        return {(kind, reason): count for kind, reason, count in rows}

    def pause_if_running(self, reason: str, by: str, now: datetime) -> bool:
        """Turn the kill switch on unless it already is; True if this call paused."""
        with self._write() as db:
            changed = db.execute(
                update(control)
                .where(control.c.id == 1, control.c.paused.is_(False))
                .values(paused=True, reason=reason, changed_at=now, changed_by=by)
            )
            if changed.rowcount:
                self._event(
                    db, now, "paused", None, None, None, None, detail={"reason": reason, "by": by}
                )
            return bool(changed.rowcount)

    # -- figures for `dmpilot status` ----------------------------------------------------

    def summary(self, since: datetime) -> dict[str, Any]:
        with self._read() as db:
            contact_count = db.scalar(select(func.count()).select_from(contacts)) or 0
            stopped = (
                db.scalar(
                    select(func.count())
                    .select_from(contacts)
                    .where(contacts.c.stopped_at.is_not(None))
                )
                or 0
            )
            by_direction = dict(
                db.execute(
                    select(messages.c.direction, func.count()).group_by(messages.c.direction)
                ).all()
            )
            recent = db.execute(
                select(events.c.kind, func.coalesce(events.c.reason, literal("")), func.count())
                .where(and_(events.c.created_at >= since))
                .group_by(events.c.kind, events.c.reason)
                .order_by(func.count().desc())
            ).all()
        return {
            "contacts": contact_count,
            "stopped": stopped,
            "inbound": by_direction.get("in", 0),
            "outbound": by_direction.get("out", 0),
            "events": [(kind, reason, count) for kind, reason, count in recent],
        }
