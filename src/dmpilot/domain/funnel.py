"""Where a contact stands in the funnel, from the replies it has had in this cycle.

Caps are data: stage i gets `max_replies` replies; once every stage's cap is used the
next turn is the exit, after which the contact is stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmpilot.domain.persona import StageSpec

EXIT_STAGE = "closing"
STOPPED_STAGE = "stopped"


@dataclass(frozen=True, slots=True)
class FunnelPosition:
    stage: str
    reply_number: int  # 1-based number of the reply this turn would send
    replies_left_in_stage: int
    exhausted: bool  # every cap is used: this turn is the exit


def position(replies_sent: int, stages: list[StageSpec]) -> FunnelPosition:
    if replies_sent < 0:
        raise ValueError("replies_sent cannot be negative")
    upper = 0
    for spec in stages:
        upper += spec.max_replies
        if replies_sent < upper:
            return FunnelPosition(spec.name, replies_sent + 1, upper - replies_sent, False)
    return FunnelPosition(EXIT_STAGE, replies_sent + 1, 0, True)


def total_replies(stages: list[StageSpec]) -> int:
    return sum(spec.max_replies for spec in stages)
