from datetime import datetime, timedelta

from dmpilot.domain.decision import ContactState, MessageView, Reason
from dmpilot.domain.language import detect_language
from dmpilot.domain.policy import PlanKind, plan_turn, reply_language
from dmpilot.personas import load_persona

PERSONA = load_persona()
NOW = datetime(2026, 11, 1, 12, 0)
LINK = str(PERSONA.link.url)


def state(
    replies: int = 0,
    text: str = "hey",
    stopped_at: datetime | None = None,
    stop_reason: str | None = None,
    language: str | None = None,
    with_link: int = 0,
    converted_at: datetime | None = None,
) -> ContactState:
    cycle = tuple(f"reply {i}" for i in range(replies - with_link))
    cycle += tuple(f"here {LINK}" for _ in range(with_link))
    # the store records each message's language when it arrives
    pending = (MessageView(1, "in", "text", text, NOW, detect_language(text)),)
    return ContactState(
        1, "Sam", language, stopped_at, stop_reason, converted_at, cycle, pending, pending, ()
    )


def test_stages_follow_the_caps() -> None:
    # example persona: cold 3, warm 3, hot 2, pitched 2 → 10 replies, then the exit
    expected = ["cold"] * 3 + ["warm"] * 3 + ["hot"] * 2 + ["pitched"] * 2
    for replies, stage in enumerate(expected):
        plan = plan_turn(state(replies), PERSONA, NOW)
        assert (plan.kind, plan.stage) == (PlanKind.REPLY, stage), replies
    assert plan_turn(state(10), PERSONA, NOW).kind is PlanKind.EXIT


def test_link_only_in_link_stages_and_within_budget() -> None:
    assert not plan_turn(state(0), PERSONA, NOW).link_allowed
    assert plan_turn(state(8), PERSONA, NOW).link_allowed
    assert not plan_turn(state(9, with_link=1), PERSONA, NOW).link_allowed


def test_stopped_contacts_get_nothing() -> None:
    plan = plan_turn(
        state(10, stopped_at=NOW, stop_reason="cap"), PERSONA, NOW + timedelta(days=400)
    )
    assert (plan.kind, plan.reason, plan.stage) == (PlanKind.SKIP, Reason.STOPPED, "stopped")


def test_reactivation_after_the_configured_days_only_after_a_cap() -> None:
    persona = PERSONA.model_copy(update={"reactivate_after_days": 30})
    stopped = NOW - timedelta(days=30)
    plan = plan_turn(state(10, stopped_at=stopped, stop_reason="cap"), persona, NOW)
    assert (plan.kind, plan.stage, plan.reactivate) == (PlanKind.REPLY, "cold", True)
    too_soon = plan_turn(
        state(10, stopped_at=stopped, stop_reason="cap"), persona, NOW - timedelta(seconds=1)
    )
    assert too_soon.kind is PlanKind.SKIP
    opted_out = plan_turn(state(3, stopped_at=stopped, stop_reason="opt_out"), persona, NOW)
    assert opted_out.kind is PlanKind.SKIP


def test_reply_language_mirrors_the_current_message() -> None:
    assert reply_language(state(text="salut ça va ?", language="en"), PERSONA) == "fr"
    assert reply_language(state(text="ok", language="fr"), PERSONA) == "fr"
    assert reply_language(state(text="hallo wie geht es dir", language=None), PERSONA) == "en"


def test_a_converted_contact_gets_the_goodbye_next() -> None:
    plan = plan_turn(state(2, converted_at=NOW), PERSONA, NOW)
    assert (plan.kind, plan.reason) == (PlanKind.EXIT, Reason.CONVERTED)
    assert plan_turn(state(10), PERSONA, NOW).reason is Reason.CAP
