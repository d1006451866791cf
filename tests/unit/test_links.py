import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dmpilot.domain.links import LinkMatcher, contains_link

LINK = "https://example.com/lena-presets"
ROOT = "https://example.com"
TRACKED_BASE = "https://dm.example.net"
TRACKED_BASE_WITH_PATH = "https://dm.example.net/base/"
TRACKED_URL = "https://dm.example.net/l/Ab3_x-9"

WITH_PATH = LinkMatcher.for_link(LINK)
WITHOUT_PATH = LinkMatcher.for_link(ROOT)
WITH_TRACKING = LinkMatcher.for_link(LINK, TRACKED_BASE)
WITH_TRACKING_BASE = LinkMatcher.for_link(LINK, TRACKED_BASE_WITH_PATH)

# How models actually wrote the link. Most of these do not contain LINK as a substring.
PATH_SPELLINGS = [
    "example.com/lena-presets",
    "http://example.com/lena-presets",
    "https://example.com/lena-presets",
    "HTTPS://EXAMPLE.COM/LENA-PRESETS",
    "Http://Example.com/Lena-Presets",
    "www.example.com/lena-presets",
    "https://www.example.com/lena-presets",
    "WWW.Example.Com/lena-presets",
    "EXAMPLE.com/lena-presets/",
    "https://example.com:443/lena-presets",
    "http://example.com:80/lena-presets",
    "//example.com/lena-presets",
    "example.com/lena-presets?utm=x",
    "https://example.com/lena-presets/?utm_source=ig&utm_medium=dm",
    "example.com/lena-presets#a",
    "example.com/lena-presets/more",
    "example.com/lena-presets/more/deeper?x=1#top",
]

ROOT_SPELLINGS = [
    "example.com",
    "EXAMPLE.COM",
    "https://example.com",
    "http://example.com/",
    "www.example.com",
    "https://www.example.com/lena-presets",
    "example.com/anything/else",
    "example.com?ref=dm",
    "example.com:443",
    "//example.com",
]

# Each context puts the link between "{" and "}"; the span must be exactly the spelling.
CONTEXTS = [
    "{}",
    "grab them here: {} 🔥",
    "all my presets are on {}.",
    "here ({}).",
    "[shop]({})",
    "<{}>",
    "«{}»",
    "“{}”",
    "'{}'",
    '"{}"!',
    "look → {}…",
    "voilà {}!!",
    "is it {}?",
    "{}, then tell me",
    "{}; or not",
    "link: {}:",
    "**{}**",
    "请看{}谢谢",
    "café ☕ {} 👀 ça va",
    "line one\n{}\nline two",
]


def _only_span(matcher: LinkMatcher, text: str) -> str:
    spans = matcher.spans(text)
    assert len(spans) == 1, f"{text!r}: {spans}"
    start, end = spans[0]
    return text[start:end]


@pytest.mark.parametrize("spelling", PATH_SPELLINGS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_every_spelling_of_a_link_with_a_path_is_found_in_every_context(
    spelling: str, context: str
) -> None:
    text = context.format(spelling)
    assert WITH_PATH.contains(text)
    assert WITH_PATH.count(text) == 1
    assert _only_span(WITH_PATH, text) == spelling


@pytest.mark.parametrize("spelling", ROOT_SPELLINGS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_every_spelling_of_a_link_without_a_path_is_found_in_every_context(
    spelling: str, context: str
) -> None:
    text = context.format(spelling)
    assert WITHOUT_PATH.count(text) == 1
    assert _only_span(WITHOUT_PATH, text) == spelling


@pytest.mark.parametrize(
    "configured",
    [
        LINK,
        "https://example.com/lena-presets/",
        "http://example.com/lena-presets",
        "example.com/lena-presets",
        "www.example.com/lena-presets",
        "HTTPS://WWW.Example.COM/Lena-Presets/",
        "https://example.com:443/lena-presets",
        "https://example.com/lena-presets?ref=bio",
    ],
)
def test_the_configured_link_may_itself_be_spelled_any_way(configured: str) -> None:
    matcher = LinkMatcher.for_link(configured)
    for spelling in PATH_SPELLINGS:
        assert matcher.contains(f"see {spelling}."), (configured, spelling)
    assert not matcher.contains("see example.com/lena-presets-old")
    assert not matcher.contains("see notexample.com/lena-presets")


@pytest.mark.parametrize("configured", [ROOT, "https://example.com/", "example.com"])
def test_a_link_without_a_path_is_configured_with_or_without_a_slash(configured: str) -> None:
    matcher = LinkMatcher.for_link(configured)
    assert matcher.count("example.com and www.example.com/x and https://EXAMPLE.com/") == 3


@pytest.mark.parametrize(
    "text",
    [
        "example.com/other",
        "example.com/lena-presets-old",
        "example.com/lena-presets_old",
        "example.com/lena-presets2",
        "example.com/lena-preset",
        "example.com/lena",
        "example.com/",
        "example.com",
        "https://example.com/other/lena-presets",
        "notexample.com/lena-presets",
        "my-example.com/lena-presets",
        "my_example.com/lena-presets",
        "example.com.evil.net/lena-presets",
        "https://example.com.evil.net/lena-presets",
        "example.com-evil.net/lena-presets",
        "sub.example.com/lena-presets",
        "https://sub.example.com/lena-presets",
        "www2.example.com/lena-presets",
        "write to lena@example.com/lena-presets",
        "example.co/lena-presets",
        "example.community/lena-presets",
        "evil.net/example.com/lena-presets",
        "https://evil.net/?u=%2F%2Fexample.com/lena-presets",
        "example dot com slash lena-presets",
        "",
    ],
)
def test_near_misses_are_not_a_link_with_a_path(text: str) -> None:
    assert not WITH_PATH.contains(text)
    assert WITH_PATH.count(text) == 0
    assert WITH_PATH.spans(text) == []
    assert WITH_PATH.replace(text, TRACKED_URL) == text


@pytest.mark.parametrize(
    "text",
    [
        "notexample.com",
        "myexample.com/lena-presets",
        "example.com.evil.net",
        "https://example.com.evil.net/",
        "sub.example.com",
        "https://shop.example.com/lena-presets",
        "mail me at lena@example.com",
        "lena@www.example.com",
        "example.community",
        "example.co",
        "examplecom",
        "the example is commonplace",
    ],
)
def test_near_misses_are_not_a_link_without_a_path(text: str) -> None:
    assert not WITHOUT_PATH.contains(text)


def test_several_spellings_in_one_reply_are_each_counted() -> None:
    text = (
        "My presets: example.com/lena-presets! Or www.EXAMPLE.com/lena-presets/. "
        "[shop](https://example.com/lena-presets) but not example.com/lena-presets-old "
        "and not lena@example.com."
    )
    assert WITH_PATH.count(text) == 3
    assert len(WITH_PATH.spans(text)) == 3


def test_spans_are_in_order_and_exclude_surrounding_punctuation() -> None:
    text = "(example.com/lena-presets). Also «https://www.example.com/lena-presets/?a=1»!"
    spans = WITH_PATH.spans(text)
    assert [text[start:end] for start, end in spans] == [
        "example.com/lena-presets",
        "https://www.example.com/lena-presets/?a=1",
    ]
    assert spans == [(1, 25), (34, 75)]


@pytest.mark.parametrize(
    "text",
    [
        "example.com/lena-presets.Check them out",
        "example.com/lena-presets.html",
        "example.com/lena-presets,thanks",
        "example.com/lena-presets!!!love",
    ],
)
def test_a_word_glued_after_the_link_with_punctuation_still_counts(text: str) -> None:
    # Never undercount: a dot or comma ends the path segment, so this is the link.
    assert _only_span(WITH_PATH, text) == "example.com/lena-presets"


def test_links_glued_together_are_still_counted_apart() -> None:
    text = (
        "[a](https://example.com/lena-presets?x=1)[b](https://example.com/lena-presets?x=1)"
        " example.com/lena-presets/https://example.com/lena-presets"
    )
    assert WITH_PATH.count(text) == 4


def test_replace_puts_the_tracked_url_in_place_of_every_spelling() -> None:
    text = (
        "here (example.com/lena-presets). also WWW.example.com/lena-presets/?utm=x, "
        "[shop](http://example.com/lena-presets) and «https://example.com:443/lena-presets»! "
        "not example.com/other or lena@example.com"
    )
    assert WITH_PATH.replace(text, TRACKED_URL) == (
        f"here ({TRACKED_URL}). also {TRACKED_URL}, "
        f"[shop]({TRACKED_URL}) and «{TRACKED_URL}»! "
        "not example.com/other or lena@example.com"
    )


def test_replace_leaves_text_without_the_link_alone() -> None:
    text = "no link here, just example.org and 😀"
    assert WITH_PATH.replace(text, TRACKED_URL) == text


def test_replace_with_a_tracked_url_keeps_the_count() -> None:
    text = "a example.com/lena-presets, b www.example.com/lena-presets/x."
    replaced = WITH_TRACKING.replace(text, TRACKED_URL)
    assert replaced == f"a {TRACKED_URL}, b {TRACKED_URL}."
    assert WITH_TRACKING.count(replaced) == WITH_TRACKING.count(text) == 2
    assert not WITH_PATH.contains(replaced)


@pytest.mark.parametrize(
    "spelling",
    [
        "https://dm.example.net/l/Ab3_x-9",
        "dm.example.net/l/abc",
        "http://dm.example.net/l/abc",
        "www.dm.example.net/l/abc",
        "HTTPS://DM.EXAMPLE.NET/L/abc",
        "https://dm.example.net:443/l/abc",
        "dm.example.net/l/" + "a" * 32,
        "dm.example.net/l/abc?utm=x",
    ],
)
@pytest.mark.parametrize("context", ["{}", "click ({}).", "[shop]({})", "«{}»!", "看{}吧"])
def test_the_tracked_form_counts_as_the_link(spelling: str, context: str) -> None:
    text = context.format(spelling)
    assert _only_span(WITH_TRACKING, text) == spelling
    assert not WITH_PATH.contains(text)


@pytest.mark.parametrize(
    "spelling",
    [
        "https://dm.example.net/base/l/Ab3_x-9",
        "dm.example.net/base/l/abc",
        "www.dm.example.net/base/l/abc",
        "DM.Example.NET/BASE/L/abc",
        "http://dm.example.net:80/base/l/abc",
    ],
)
@pytest.mark.parametrize("context", ["{}", "click ({}).", "[shop]({})", "“{}”…"])
def test_the_tracked_form_under_a_base_path_counts_as_the_link(spelling: str, context: str) -> None:
    text = context.format(spelling)
    assert _only_span(WITH_TRACKING_BASE, text) == spelling


@pytest.mark.parametrize(
    "text",
    [
        "dm.example.net",
        "dm.example.net/l/",
        "dm.example.net/l/" + "a" * 33,
        "dm.example.net/l/abc.def",
        "dm.example.net/x/abc",
        "dm.example.net/labc",
        "notdm.example.net/l/abc",
        "evil.dm.example.net/l/abc",
        "dm.example.net.evil.org/l/abc",
        "me@dm.example.net/l/abc",
    ],
)
def test_near_misses_of_the_tracked_form_are_not_the_link(text: str) -> None:
    if text == "dm.example.net/l/abc.def":
        # The token stops at the dot: the tracked link is there, the rest is text.
        assert _only_span(WITH_TRACKING, text) == "dm.example.net/l/abc"
    else:
        assert not WITH_TRACKING.contains(text)


@pytest.mark.parametrize(
    "text",
    [
        "dm.example.net/l/abc",
        "dm.example.net/based/l/abc",
        "dm.example.net/bas/l/abc",
        "dm.example.net/other/l/abc",
    ],
)
def test_the_tracked_form_needs_its_base_path(text: str) -> None:
    assert not WITH_TRACKING_BASE.contains(text)


def test_without_a_tracked_base_the_tracked_form_is_not_the_link() -> None:
    assert not WITH_PATH.contains(TRACKED_URL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see example.com/lena-presets", True),
        ("see example.com/lena-presets-old", False),
        (f"see {TRACKED_URL}", True),
        ("see dm.example.net/elsewhere", False),
    ],
)
def test_contains_link_is_a_one_off_shortcut(text: str, expected: bool) -> None:
    assert contains_link(text, LINK, TRACKED_BASE) is expected


def test_a_host_with_unicode_matches_its_punycode_and_a_path_its_percent_encoding() -> None:
    matcher = LinkMatcher.for_link("https://café.example/prés")
    assert matcher.contains("voilà café.example/prés !")
    assert matcher.contains("https://xn--caf-dma.example/pr%C3%A9s")
    assert not matcher.contains("cafe.example/pres")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("https://", "no host"),
        ("/lena-presets", "no host"),
        ("https:///lena-presets", "no host"),
        ("mailto:lena@example.com", "http or https"),
        ("ftp://example.com/x", "http or https"),
        ("https://exa mple.com", "invalid host"),
        ("https://example.com:99999/", "not a valid URL"),
    ],
)
def test_a_link_that_is_not_a_web_address_is_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinkMatcher.for_link(url)


def test_a_tracked_base_without_a_host_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"tracked_base.*no host"):
        LinkMatcher.for_link(LINK, "/l/")


def test_matchers_for_the_same_link_are_equal() -> None:
    assert LinkMatcher.for_link(LINK) == LinkMatcher.for_link(LINK)
    assert LinkMatcher.for_link(LINK) != LinkMatcher.for_link(LINK, TRACKED_BASE)


# Arbitrary text, including lone surrogates, NUL and other control characters.
ANY_TEXT = st.text(
    st.characters()
    | st.characters(categories=["Cs"])
    | st.sampled_from(["\x00", "\u200b", "\ufeff", "🔥", "é", "看"])
)
URLISH = st.lists(
    st.sampled_from(
        [
            "https://",
            "http://",
            "//",
            "www.",
            "exampl",
            "xample",
            ".com",
            "e.com",
            "com",
            "/lena-presets",
            "/l/",
            "abc",
            "dm.",
            ".net",
            "/base",
            "@",
            "(",
            ")",
            ".",
            " ",
            ":443",
            "?utm=x",
            "#",
            "-",
            "_",
            "\x00",
            "\ud800",
            "😀",
        ]
    )
    | ANY_TEXT,
    max_size=12,
).map("".join)
MATCHERS = [WITH_PATH, WITHOUT_PATH, WITH_TRACKING, WITH_TRACKING_BASE]


@given(ANY_TEXT | URLISH)
def test_any_text_is_handled_without_error_and_consistently(text: str) -> None:
    for matcher in MATCHERS:
        spans = matcher.spans(text)
        assert matcher.contains(text) is bool(spans)
        assert matcher.count(text) == len(spans)
        previous_end = 0
        for start, end in spans:
            assert previous_end <= start < end <= len(text)
            previous_end = end
        removed = sum(end - start for start, end in spans)
        assert len(matcher.replace(text, "")) == len(text) - removed


@given(ANY_TEXT | URLISH)
def test_text_without_the_registrable_name_never_matches(text: str) -> None:
    assume("example" not in text.casefold())
    for matcher in MATCHERS:
        assert not matcher.contains(text)


@given(
    ANY_TEXT | URLISH,
    st.sampled_from(PATH_SPELLINGS),
    st.sampled_from(CONTEXTS),
    ANY_TEXT | URLISH,
)
def test_a_spaced_out_link_adds_exactly_one_occurrence_to_any_text(
    before: str, spelling: str, context: str, after: str
) -> None:
    text = f"{before} {context.format(spelling)} {after}"
    assert WITH_PATH.count(text) == WITH_PATH.count(before) + 1 + WITH_PATH.count(after)
