from dataclasses import replace
from datetime import datetime, timedelta

from dmpilot.domain.decision import ContactState, MessageView, Reason
from dmpilot.domain.intent import Intent
from dmpilot.domain.language import detect_language
from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.policy import Effect, PlanKind, plan_turn, reply_language
from dmpilot.personas import load_persona

PERSONA = load_persona()
NOW = datetime(2026, 11, 1, 12, 0)
LINK = str(PERSONA.link.url)
LINKS = LinkMatcher.for_link(LINK)


def state(
    replies: int = 0,
    text: str = "hey",
    stopped_at: datetime | None = None,
    stop_reason: str | None = None,
    language: str | None = None,
    with_link: int = 0,
    converted_at: datetime | None = None,
) -> ContactState:
    stages = ["cold"] * 3 + ["warm"] * 3 + ["hot"] * 2 + ["pitched"] * 2 + ["pitched"] * 90
    texts = [f"reply {i}" for i in range(replies - with_link)]
    texts += [f"here {LINK}" for _ in range(with_link)]
    cycle = tuple(("reply", text, stages[i]) for i, text in enumerate(texts))
    # the store records each message's language when it arrives
    pending = (MessageView(1, "in", "text", text, NOW, detect_language(text)),)
    return ContactState(
        contact_id=1,
        external_id="c1",
        name="Sam",
        language=language,
        stopped_at=stopped_at,
        stop_reason=stop_reason,
        converted_at=converted_at,
        cycle_outbound=cycle,
        history=pending,
        pending=pending,
        recent_replies=(),
    )


def test_stages_follow_the_caps() -> None:
    # example persona: cold 3, warm 3, hot 2, pitched 2 → 10 replies, then the exit
    expected = ["cold"] * 3 + ["warm"] * 3 + ["hot"] * 2 + ["pitched"] * 2
    for replies, stage in enumerate(expected):
        plan = plan_turn(state(replies), PERSONA, NOW, LINKS.contains)
        assert (plan.kind, plan.stage) == (PlanKind.REPLY, stage), replies
    assert plan_turn(state(10), PERSONA, NOW, LINKS.contains).kind is PlanKind.EXIT


def test_link_only_in_link_stages_and_within_budget() -> None:
    assert not plan_turn(state(0), PERSONA, NOW, LINKS.contains).link_allowed
    assert plan_turn(state(8), PERSONA, NOW, LINKS.contains).link_allowed
    assert not plan_turn(state(9, with_link=1), PERSONA, NOW, LINKS.contains).link_allowed


def test_stopped_contacts_get_nothing() -> None:
    plan = plan_turn(
        state(10, stopped_at=NOW, stop_reason="cap"),
        PERSONA,
        NOW + timedelta(days=400),
        LINKS.contains,
    )
    assert (plan.kind, plan.reason, plan.stage) == (PlanKind.SKIP, Reason.STOPPED, "stopped")


def test_reactivation_after_the_configured_days_only_after_a_cap() -> None:
    persona = PERSONA.model_copy(update={"reactivate_after_days": 30})
    stopped = NOW - timedelta(days=30)
    plan = plan_turn(state(10, stopped_at=stopped, stop_reason="cap"), persona, NOW, LINKS.contains)
    assert (plan.kind, plan.stage, plan.reactivate) == (PlanKind.REPLY, "cold", True)
    too_soon = plan_turn(
        state(10, stopped_at=stopped, stop_reason="cap"),
        persona,
        NOW - timedelta(seconds=1),
        LINKS.contains,
    )
    assert too_soon.kind is PlanKind.SKIP
    opted_out = plan_turn(
        state(3, stopped_at=stopped, stop_reason="opt_out"), persona, NOW, LINKS.contains
    )
    assert opted_out.kind is PlanKind.SKIP


def test_reply_language_mirrors_the_current_message() -> None:
    assert reply_language(state(text="salut ça va ?", language="en"), PERSONA) == "fr"
    assert reply_language(state(text="ok", language="fr"), PERSONA) == "fr"
    assert reply_language(state(text="hallo wie geht es dir", language=None), PERSONA) == "en"


def test_without_customer_instructions_a_converted_contact_gets_the_goodbye_next() -> None:
    persona = PERSONA.model_copy(update={"customer": None})
    plan = plan_turn(state(2, converted_at=NOW), persona, NOW, LINKS.contains)
    assert (plan.kind, plan.reason) == (PlanKind.EXIT, Reason.CONVERTED)
    assert plan_turn(state(10), PERSONA, NOW, LINKS.contains).reason is Reason.CAP


def test_asking_for_the_link_opens_it_in_any_stage_and_requires_it() -> None:
    plan = plan_turn(state(1, text="where can I buy your presets?"), PERSONA, NOW, LINKS.contains)
    assert plan.stage == "cold" and plan.link_allowed and plan.link_required
    assert (Intent.ASKS_LINK, Effect.LINK_REQUIRED) in plan.effects
    price = plan_turn(state(1, text="how much are they?"), PERSONA, NOW, LINKS.contains)
    assert price.link_allowed and not price.link_required


def test_after_the_budget_a_second_ask_points_to_the_link_sent() -> None:
    plan = plan_turn(
        state(9, text="send me the link again?", with_link=1), PERSONA, NOW, LINKS.contains
    )
    assert not plan.link_allowed and plan.refer_to_link and plan.link_sent
    assert (Intent.ASKS_LINK, Effect.LINK_REFERRED) in plan.effects


def test_the_last_link_stage_reply_must_carry_an_unused_link() -> None:
    ninth = plan_turn(state(8), PERSONA, NOW, LINKS.contains)
    tenth = plan_turn(state(9), PERSONA, NOW, LINKS.contains)
    assert ninth.link_allowed and not ninth.link_required
    assert (tenth.stage, tenth.reply_number, tenth.link_required) == ("pitched", 2, True)
    assert not plan_turn(state(9, with_link=1), PERSONA, NOW, LINKS.contains).link_required


def test_a_clearly_interested_contact_moves_one_stage_ahead() -> None:
    plan = plan_turn(state(1, text="I want your presets!"), PERSONA, NOW, LINKS.contains)
    assert plan.stage == "warm" and (Intent.INTERESTED, Effect.ADVANCED) in plan.effects


def test_boundaries_decline_in_the_personas_words_and_never_pitch() -> None:
    explicit = plan_turn(state(8, text="send nudes"), PERSONA, NOW, LINKS.contains)
    assert (explicit.kind, explicit.boundary) == (PlanKind.BOUNDARY, "explicit")
    meeting = plan_turn(state(2, text="can we meet for a coffee?"), PERSONA, NOW, LINKS.contains)
    assert (meeting.kind, meeting.boundary) == (PlanKind.BOUNDARY, "meeting")
    assert not explicit.link_allowed and not meeting.link_allowed


def test_a_laugh_is_not_a_stop_but_gets_no_pitch() -> None:
    plan = plan_turn(state(9, text="stop it 😂"), PERSONA, NOW, LINKS.contains)
    assert plan.kind is PlanKind.REPLY and plan.no_pitch
    assert not plan.link_allowed and not plan.link_required


def test_a_customer_is_helped_then_says_goodbye_without_the_link() -> None:
    converted = state(3, text="how do I install them?", converted_at=NOW)
    plan = plan_turn(converted, PERSONA, NOW, LINKS.contains)
    assert (plan.kind, plan.stage, plan.link_allowed) == (PlanKind.REPLY, "customer", False)
    assert PERSONA.customer is not None
    helped = replace(
        converted, cycle_outbound=tuple(("reply", f"r{i}", "customer") for i in range(4))
    )
    done = plan_turn(helped, PERSONA, NOW, LINKS.contains)
    assert (done.kind, done.reason, done.link_allowed) == (PlanKind.EXIT, Reason.CONVERTED, False)
