from datetime import datetime

from dmpilot.domain.decision import MessageView
from dmpilot.domain.policy import PlanKind, TurnPlan
from dmpilot.domain.prompt import build_prompt, transcript
from dmpilot.personas import load_persona

NOW = datetime(2026, 11, 1)


def m(i: int, direction: str, text: str, kind: str = "text") -> MessageView:
    return MessageView(i, direction, kind if direction == "in" else "reply", text, NOW)


def test_every_message_exactly_once_even_when_pending_overlaps_history() -> None:
    history = (m(1, "in", "hi"), m(2, "out", "hey!"), m(3, "in", "how are you"))
    pending = (m(3, "in", "how are you"), m(4, "in", "nine emojis masterpiece"))
    turns = transcript(history, pending)
    assert turns == (
        ("user", "hi"),
        ("assistant", "hey!"),
        ("user", "how are you\nnine emojis masterpiece"),
    )
    joined = "\n".join(text for _, text in turns)
    assert joined.count("nine emojis masterpiece") == 1


def test_transcript_starts_with_the_user_and_labels_media() -> None:
    history = (m(1, "out", "old reply"), m(2, "in", "", kind="voice"))
    assert transcript(history, ()) == (("user", "[sent a voice message]"),)


def test_turn_block_lists_recent_replies_and_the_link_rule() -> None:
    persona = load_persona()
    plan = TurnPlan(PlanKind.REPLY, "pitched", "fr", link_allowed=True, reply_number=1, stage_cap=2)
    recent = tuple(f"reply {i}" for i in range(8))
    prompt = build_prompt(persona, plan, (m(1, "in", "salut"),), (), recent_replies=recent)
    assert "Answer in French." in prompt.turn_block
    assert "Stage: pitched, reply 1 of 2" in prompt.turn_block
    assert "You may share the link" in prompt.turn_block
    assert str(persona.link.url) in prompt.turn_block
    assert "- reply 4" in prompt.turn_block and "- reply 5" not in prompt.turn_block
    assert persona.name in prompt.persona_block
    no_link = build_prompt(persona, TurnPlan(PlanKind.REPLY, "cold", "en"), (m(1, "in", "hi"),), ())
    assert str(persona.link.url) not in no_link.turn_block
    assert "Do not include any link in this reply." in no_link.turn_block


def test_the_persona_block_is_the_same_for_every_turn_and_holds_the_offer() -> None:
    persona = load_persona()
    early = build_prompt(persona, TurnPlan(PlanKind.REPLY, "cold", "en"), (m(1, "in", "a"),), ())
    late = build_prompt(
        persona,
        TurnPlan(PlanKind.REPLY, "pitched", "fr", link_sent=True, intents=frozenset()),
        (m(2, "in", "b"),),
        (),
        contact_name="Léa Martin",
        known=("lives in / comes from: Lyon",),
    )
    assert early.persona_block == late.persona_block
    block = early.persona_block
    assert persona.offer is not None and all(fact in block for fact in persona.offer.facts)
    assert persona.backstory.split(".")[0] in block and "## After a purchase" in block
    assert "Their name: Léa." in late.turn_block and "Lyon" in late.turn_block
    assert "Léa" not in block and "Lyon" not in block.split("## Who you are")[0]


def test_the_model_is_told_to_state_after_two_questions() -> None:
    persona = load_persona()
    plan = TurnPlan(PlanKind.REPLY, "warm", "en")
    asked = build_prompt(
        persona, plan, (m(1, "in", "hi"),), (), recent_replies=("where?", "and you?")
    )
    assert "write a statement" in asked.turn_block
    said = build_prompt(persona, plan, (m(1, "in", "hi"),), (), recent_replies=("nice", "why?"))
    assert "write a statement" not in said.turn_block


def test_the_transcript_ends_with_the_contact_for_models_without_prefill() -> None:
    history = (m(1, "in", "hi"), m(2, "out", "hey!"))
    assert transcript(history, ()) == (("user", "hi"),)
