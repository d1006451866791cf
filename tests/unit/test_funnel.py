import pytest

from dmpilot.domain.funnel import EXIT_STAGE, position, total_replies
from dmpilot.domain.persona import StageSpec

STAGES = [
    StageSpec(name="cold", max_replies=3),
    StageSpec(name="warm", max_replies=2),
    StageSpec(name="pitched", max_replies=1),
]


@pytest.mark.parametrize(
    ("replies_sent", "stage", "left"),
    [(0, "cold", 3), (2, "cold", 1), (3, "warm", 2), (4, "warm", 1), (5, "pitched", 1)],
)
def test_stage_boundaries(replies_sent: int, stage: str, left: int) -> None:
    spot = position(replies_sent, STAGES)
    assert spot.stage == stage
    assert spot.replies_left_in_stage == left
    assert spot.reply_number == replies_sent + 1
    assert not spot.exhausted


def test_last_cap_reached_means_exit() -> None:
    assert total_replies(STAGES) == 6
    spot = position(6, STAGES)
    assert spot.exhausted and spot.stage == EXIT_STAGE
    assert position(60, STAGES).exhausted


def test_negative_count_is_a_bug() -> None:
    with pytest.raises(ValueError):
        position(-1, STAGES)
