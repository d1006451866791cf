import pytest

from dmpilot.domain.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hey how are you doing?", "en"),
        ("salut ça va ? tu fais quoi", "fr"),
        ("hola cómo estás, gracias", "es"),
        ("ciao come stai? grazie mille", "it"),
        ("hallo wie geht es dir? danke", "de"),
        ("oi tudo bem? obrigado você", "pt"),
    ],
)
def test_detects_common_languages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_whole_words_only() -> None:
    # "vraiment" contains "ai" and "men"; only whole words count as evidence.
    assert detect_language("vraiment plaisir", ["en"]) is None
    assert detect_language("germany training") is None  # two words, no evidence: unsure
    assert detect_language("I'm from Germany, training for a marathon") == "en"


def test_short_french_with_function_words() -> None:
    assert detect_language("salut ça va") == "fr"
    assert detect_language("merci !") == "fr"
    assert detect_language("j'ai 15 ans") == "fr"


def test_candidates_limit_the_answer() -> None:
    assert detect_language("merci beaucoup, c'est super", ["en", "fr"]) == "fr"
    assert detect_language("hola amigo gracias", ["en", "fr"]) is None


def test_unsure_is_none() -> None:
    assert detect_language("") is None
    assert detect_language("🙂🙂") is None
    assert detect_language("ok") is None
    assert detect_language("haha") is None
    assert detect_language("👍 ok") is None
