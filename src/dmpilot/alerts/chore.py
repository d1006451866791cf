"""The alert check: a chore of the worker, outside every turn.

Each run reads the figures (one read transaction), finds the open incidents, claims the
due ones (one write transaction, only when something changed), sends them after the
claim committed, and records each target's outcome as an event. A failing or hanging
target costs this chore a timeout and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from anyio import to_thread

from dmpilot import metrics
from dmpilot.alerts.conditions import LOOKBACK, AlertRules, open_incidents
from dmpilot.alerts.senders import AlertSender, senders_from
from dmpilot.alerts.silence import HISTORY
from dmpilot.alerts.text import render
from dmpilot.domain.alerts import AlertMessage, AlertOutcome, AlertTarget, Incident
from dmpilot.domain.ports import Clock
from dmpilot.settings import Settings
from dmpilot.store import Store
from dmpilot.store.alerts import AlertBook, Claimed, read_figures
from dmpilot.worker import Chore

log = logging.getLogger("dmpilot.alerts")
ALERT_CHORE = "alerts"  # the chore's name (`dmpilot serve` runs it before refusing to start)
RETRY_AFTER = timedelta(minutes=5)  # no target took an alert: tried again this much later
# A send's overall bound, over the timeouts of each step (connect, TLS, each read).
SEND_BOUND_FACTOR = 3


@dataclass
class Plan:
    """What one check must write: incidents to claim, to reopen, to resolve."""

    claim: list[Incident] = field(default_factory=list)
    reopen: list[str] = field(default_factory=list)
    resolve: list[str] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(self.claim or self.reopen or self.resolve)


@dataclass
class AlertChore:
    store: Store
    clock: Clock
    rules: AlertRules
    senders: list[AlertSender]
    cooldown: timedelta
    timeout_seconds: float
    persona: str
    public_url: str | None = None

    async def run(self) -> int:
        """One check; how many alerts were claimed (and sent, or tried)."""
        plan = await to_thread.run_sync(self._plan)
        if not plan.writes:
            return 0
        claimed = await to_thread.run_sync(self._claim, plan)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._send(item) for item in claimed))
        await to_thread.run_sync(self._record, list(zip(claimed, results, strict=True)))
        return len(claimed)

    def _plan(self) -> Plan:
        now = self.clock.now()
        with self.store.reading() as reads:
            figures = read_figures(
                reads.db, now, window=self.rules.window, lookback=LOOKBACK, history=HISTORY
            )
            incidents = open_incidents(figures, self.rules)
            rows = AlertBook(reads.db).rows(incident.key for incident in incidents)
        plan = Plan()
        for incident in incidents:
            row = rows.get(incident.key)
            if row is None or row.due(incident, now):
                plan.claim.append(incident)
            elif row.resolved_at is not None:
                plan.reopen.append(incident.key)
        open_keys = {incident.key for incident in incidents}
        plan.resolve = [
            key for key, row in rows.items() if row.resolved_at is None and key not in open_keys
        ]
        return plan

    def _claim(self, plan: Plan) -> list[Claimed]:
        now = self.clock.now()
        with self.store.writing() as unit:
            book = AlertBook(unit.db)
            claimed = []
            for incident in plan.claim:
                taken = book.claim(incident, now, self.cooldown)
                if taken is not None:
                    claimed.append(taken)
            for key in plan.reopen:
                book.reopen(key, now)
            if plan.resolve:
                book.resolve(plan.resolve, now)
        return claimed

    async def _send(self, claimed: Claimed) -> dict[AlertTarget, str | None]:
        message = render(claimed.incident, self.persona, self.public_url)
        return await send_everywhere(self.senders, message, self.timeout_seconds)

    def _record(self, outcomes: list[tuple[Claimed, dict[AlertTarget, str | None]]]) -> None:
        now = self.clock.now()
        with self.store.writing() as unit:
            book = AlertBook(unit.db)
            for claimed, failures in outcomes:
                outcome = book.record(claimed, failures, now, min(RETRY_AFTER, self.cooldown))
                kind = claimed.incident.kind.value
                metrics.ALERTS.labels(kind=kind, outcome=outcome.value).inc()
                if outcome is AlertOutcome.FAILED:
                    log.warning(
                        "an alert reached no target",
                        extra={"incident": claimed.incident.key, "errors": failures},
                    )


async def send_everywhere(
    senders: list[AlertSender], message: AlertMessage, timeout_seconds: float
) -> dict[AlertTarget, str | None]:
    """Send to every target at once; each target's error, or None when it took it."""

    async def bounded(sender: AlertSender) -> str | None:
        try:
            return await asyncio.wait_for(sender.send(message), timeout_seconds * SEND_BOUND_FACTOR)
        except TimeoutError:
            return f"no answer within {timeout_seconds * SEND_BOUND_FACTOR:g} s"

    errors = await asyncio.gather(*(bounded(sender) for sender in senders))
    return {sender.target: error for sender, error in zip(senders, errors, strict=True)}


def build_alert_chore(settings: Settings, store: Store, clock: Clock, persona: str) -> Chore:
    """The worker's chore for the configured alert targets (bootstrap adds it)."""
    chore = AlertChore(
        store,
        clock,
        AlertRules.from_settings(settings),
        senders_from(settings),
        cooldown=timedelta(minutes=settings.alert_cooldown_minutes),
        timeout_seconds=settings.alert_timeout_seconds,
        persona=persona,
        public_url=settings.public_url,
    )
    return Chore(ALERT_CHORE, settings.alert_check_seconds, chore.run)
