"""Settings refuse what would break later (non-finite or huge numbers, secrets no HTTP header
can carry), never echo a secret, and database URLs are masked wherever a password can hide."""

from __future__ import annotations

import math
import os
from typing import get_args

import pytest
import typer
from pydantic import ValidationError

from dmpilot.channels.manychat_api import ManyChatSender
from dmpilot.cli.common import load_settings
from dmpilot.settings import Settings
from dmpilot.store.database import UnsupportedDatabase, masked_url, normalize_url

SECRETS = {
    "DMPILOT_WEBHOOK_TOKEN": "webhook_token",
    "DMPILOT_MANYCHAT_API_KEY": "manychat_api_key",
    "ANTHROPIC_API_KEY": "anthropic_api_key",
    "DMPILOT_ANTHROPIC_API_KEY": "anthropic_api_key",
    "OPENAI_API_KEY": "openai_api_key",
}
SECRET = "42:s3cretvalue"


def fields_of(kind: type) -> list[str]:
    """Every Settings field of this type, optional or not (bool is not an int here)."""
    return [
        name
        for name, field in Settings.model_fields.items()
        if kind in (get_args(field.annotation) or (field.annotation,))
    ]


FLOATS = fields_of(float)
INTS = fields_of(int)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets is read: no DMPILOT_* or provider key from the shell."""
    for name in list(os.environ):
        if name.startswith(("DMPILOT_", "ANTHROPIC_", "OPENAI_")):
            monkeypatch.delenv(name)


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    """Settings() from these variables: the messages of every problem ([] when valid)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        Settings()
    except ValidationError as exc:
        return [str(err["msg"]) for err in exc.errors()] + [str(exc)]
    return []


# -- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", SECRETS)
@pytest.mark.parametrize("padded", [f"{SECRET}\n", f"  {SECRET}\r\n", f"\t{SECRET} "])
def test_a_secret_loses_the_whitespace_around_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, padded: str
) -> None:
    monkeypatch.setenv(variable, padded)

    secret = getattr(Settings(), SECRETS[variable])

    assert secret is not None and secret.get_secret_value() == SECRET


@pytest.mark.parametrize("variable", SECRETS)
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("42:s3cret\nvalue", "a space"),
        ("42:s3cret value", "a space"),
        ("42:s3cret\x01value", "a control character"),
        ("42:s3cret\x7fvalue", "a control character"),
        ("42:s3crét-value", "a non-ASCII character"),
        ("42:\u201cs3cret\u201d", "a non-ASCII character"),
    ],
)
def test_a_secret_no_http_header_can_carry_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, kind: str
) -> None:
    found = problems(monkeypatch, **{variable: value})

    assert found, f"{variable}={value!r} was accepted"
    message = found[0]
    assert variable.removeprefix("DMPILOT_") in message
    assert kind in message and "visible ASCII" in message
    for text in found:  # neither pydantic's message nor its full text carries the secret
        assert "s3cret" not in text


@pytest.mark.parametrize("variable", SECRETS)
def test_a_blank_secret_is_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, " \n ")

    assert getattr(Settings(), SECRETS[variable]) is None


def test_the_cli_prints_one_line_per_bad_secret_naming_the_variable_never_the_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DMPILOT_WEBHOOK_TOKEN", "tök-s3cret")
    monkeypatch.setenv("DMPILOT_OPENAI_API_KEY", "sk-s3cret\x01")
    monkeypatch.setenv("DMPILOT_LEASE_SECONDS", "inf")

    with pytest.raises(typer.Exit) as exited:
        load_settings()

    assert exited.value.exit_code == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err
    lines = err.strip().splitlines()
    assert lines[0] == "error: the configuration is not valid:"
    assert sorted(line.split()[0] for line in lines[1:]) == [
        "DMPILOT_LEASE_SECONDS:",
        "DMPILOT_WEBHOOK_TOKEN",
        "OPENAI_API_KEY",
    ]
    assert not any("DMPILOT_DMPILOT" in line or "Value error" in line for line in lines)
    assert any("HTTP headers carry visible ASCII only" in line for line in lines)


# -- numbers --------------------------------------------------------------------------------


def test_every_number_has_an_upper_bound() -> None:
    """A field added without `le` would take 1e308 or 2**63 and fail later, not at start."""
    unbounded = [
        name
        for name in FLOATS + INTS
        if not any(
            getattr(rule, "le", None) is not None or getattr(rule, "lt", None) is not None
            for rule in Settings.model_fields[name].metadata
        )
    ]
    assert FLOATS and INTS
    assert unbounded == []


@pytest.mark.parametrize("field", FLOATS)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "infinity", "1e308"])
def test_no_float_setting_takes_a_non_finite_or_huge_value(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    assert problems(monkeypatch, **{f"DMPILOT_{field.upper()}": value})


@pytest.mark.parametrize(
    ("field", "largest"),
    [
        ("dedup_window_seconds", 604_800),
        ("broadcast_window_seconds", 604_800),
        ("guard_window_seconds", 604_800),
        ("lease_seconds", 3600),
        ("turn_retry_seconds", 86_400),
        ("min_send_gap_seconds", 3600),
        ("daily_new_conversations", 1_000_000),
    ],
)
def test_windows_and_counts_stop_at_a_sensible_bound(
    monkeypatch: pytest.MonkeyPatch, field: str, largest: int
) -> None:
    variable = f"DMPILOT_{field.upper()}"
    monkeypatch.setenv(variable, str(largest))
    assert math.isclose(getattr(Settings(), field), largest)

    assert problems(monkeypatch, **{variable: str(largest + 1)})


# The seed is a Python random seed, never stored: it takes any 64-bit value.
@pytest.mark.parametrize("field", [name for name in INTS if name != "seed"])
def test_no_int_setting_reaches_postgresqls_integer_range(
    monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    assert problems(monkeypatch, **{f"DMPILOT_{field.upper()}": str(2**31)})


def test_the_defaults_are_inside_the_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems(monkeypatch) == []


# -- database URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u@h/db?password=hunter2",
        "postgresql://u@h/db?sslmode=require&PASSWORD=hunter2",
        "postgresql://u@h/db?passwd=hunter2",
        "postgresql://u@h/db?pwd=hunter2",
        "postgresql://u@h/db?sslpassword=hunter2",
        "postgresql://u@h/db?client_secret=hunter2",
        "postgresql://u@h/db?access_token=hunter2",
        "postgresql://u@h/db?api_key=hunter2",
        "postgresql://u:hunter2@h/db",
        "postgresql://u:hunter2@h/db?password=hunter2&password=hunter2",
    ],
)
def test_masked_url_hides_passwords_in_the_userinfo_and_the_query(url: str) -> None:
    masked = masked_url(url)

    assert "hunter2" not in masked
    assert "***" in masked


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@h:notaport/db",
        "postgresql://u@h:notaport/db?password=hunter2",
        "postgresql://u:hun/ter2@h:notaport/db",
    ],
)
def test_a_url_that_does_not_parse_shows_no_password_either(url: str) -> None:
    assert "ter2" not in masked_url(url)
    with pytest.raises(UnsupportedDatabase) as refused:
        normalize_url(url)
    assert "ter2" not in str(refused.value)


def test_masked_url_keeps_what_is_not_secret() -> None:
    masked = masked_url("postgresql+psycopg://u@db.example/app?password=x&sslmode=require")

    assert masked == "postgresql+psycopg://u@db.example/app?password=***&sslmode=require"


# -- the ManyChat sender's scrubbing --------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["42:s3cret-key\n", "42:s3cret-key", "42:s3cret\tkey", "42:s3cr'et\"key\\"]
)
async def test_scrub_removes_the_key_in_every_form_an_error_can_quote_it(key: str) -> None:
    sender = ManyChatSender(key, base_url="http://127.0.0.1:9")
    try:
        forms = [
            key,
            key.strip(),
            repr(key),
            repr(key.encode()),
            repr(f"Bearer {key}".encode()),
            key.encode("unicode_escape").decode(),
            key.partition(":")[2],
            repr(key.partition(":")[2]),
        ]
        for form in forms:
            scrubbed = sender._scrub(f"Illegal header value {form} seen")
            assert "s3cr" not in scrubbed, (form, scrubbed)
    finally:
        await sender.aclose()
