from datetime import timedelta

from dmpilot.domain.guard import GuardConfig, verdict

CONFIG = GuardConfig(window=timedelta(minutes=10), min_decisions=10, max_repetition_share=0.3)


def test_too_few_decisions_never_pause() -> None:
    assert verdict({("skipped", "repetition"): 9}, CONFIG) is None


def test_repetitions_at_the_threshold_pause() -> None:
    mix = {("sent", None): 7, ("skipped", "repetition"): 2, ("skipped", "broadcast"): 1}
    assert verdict(mix, CONFIG) == "3 of 10 decisions in 10 min were blocked repetitions"
    assert verdict({("sent", None): 8, ("skipped", "repetition"): 2}, CONFIG) is None


def test_errors_pause() -> None:
    mix = {("sent", None): 4, ("skipped", "error"): 3, ("skipped", "timeout"): 3}
    assert verdict(mix, CONFIG) == "6 of 10 decisions in 10 min were errors or timeouts"


def test_deliveries_that_are_not_turns_do_not_count() -> None:
    mix: dict[tuple[str, str | None], int] = {
        ("skipped", "duplicate"): 500,
        ("skipped", "paused"): 50,
        ("skipped", "error"): 5,
    }
    assert verdict(mix, CONFIG) is None  # 5 decisions only
