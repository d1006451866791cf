"""Prometheus metrics. Counters live in process memory (bounded label sets only); with
several workers, prometheus-client's multiprocess mode aggregates them
(PROMETHEUS_MULTIPROC_DIR, set by `dmpilot serve --workers N`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dmpilot.domain.delivery import DeliveryState

WEBHOOKS = Counter(
    "dmpilot_webhooks", "Webhook answers by outcome (sent, exit, or the skip reason)", ["outcome"]
)
TURN_SECONDS = Histogram(
    "dmpilot_turn_seconds",
    "Time from webhook to answer",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7, 10),
)
BRAIN_SECONDS = Histogram(
    "dmpilot_brain_seconds",
    "Time the brain took per draft",
    ["brain"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7),
)
BRAIN_TOKENS = Counter("dmpilot_brain_tokens", "Model tokens", ["brain", "kind"])
LEASE_CLAIMS = Counter("dmpilot_lease_claims", "Turn lease claims", ["result"])
REPETITIONS_BLOCKED = Counter("dmpilot_repetitions_blocked", "Drafts blocked as repeats", ["layer"])
EXITS = Counter("dmpilot_exits", "Goodbyes sent", ["reason"])
STOPS = Counter("dmpilot_stops", "Contacts stopped", ["reason"])
GUARD_PAUSES = Counter("dmpilot_guard_pauses", "Automatic pauses by the anomaly guard")
CHANNEL_EVENTS = Counter(
    "dmpilot_channel_events",
    "What channels reported besides messages (echo outcome, reaction, seen, refused, …)",
    ["channel", "kind"],
)
DELIVERIES = Counter(
    "dmpilot_deliveries", "Delivery outcomes recorded by this process's workers", ["state"]
)
FOLLOW_UPS = Counter(
    "dmpilot_follow_ups", "Due follow-ups: nudge sent, cancelled or failed", ["outcome"]
)
ALERTS = Counter(
    "dmpilot_alerts", "Alerts to the operator by kind and outcome", ["kind", "outcome"]
)


def render() -> tuple[bytes, str]:
    """The exposition text, aggregated over worker processes when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class _Outbox(Collector):
    def __init__(self, counts: Mapping[DeliveryState, int] | None, oldest_seconds: float) -> None:
        self.counts = counts
        self.oldest_seconds = oldest_seconds

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.counts is None:
            return
        by_state = GaugeMetricFamily(
            "dmpilot_outbox_deliveries", "Deliveries in the outbox by state", labels=["state"]
        )
        for state, count in self.counts.items():
            by_state.add_metric([state.value], count)
        yield by_state
        yield GaugeMetricFamily(
            "dmpilot_outbox_oldest_pending_seconds",
            "How long the oldest pending delivery has been due",
            value=max(0.0, self.oldest_seconds),
        )


def outbox_gauges(counts: Mapping[DeliveryState, int] | None, oldest_seconds: float) -> bytes:
    """The outbox as the database sees it (every process's deliveries), read at scrape time."""
    registry = CollectorRegistry()
    registry.register(_Outbox(counts, oldest_seconds))
    return generate_latest(registry)
