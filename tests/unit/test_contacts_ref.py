"""Contact references that name no row: ids beyond 64 bits, digits int() cannot read,
control characters. Each is a ValueError that says how to name the contact instead."""

from __future__ import annotations

import pytest

from dmpilot.domain.contacts import MAX_INTERNAL_ID, ContactRef, RefKind


@pytest.mark.parametrize(
    "text",
    [
        "id:99999999999999999999",  # 20 digits: beyond SQLite's and PostgreSQL's BIGINT
        f"id:{MAX_INTERNAL_ID + 1}",  # the first number past 2**63-1
        "id:" + "9" * 5000,  # past Python's 4300-digit int() limit
    ],
)
def test_an_id_beyond_64_bits_is_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="out of range") as raised:
        ContactRef.parse(text)
    message = str(raised.value)
    assert str(MAX_INTERNAL_ID) in message and "subscriber id or @username" in message
    assert "4300" not in message and "set_int_max_str_digits" not in message
    assert len(message) < 300  # a 5000-digit id is not echoed in full


def test_the_largest_id_and_leading_zeros_still_parse() -> None:
    assert ContactRef.parse(f"id:{MAX_INTERNAL_ID}") == ContactRef(
        RefKind.INTERNAL, str(MAX_INTERNAL_ID)
    )
    assert ContactRef.parse("id:" + "0" * 40 + "42").value == "42"
    assert ContactRef.parse("ID: 7").value == "7"


@pytest.mark.parametrize("text", ["id:²", "id:١٢", "id:4_2", "id:-1", "id:+5"])
def test_an_id_takes_plain_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match="numeric contact id"):
        ContactRef.parse(text)


@pytest.mark.parametrize(
    "text", ["fan\n005", "fan\x00005", "fan\x1b[31m", "@sam\r\nx", "\ud800", "id:4\x002"]
)
def test_control_characters_and_lone_surrogates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="control characters") as raised:
        ContactRef.parse(text)
    assert "\n" not in str(raised.value)  # echoed escaped, one line


def test_a_subscriber_id_longer_than_any_stored_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 128 characters"):
        ContactRef.parse("9" * 129)
    assert ContactRef.parse("9" * 128).kind is RefKind.EXTERNAL
    assert ContactRef.parse("  fan005 ") == ContactRef(RefKind.EXTERNAL, "fan005")
