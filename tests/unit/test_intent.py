import pytest

from dmpilot.domain.intent import Intent, detect_intents

LINK, PRICE, WANTS = Intent.ASKS_LINK, Intent.ASKS_PRICE, Intent.INTERESTED
EXPLICIT, OUT = Intent.EXPLICIT, Intent.OUT_OF_SCOPE


def test_values() -> None:
    assert [i.value for i in Intent] == [
        "asks_link",
        "asks_price",
        "interested",
        "explicit",
        "out_of_scope",
    ]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("send me the link", LINK),
        ("where can I get them?", LINK),
        ("how do I buy?", LINK),
        ("c'est où ?", LINK),
        ("dónde los compro", LINK),
        ("dove li compro?", LINK),
        ("schick mir den link", LINK),
        ("me manda o link", LINK),
        ("how much?", PRICE),
        ("what's the price", PRICE),
        ("combien ça coûte ?", PRICE),
        ("cuánto cuesta?", PRICE),
        ("quanto costa?", PRICE),
        ("was kostet das?", PRICE),
        ("quanto custa?", PRICE),
        ("I want them!", WANTS),
        ("I'd love to try your presets", WANTS),
        ("je les veux", WANTS),
        ("me interesa", WANTS),
        ("li voglio", WANTS),
        ("ich will die haben!", WANTS),
        ("tenho interesse", WANTS),
        ("send nudes", EXPLICIT),
        ("t'as des photos coquines ?", EXPLICIT),
        ("do you have an onlyfans", EXPLICIT),
        ("can we meet up when ur in London?", OUT),
        ("what's your number", OUT),
        ("do you have whatsapp", OUT),
        ("where do you live exactly", OUT),
        ("on peut s'appeler ?", OUT),
        ("treffen wir uns?", OUT),
    ],
)
def test_intents(text: str, intent: Intent) -> None:
    assert intent in detect_intents(text), text


@pytest.mark.parametrize(
    "text",
    [
        "how much I love this photo!",
        "price of flights these days",
        "I don't want to meet you",
        "nice to meet you!",
        "I'm not interested",
        "no me interesa gracias",
        "the nude tones in this are so soft",
        "send pics of Iceland pls",
        "where did you take this??",
        "where can I buy a good tripod?",
        "I'll send you the link to my portfolio",
        "how much time did this edit take?",
        "combien de temps t'as mis ?",
        "call me crazy but the first one is my fav",
        "my friend sent it to me on whatsapp",
        "c'est où cette photo ?",
        "hey",
        "",
    ],
)
def test_no_intent(text: str) -> None:
    assert detect_intents(text) == frozenset(), text


def test_several_intents_in_one_message() -> None:
    assert detect_intents("I want them! how much?") == {WANTS, PRICE}
    assert detect_intents("i want to buy them, where's the link") == {WANTS, LINK}
    assert detect_intents("how much and where do I get them") == {PRICE, LINK}


def test_result_is_a_frozenset_and_pure() -> None:
    first = detect_intents("how much?")
    assert isinstance(first, frozenset)
    assert detect_intents("how much?") == first
