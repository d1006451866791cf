"""The doctor's pure checks: token strength, the public URL (with an injected fetch), the
PostgreSQL connection arithmetic, the Instagram channel's settings and token (against the fake
Graph API on loopback), and secrets kept out of every detail."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from dmpilot.doctor import (
    Check,
    Status,
    check_connections,
    check_instagram_secrets,
    check_instagram_token,
    check_public_url,
    check_webhook_token,
    failed,
    scrub,
)
from dmpilot.store.revision import SchemaState
from fakes.graph_api import FakeGraphAPI
from support import free_port

META_TOKEN = "IGAAdoctorS3cretInstagramToken0123456789"
META_ACCOUNT = "17841400000000077"
APP_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
VERIFY_TOKEN = "k3Jd9QwXz7LmPa2V"


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


# -- the Instagram channel -----------------------------------------------------------------


def test_the_instagram_check_is_skipped_when_the_channel_is_not_configured() -> None:
    check = check_instagram_secrets(None, None, None, None)
    assert check.status is Status.SKIP and "not configured" in check.detail
    probe = asyncio.run(check_instagram_token(None, None, "http://127.0.0.1:1/v25.0", 1.0))
    assert probe.status is Status.SKIP


def test_a_partly_configured_instagram_channel_fails_naming_what_is_missing() -> None:
    check = check_instagram_secrets(APP_SECRET, None, META_TOKEN, META_ACCOUNT)
    assert check.status is Status.FAIL
    assert "DMPILOT_META_VERIFY_TOKEN" in check.detail
    assert "DMPILOT_META_APP_SECRET" not in check.detail and check.fix


@pytest.mark.parametrize("account", ["@lena", "1784 1400", "17841400000000077x", "١٢٣"])
def test_an_account_id_that_is_not_digits_fails(account: str) -> None:
    check = check_instagram_secrets(APP_SECRET, VERIFY_TOKEN, META_TOKEN, account)
    assert check.status is Status.FAIL and "DMPILOT_META_ACCOUNT_ID" in check.detail


@pytest.mark.parametrize(
    ("verify_token", "status"),
    [
        ("short", Status.WARN),
        ("abcabcabcabcabcabcab", Status.WARN),  # long, but three characters over and over
        (VERIFY_TOKEN, Status.PASS),
    ],
)
def test_a_weak_verify_token_warns_without_being_quoted(verify_token: str, status: Status) -> None:
    check = check_instagram_secrets(APP_SECRET, verify_token, META_TOKEN, META_ACCOUNT)
    assert check.status is status
    for secret in (verify_token, APP_SECRET, META_TOKEN):
        assert secret not in check.detail and secret not in check.fix
    if status is Status.WARN:
        assert "DMPILOT_META_VERIFY_TOKEN" in check.fix and "Verify Token" in check.fix
    else:
        assert META_ACCOUNT in check.detail


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(access_token=META_TOKEN, account_id=META_ACCOUNT).serve() as fake:
        yield fake


def test_an_access_token_meta_accepts_for_the_account_passes(graph: FakeGraphAPI) -> None:
    check = asyncio.run(check_instagram_token(META_TOKEN, META_ACCOUNT, graph.url, 2.0))
    assert check.status is Status.PASS and META_ACCOUNT in check.detail
    me = [r for r in graph.requests if r["method"] == "GET"][-1]
    assert me["path"] == "/v25.0/me" and "access_token" not in me["query"]  # a header, never ?


def test_an_access_token_meta_refuses_fails_with_how_to_get_a_new_one(graph: FakeGraphAPI) -> None:
    wrong = "IGAAexpiredInstagramToken9876543210zyx"
    check = asyncio.run(check_instagram_token(wrong, META_ACCOUNT, graph.url, 2.0))
    assert check.status is Status.FAIL and "refused the access token" in check.detail
    assert "Generate token" in check.fix and "DMPILOT_META_ACCESS_TOKEN" in check.fix
    assert wrong not in check.detail and wrong not in check.fix


def test_a_token_of_another_account_fails_naming_both(graph: FakeGraphAPI) -> None:
    check = asyncio.run(check_instagram_token(META_TOKEN, "17841400000000099", graph.url, 2.0))
    assert check.status is Status.FAIL
    assert META_ACCOUNT in check.detail and "17841400000000099" in check.detail
    assert "DMPILOT_META_ACCOUNT_ID" in check.fix


def test_an_unreachable_graph_api_fails_pointing_at_the_network() -> None:
    url = f"http://127.0.0.1:{free_port()}/v25.0"
    check = asyncio.run(check_instagram_token(META_TOKEN, META_ACCOUNT, url, 1.0))
    assert check.status is Status.FAIL and "cannot reach" in check.detail
    assert "DMPILOT_META_GRAPH_URL" in check.fix and META_TOKEN not in check.detail
