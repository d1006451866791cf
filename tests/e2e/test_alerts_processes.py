"""Alerts through real `dmpilot serve` processes (two of them on one database, each running
the alert check every second) and the real CLI, against a fake webhook on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fakes.alert_receivers import FakeWebhook
from fakes.anthropic_api import FakeAnthropic
from support import Server, auth, free_port, post_message, query_database, run_cli, wait_until

PUBLIC_URL = "https://dm.example.com"


def alert_env(database_url: str, hook: FakeWebhook, **extra: str) -> dict[str, str]:
    return {
        "DMPILOT_DATABASE_URL": database_url,
        "DMPILOT_ALERT_WEBHOOK_URL": hook.url,
        "DMPILOT_ALERT_CHECK_SECONDS": "1",
        "DMPILOT_PUBLIC_URL": PUBLIC_URL,
        **extra,
    }


def event_kinds(database_url: str) -> list[str]:
    return [kind for (kind,) in query_database(database_url, "SELECT kind FROM events ORDER BY id")]


def test_each_alert_reaches_the_webhook_once_from_two_server_processes(
    start_server: Callable[..., Server], hook: FakeWebhook, database_url: str, tmp_path: Path
) -> None:
    server = start_server(workers=2, **alert_env(database_url, hook))
    answer = post_message(server, "7001", "can I talk to a real person?", ig_username="first.fan")
    assert answer["reason"] == "handoff"
    wait_until(lambda: len(hook.texts) >= 1, 30, "the first alert")
    post_message(server, "7002", "can i speak to a human please", ig_username="second.fan")
    # By the time the second alert arrives, both processes have checked the first incident
    # again at least once (every second): it was never sent twice.
    wait_until(lambda: len(hook.texts) >= 2, 30, "the second alert")
    named = sorted(re.findall(r"@\S+ \(id:\d+\)", " ".join(hook.texts)))
    assert named == ["@first.fan (id:1)", "@second.fan (id:2)"]
    assert all("real person?" not in text and "please" not in text for text in hook.texts)
    assert f"{PUBLIC_URL}/console/contacts/1" in " ".join(hook.texts)
    listed = run_cli(["alerts", "--json"], alert_env(database_url, hook), tmp_path)
    assert listed.returncode == 0, listed.stderr
    incidents = {row["key"]: row for row in json.loads(listed.stdout)}
    assert set(incidents) == {"human:1", "human:2"}
    assert {row["count"] for row in incidents.values()} == {1}
    assert {row["outcome"] for row in incidents.values()} == {"sent"}
    status = httpx.get(f"{server.url}/admin/status", headers=auth(), timeout=10).json()
    assert status["alerts"]["targets"] == ["webhook 127.0.0.1"]
    assert sorted(row["incident"] for row in status["alerts"]["open"]) == ["human:1", "human:2"]
    assert len(hook.texts) == 2
    assert event_kinds(database_url).count("alert_sent") == 2


def test_a_hanging_alert_endpoint_changes_nothing_for_replies(
    start_server: Callable[..., Server], hook: FakeWebhook, database_url: str
) -> None:
    hook.reset(mode="hang")
    server = start_server(**alert_env(database_url, hook, DMPILOT_ALERT_TIMEOUT_SECONDS="2"))
    post_message(server, "7101", "can I talk to a real person?", ig_username="waiting.fan")
    wait_until(lambda: len(hook.requests) >= 1, 30, "the alert held by the endpoint")
    for n in range(3):  # while the endpoint holds the alert, conversations go on
        answer = post_message(server, f"72{n}", "hey! love your photos", ig_username=f"fan{n}")
        assert answer["should_send"] is True and answer["response"], answer
    wait_until(lambda: "alert_failed" in event_kinds(database_url), 30, "the failed alert")


def test_dmpilot_alerts_test_reports_each_target(
    hook: FakeWebhook, database_url: str, tmp_path: Path
) -> None:
    env = alert_env(database_url, hook)
    sent = run_cli(["alerts", "--test"], env, tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert "sent: webhook 127.0.0.1" in sent.stdout
    assert "test alert" in hook.texts[0] and "Nothing is wrong" in hook.texts[0]
    hook.reset(mode="status:500")
    failed = run_cli(["alerts", "--test"], env, tmp_path)
    assert failed.returncode == 1
    assert "failed: webhook 127.0.0.1: webhook answered 500: invalid_payload" in failed.stderr
    assert "fake-secret-path" not in failed.stdout + failed.stderr
    assert event_kinds(database_url).count("alert_failed") == 1


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DMPILOT_ALERT_WEBHOOK_URL", "ftp://hooks.example.com/secret-part", "http:// or https://"),
        ("DMPILOT_ALERT_WEBHOOK_URL", "https://hooks.example.com/secret part", "holds a space"),
        ("DMPILOT_ALERT_SMTP_HOST", "smtp.example.com", "need DMPILOT_ALERT_SMTP_FROM"),
        ("DMPILOT_ALERT_SMTP_TO", "ops@example.com", "need DMPILOT_ALERT_SMTP_HOST"),
        ("DMPILOT_ALERT_COOLDOWN_MINUTES", "0", "DMPILOT_ALERT_COOLDOWN_MINUTES"),
        ("DMPILOT_ALERT_SILENCE_HOURS", "-1", "DMPILOT_ALERT_SILENCE_HOURS"),
        ("DMPILOT_ALERT_WEBHOOK_URL", "https://h/secret" + "a" * 100_000, "longer than 2048"),
        ("DMPILOT_ALERT_SMTP_HOST", "http://secret@smtp.example.com", "host name or IP address"),
        ("DMPILOT_ALERT_SMTP_USER", "secret\x01", "control character"),
    ],
)
def test_bad_alert_settings_are_one_line_errors(
    variable: str, value: str, expected: str, tmp_path: Path
) -> None:
    result = run_cli(["alerts", "--test"], {variable: value}, tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def test_dmpilot_alerts_test_without_a_target_says_what_to_set(tmp_path: Path) -> None:
    result = run_cli(["alerts", "--test"], {}, tmp_path)
    assert result.returncode == 2
    assert "no alert target is configured: set DMPILOT_ALERT_WEBHOOK_URL" in result.stderr


def test_a_brain_refused_at_start_is_alerted_before_serve_gives_up(
    hook: FakeWebhook, anthropic_fake: FakeAnthropic, database_url: str, tmp_path: Path
) -> None:
    env = alert_env(
        database_url,
        hook,
        ANTHROPIC_API_KEY="sk-test",
        ANTHROPIC_BASE_URL=anthropic_fake.url,
        DMPILOT_MODEL="claude-nonexistent-1",
    )
    result = run_cli(["serve", "--port", str(free_port())], env, tmp_path)
    assert result.returncode == 1 and "cannot answer" in result.stderr
    (text,) = hook.texts
    assert "the anthropic brain failed its check at start (refused)" in text
    assert "does not know the model 'claude-nonexistent-1'" in text
    assert "the server refused to start" in text
    assert event_kinds(database_url)[-2:] == ["brain_probe_failed", "alert_sent"]
