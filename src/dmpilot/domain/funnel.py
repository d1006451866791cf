"""Where a contact stands in the funnel, from the replies it has had in this cycle.

Caps are data: stage i gets `max_replies` replies. A contact is in the stage its reply
count reaches — or a later one, when a clearly interested contact was moved ahead — and
moves on once that stage's own replies reach its cap. Once every stage is used the next
turn is the exit, after which the contact is stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dmpilot.domain.persona import StageSpec

EXIT_STAGE = "closing"
STOPPED_STAGE = "stopped"
CUSTOMER_STAGE = "customer"


@dataclass(frozen=True, slots=True)
class FunnelPosition:
    stage: str
    reply_number: int  # 1-based number of this reply within its stage
    stage_cap: int
    exhausted: bool  # every cap is used: this turn is the exit

    @property
    def replies_left_in_stage(self) -> int:
        """Including this one."""
        return self.stage_cap - self.reply_number + 1


def _count_index(replies_sent: int, stages: Sequence[StageSpec]) -> int:
    upper = 0
    for index, spec in enumerate(stages):
        upper += spec.max_replies
        if replies_sent < upper:
            return index
    return len(stages)


def position(
    reply_stages: Sequence[str], stages: Sequence[StageSpec], floor: str | None = None
) -> FunnelPosition:
    """`reply_stages`: the stage of each reply sent in this cycle, oldest first. `floor`: the
    stage the last reply was sent in (a contact moved ahead stays ahead)."""
    names = [spec.name for spec in stages]
    index = _count_index(len(reply_stages), stages)
    if floor in names:
        index = max(index, names.index(floor))
    while index < len(stages):
        used = sum(1 for stage in reply_stages if stage == names[index])
        if used < stages[index].max_replies:
            spec = stages[index]
            return FunnelPosition(spec.name, used + 1, spec.max_replies, False)
        index += 1
    return FunnelPosition(EXIT_STAGE, 1, 1, True)


def total_replies(stages: Sequence[StageSpec]) -> int:
    return sum(spec.max_replies for spec in stages)
