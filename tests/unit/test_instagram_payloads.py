"""`dmpilot.channels.instagram`: whatever JSON Meta (or anyone holding the app secret) sends,
`parse` reads it item by item and never raises; and the X-Hub-Signature-256 check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dmpilot.channels.instagram import CHANNEL, MAX_MID_CHARS, parse, sign, signature_valid
from dmpilot.domain.channel_events import MAX_DETAIL_CHARS, ChannelEvent, ChannelEventKind
from dmpilot.domain.channel_events import RefusedItem as Refused
from dmpilot.domain.inbound import MAX_EXTERNAL_ID_CHARS, Inbound, scrub
from fakes import meta_webhooks as meta

AT = datetime(2026, 11, 23, 12, 0, 0)
ACCOUNT = meta.ACCOUNT_ID
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies --------------------------------------------------------------------------------

# Any code point, with lone surrogates, NUL and other controls drawn often (what a JSON
# decoder makes of "\ud800" or "\u0000"). Built from a list: st.text() leaves surrogates out.
NASTY = ["\ud800", "\udfff", "\udc00\ud800", "\x00", "\x1f", "\x85", "\u202e", " ", "\n"]
TEXT = st.lists(st.characters() | st.sampled_from(NASTY), max_size=24).map("".join)
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities too: Python's json module reads them
    | TEXT
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


# The noise mixed into plausible payloads: small, so a payload stays quick to draw.
JUNK = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(TEXT, inner, max_size=2),
    max_leaves=4,
)


def often(usual: st.SearchStrategy[Any], times: int, *rare: st.SearchStrategy[Any]) -> Any:
    """`usual` drawn about `times` times as often as each of `rare`. (st.one_of counts
    one strategy given twice once: each copy is a distinct `map`.)"""
    return st.one_of(*[usual.map(lambda value: value) for _ in range(times)], *rare)


CONTACTS = often(
    st.sampled_from(["ig-1", "ig-2", 17841499999, " ig-3 "]),
    4,
    st.sampled_from(["", "ig\x00x", "x" * 129]),
    TEXT,
)
ACCOUNTS = often(st.just(ACCOUNT), 4, st.sampled_from([int(ACCOUNT), f" {ACCOUNT} ", "999", 999]))


def meta_payloads(noise: bool) -> st.SearchStrategy[Any]:
    """Payloads shaped like Meta's, every field of the documented type (random values);
    with `noise`, any field may also hold any JSON value, and any object be something else."""

    def maybe(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return often(right, 5, JUNK) if noise else right

    def obj(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
        return maybe(st.fixed_dictionaries(required, optional=optional))

    ids = maybe(CONTACTS)
    mids = maybe(st.sampled_from(["mid.1", "mid.2", " mid.\x00 "]) | TEXT)
    words = maybe(
        often(
            st.sampled_from(["hi", "what do you do?", "\u2764\ufe0f", "ok\n\nbye"]),
            3,
            st.sampled_from(["", "  ", "https://scontent.cdninstagram.com/x.jpg"]),
            TEXT,
        )
    )
    flags = maybe(st.booleans())
    referral = obj({}, {"ref": words, "source": words, "type": words, "ad_id": ids})
    attachment = obj(
        {},
        {
            "type": maybe(st.sampled_from(["image", "audio", "share", "ig_reel", "x"]) | TEXT),
            "payload": obj({}, {"url": words, "title": words}),
        },
    )
    message = obj(
        {"mid": mids},
        {
            "text": words,
            "attachments": maybe(st.lists(attachment, max_size=2)),
            "is_echo": flags,
            "is_deleted": flags,
            "is_unsupported": flags,
            "quick_reply": obj({}, {"payload": words}),
            "reply_to": obj({}, {"mid": mids, "story": obj({}, {"url": words, "id": ids})}),
            "referral": referral,
            "extra": JUNK,
        },
    )
    # One of the item's events, as Meta sends them; sometimes several, or none.
    events = often(
        st.fixed_dictionaries({"message": message}),
        4,
        st.fixed_dictionaries(
            {"postback": obj({}, {"mid": mids, "title": words, "payload": words})}
        ),
        st.fixed_dictionaries(
            {"reaction": obj({}, {"mid": mids, "action": words, "reaction": words, "emoji": words})}
        ),
        st.fixed_dictionaries({"read": obj({}, {"mid": mids})}),
        st.fixed_dictionaries({"referral": referral}),
        st.fixed_dictionaries({}, optional={"message": message, "read": JUNK, "x": JUNK}),
    )
    parties = often(
        st.tuples(ids, ACCOUNTS),  # a contact writing to the account
        4,
        st.tuples(ACCOUNTS, ids),  # the account writing (an echo)
        st.tuples(ids, ids),
    ).map(lambda pair: {"sender": {"id": pair[0]}, "recipient": {"id": pair[1]}})
    echo = st.tuples(ACCOUNTS, ids, mids, words).map(
        lambda e: {
            "sender": {"id": e[0]},
            "recipient": {"id": e[1]},
            "message": {"mid": e[2], "text": e[3], "is_echo": True},
        }
    )
    timestamp = st.fixed_dictionaries({}, optional={"timestamp": JUNK})
    item = maybe(
        often(
            st.tuples(parties, events, timestamp).map(
                lambda parts: {**parts[0], **parts[1], **parts[2]}
            ),
            4,
            echo,
        )
    )
    if noise:  # the sender or the recipient missing or malformed
        item = item | st.fixed_dictionaries({}, optional={"sender": JUNK, "recipient": JUNK})
    entry = st.fixed_dictionaries(
        {
            "id": ids,
            "time": st.integers(0, 2**45),
            "messaging": st.lists(item, min_size=1, max_size=4),
        }
    )
    if noise:  # `changes`, `standby`, or anything at all instead of `messaging`
        entry = often(
            entry,
            4,
            obj({"id": ids}, {"messaging": maybe(st.lists(item, max_size=3)), "changes": JUNK}),
        )
    payload = st.fixed_dictionaries(
        {"object": st.just("instagram"), "entry": st.lists(entry, max_size=3)},
        optional={"extra": JUNK},
    )
    if noise:
        payload = often(payload, 6, obj({"object": maybe(st.just("instagram"))}, {"entry": JUNK}))
    return payload


CLEAN_PAYLOADS = meta_payloads(noise=False)
NOISY_PAYLOADS = meta_payloads(noise=True)

# -- what parse promises -------------------------------------------------------------------------


def expected_items(payload: Any) -> int:
    """One item per messaging item; one refused event per entry that has no messaging list;
    exactly one refused event for a body that is not Instagram's shape at all."""
    if not isinstance(payload, dict) or payload.get("object") != "instagram":
        return 1
    entries = payload.get("entry")
    if not isinstance(entries, list):
        return 1
    return sum(
        len(entry["messaging"])
        if isinstance(entry, dict) and isinstance(entry.get("messaging"), list)
        else 1
        for entry in entries
    )


def _strings(item: Inbound | ChannelEvent) -> Iterator[str]:
    if isinstance(item, Inbound):
        yield item.contact_external_id
        yield item.text
        yield from (v for v in (item.media_url, item.external_message_id, item.source) if v)
        yield from item.notes
        return
    yield item.text
    yield from (v for v in (item.contact_external_id, item.message_id) if v)
    yield from (v for v in item.detail.values() if isinstance(v, str))


def check(payload: Any, *, scrubbed: bool) -> list[Inbound | ChannelEvent]:
    items = parse(payload, AT, ACCOUNT)
    assert isinstance(items, list)
    assert len(items) == expected_items(payload)
    entries = payload.get("entry") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or payload.get("object") != "instagram":
        (item,) = items
        assert isinstance(item, ChannelEvent) and item.reason is Refused.UNKNOWN_SHAPE
    for item in items:
        assert isinstance(item, Inbound | ChannelEvent), item
        assert item.channel == CHANNEL
        assert item.received_at == AT
        if isinstance(item, Inbound):
            event(f"inbound:{item.kind}")
            contact = item.contact_external_id
            assert contact and contact == contact.strip()
            assert len(contact) <= MAX_EXTERNAL_ID_CHARS
            assert item.external_message_id is None or (
                0 < len(item.external_message_id) <= MAX_MID_CHARS
            )
        else:
            event(f"event:{item.kind}:{item.reason}")
            assert isinstance(item.kind, ChannelEventKind)
            assert (item.reason is not None) == (item.kind is ChannelEventKind.REFUSED)
            if item.kind is ChannelEventKind.REFUSED:
                assert len(str(item.detail["item"])) <= MAX_DETAIL_CHARS
            else:
                assert item.contact_external_id  # a handled event always names its contact
        if scrubbed:
            # What reaches the database: no NUL (PostgreSQL refuses it), no lone surrogate.
            for text in _strings(item):
                assert "\x00" not in text, item
                text.encode("utf-8")  # raises on a lone surrogate
    return items


@SETTINGS
@given(JSON)
def test_any_json_value_is_read_without_raising(payload: Any) -> None:
    check(payload, scrubbed=False)
    check(scrub(payload), scrubbed=True)


@SETTINGS
@given(CLEAN_PAYLOADS | NOISY_PAYLOADS)
def test_any_plausible_meta_payload_is_read_item_by_item(payload: Any) -> None:
    check(payload, scrubbed=False)
    check(scrub(payload), scrubbed=True)


@SETTINGS
@given(NOISY_PAYLOADS)
def test_one_bad_item_never_changes_how_the_others_are_read(payload: Any) -> None:
    """Each item is read on its own: reading it alone gives the same result."""
    entries = payload.get("entry") if isinstance(payload, dict) else None
    items = [
        item
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("messaging"), list)
        for item in entry["messaging"]
    ]
    together = parse({"object": "instagram", "entry": [{"messaging": items}]}, AT, ACCOUNT)
    alone = [
        parse({"object": "instagram", "entry": [{"messaging": [i]}]}, AT, ACCOUNT)[0] for i in items
    ]
    assert together == alone


@pytest.mark.parametrize(
    "payload",
    [
        None,
        7,
        "instagram",
        [],
        [{"object": "instagram"}],
        {},
        {"object": "page", "entry": []},
        {"object": "instagram"},
        {"object": "instagram", "entry": {"messaging": []}},
        {"object": "Instagram", "entry": []},
    ],
)
def test_a_body_of_another_shape_is_one_refused_event(payload: Any) -> None:
    (item,) = parse(payload, AT, ACCOUNT)
    assert isinstance(item, ChannelEvent)
    assert (item.kind, item.reason, item.contact_external_id) == (
        ChannelEventKind.REFUSED,
        Refused.UNKNOWN_SHAPE,
        None,
    )


def test_the_documented_shapes_are_read_as_what_they_are() -> None:
    body = {
        "object": "instagram",
        "entry": [
            {"id": ACCOUNT, "messaging": [meta.message("ig-1", "hi", mid="m1")]},
            {
                "id": ACCOUNT,
                "messaging": [meta.echo("ig-1", "hello!", "m2"), meta.seen("ig-1", "m2")],
            },
            {"id": ACCOUNT, "changes": [{"field": "comments"}]},
        ],
    }
    inbound, echo, seen, comments = parse(body, AT, ACCOUNT)
    assert isinstance(inbound, Inbound)
    assert (inbound.contact_external_id, inbound.text, inbound.external_message_id) == (
        "ig-1",
        "hi",
        "m1",
    )
    assert isinstance(echo, ChannelEvent) and echo.kind is ChannelEventKind.ECHO
    assert (echo.contact_external_id, echo.message_id) == ("ig-1", "m2")
    assert isinstance(seen, ChannelEvent) and seen.kind is ChannelEventKind.SEEN
    assert isinstance(comments, ChannelEvent) and comments.reason is Refused.UNKNOWN_SHAPE


HUGE = 10**5000  # str() of it raises ValueError (Python's 4300-digit limit)


def test_a_huge_integer_id_is_refused_not_raised() -> None:
    # Not reachable over HTTP (json.loads refuses such a number), but parse never raises.
    item = {"sender": {"id": HUGE}, "recipient": {"id": ACCOUNT}, "message": {"mid": "m"}}
    (refused,) = parse({"object": "instagram", "entry": [{"messaging": [item]}]}, AT, ACCOUNT)
    assert isinstance(refused, ChannelEvent) and refused.kind is ChannelEventKind.REFUSED


@pytest.mark.parametrize(
    "event",
    [
        {"recipient": {"id": HUGE}, "message": {"mid": "m"}},
        {"referral": {"ad_id": HUGE}},
        {"message": {"mid": "m", "text": "hi", "referral": {"ad_id": HUGE}}},
        {"message": {"mid": "m", "text": "hi", "reply_to": {"story": {"id": HUGE}}}},
    ],
    ids=["account", "referral", "message-referral", "story"],
)
def test_a_huge_integer_anywhere_is_read_without_raising(event: dict[str, Any]) -> None:
    item = {"sender": {"id": "ig-1"}, "recipient": {"id": ACCOUNT}, **event}
    (read,) = parse({"object": "instagram", "entry": [{"messaging": [item]}]}, AT, ACCOUNT)
    assert isinstance(read, Inbound | ChannelEvent)


# -- the signature -------------------------------------------------------------------------------

SECRET = meta.APP_SECRET
BODY = meta.batch(meta.message("ig-1", "hi there", mid="m.sig"))
HEX = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


def test_the_right_signature_is_accepted() -> None:
    assert sign(SECRET, BODY) == f"sha256={HEX}"
    assert signature_valid(SECRET, BODY, f"sha256={HEX}")
    assert signature_valid(SECRET, BODY, meta.signed(BODY)["X-Hub-Signature-256"])


@pytest.mark.parametrize(
    "header",
    [
        f"sha256={HEX.upper()}",  # hex digits in capitals are the same digest
        f"SHA256={HEX}",  # the scheme's name, case-insensitively
        f"  sha256={HEX}  ",  # whitespace a proxy may leave around the value
        f"sha256= {HEX}\t",
    ],
    ids=["uppercase-hex", "uppercase-scheme", "padded", "padded-digest"],
)
def test_harmless_variations_of_the_right_signature_are_accepted(header: str) -> None:
    assert signature_valid(SECRET, BODY, header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "sha256=",
        "sha256",
        HEX,  # no scheme
        f"sha1={HEX}",
        f"sha1={hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()}",
        f"md5={HEX}",
        f"sha256={HEX[:-1]}",
        f"sha256={HEX}0",
        f"sha256={HEX[:32]} {HEX[32:]}",
        f"sha256={'0' * 64}",
        f"sha256={HEX},sha256={HEX}",
        f"sha256==={HEX}",
        f"sha256={HEX}\x00",
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "no-digest",
        "no-equals",
        "no-scheme",
        "sha1-scheme",
        "sha1-digest",
        "md5-scheme",
        "short",
        "long",
        "split",
        "zeros",
        "twice",
        "extra-equals",
        "nul",
    ],
)
def test_a_missing_wrong_or_foreign_signature_is_refused(header: str | None) -> None:
    assert not signature_valid(SECRET, BODY, header)


def test_a_signature_is_for_these_bytes_and_this_secret_only() -> None:
    header = f"sha256={HEX}"
    assert not signature_valid(SECRET, BODY + b" ", header)
    assert not signature_valid(SECRET, BODY.replace(b"hi there", b"hi thera"), header)
    assert not signature_valid("another-app-secret", BODY, header)
    assert not signature_valid(SECRET + " ", BODY, header)


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(max_codepoint=0xFF), max_size=80)  # what a header decodes to
    | st.text(max_size=80)
    | TEXT
)
def test_any_other_header_is_refused_without_raising(header: str) -> None:
    assert not signature_valid(SECRET, BODY, header)
    assert not signature_valid(SECRET, BODY, f"sha256={header}")


@pytest.mark.parametrize(
    "header", ["sha256=\xff", f"sha256={HEX[:-1]}\u00e9", f"sha256={HEX}\u00e9", "sha256=\ud800"]
)
def test_a_non_ascii_header_is_refused_not_raised(header: str) -> None:
    # Starlette decodes header bytes as latin-1; hmac.compare_digest raises on a non-ASCII
    # str, so the comparison must be of bytes (this once was a 500).
    assert not signature_valid(SECRET, BODY, header)
