"""One evaluated conversation as the store recorded it: the fan's messages as stored, what
went out, and every decision event — read through the store's timeline read model, so the
scores judge what the engine recorded rather than what the runner believes happened."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.findings import Finding
from dmpilot.domain.intent import Intent
from dmpilot.domain.turns import CommitKind
from dmpilot.eval.kinds import WORDLESS_ACTS, Act, RevealKind
from dmpilot.eval.scenario import Scenario, Step
from dmpilot.store.reads.history import TimelineEntry

# The timeline shows outbound messages other than funnel replies as "[kind] text".
_KIND_PREFIX = re.compile(
    r"^\[(" + "|".join(re.escape(kind.value) for kind in CommitKind) + r")\] ?(.*)$", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class FanMessage:
    step: Step
    text: str | None  # as the fan wrote it
    shown: str  # as the timeline shows it once stored (cleaned, media as "[kind]")

    @property
    def act(self) -> Act:
        return self.step.turn.act

    @property
    def number(self) -> int:
        return self.step.number

    @property
    def language(self) -> str:
        return self.step.language

    @property
    def wordy(self) -> bool:
        return self.act not in WORDLESS_ACTS

    @property
    def minor(self) -> bool:
        return self.step.turn.minor

    @property
    def reveal(self) -> RevealKind | None:
        return self.step.turn.fact if self.act is Act.REVEAL else None


@dataclass(frozen=True, slots=True)
class Outbound:
    kind: CommitKind
    text: str
    stage: str | None
    answers: tuple[FanMessage, ...]  # the fan messages stored since the previous outbound


@dataclass(frozen=True, slots=True)
class Decided:
    """A decision event: a reply committed (sent, exit) or a silence (skipped) and why."""

    kind: EventKind
    reason: Reason | None
    detail: Mapping[str, Any]
    pending: tuple[FanMessage, ...]  # the fan messages it decided about
    outbound: Outbound | None = None  # what it committed
    intents: frozenset[Intent] = frozenset()  # what the engine read in them (commits only)

    @property
    def attempts(self) -> int:
        return int(self.detail.get("attempts") or 0)

    @property
    def model_text_sent(self) -> bool:
        """The brain's own draft went out (not a persona line, not the exit fallback)."""
        return (
            self.kind in (EventKind.SENT, EventKind.EXIT)
            and self.attempts > 0
            and "fallback" not in self.detail
            and self.outbound is not None
        )

    @property
    def violations(self) -> list[str]:
        found = self.detail.get("violations") or []
        return [str(code) for code in found]

    @property
    def draft_violations(self) -> list[list[str]]:
        """Each rejected draft's codes; older events hold only the last draft's."""
        drafts = self.detail.get("draft_violations")
        if isinstance(drafts, list):
            return [[str(code) for code in draft] for draft in drafts if isinstance(draft, list)]
        return [self.violations] if self.violations else []

    @property
    def latency_ms(self) -> int | None:
        value = self.detail.get("latency_ms")
        return int(value) if value is not None else None


Item = FanMessage | Outbound | Decided
DECISIONS = frozenset({EventKind.SENT, EventKind.SKIPPED, EventKind.EXIT})


@dataclass(frozen=True)
class Conversation:
    scenario: Scenario
    sent: tuple[FanMessage, ...]  # every fan message, in the order written
    items: tuple[Item, ...]  # stored messages and decisions, in order
    lost: tuple[FanMessage, ...] = ()  # written but never stored
    stop_reason: str | None = None
    findings: Counter[Finding] = field(default_factory=Counter)

    @property
    def outbound(self) -> list[Outbound]:
        return [item for item in self.items if isinstance(item, Outbound)]

    @property
    def stored(self) -> list[FanMessage]:
        return [item for item in self.items if isinstance(item, FanMessage)]

    @property
    def decisions(self) -> list[Decided]:
        return [item for item in self.items if isinstance(item, Decided)]


def _reason(value: str | None) -> Reason | None:
    if value is None:
        return None
    try:
        return Reason(value)
    except ValueError:  # an intent's name, or a reason newer than this code
        return None


def _outbound_kind(text: str) -> tuple[CommitKind, str]:
    match = _KIND_PREFIX.match(text)
    if match is None:
        return CommitKind.REPLY, text
    return CommitKind(match.group(1)), match.group(2)


def _add_intent(items: list[Item], name: str | None) -> None:
    """An intent event follows the commit it was recorded with."""
    last = items[-1] if items else None
    if not isinstance(last, Decided) or name is None:
        return
    try:
        intent = Intent(name)
    except ValueError:
        return
    items[-1] = replace(last, intents=last.intents | {intent})


def from_timeline(
    scenario: Scenario,
    sent: Sequence[FanMessage],
    info: Mapping[str, Any],
    entries: Sequence[TimelineEntry],
    findings: Counter[Finding] | None = None,
) -> Conversation:
    """Match the stored inbound messages to what the fan wrote (by their text, in order),
    and attach to every outbound message and decision the fan messages it answered."""
    unmatched = list(sent)
    items: list[Item] = []
    since_reply: list[FanMessage] = []
    last_outbound: Outbound | None = None
    for entry in entries:
        if entry.kind == "in":
            found = next((m for m in unmatched if m.shown == entry.text), None)
            if found is None:
                continue  # not the fan's: nothing else writes to an evaluation's database
            unmatched.remove(found)
            items.append(found)
            since_reply.append(found)
            last_outbound = None
        elif entry.kind == "out":
            kind, text = _outbound_kind(entry.text)
            last_outbound = Outbound(kind, text, entry.stage, tuple(since_reply))
            items.append(last_outbound)
            since_reply = []
        else:
            try:
                event = EventKind(entry.text)
            except ValueError:
                continue
            if event is EventKind.INTENT:
                _add_intent(items, entry.reason)
                continue
            if event not in DECISIONS:
                continue
            # A commit's event follows its message; a silent exit has no message.
            outbound = last_outbound if event is not EventKind.SKIPPED else None
            pending = outbound.answers if outbound is not None else tuple(since_reply)
            items.append(
                Decided(event, _reason(entry.reason), dict(entry.detail or {}), pending, outbound)
            )
            if outbound is not None:
                last_outbound = None  # one decision per outbound message
    return Conversation(
        scenario,
        tuple(sent),
        tuple(items),
        tuple(unmatched),
        info.get("stop_reason"),
        findings or Counter(),
    )
