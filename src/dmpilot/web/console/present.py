"""Timeline entries as an operator reads them: labels for event kinds, the facts worth
showing from each event's detail, costs, and which links are safe to make clickable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dmpilot.audit.stats import Prices
from dmpilot.domain.decision import EventKind
from dmpilot.store.reads.console import EventEntry, MessageEntry, Tokens

EVENT_LABELS: dict[str, str] = {
    EventKind.SENT.value: "Reply committed",
    EventKind.SKIPPED.value: "No reply",
    EventKind.EXIT.value: "Exit",
    EventKind.STOPPED.value: "Stopped",
    EventKind.FLAGGED.value: "Flagged",
    EventKind.CONVERTED.value: "Marked converted",
    EventKind.DELIVERED.value: "Delivered",
    EventKind.DELIVERY_RETRY.value: "Delivery will be retried",
    EventKind.DELIVERY_FAILED.value: "Delivery failed",
    EventKind.DELIVERY_UNKNOWN.value: "Delivery outcome unknown",
    EventKind.DELIVERY_CANCELLED.value: "Delivery cancelled",
    EventKind.INTENT.value: "Intent",
    EventKind.HANDOFF.value: "Taken over by a person",
    EventKind.HANDBACK.value: "Handed back to the bot",
    EventKind.HUMAN_REPLY.value: "A person's message queued",
    EventKind.RESET.value: "Funnel reset",
    EventKind.FOLLOW_UP_CANCELLED.value: "Follow-up cancelled",
}
# Events an operator should notice: drawn in the warning colour.
WARNING_EVENTS = frozenset(
    {
        EventKind.STOPPED.value,
        EventKind.FLAGGED.value,
        EventKind.DELIVERY_FAILED.value,
        EventKind.DELIVERY_UNKNOWN.value,
    }
)
# Detail keys that are bookkeeping, or are shown elsewhere on the entry.
_HIDDEN = frozenset(
    {
        "brain",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "rejected",
        "draft_violations",
        "violations",
    }
)
MAX_FACT = 300


@dataclass(frozen=True, slots=True)
class Priced:
    """Costs in US$, by the same prices `dmpilot stats` uses."""

    prices: Prices

    def __call__(self, tokens: Tokens) -> float:
        return self.prices.cost(tokens.input, tokens.output, tokens.cache_read, tokens.cache_write)


def event_label(entry: EventEntry) -> str:
    return EVENT_LABELS.get(entry.kind, entry.kind.replace("_", " ").capitalize())


def event_tone(entry: EventEntry) -> str:
    return "warn" if entry.kind in WARNING_EVENTS else "plain"


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        text = ", ".join(_shown(item) for item in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={_shown(v)}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= MAX_FACT else text[: MAX_FACT - 1] + "…"


def event_facts(entry: EventEntry) -> list[tuple[str, str]]:
    """The detail's non-empty values worth reading, as (name, text)."""
    facts = [
        (key.replace("_", " "), _shown(value))
        for key, value in entry.detail.items()
        if key not in _HIDDEN and value not in (None, "", [], {}, False)
    ]
    if entry.latency_ms is not None:
        facts.append(("latency", f"{entry.latency_ms} ms"))
    return facts


def draft_violations(entry: MessageEntry | EventEntry) -> list[list[str]]:
    """Each rejected draft's violation codes, oldest first."""
    detail = entry.decision if isinstance(entry, MessageEntry) else entry.detail
    drafts = (detail or {}).get("draft_violations") or []
    return [[str(code) for code in codes] for codes in drafts if isinstance(codes, list)]


def rejected_drafts(entry: MessageEntry | EventEntry) -> list[str]:
    detail = entry.decision if isinstance(entry, MessageEntry) else entry.detail
    return [str(text) for text in (detail or {}).get("rejected") or []]


def safe_link(url: str | None) -> str | None:
    """A media URL to link to, only when it is plain http(s): a contact's attachment URL
    could otherwise be `javascript:`."""
    if not url or len(url) > 2000:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def delivery_text(entry: MessageEntry) -> str | None:
    if entry.delivery_state is None:
        return None
    text = entry.delivery_state
    if entry.delivery_via:
        text += f" via {entry.delivery_via}"
    if entry.delivery_attempts and entry.delivery_attempts > 1:
        text += f" after {entry.delivery_attempts} attempts"
    return text
