from dmpilot.domain.repetition import (
    DEFAULT_SIMILARITY_THRESHOLD,
    distinct_texts,
    find_repeat,
    normalize_for_comparison,
    similar_contacts,
    similarity,
    text_key,
)

# Rewordings the old system actually sent over and over, and distinct replies of one
# persona. The threshold must sit between the two groups.
NEAR_DUPLICATES = [
    ("haha where are you writing from?", "haha where are you writing from??"),
    ("Haha, where are you writing from? 🙂", "haha where are you writing from"),
    ("do you take photos too?", "do you take photos too ?!"),
    ("omg yes what's your dream place to visit", "omg yes, what's your dream place to visit?"),
    ("i'm heading off to edit a new batch", "im heading off to edit a new batch"),
    ("where are you writing from?", "so where are you writing from?"),
    ("do you take photos too?", "do you take pictures too?"),
    ("ooh where are you writing from?", "oh nice where are you writing from?"),
    (
        "honestly all my photos go through my own presets",
        "honestly all my photos go through my presets",
    ),
]
DISTINCT = [
    ("haha where are you writing from?", "oh nice do you take photos too?"),
    ("what's the last trip you took?", "what's your dream place to visit?"),
    ("do you edit your photos much?", "do you travel solo or with friends?"),
    ("love that what made you write to me?", "love that are you more mountains or beaches?"),
]


def test_normalisation_drops_case_punctuation_and_emoji() -> None:
    assert normalize_for_comparison("  Hey!! You?? 🙂 ") == "hey you"


def test_threshold_separates_measured_examples() -> None:
    near = [similarity(a, b) for a, b in NEAR_DUPLICATES]
    distinct = [similarity(a, b) for a, b in DISTINCT]
    assert min(near) >= DEFAULT_SIMILARITY_THRESHOLD, near
    assert max(distinct) < DEFAULT_SIMILARITY_THRESHOLD, distinct


def test_find_repeat_returns_the_earlier_reply() -> None:
    earlier = ["what's the last trip you took?", "do you take photos too?"]
    assert find_repeat("Do you take photos too?!", earlier) == "do you take photos too?"
    assert find_repeat("golden hour or blue hour?", earlier) is None
    assert find_repeat("anything", []) is None


def test_distinct_texts_counts_near_duplicates_once() -> None:
    loop = [
        "where are you from?",
        "Where are you from??",
        "what camera?",
        "what camera ?!",
        "where r you from?",
    ]
    assert distinct_texts(loop) == 2
    assert distinct_texts([a for a, _ in DISTINCT] + [b for _, b in DISTINCT]) == 8
    assert distinct_texts([]) == 0


def test_text_key_is_the_normalised_text() -> None:
    assert text_key("Hello, you!") == text_key("hello you") != text_key("hello there")


def test_similar_contacts_for_broadcasts() -> None:
    others = [
        (1, "hey! what a lovely profile"),
        (2, "Hey, what a lovely profile!!"),
        (3, "nice shot"),
    ]
    assert similar_contacts("hey what a lovely profile", others) == {1, 2}
    assert similar_contacts("", others) == set()
