from dmpilot.domain.inbound import (
    InboundKind,
    classify,
    comparable_text,
    describe,
    sanitize_text,
)
from support import inbound


def test_lone_surrogates_and_control_characters_are_removed() -> None:
    assert sanitize_text("hi\ud83d there\x00\x07!") == "hi there!"
    assert sanitize_text("caf\u0065\u0301 \U0001f600") == "café \U0001f600"  # NFC, emoji kept


def test_line_breaks_are_kept_but_tidied() -> None:
    assert sanitize_text("  one\r\ntwo\r\r\n\n\nthree\t\tfour ") == "one\ntwo\n\nthree four"


def test_text_is_capped() -> None:
    assert len(sanitize_text("a" * 10_000)) == 4000


def test_plain_text_is_text() -> None:
    kind, text, media, _ = classify(text="  hey you ")
    assert (kind, text, media) == (InboundKind.TEXT, "hey you", None)


def test_cdn_url_alone_is_media_not_words() -> None:
    url = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=123&signature=abc"
    kind, text, media, notes = classify(text=url)
    assert kind is InboundKind.MEDIA
    assert text == ""
    assert media == url
    assert "media_url_in_text" in notes


def test_cdn_url_inside_words_keeps_the_words() -> None:
    kind, text, media, _ = classify(
        text="look at this https://scontent-cdg4-1.cdninstagram.com/v/t51/abc.jpg so pretty"
    )
    assert kind is InboundKind.TEXT
    assert text == "look at this so pretty"
    assert media is not None and media.startswith("https://scontent-cdg4-1.cdninstagram.com/")


def test_other_links_are_ordinary_text() -> None:
    kind, text, media, _ = classify(text="see https://example.org/page")
    assert (kind, media) == (InboundKind.TEXT, None)
    assert text == "see https://example.org/page"


def test_attachments_become_typed_events() -> None:
    for attachment, expected in [
        ("image", InboundKind.IMAGE),
        ("audio", InboundKind.VOICE),
        ("video", InboundKind.VIDEO),
        ("sticker", InboundKind.STICKER),
        ("like_heart", InboundKind.STICKER),
        ("ig_reel", InboundKind.SHARE),
        ("something_new", InboundKind.FILE),
    ]:
        kind, _, _, _ = classify(
            text=None, attachment_type=attachment, attachment_url="https://x/y"
        )
        assert kind is expected, attachment


def test_textless_story_reply_and_mention_are_answerable() -> None:
    assert classify(text=None, story_reply=True)[0] is InboundKind.STORY_REPLY
    assert classify(text="", story_mention=True)[0] is InboundKind.STORY_MENTION
    kind, text, _, _ = classify(text="so cute!", story_reply=True)
    assert (kind, text) == (InboundKind.STORY_REPLY, "so cute!")


def test_nothing_left_is_empty() -> None:
    for raw in (None, "", "   ", "\x00\x01", "\ud800"):
        assert classify(text=raw)[0] is InboundKind.EMPTY, repr(raw)


def test_dedup_key_ignores_case_and_spacing_but_not_words() -> None:
    a = inbound(text="Hello  there").dedup_key()
    b = inbound(text="hello there").dedup_key()
    c = inbound(text="hello there!").dedup_key()
    assert a == b
    assert a != c
    assert inbound(text="hello there", contact="c2").dedup_key() == b  # per contact in the store
    assert inbound(text=None).dedup_key() is None


def test_comparable_text() -> None:
    assert comparable_text("  Hi\nTHERE ") == "hi there"


def test_describe_labels_media_for_the_brain() -> None:
    assert describe(InboundKind.VOICE, "") == "[sent a voice message]"
    assert describe(InboundKind.STORY_REPLY, "wow") == "[replied to your story] wow"
    assert describe(InboundKind.TEXT, "hi") == "hi"
