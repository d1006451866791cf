import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmpilot.channels import PayloadError
from dmpilot.channels.manychat import parse, render_dynamic, render_flat
from dmpilot.domain.decision import Action, Decision, Reason
from dmpilot.domain.inbound import InboundKind

NOW = datetime(2026, 11, 1, 12, 0)


def test_production_shape() -> None:
    got = parse(
        {
            "subscriber": {"id": "987", "name": "Sam Doe", "ig_username": "sam.doe"},
            "last_input_text": "hi!",
            "whatever": {"unknown": True},
        },
        NOW,
    )
    assert (got.contact_external_id, got.contact_name, got.contact_username) == (
        "987",
        "Sam Doe",
        "sam.doe",
    )
    assert (got.kind, got.text) == (InboundKind.TEXT, "hi!")


def test_full_contact_data_shape() -> None:
    got = parse(
        {
            "id": 123456789,
            "key": "user:123456789",
            "first_name": "Ana",
            "last_name": "Lopez",
            "ig_username": "ana",
            "last_input_text": "bonjour",
            "custom_fields": {"stage": "cold"},
        },
        NOW,
    )
    assert got.contact_external_id == "123456789"
    assert got.contact_name == "Ana Lopez"
    assert got.text == "bonjour"


@pytest.mark.parametrize(
    ("extra", "kind", "text"),
    [
        ({"story_reply": {"text": "love this"}}, InboundKind.STORY_REPLY, "love this"),
        ({"story_reply": {}}, InboundKind.STORY_REPLY, ""),
        ({"story_mention": {"text": None}}, InboundKind.STORY_MENTION, ""),
        ({"message": {"text": "via message"}}, InboundKind.TEXT, "via message"),
        ({"last_message": {"text": "via last"}}, InboundKind.TEXT, "via last"),
        ({"text": "plain"}, InboundKind.TEXT, "plain"),
        (
            {"attachment": {"type": "audio", "payload": {"url": "https://cdn.fbsbx.com/v/a.mp4"}}},
            InboundKind.VOICE,
            "",
        ),
    ],
)
def test_alternate_fields(extra: dict[str, Any], kind: InboundKind, text: str) -> None:
    got = parse({"subscriber": {"id": "1"}, **extra}, NOW)
    assert (got.kind, got.text) == (kind, text)


def test_photo_as_cdn_url_in_last_input_text() -> None:
    got = parse(
        {
            "subscriber": {"id": "1"},
            "last_input_text": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=x",
        },
        NOW,
    )
    assert got.kind is InboundKind.MEDIA and got.text == ""


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"last_input_text": "hi"}, "subscriber.id: field required"),
        ({"subscriber": {"name": "x"}, "last_input_text": "hi"}, "subscriber.id"),
        ({"subscriber": {"id": {"a": 1}}}, "subscriber.id"),
        ({"subscriber": {"id": True}}, "subscriber.id"),
        ({"subscriber": {"id": ""}}, "subscriber.id: must not be empty"),
        ({"subscriber": {"id": "1"}, "last_input_text": 42}, "last_input_text"),
        ({"subscriber": {"id": "1"}, "last_input_text": ["a"]}, "last_input_text"),
        ({"subscriber": "1"}, "subscriber"),
        ({"id": None}, "id"),
    ],
)
def test_bad_bodies_name_the_problem(body: dict[str, Any], needle: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(body, NOW)
    assert any(needle in problem for problem in caught.value.problems), caught.value.problems


def test_non_object_body() -> None:
    bodies: tuple[object, ...] = ([], "text", 3, None)
    for body in bodies:
        with pytest.raises(PayloadError, match="JSON object"):
            parse(body, NOW)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "subscriber",
        "id",
        "name",
        "last_input_text",
        "text",
        "message",
        "story_reply",
        "story_mention",
        "attachment",
        "last_message",
        "ig_username",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(field_names | st.text(max_size=6), json_values, max_size=6))
def test_parser_never_fails_unexpectedly(body: dict[str, Any]) -> None:
    """Any JSON object is either parsed or refused with a PayloadError — nothing else."""
    try:
        got = parse(body, NOW)
    except PayloadError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert got.contact_external_id.strip()
    json.dumps(got.text)  # encodable
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in got.text)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.one_of(st.text(min_size=1, max_size=20), st.integers(min_value=0)))
def test_any_text_is_sanitised(text: str, subscriber_id: str | int) -> None:
    body = {"subscriber": {"id": subscriber_id}, "last_input_text": text}
    try:
        got = parse(body, NOW)
    except PayloadError:
        ident = str(subscriber_id).strip()
        assert not ident or any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in ident)
        return
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in got.text)
    assert not any(ord(ch) < 32 and ch != "\n" for ch in got.text)
    assert got.kind is not InboundKind.TEXT or got.text


def test_render_flat_and_dynamic() -> None:
    sent = Decision(Action.SEND, "cold", text="hey!")
    assert render_flat(sent) == {
        "should_send": True,
        "response": "hey!",
        "stage": "cold",
        "should_stop": False,
        "delay_seconds": 0,
        "reason": None,
    }
    assert render_dynamic(sent)["content"]["messages"] == [{"type": "text", "text": "hey!"}]
    skipped = Decision.skip(Reason.DUPLICATE, "warm")
    assert render_flat(skipped)["reason"] == "duplicate"
    assert render_flat(skipped)["response"] == ""
    assert render_dynamic(skipped) == {
        "version": "v2",
        "content": {"type": "instagram", "messages": [], "actions": [], "quick_replies": []},
    }
    goodbye = Decision(Action.EXIT, "stopped", text="bye!", reason=Reason.CAP)
    assert render_flat(goodbye)["should_stop"] is True
    assert render_flat(goodbye)["should_send"] is True


def test_control_characters_leave_names_and_usernames() -> None:
    body = {
        "subscriber": {"id": "77", "name": "Sam\n\x1b[31mRed", "ig_username": "sam\r\n"},
        "last_input_text": "hi",
    }
    inbound = parse(body, NOW)
    assert inbound.contact_name == "Sam [31mRed"
    assert inbound.contact_username == "sam"
