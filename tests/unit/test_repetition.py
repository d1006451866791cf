from dmpilot.domain.repetition import (
    DEFAULT_SIMILARITY_THRESHOLD,
    find_repeat,
    normalize_for_comparison,
    similarity,
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
