"""Follow-ups in the pure domain: when one is scheduled, when a due one is dropped and why,
and what `check-persona` says about the settings."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dmpilot.domain.decision import ContactState
from dmpilot.domain.follow_ups import (
    DueFollowUp,
    FollowUpCancel,
    FollowUpPlan,
    cancel_reason,
    latest_nudge_at,
    plan_follow_up,
)
from dmpilot.domain.persona import MAX_FOLLOW_UP_HOURS, Persona
from dmpilot.personas import PersonaError, load_persona
from dmpilot.personas.check import Severity, check_persona_file
from support import example_persona_data, write_persona

T0 = datetime(2026, 11, 1, 12, 0, 0)
EXAMPLE = load_persona()  # warm, hot and pitched nudge after 20 hours; cold never


def plan(stage: str, reply_at: datetime = T0, nudges_sent: int = 0) -> FollowUpPlan | None:
    return plan_follow_up(
        EXAMPLE, stage, reply_at=reply_at, last_inbound_at=T0, nudges_sent=nudges_sent
    )


def test_a_reply_in_a_nudging_stage_schedules_its_follow_up_hours_later() -> None:
    assert plan("warm") == FollowUpPlan(T0 + timedelta(hours=20))
    assert plan("cold") is None  # the stage asks for none
    assert plan("customer") is None  # nor do the system's stages


def test_the_follow_up_must_fit_the_window_with_its_margin() -> None:
    assert latest_nudge_at(T0) == T0 + timedelta(hours=23)
    assert plan("warm", reply_at=T0 + timedelta(hours=3)) == FollowUpPlan(T0 + timedelta(hours=23))
    late = plan("warm", reply_at=T0 + timedelta(hours=3, seconds=1))
    assert late == FollowUpPlan(None, FollowUpCancel.WINDOW)


def test_a_cycle_gets_at_most_max_nudges() -> None:
    assert plan("warm", nudges_sent=1) == FollowUpPlan(None, FollowUpCancel.MAX_NUDGES)
    two = EXAMPLE.model_copy(update={"max_nudges": 2})
    assert plan_follow_up(two, "warm", reply_at=T0, last_inbound_at=T0, nudges_sent=1) is not None


def _state(**changes: Any) -> ContactState:
    values: dict[str, Any] = {
        "contact_id": 1,
        "external_id": "c1",
        "name": None,
        "language": "en",
        "stopped_at": None,
        "stop_reason": None,
        "converted_at": None,
        "cycle_outbound": (("reply", "hi there", "warm"),),
        "history": (),
        "pending": (),
        "recent_replies": ("hi there",),
        "last_inbound_at": T0,
    }
    return ContactState(**(values | changes))


def _due(**changes: Any) -> DueFollowUp:
    values: dict[str, Any] = {
        "contact_id": 1,
        "reply_id": 10,
        "stage": "warm",
        "due_at": T0 + timedelta(hours=20),
        "claims": 1,
        "reply_language": "en",
        "reply_delivered": True,
        "reply_in_cycle": True,
        "newest_inbound_id": 9,
        "newest_outbound_id": 10,
    }
    return DueFollowUp(**(values | changes))


DUE_AT = T0 + timedelta(hours=20)
CASES: list[tuple[str, DueFollowUp, ContactState, FollowUpCancel | None]] = [
    ("still wanted", _due(), _state(), None),
    ("paused", _due(), _state(paused=True), FollowUpCancel.PAUSED),
    ("converted", _due(), _state(converted_at=T0), FollowUpCancel.CONVERTED),
    ("opted out", _due(), _state(stopped_at=T0, stop_reason="opt_out"), FollowUpCancel.STOPPED),
    ("funnel ended", _due(), _state(stopped_at=T0, stop_reason="cap"), FollowUpCancel.EXITED),
    (
        "handed off",
        _due(),
        _state(handoff_until=DUE_AT + timedelta(hours=1)),
        FollowUpCancel.HANDOFF,
    ),
    ("answered", _due(newest_inbound_id=11), _state(), FollowUpCancel.CONTACT_WROTE),
    ("new cycle", _due(reply_in_cycle=False), _state(), FollowUpCancel.EXITED),
    ("never delivered", _due(reply_delivered=False), _state(), FollowUpCancel.UNDELIVERED),
    ("a person wrote", _due(newest_outbound_id=12), _state(), FollowUpCancel.SUPERSEDED),
    ("stage off now", _due(stage="cold"), _state(), FollowUpCancel.OFF),
    (
        "nudged already",
        _due(),
        _state(cycle_outbound=(("reply", "a", "warm"), ("nudge", "b", "warm"))),
        FollowUpCancel.MAX_NUDGES,
    ),
    ("window", _due(), _state(last_inbound_at=T0 - timedelta(hours=4)), FollowUpCancel.WINDOW),
]


@pytest.mark.parametrize(
    ("due", "state", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_due_follow_up_is_dropped_with_its_reason(
    due: DueFollowUp, state: ContactState, expected: FollowUpCancel | None
) -> None:
    assert cancel_reason(due, state, EXAMPLE, DUE_AT) is expected


# -- the persona's settings ------------------------------------------------------------------


@pytest.mark.parametrize("hours", [24, 23.5, 0, -1])
def test_a_follow_up_outside_the_window_is_refused_with_a_clear_message(
    tmp_path: Path, hours: float
) -> None:
    data = example_persona_data()
    data["stages"][1]["follow_up_hours"] = hours
    path = write_persona(tmp_path, data)
    with pytest.raises(PersonaError, match="Meta's 24-hour messaging window"):
        load_persona(path)
    persona, problems = check_persona_file(path)
    assert persona is None
    [problem] = [p for p in problems if p.severity is Severity.ERROR]
    assert problem.field == "stages.1.follow_up_hours"
    assert f"at most {MAX_FOLLOW_UP_HOURS:g}" in problem.message
    assert "24-hour messaging window" in problem.message


def test_the_longest_follow_up_still_inside_the_window_loads(tmp_path: Path) -> None:
    data = example_persona_data()
    data["stages"][1]["follow_up_hours"] = MAX_FOLLOW_UP_HOURS
    assert (
        load_persona(write_persona(tmp_path, data)).follow_up_hours("warm") == MAX_FOLLOW_UP_HOURS
    )


def test_follow_ups_without_guidance_need_lines_in_every_language(tmp_path: Path) -> None:
    data = example_persona_data()
    data["nudge_guidance"] = ""
    del data["nudge_lines"]["fr"]
    data["nudge_lines"]["en"].append("see it here: https://example.com/lena-presets")
    persona, problems = check_persona_file(write_persona(tmp_path, data))
    assert persona is None
    errors = {p.field: p.message for p in problems if p.severity is Severity.ERROR}
    assert "without nudge_guidance" in errors["nudge_lines.fr"]
    assert "carries a link" in errors["nudge_lines.en.2"]


def test_a_persona_without_follow_up_settings_never_nudges() -> None:
    """Off by default: a persona written before follow-ups keeps behaving as it did."""
    data = example_persona_data()
    for stage in data["stages"]:
        stage.pop("follow_up_hours", None)
    for field in ("max_nudges", "nudge_guidance", "nudge_lines"):
        del data[field]
    persona = Persona.model_validate(data)
    assert all(persona.follow_up_hours(s.name) is None for s in persona.stages)
    assert persona.max_nudges == 1 and not persona.nudge_lines
