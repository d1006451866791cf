"""The real clock and the real dice: adapters of the Clock and RandomSource ports."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    """Naive UTC: the one time representation stored on SQLite and PostgreSQL alike."""
    return datetime.now(UTC).replace(tzinfo=None)


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SystemRandom:
    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def random(self) -> float:
        return self._random.random()

    def randint(self, low: int, high: int) -> int:
        return self._random.randint(low, high)

    def token(self) -> str:
        return secrets.token_urlsafe(9)


class ManualClock:
    """Time that moves only when told: sleeping advances it at once (or, with
    `real_sleep`, also waits). For simulated histories (`dmpilot demo`) and tests.

    Monotonic time stays real, so a slow model still meets a reply budget's real deadline.
    """

    def __init__(self, start: datetime, real_sleep: bool = False) -> None:
        self.current = start
        self.real_sleep = real_sleep

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(seconds if self.real_sleep else 0)

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)
