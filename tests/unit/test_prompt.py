from datetime import datetime

from dmpilot.domain.decision import MessageView
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
    stage = persona.stage("pitched")
    recent = tuple(f"reply {i}" for i in range(8))
    prompt = build_prompt(persona, stage, "fr", True, (m(1, "in", "salut"),), (), recent)
    assert "Answer in French." in prompt.turn_block
    assert str(persona.link.url) in prompt.turn_block
    assert "- reply 4" in prompt.turn_block and "- reply 5" not in prompt.turn_block
    assert persona.name in prompt.persona_block
    no_link = build_prompt(persona, stage, "en", False, (m(1, "in", "hi"),), (), ())
    assert str(persona.link.url) not in no_link.turn_block + no_link.persona_block
