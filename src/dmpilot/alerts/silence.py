"""Inbound silence: no message from anyone for hours of the account's usual hours.

A ManyChat billing or delivery outage looks like fans going quiet: nothing fails, nothing
arrives. The usual hours come from the history: an hour of the day (UTC) is usual when it
had inbound on at least half of the days of the last two weeks that had any. Only time in
usual hours counts towards the silence, so a quiet night never alerts, and nothing is usual
before three days of history (a fresh install never alerts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta

HISTORY = timedelta(days=14)
MIN_DAYS = 3  # days with inbound before any hour is usual
USUAL_SHARE = 0.5  # of those days, how many had inbound in an hour for it to be usual
HOUR = timedelta(hours=1)


def usual_hours(buckets: Iterable[tuple[date, int]]) -> frozenset[int]:
    """Hours of the day (0–23, UTC) with inbound on at least USUAL_SHARE of the days that
    had any inbound, from (day, hour) pairs that had inbound."""
    pairs = set(buckets)
    days = {day for day, _ in pairs}
    if len(days) < MIN_DAYS:
        return frozenset()
    per_hour = Counter(hour for _, hour in pairs)
    return frozenset(hour for hour, count in per_hour.items() if count >= USUAL_SHARE * len(days))


def silent_usual_time(last: datetime, now: datetime, hours: frozenset[int]) -> timedelta:
    """How much of the time from `last` to `now` fell in the usual hours."""
    if not hours or now <= last:
        return timedelta(0)
    start = max(last, now - HISTORY)
    total = timedelta(0)
    slot = start.replace(minute=0, second=0, microsecond=0)
    while slot < now:
        end = slot + HOUR
        if slot.hour in hours:
            total += min(end, now) - max(slot, start)
        slot = end
    return total


def describe_hours(hours: frozenset[int]) -> str:
    """`8–12, 14–23` (each range from its first hour's start to its last hour's end)."""
    ranges: list[tuple[int, int]] = []
    for hour in sorted(hours):
        if ranges and ranges[-1][1] == hour - 1:
            ranges[-1] = (ranges[-1][0], hour)
        else:
            ranges.append((hour, hour))
    return ", ".join(f"{first}–{last + 1}h" for first, last in ranges)
