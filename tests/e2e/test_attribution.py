"""Tracked links: the reply carries /l/<token>, the click is recorded and redirected, and
stats shows link sent → clicked per stage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from support import Server, run_cli

LINK = "https://example.com/lena-presets"
PUBLIC = "https://dm.example.test"


def test_tracked_link_round_trip(tmp_path: Path) -> None:
    env = {
        "DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 'links.db'}",
        "DMPILOT_WEBHOOK_TOKEN": "",
        "DMPILOT_COALESCE_SECONDS": "0",
        "DMPILOT_TRACK_LINKS": "true",
        "DMPILOT_PUBLIC_URL": PUBLIC,
    }
    with Server(tmp_path, env) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        answers = [
            client.post(
                "/webhooks/manychat",
                json={
                    "subscriber": {"id": "clicker"},
                    "last_input_text": f"message {i} about trips",
                },
            ).json()
            for i in range(10)
        ]
        with_link = [a for a in answers if PUBLIC in a["response"]]
        assert len(with_link) == 1 and with_link[0]["stage"] == "pitched"
        assert LINK not in with_link[0]["response"]  # the persona link is never sent bare
        token = re.search(r"/l/([\w-]+)", with_link[0]["response"]).group(1)  # type: ignore[union-attr]
        click = client.get(
            f"/l/{token}", follow_redirects=False, headers={"user-agent": "Instagram"}
        )
        assert click.status_code == 302 and click.headers["location"] == LINK
        stray = client.get("/l/not-a-token", follow_redirects=False)
        assert stray.status_code == 302 and stray.headers["location"] == LINK  # visitor not lost
    figures = json.loads(run_cli(["stats", "--json"], env, tmp_path).stdout)
    assert figures["links"] == [{"stage": "pitched", "sent": 1, "clicked": 1, "rate": 1.0}]
    audit = json.loads(run_cli(["audit", "--json"], env, tmp_path).stdout)
    assert audit["total"] == 0  # the stored reply keeps the canonical link: budget intact


def test_tracking_needs_a_public_url(tmp_path: Path) -> None:
    result = run_cli(
        ["status"], {"DMPILOT_TRACK_LINKS": "true", "DMPILOT_PUBLIC_URL": ""}, tmp_path
    )
    assert result.returncode == 2 and "DMPILOT_PUBLIC_URL" in result.stderr
