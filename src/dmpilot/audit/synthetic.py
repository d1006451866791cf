"""A synthetic conversation history with planted findings, to check the audit finds exactly
what is there (bench/audit.py, tests). Every contact alternates inbound and distinct replies,
ten minutes apart; each planted finding sits on its own set of contacts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from dmpilot.domain.findings import Finding
from dmpilot.domain.persona import Persona
from dmpilot.domain.repetition import text_key
from dmpilot.store import Store

CHANNEL = "synthetic"

# Replies no two of which are near-duplicates (the live threshold keeps them apart).
REPLY_POOL = [
    "what was the best meal you had on the road?",
    "do you prefer sunrise shoots or night photography?",
    "which camera bag would you never travel without?",
    "have you ever missed a train because of a photo?",
    "what city surprised you the most last year?",
    "are you planning anything for the winter holidays?",
    "do you print your photos or keep them digital?",
    "who taught you to take pictures in the first place?",
    "is there a country you keep going back to?",
    "what song reminds you of your favourite trip?",
    "would you rather hike a volcano or dive a reef?",
    "how many photos do you usually take in a day?",
    "tell me about the strangest hotel you ever stayed in",
    "do you edit on a laptop or straight on your phone?",
    "which season has the prettiest light where you live?",
    "have you tried film cameras, or only digital so far?",
    "what is the next place on your travel bucket list?",
    "did any local ever show you a hidden viewpoint?",
    "are you more of a planner or do you improvise trips?",
    "which of your photos got the most likes ever?",
    "how do you keep your gear dry when it rains?",
    "what language would you love to learn for travelling?",
    "do you ever travel just to photograph one festival?",
    "what is your favourite time of day to walk around a new city?",
    "have you ever photographed the northern lights?",
]
EXTRA_REPLY = "oh and one more thing, golden hour in lisbon is unreal"
PAIRS = len(REPLY_POOL)  # inbound/reply pairs per contact: 50 messages
SPACING = timedelta(minutes=10)
PLANTS = [
    Finding.DUPLICATE_60S,
    Finding.DUPLICATE_5M,
    Finding.REPEATED_MESSAGE,
    Finding.POTENTIAL_LOOP,
    Finding.EXIT_REPEATED,
    Finding.SENT_AFTER_STOP,
    Finding.LINK_OVER_BUDGET,
    Finding.DOUBLE_REPLY,
    Finding.UNANSWERED,
    Finding.WRONG_LANGUAGE,
]


def _conversation(
    index: int, plant: Finding | None, start: datetime, persona: Persona
) -> tuple[list[dict[str, Any]], datetime | None, Counter[Finding]]:
    """One contact's messages in order, its stop time, and what was planted."""
    rows: list[dict[str, Any]] = []
    expected: Counter[Finding] = Counter()
    link = str(persona.link.url)
    replies = [REPLY_POOL[(index + k) % PAIRS] for k in range(PAIRS)]
    kinds = ["reply"] * PAIRS
    languages = ["en"] * PAIRS
    at = [start + SPACING * (2 * k + 1) for k in range(PAIRS)]
    stopped_at = None

    if plant in (Finding.DUPLICATE_60S, Finding.DUPLICATE_5M):
        gap = timedelta(seconds=30 if plant is Finding.DUPLICATE_60S else 200)
        replies[5] = replies[4]
        at[5] = at[4] + gap
        expected[Finding.DUPLICATE_5M] += 1
        if plant is Finding.DUPLICATE_60S:
            expected[Finding.DUPLICATE_60S] += 1
    elif plant is Finding.REPEATED_MESSAGE:
        replies[8] = replies[13] = replies[3]
        expected[Finding.REPEATED_MESSAGE] += 1
    elif plant is Finding.POTENTIAL_LOOP:
        a, b = replies[PAIRS - 5], replies[PAIRS - 4]
        replies[PAIRS - 3], replies[PAIRS - 2], replies[PAIRS - 1] = a, b, a
        expected[Finding.POTENTIAL_LOOP] += 1
        expected[Finding.REPEATED_MESSAGE] += 1  # `a` was sent three times
    elif plant is Finding.EXIT_REPEATED:
        exits = persona.exits[persona.default_language]
        replies[-2], replies[-1] = exits[0], exits[1 % len(exits)]
        kinds[-2] = kinds[-1] = "exit"
        expected[Finding.EXIT_REPEATED] += 1
    elif plant is Finding.SENT_AFTER_STOP:
        stopped_at = at[PAIRS - 3]
        expected[Finding.SENT_AFTER_STOP] += 2
    elif plant is Finding.LINK_OVER_BUDGET:
        for k in (5, 10, 15):
            replies[k] = f"{replies[k]} {link}"
        expected[Finding.LINK_OVER_BUDGET] += 3 - persona.link.budget
    elif plant is Finding.WRONG_LANGUAGE:
        languages[7] = "fr"
        expected[Finding.WRONG_LANGUAGE] += 1

    for k in range(PAIRS):
        inbound_at = at[k] - (at[k] - at[k - 1]) / 2 if k else at[k] - SPACING
        rows.append(_row("in", "text", f"message {k} from a fan", "en", inbound_at))
        rows.append(_row("out", kinds[k], replies[k], languages[k], at[k]))
        if plant is Finding.DOUBLE_REPLY and k == 12:
            rows.append(_row("out", "reply", EXTRA_REPLY, "en", at[k] + timedelta(minutes=2)))
            expected[Finding.DOUBLE_REPLY] += 1
    if plant is Finding.UNANSWERED:
        for extra in (1, 2):
            rows.append(_row("in", "text", f"hello? {extra}", "en", at[-1] + SPACING * extra))
        expected[Finding.UNANSWERED] += 2
    return rows, stopped_at, expected


def _row(direction: str, kind: str, text: str, language: str, at: datetime) -> dict[str, Any]:
    return {
        "direction": direction,
        "kind": kind,
        "text": text,
        "language": language,
        "created_at": at,
        "text_key": text_key(text) if direction == "out" else None,
    }


def generate(
    store: Store,
    persona: Persona,
    contact_count: int,
    per_plant: int,
    now: datetime,
    batch: int = 20_000,
) -> tuple[int, Counter[Finding]]:
    """Write the history; returns (messages written, planted findings)."""
    if per_plant * len(PLANTS) > contact_count:
        raise ValueError("not enough contacts for the planted findings")
    span = SPACING * (2 * PAIRS + 4)
    origin = now - timedelta(days=30)
    planted: Counter[Finding] = Counter({finding: 0 for finding in Finding})
    written = 0
    contact_rows = [
        {
            "external_id": f"s{i}",
            "username": f"fan{i}",
            "language": "en",
            "created_at": origin,
            "last_inbound_at": origin,
            "cycle_started_at": origin,
            "stage": "warm",
        }
        for i in range(contact_count)
    ]
    with store.writing() as unit:
        for chunk in _chunks(contact_rows, batch):
            unit.bulk.insert_contacts(chunk, CHANNEL)
        ids = unit.bulk.insert_contacts([], CHANNEL)
        pending: list[dict[str, Any]] = []
        stops: list[tuple[int, datetime]] = []
        for i in range(contact_count):
            plant = PLANTS[i // per_plant] if i < per_plant * len(PLANTS) else None
            start = origin + (span * i) % timedelta(days=25)
            rows, stopped_at, expected = _conversation(i, plant, start, persona)
            planted.update(expected)
            contact_id = ids[f"s{i}"]
            for row in rows:
                row["contact_id"] = contact_id
            pending.extend(rows)
            if stopped_at is not None:
                stops.append((contact_id, stopped_at))
            if len(pending) >= batch:
                unit.bulk.insert_messages(pending)
                written += len(pending)
                pending = []
        unit.bulk.insert_messages(pending)
        written += len(pending)
        unit.bulk.stop_contacts(stops, "cap")
    return written, planted


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
