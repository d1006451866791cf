"""The doctor's pure checks: token strength, the public URL (with an injected fetch), the
PostgreSQL connection arithmetic, and secrets kept out of every detail."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from dmpilot.doctor import (
    Check,
    Status,
    check_connections,
    check_public_url,
    check_webhook_token,
    failed,
    scrub,
)
from dmpilot.store.revision import SchemaState


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, Status.FAIL),
        ("short", Status.FAIL),
        ("changeme-changeme-changeme", Status.FAIL),
        ("YOUR_WEBHOOK_TOKEN_GOES_HERE_OK", Status.FAIL),
        ("a" * 40, Status.FAIL),
        ("abababababababababababababab", Status.FAIL),
        ("q7Vr2mKx9LpA4wZs8NbE3hJd6TfY1cUo", Status.PASS),
    ],
)
def test_the_webhook_token_must_be_long_and_random(token: str | None, status: Status) -> None:
    check = check_webhook_token(token)
    assert check.status is status
    if token:
        assert token not in check.detail and token not in check.fix
    if status is Status.FAIL:
        assert "DMPILOT_WEBHOOK_TOKEN" in check.fix


def test_an_https_url_answering_healthz_passes() -> None:
    seen: list[str] = []

    async def fetch(url: str, timeout_seconds: float) -> int:
        seen.append(url)
        return 200

    check = asyncio.run(check_public_url("https://dm.example.com/", fetch, 1.0))
    assert check.status is Status.PASS
    assert seen == ["https://dm.example.com/healthz"]


@pytest.mark.parametrize("code", [301, 404, 503])
def test_an_https_url_answering_anything_else_fails(code: int) -> None:
    async def fetch(url: str, timeout_seconds: float) -> int:
        return code

    check = asyncio.run(check_public_url("https://dm.example.com", fetch, 1.0))
    assert check.status is Status.FAIL and str(code) in check.detail and check.fix


def test_an_https_url_that_does_not_answer_fails() -> None:
    async def fetch(url: str, timeout_seconds: float) -> int:
        raise httpx.ConnectError("certificate verify failed")

    check = asyncio.run(check_public_url("https://dm.example.com", fetch, 1.0))
    assert check.status is Status.FAIL and "certificate verify failed" in check.detail


@pytest.mark.parametrize("url", ["http://dm.example.com", "dm.example.com", "ftp://x"])
def test_a_public_url_that_is_not_https_fails_without_being_fetched(url: str) -> None:
    async def fetch(url: str, timeout_seconds: float) -> int:
        raise AssertionError("an http:// URL must not be fetched")

    check = asyncio.run(check_public_url(url, fetch, 1.0))
    assert check.status is Status.FAIL and "HTTPS" in check.detail and "https://" in check.fix


def test_no_public_url_is_skipped_with_a_note() -> None:
    async def fetch(url: str, timeout_seconds: float) -> int:
        raise AssertionError("nothing to fetch")

    check = asyncio.run(check_public_url(None, fetch, 1.0))
    assert check.status is Status.SKIP and "DMPILOT_PUBLIC_URL" in check.detail


def _postgres(max_connections: int, reserved: int = 3) -> SchemaState:
    return SchemaState("postgresql", "0007", "0007", frozenset({"0007"}), max_connections, reserved)


def test_the_connection_arithmetic_is_shown_and_warns_past_the_limit() -> None:
    fits = check_connections(_postgres(100), pool_size=5, processes=3)
    assert fits.status is Status.PASS
    assert "3 processes × 2 × DMPILOT_POOL_SIZE 5 = 30" in fits.detail
    assert "97" in fits.detail  # 100 minus the 3 reserved for superusers
    exhausts = check_connections(_postgres(100), pool_size=10, processes=5)
    assert exhausts.status is Status.WARN and "= 100" in exhausts.detail
    sqlite = SchemaState("sqlite", "0007", "0007", frozenset({"0007"}))
    assert check_connections(sqlite, pool_size=50, processes=50).status is Status.SKIP


def test_secrets_are_scrubbed_and_only_failures_fail() -> None:
    leaked = Check("x", Status.WARN, "server said: bad key sk-123", "not sk-123")
    assert scrub(leaked, ["sk-123"]) == Check(
        "x", Status.WARN, "server said: bad key ***", "not ***"
    )
    assert not failed([leaked, Check("y", Status.SKIP, "")])
    assert failed([leaked, Check("y", Status.FAIL, "")])
