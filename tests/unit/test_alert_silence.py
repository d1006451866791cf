"""The usual hours and the silence measured in them (alerts/silence.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dmpilot.alerts.silence import describe_hours, silent_usual_time, usual_hours

DAYS = [date(2026, 11, d) for d in range(1, 5)]


def test_an_hour_is_usual_when_half_of_the_days_with_inbound_had_some_in_it() -> None:
    buckets = [(day, 10) for day in DAYS]  # every day
    buckets += [(DAYS[0], 11), (DAYS[1], 11)]  # two of four days: usual
    buckets += [(DAYS[0], 3)]  # one of four: not
    assert usual_hours(buckets) == frozenset({10, 11})


def test_nothing_is_usual_before_three_days_of_history() -> None:
    assert usual_hours([(DAYS[0], h) for h in range(24)] + [(DAYS[1], 9)]) == frozenset()
    assert usual_hours([]) == frozenset()


def test_only_time_in_usual_hours_counts_as_silence() -> None:
    hours = frozenset(range(9, 21))
    last = datetime(2026, 11, 5, 20, 30)
    at = datetime(2026, 11, 6, 14, 30)  # the night in between does not count
    assert silent_usual_time(last, at, hours) == timedelta(hours=6)
    assert silent_usual_time(last, datetime(2026, 11, 6, 8, 59), hours) == timedelta(minutes=30)
    assert silent_usual_time(at, last, hours) == timedelta(0)  # a clock behind the data
    assert silent_usual_time(last, at, frozenset()) == timedelta(0)


def test_a_silence_is_measured_over_two_weeks_at_most() -> None:
    last = datetime(2026, 1, 1)
    assert silent_usual_time(last, datetime(2026, 6, 1), frozenset({12})) == timedelta(hours=14)


def test_usual_hours_read_as_ranges() -> None:
    assert describe_hours(frozenset({8, 9, 10, 14, 23})) == "8–11h, 14–15h, 23–24h"
