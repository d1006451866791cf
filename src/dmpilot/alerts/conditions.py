"""Which incidents are open, from the figures the store read. Pure: no I/O, no clock.

Every summary is built from counts, times, settings and contact references: never from
what a contact or the bot wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from dmpilot.alerts.silence import HISTORY, describe_hours, silent_usual_time, usual_hours
from dmpilot.audit.stats import Prices
from dmpilot.brains.base import ProbeStatus
from dmpilot.domain.alerts import AlertKind, Incident
from dmpilot.domain.contacts import ContactRef, RefKind
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.settings import Settings
from dmpilot.store.alerts import AlertFigures

# Incidents made of events (a request for a person, a minor's stop, a failed start) are
# looked for this far back.
LOOKBACK = timedelta(hours=24)
GUARD_BY = "guard"  # engine/core.py: who the anomaly guard pauses as …
GUARD_PREFIX = "anomaly guard: "  # … and how its reason starts
SENDER_BY = "-sender"  # engine/deliver.py: a channel refused the account ("instagram-sender")
BRAIN_ERRORS = (Reason.ERROR.value, Reason.TIMEOUT.value)
DELIVERY_TROUBLE = (EventKind.DELIVERY_FAILED.value, EventKind.DELIVERY_UNKNOWN.value)
MAX_DETAIL = 200
HANDLE = re.compile(r"[A-Za-z0-9._]{1,30}")  # what an Instagram username may hold


@dataclass(frozen=True, slots=True)
class AlertRules:
    window: timedelta  # failed deliveries and turns are counted over this window
    delivery_failures: int
    brain_errors: int
    daily_budget_usd: float | None
    silence: timedelta  # of usual hours without inbound; zero: never
    prices: Prices

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules:
        return cls(
            window=timedelta(minutes=settings.alert_window_minutes),
            delivery_failures=settings.alert_delivery_failures,
            brain_errors=settings.alert_brain_errors,
            daily_budget_usd=settings.alert_daily_budget_usd,
            silence=timedelta(hours=settings.alert_silence_hours),
            prices=Prices.for_model(
                settings.model, settings.price_input_per_mtok, settings.price_output_per_mtok
            ),
        )


def open_incidents(figures: AlertFigures, rules: AlertRules) -> list[Incident]:
    found = [
        paused(figures),
        silence(figures, rules),
        deliveries(figures, rules),
        brain_start(figures),
        brain_errors(figures, rules),
        spend(figures, rules),
        minor_stops(figures),
    ]
    return [incident for incident in found if incident is not None] + human_requests(figures)


def paused(figures: AlertFigures) -> Incident | None:
    """The kill switch turned on by dmpilot itself; an operator's own pause is no news.
    Each pause is its own incident."""
    state = figures.control
    by = state.changed_by or ""
    if not state.paused or not (by == GUARD_BY or by.endswith(SENDER_BY)):
        return None
    who = "the anomaly guard" if by == GUARD_BY else f"the {by.removesuffix(SENDER_BY)} channel"
    since = f" since {_time(state.changed_at)}" if state.changed_at else ""
    reason = _short((state.reason or "no reason recorded").removeprefix(GUARD_PREFIX))
    return Incident(
        AlertKind.PAUSED,
        f"{who} paused the account{since}: {reason}. Nothing is sent until someone resumes "
        "(console, `dmpilot resume` or POST /admin/resume).",
        scope=f"{state.changed_at:%Y%m%dT%H%M%S}" if state.changed_at else "",
    )


def silence(figures: AlertFigures, rules: AlertRules) -> Incident | None:
    last = figures.last_inbound_at
    if rules.silence <= timedelta(0) or last is None:
        return None
    hours = usual_hours(figures.inbound_hours)
    quiet = silent_usual_time(last, figures.now, hours)
    if not hours or quiet < rules.silence:
        return None
    return Incident(
        AlertKind.SILENCE,
        f"no message from any contact for {_duration(quiet)} of the account's usual hours "
        f"({describe_hours(hours)} UTC, from the last {HISTORY.days} days); the last one "
        f"arrived {_time(last)}. ManyChat's billing or delivery, or the Instagram "
        "connection, may be down.",
    )


def deliveries(figures: AlertFigures, rules: AlertRules) -> Incident | None:
    by_kind = {kind: 0 for kind in DELIVERY_TROUBLE}
    for (kind, _), count in figures.mix.items():
        if kind in by_kind:
            by_kind[kind] += count
    total = sum(by_kind.values())
    if total < rules.delivery_failures:
        return None
    failed, unknown = (by_kind[kind] for kind in DELIVERY_TROUBLE)
    return Incident(
        AlertKind.DELIVERIES,
        f"{total} deliveries failed or ended unknown in the last {_duration(rules.window)} "
        f"({failed} failed, {unknown} unknown; the threshold is {rules.delivery_failures}). "
        "`dmpilot deliveries --state failed` shows why.",
    )


def brain_start(figures: AlertFigures) -> Incident | None:
    seen = figures.brain_start
    if seen.newest_id is None:
        return None
    detail = seen.newest_detail or {}
    brain = detail.get("brain") or "the"
    why = _short(str(detail.get("detail") or "no detail"))
    consequence = (
        "the server refused to start"
        if seen.newest_reason == ProbeStatus.REFUSED.value
        else "the server started; replies are skipped until it answers"
    )
    starts = f" ({seen.count} failed starts in {LOOKBACK.days * 24} h)" if seen.count > 1 else ""
    return Incident(
        AlertKind.BRAIN_START,
        f"the {brain} brain failed its check at start ({seen.newest_reason}): {why}; "
        f"{consequence}{starts}.",
        mark=seen.newest_id,
    )


def brain_errors(figures: AlertFigures, rules: AlertRules) -> Incident | None:
    counts = {
        reason: figures.mix.get((EventKind.SKIPPED.value, reason), 0) for reason in BRAIN_ERRORS
    }
    total = sum(counts.values())
    if total < rules.brain_errors:
        return None
    return Incident(
        AlertKind.BRAIN_ERRORS,
        f"{total} turns failed in the last {_duration(rules.window)} ({counts['error']} "
        f"errors, {counts['timeout']} timeouts; the threshold is {rules.brain_errors}): those "
        "contacts got no reply. Check the model provider's status and the key.",
    )


def spend(figures: AlertFigures, rules: AlertRules) -> Incident | None:
    budget = rules.daily_budget_usd
    tokens = figures.tokens_today
    cost = rules.prices.cost(tokens.input, tokens.output, tokens.cache_read, tokens.cache_write)
    if budget is None or cost < budget:
        return None
    day = figures.now.date()
    return Incident(
        AlertKind.SPEND,
        f"model spend today ({day.isoformat()}, UTC) is US$ {cost:.2f}, over the daily budget "
        f"of US$ {budget:.2f}. `dmpilot stats` shows tokens per day.",
        scope=day.isoformat(),
    )


def minor_stops(figures: AlertFigures) -> Incident | None:
    seen = figures.minor_stops
    if seen.newest_id is None:
        return None
    contacts = "contact" if seen.count == 1 else "contacts"
    return Incident(
        AlertKind.MINOR,
        f"{seen.count} {contacts} said they are under 18 in the last {LOOKBACK.days * 24} h "
        "and were stopped at once; nothing is sent to them again.",
        mark=seen.newest_id,
    )


def human_requests(figures: AlertFigures) -> list[Incident]:
    found = []
    for request in figures.human_requests:
        ref = _reference(request.contact_id, request.username)
        found.append(
            Incident(
                AlertKind.HUMAN,
                f"{ref} asked for a real person; the bot is silent for them until someone "
                "answers and hands them back.",
                scope=str(request.contact_id),
                mark=request.event_id,
                contact_id=request.contact_id,
                path=f"/console/contacts/{request.contact_id}",
            )
        )
    return found


def _reference(contact_id: int, username: str | None) -> str:
    """`@handle (id:N)`; the handle only when it is one Instagram could have issued, since
    ManyChat's username field is free text and chat apps read markup in what they post."""
    internal = str(ContactRef(RefKind.INTERNAL, str(contact_id)))
    if username and HANDLE.fullmatch(username):
        return f"@{username} ({internal})"
    return internal


def _time(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC"


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"
