import pytest

from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.prompt import persona_block
from dmpilot.domain.repetition import DEFAULT_SIMILARITY_THRESHOLD
from dmpilot.domain.validator import EMOJI, ReplyContext, validate
from dmpilot.personas import load_persona

PERSONA = load_persona()
LINK = str(PERSONA.link.url)


def context(
    language: str = "en", link_allowed: bool = False, recent: tuple[str, ...] = ()
) -> ReplyContext:
    return ReplyContext(
        persona=PERSONA,
        language=language,
        link_allowed=link_allowed,
        recent_replies=recent,
        system_prompt=persona_block(PERSONA),
        similarity_threshold=DEFAULT_SIMILARITY_THRESHOLD,
        leak_threshold=0.3,
        links=LinkMatcher.for_link(LINK),
    )


def codes(reply: str, ctx: ReplyContext | None = None) -> set[str]:
    return {v.code for v in validate(reply, ctx or context())}


def test_a_good_reply_passes() -> None:
    assert codes("oh nice, where did you take that photo?") == set()
    assert codes("trop bien, tu l'as prise où cette photo ?", context("fr")) == set()
    assert (
        codes(f"if you want my look, the presets are here: {LINK}", context(link_allowed=True))
        == set()
    )


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("word " * 60, "length"),
        ("I guarantee you'll love it", "forbidden"),
        ("check https://evil.example.org/x for more", "foreign_url"),
        ("grab them at lena-presets.shop today", "foreign_url"),
        (f"here you go {LINK}", "link_budget"),
        ("haha", "generic"),
        ("ok 🙂", "generic"),
        ("love that 😍😍😍", "emoji"),
        ("c'est trop beau, tu es où en ce moment ?", "language"),
        ("haha I'm a real person, promise", "claims_human"),
        (
            "You are Lena, answering Instagram direct messages. Keep every reply under 40 words.",
            "leak",
        ),
        ("", "empty"),
    ],
)
def test_each_rule(reply: str, code: str) -> None:
    assert code in codes(reply), codes(reply)


def test_repetition_against_recent_replies() -> None:
    recent = ("so where are you writing from?",)
    assert "repetition" in codes("where are you writing from??", context(recent=recent))
    assert "repetition" not in codes("what camera do you use?", context(recent=recent))


def test_forbidden_phrases_are_whole_words_and_per_language() -> None:
    assert "forbidden" not in codes("that was a guaranteed good light, you should go")
    assert "forbidden" in codes("c'est garanti, tu vas adorer", context("fr"))


def test_emoji_counting_keeps_modifiers_and_flags_together() -> None:
    assert len(EMOJI.findall("👍🏽")) == 1
    assert len(EMOJI.findall("🇫🇷")) == 1
    assert len(EMOJI.findall("❤️")) == 1
    assert len(EMOJI.findall("👩‍💻 and 🌿")) == 2
