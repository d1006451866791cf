"""The kill switch as the engine and operators see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ControlState:
    paused: bool
    reason: str | None
    changed_at: datetime | None
    changed_by: str | None
