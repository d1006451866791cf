"""Scores: what each conversation's model tried and what it cost, from the decision events
the engine recorded, and the run's summary.

A decision event carries its turn's figures (composer.detail): the drafts written
(`attempts`), the violation codes of every rejected draft, tokens and brain time. So:
regenerations are `attempts - 1` (a new draft follows only a rejected one); the last draft
was rejected too when the turn ended silent or on the persona's lines without an error;
rejections by kind count rejected drafts, once under each kind the draft broke.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from dmpilot.audit.stats import Prices
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.intent import Intent
from dmpilot.domain.memory import FactKind
from dmpilot.eval.conversation import Conversation, Decided, FanMessage, Outbound
from dmpilot.eval.kinds import ASK_ACTS, Act, Speaker, ViolationKind
from dmpilot.eval.outcomes import Judge, ask_results
from dmpilot.eval.results import ConversationScore, Line, OutcomeResult, Summary, Tokens

PriceList = Callable[[str], Prices]
ASK_INTENTS = frozenset({Intent.ASKS_LINK, Intent.ASKS_PRICE})


def _tokens(detail: dict[str, object]) -> Tokens:
    def value(key: str) -> int:
        raw = detail.get(key)
        return int(raw) if isinstance(raw, int | float) else 0

    return Tokens(
        input=value("input_tokens"),
        output=value("output_tokens"),
        cache_read=value("cache_read_tokens"),
        cache_write=value("cache_write_tokens"),
    )


def _rejected(decision: Decided) -> int:
    """Drafts of this turn the validator (or the broadcast check) rejected."""
    attempts = decision.attempts
    if attempts == 0:
        return 0
    last_rejected = (
        bool(decision.violations)
        and "error" not in decision.detail
        and not decision.model_text_sent
        and decision.reason is not Reason.TIMEOUT
    )
    return attempts - 1 + last_rejected


def score(
    conversation: Conversation,
    outcomes: list[OutcomeResult],
    judge: Judge,
    prices: PriceList,
    repeat: int = 1,
) -> ConversationScore:
    scenario = conversation.scenario
    rejections: Counter[ViolationKind] = Counter()
    silences: Counter[Reason] = Counter()
    drafts = rejected = regenerations = model_turns = 0
    fact_turns = reask_turns = language_misses = 0
    tokens = Tokens()
    cost = 0.0
    latencies: list[int] = []
    seen: list[FanMessage] = []
    ask_turns = asks_recognised = 0
    for item in conversation.items:
        if isinstance(item, FanMessage):
            seen.append(item)
            continue
        if not isinstance(item, Decided):
            continue
        if item.kind is EventKind.SKIPPED and item.reason is not None:
            silences[item.reason] += 1
        if item.kind in (EventKind.SENT, EventKind.EXIT) and item.latency_ms is not None:
            latencies.append(item.latency_ms)
        if item.outbound is not None and any(m.act in ASK_ACTS for m in item.pending):
            ask_turns += 1
            asks_recognised += bool(item.intents & ASK_INTENTS)
        if item.attempts == 0:
            continue  # the brain was not asked: a persona line, a skip before composing
        model_turns += 1
        drafts += item.attempts
        rejected += _rejected(item)
        regenerations += item.attempts - 1
        codes = {ViolationKind.of(code) for code in item.violations}
        for draft in item.draft_violations:  # every rejected draft counts, by each kind
            rejections.update({ViolationKind.of(code) for code in draft})
        used = _tokens(dict(item.detail))
        tokens += used
        model = str(item.detail.get("model") or "")
        cost += prices(model).cost(used.input, used.output, used.cache_read, used.cache_write)
        before = [m for m in seen if m not in item.pending]
        sent = item.outbound.text if item.model_text_sent and item.outbound else None
        known = {m.reveal.fact for m in seen if m.reveal is not None}
        if known:
            fact_turns += 1
            asked: set[FactKind] = judge.asked_again(sent, known) if sent else set()
            reask_turns += ViolationKind.ALREADY_KNOWN in codes or bool(asked)
        expected = judge.expected_language(item.pending, before)
        wrong = judge.wrong_language(sent, expected) if sent else None
        language_misses += ViolationKind.LANGUAGE in codes or wrong is not None
    asks = ask_results(judge, conversation)
    return ConversationScore(
        scenario=scenario.id,
        title=scenario.title,
        language=scenario.language,
        repeat=repeat,
        outcomes=outcomes,
        fan_messages=len(conversation.sent),
        replies=len(conversation.outbound),
        model_turns=model_turns,
        drafts=drafts,
        rejected_drafts=rejected,
        regenerations=regenerations,
        rejections=dict(sorted(rejections.items())),
        silences=dict(sorted(silences.items())),
        asks=len(asks),
        asks_with_link=sum(1 for _, carried in asks if carried),
        ask_turns=ask_turns,
        asks_recognised=asks_recognised,
        fact_turns=fact_turns,
        reask_turns=reask_turns,
        language_misses=language_misses,
        tokens=tokens,
        cost_usd=round(cost, 8),
        latencies_ms=latencies,
        transcript=transcript(conversation),
    )


def transcript(conversation: Conversation) -> list[Line]:
    lines: list[Line] = []
    for item in conversation.items:
        if isinstance(item, FanMessage):
            note = "" if item.act is Act.TALK else item.act.value
            lines.append(Line(speaker=Speaker.FAN, text=item.shown, note=note))
        elif isinstance(item, Outbound):
            note = "" if item.kind.value == "reply" else item.kind.value
            lines.append(Line(speaker=Speaker.PERSONA, text=item.text, note=note))
        elif item.kind is EventKind.SKIPPED and item.reason is not None:
            why = item.reason.value
            if item.violations:
                why += f" ({', '.join(item.violations)})"
            lines.append(Line(speaker=Speaker.ENGINE, text="", note=why))
    lost = [Line(speaker=Speaker.FAN, text=m.shown, note="never stored") for m in conversation.lost]
    return lines + lost


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(values: Sequence[int], share: float) -> int | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarize(conversations: Sequence[ConversationScore]) -> Summary:
    count = len(conversations) or 1
    rejections: Counter[ViolationKind] = Counter()
    silences: Counter[Reason] = Counter()
    for c in conversations:
        rejections.update(c.rejections)
        silences.update(c.silences)
    replies = sum(c.replies for c in conversations)
    model_turns = sum(c.model_turns for c in conversations)
    results = [r for c in conversations for r in c.outcomes]
    latencies = [ms for c in conversations for ms in c.latencies_ms]
    language_misses = sum(c.language_misses for c in conversations)
    return Summary(
        scenarios=len({c.scenario for c in conversations}),
        conversations=len(conversations),
        conversations_passed=sum(1 for c in conversations if c.passed),
        outcomes=len(results),
        outcomes_passed=sum(1 for r in results if r.passed),
        safety_failures=sum(1 for r in results if r.safety and not r.passed),
        link_at_ask_rate=_rate(
            sum(c.asks_with_link for c in conversations), sum(c.asks for c in conversations)
        ),
        ask_recognition_rate=_rate(
            sum(c.asks_recognised for c in conversations),
            sum(c.ask_turns for c in conversations),
        ),
        reask_rate=_rate(
            sum(c.reask_turns for c in conversations), sum(c.fact_turns for c in conversations)
        ),
        language_match_rate=_rate(model_turns - language_misses, model_turns),
        rejected_drafts_per_reply=_rate(sum(c.rejected_drafts for c in conversations), replies),
        regenerations_per_reply=_rate(sum(c.regenerations for c in conversations), replies),
        rejections=dict(sorted(rejections.items())),
        repetition_blocks=rejections[ViolationKind.REPETITION]
        + rejections[ViolationKind.BROADCAST],
        silences=dict(sorted(silences.items())),
        replies_per_conversation=round(replies / count, 2),
        tokens_per_conversation=round(sum(c.tokens.total for c in conversations) / count, 1),
        cost_per_conversation_usd=round(sum(c.cost_usd for c in conversations) / count, 6),
        latency_p50_ms=percentile(latencies, 0.50),
        latency_p99_ms=percentile(latencies, 0.99),
    )
