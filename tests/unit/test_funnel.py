import pytest

from dmpilot.domain.funnel import EXIT_STAGE, position, total_replies
from dmpilot.domain.persona import StageSpec

STAGES = [
    StageSpec(name="cold", max_replies=3),
    StageSpec(name="warm", max_replies=2),
    StageSpec(name="pitched", max_replies=1),
]


def sent(count: int) -> list[str]:
    """The stages of `count` replies sent in order, without any jump ahead."""
    stages = ["cold"] * 3 + ["warm"] * 2 + ["pitched"]
    return stages[:count]


@pytest.mark.parametrize(
    ("replies_sent", "stage", "number", "left"),
    [
        (0, "cold", 1, 3),
        (2, "cold", 3, 1),
        (3, "warm", 1, 2),
        (4, "warm", 2, 1),
        (5, "pitched", 1, 1),
    ],
)
def test_stage_boundaries(replies_sent: int, stage: str, number: int, left: int) -> None:
    spot = position(sent(replies_sent), STAGES)
    assert (spot.stage, spot.reply_number, spot.replies_left_in_stage) == (stage, number, left)
    assert not spot.exhausted


def test_last_cap_reached_means_exit() -> None:
    assert total_replies(STAGES) == 6
    spot = position(sent(6), STAGES)
    assert spot.exhausted and spot.stage == EXIT_STAGE
    assert position(["cold"] * 60, STAGES).exhausted


def test_a_contact_moved_ahead_stays_ahead_and_uses_that_stages_cap() -> None:
    # two cold replies, then the contact was moved to warm
    assert position(["cold", "cold"], STAGES, floor="warm").stage == "warm"
    spot = position(["cold", "cold", "warm"], STAGES, floor="warm")
    assert (spot.stage, spot.reply_number) == ("warm", 2)
    after = position(["cold", "cold", "warm", "warm"], STAGES, floor="warm")
    assert (after.stage, after.reply_number) == ("pitched", 1)
    assert position(["cold", "cold", "warm", "warm", "pitched"], STAGES, "pitched").exhausted


def test_an_unknown_floor_is_ignored() -> None:
    assert position([], STAGES, floor="customer").stage == "cold"
