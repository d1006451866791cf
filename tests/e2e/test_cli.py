"""The command line: serve's safety checks, configuration errors, persona checks."""

from __future__ import annotations

from pathlib import Path

import httpx

from support import Server, run_cli


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = run_cli(
        ["serve", "--host", "0.0.0.0", "--port", "8999"], {"DMPILOT_WEBHOOK_TOKEN": ""}, tmp_path
    )
    assert result.returncode == 2
    assert "without a webhook token" in result.stderr and "DMPILOT_WEBHOOK_TOKEN" in result.stderr


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    result = run_cli(["status"], {"DMPILOT_COALESCE_SECONDS": "soon"}, tmp_path)
    assert result.returncode == 2
    assert "DMPILOT_COALESCE_SECONDS" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_brain_without_credentials_is_refused(tmp_path: Path) -> None:
    result = run_cli(["serve"], {"DMPILOT_BRAIN": "anthropic", "ANTHROPIC_API_KEY": ""}, tmp_path)
    assert result.returncode == 2
    assert "DMPILOT_BRAIN=anthropic needs ANTHROPIC_API_KEY" in result.stderr
    result = run_cli(["status"], {"DMPILOT_BRAIN": "openai", "OPENAI_BASE_URL": ""}, tmp_path)
    assert result.returncode == 2 and "OPENAI_BASE_URL" in result.stderr


def test_bad_persona_is_named(tmp_path: Path) -> None:
    persona = tmp_path / "p.yaml"
    persona.write_text("name: X\nlanguages: [english]\n", encoding="utf-8")
    result = run_cli(["serve"], {"DMPILOT_PERSONA": str(persona)}, tmp_path)
    assert result.returncode == 2
    assert "languages.0" in result.stderr and str(persona) in result.stderr
    check = run_cli(["check-persona"], {}, tmp_path)
    assert check.returncode == 0 and "Lena" in check.stdout


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(
        ["status"], {"DMPILOT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, tmp_path
    )
    assert result.returncode == 1
    assert "cannot open the database" in result.stderr and "Traceback" not in result.stderr


def test_embedded_default_needs_no_configuration(tmp_path: Path) -> None:
    """The Quickstart: no settings at all → SQLite in ./dmpilot.db, scripted brain, a reply."""
    env = {
        "DMPILOT_WEBHOOK_TOKEN": "",
        "DMPILOT_DATABASE_URL": "sqlite:///./dmpilot.db",
        "DMPILOT_COALESCE_SECONDS": "0",
        "ANTHROPIC_API_KEY": "",
    }
    with Server(tmp_path, env) as server:
        health = httpx.get(f"{server.url}/healthz").json()
        assert health["brain"] == "scripted"
        body = {
            "subscriber": {"id": "123", "name": "Sam"},
            "last_input_text": "hey! love your photos",
        }
        reply = httpx.post(f"{server.url}/webhooks/manychat", json=body, timeout=30).json()
        assert "sqlite:///./dmpilot.db" in server.log_text()
    assert reply["should_send"] is True and reply["response"]
    assert (tmp_path / "dmpilot.db").exists()
