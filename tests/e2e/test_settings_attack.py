"""What an outside attack on the configuration found, replayed through the real server, the
real CLI and a fake ManyChat API on loopback: secrets that no HTTP header can carry, numbers
that overflow later, passwords in the database URL's query, and a mistyped --proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dmpilot.channels.manychat_api import ManyChatSender
from dmpilot.domain.delivery import DeliveryKind, OutboundDelivery, SendStatus
from fakes.anthropic_api import FakeAnthropic
from fakes.manychat_api import DEFAULT_KEY, FakeManyChat
from support import Server, auth, free_port, fresh_postgres_database, run_cli, wait_until

KEY = DEFAULT_KEY
SECRET_HALF = KEY.partition(":")[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Processes started here read only what the test sets, nothing from the shell."""
    for name in list(os.environ):
        if name.startswith(("DMPILOT_", "ANTHROPIC_", "OPENAI_")) and not name.startswith(
            "DMPILOT_TEST_"
        ):
            monkeypatch.delenv(name)


def leaks(text: str, secret: str = SECRET_HALF) -> bool:
    """Whether the secret appears in the text in any form: raw, repr-escaped or bytes."""
    forms = {secret, secret.strip(), repr(secret)[1:-1], repr(secret.encode())[2:-1]}
    return any(form.strip() and form.strip() in text for form in forms)


def delivery(text: str = "hey, where are you from?") -> OutboundDelivery:
    return OutboundDelivery(
        id=1,
        channel="manychat",
        contact_id=7,
        recipient="987654321",
        text=text,
        kind=DeliveryKind.REPLY,
        attempts=1,
    )


@pytest.fixture(scope="module")
def manychat_key_server() -> Iterator[FakeManyChat]:
    with FakeManyChat(api_key=KEY).serve() as fake:
        yield fake


@pytest.fixture
def fake(manychat_key_server: FakeManyChat) -> FakeManyChat:
    manychat_key_server.reset()
    return manychat_key_server


def start_serve(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dmpilot", "serve", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def refused_serve(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """`dmpilot serve` that must refuse to start: its stderr; fails if it starts serving."""
    process = start_serve(["--port", str(free_port()), *args], env, cwd)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"dmpilot serve {args} started instead of refusing its configuration")
    assert process.returncode == 2, err
    return err


# -- a secret with a newline or a character no header can carry ----------------------------


def test_a_manychat_key_pasted_with_a_newline_delivers_and_never_leaks(
    start_server: Callable[..., Server],
    fake: FakeManyChat,
    anthropic_fake: FakeAnthropic,
    tmp_path: Path,
) -> None:
    """Was: httpx refused the header, the delivery went `unknown` with "Bearer <key>\\n" in
    its error, in the logs and in `dmpilot deliveries`."""
    anthropic_fake.reset()
    env = {
        "DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 'dmpilot.db'}",
        "DMPILOT_MANYCHAT_API_KEY": f"{KEY}\n",
        "DMPILOT_MANYCHAT_API_URL": fake.url,
        "DMPILOT_DELIVERY": "push",
        "DMPILOT_WORKER_POLL_SECONDS": "0.1",
        "ANTHROPIC_API_KEY": "sk-test\r\n",
        "ANTHROPIC_BASE_URL": anthropic_fake.url,
    }
    server = start_server(**env)
    response = httpx.post(
        f"{server.url}/webhooks/manychat",
        json={"subscriber": {"id": "3001"}, "last_input_text": "hey! love your photos"},
        headers=auth(),
        timeout=30,
    )
    assert response.status_code == 200, response.text

    wait_until(lambda: len(fake.sends) == 1, 30, "the pushed reply")
    [request] = fake.send_requests()
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert anthropic_fake.requests[0]["headers"]["authorization"] == "Bearer sk-test"
    listed = run_cli(["deliveries", "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["state"], row["last_error"]) == ("sent", None)
    assert not leaks(server.log_text() + listed.stdout + listed.stderr)


@pytest.mark.parametrize("key", [f"{KEY}\n", f"{KEY}\n\n", f"{KEY}\r\n", f"{KEY[:8]}\n{KEY[8:]}"])
async def test_a_key_no_header_can_carry_fails_the_send_before_it_leaves_without_leaking(
    fake: FakeManyChat, key: str
) -> None:
    """The sender alone (a key that did not come through Settings): h11 refuses the header
    before writing a byte, so the send failed for good, it is not `unknown`."""
    sender = ManyChatSender(key, base_url=fake.url, timeout_seconds=2)
    try:
        result = await sender.send(delivery())
        probe = await sender.probe()
    finally:
        await sender.aclose()

    assert result.status is SendStatus.FAILED
    assert result.error is not None and probe is not None
    assert fake.requests == []
    assert not leaks(result.error, key) and not leaks(probe, key), (result.error, probe)
    assert not leaks(result.error) and not leaks(probe)


async def test_a_non_ascii_key_fails_the_send_instead_of_breaking_the_sender(
    fake: FakeManyChat,
) -> None:
    key = f"{KEY}é"
    sender = ManyChatSender(key, base_url=fake.url, timeout_seconds=2)
    try:
        result = await sender.send(delivery())
    finally:
        await sender.aclose()

    assert result.status is SendStatus.FAILED
    assert result.error is not None and not leaks(result.error)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DMPILOT_WEBHOOK_TOKEN", "tökén-s3cret-value"),
        ("DMPILOT_WEBHOOK_TOKEN", "s3cret\nvalue"),
        ("DMPILOT_MANYCHAT_API_KEY", f"{KEY}\x01"),
        ("ANTHROPIC_API_KEY", "sk-ant-s3cret\u00a0value"),
        ("OPENAI_API_KEY", "sk-s3cret value"),
    ],
)
def test_serve_refuses_a_secret_no_header_can_carry_in_one_line_without_echoing_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    err = refused_serve([], {variable: value}, tmp_path)

    lines = err.strip().splitlines()
    assert lines[0] == "error: the configuration is not valid:"
    [problem] = lines[1:]
    assert problem.strip().startswith(variable)
    assert "HTTP headers carry visible ASCII only" in problem
    assert "s3cret" not in err and not leaks(err)


# -- numbers that overflow later ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DMPILOT_LEASE_SECONDS", "inf"),
        ("DMPILOT_DEDUP_WINDOW_SECONDS", "inf"),
        ("DMPILOT_BROADCAST_WINDOW_SECONDS", "1e308"),
        ("DMPILOT_GUARD_WINDOW_SECONDS", "infinity"),
        ("DMPILOT_TURN_RETRY_SECONDS", "1e308"),
        ("DMPILOT_MIN_SEND_GAP_SECONDS", "inf"),
        ("DMPILOT_DAILY_NEW_CONVERSATIONS", str(2**31)),
        ("DMPILOT_BROADCAST_CONTACTS", str(2**63)),
        ("DMPILOT_GUARD_MIN_DECISIONS", str(2**31)),
    ],
)
def test_serve_refuses_numbers_that_would_overflow_once_running(
    tmp_path: Path, variable: str, value: str
) -> None:
    """Was: accepted, then 500s (timedelta overflow, PostgreSQL integer out of range)."""
    err = refused_serve([], {variable: value}, tmp_path)

    [_, problem] = err.strip().splitlines()
    assert problem.strip().startswith(f"{variable}: Input should be")


# -- a password in the database URL's query string -----------------------------------------


def test_a_password_in_the_url_query_is_masked_in_what_the_cli_prints(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:  # trust auth: the password is taken and ignored
        env = {"DMPILOT_DATABASE_URL": f"{url}?password=hunter2-secret&sslmode=disable"}
        migrated = run_cli(["migrate"], env, tmp_path)

    assert migrated.returncode == 0, migrated.stderr
    assert "password=***" in migrated.stdout and "sslmode=disable" in migrated.stdout
    assert "hunter2" not in migrated.stdout + migrated.stderr


def test_a_password_in_the_url_query_is_masked_when_the_database_is_away(tmp_path: Path) -> None:
    url = f"postgresql://dmpilot@127.0.0.1:{free_port()}/app?sslpassword=hunter2&password=hunter2"
    result = run_cli(["status"], {"DMPILOT_DATABASE_URL": url}, tmp_path)

    assert result.returncode == 1
    assert "cannot open the database" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


# -- --proxy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "proxy", ["nginx", "10.0.0.1/8", "10.0.0.1,,10.0.0.2", "", "127.0.0.1 ; rm", "10.0.0.0/33"]
)
def test_serve_refuses_a_proxy_that_is_not_addresses_or_networks(
    tmp_path: Path, proxy: str
) -> None:
    """Was: uvicorn took any text as a literal that never matches, and trusted no proxy."""
    err = refused_serve(["--proxy", proxy], {}, tmp_path)

    [line] = err.strip().splitlines()
    assert line.startswith(f"error: --proxy {proxy!r}: ")
    assert "e.g. --proxy 127.0.0.1,10.0.0.0/8" in line


@pytest.mark.parametrize("proxy", ["*", "127.0.0.1", " 127.0.0.1 , 10.0.0.0/8,::1 "])
def test_serve_trusts_a_proxy_given_as_addresses_networks_or_a_star(
    tmp_path: Path, proxy: str
) -> None:
    port = free_port()
    process = start_serve(
        ["--port", str(port), "--proxy", proxy],
        {"DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 'dmpilot.db'}"},
        tmp_path,
    )
    try:
        wait_until(lambda: _healthy(port) or process.poll() is not None, 60, "the server")
        assert process.poll() is None, process.communicate()[1]
    finally:
        process.terminate()
        process.communicate(timeout=15)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
