"""The HTTP surface of a real server process: contracts, bad input, auth, kill switch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import TOKEN, Server, auth, run_cli

GOOD = {"subscriber": {"id": "42", "name": "Sam"}, "last_input_text": "hey there!"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http")


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    return {
        "DMPILOT_DATABASE_URL": f"sqlite:///{workdir / 'http.db'}",
        "DMPILOT_WEBHOOK_TOKEN": TOKEN,
        "DMPILOT_COALESCE_SECONDS": "0",
        "DMPILOT_LOG_LEVEL": "warning",
    }


@pytest.fixture(scope="module")
def server(workdir: Path, env: dict[str, str]) -> Iterator[Server]:
    with Server(workdir, env) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as http:
        yield http


def webhook(client: httpx.Client, body: object) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/webhooks/manychat", content=content, headers={"content-type": "application/json"}
    )


def test_flat_response_contract(client: httpx.Client) -> None:
    response = webhook(client, GOOD)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "should_send",
        "response",
        "stage",
        "should_stop",
        "delay_seconds",
        "reason",
    }
    assert body["should_send"] is True and body["response"] and body["stage"] == "cold"
    assert body["reason"] is None and body["should_stop"] is False and body["delay_seconds"] == 0


def test_dynamic_block_format(client: httpx.Client) -> None:
    body = {"subscriber": {"id": "dyn"}, "last_input_text": "hello!"}
    response = client.post("/webhooks/manychat", params={"format": "dynamic"}, json=body)
    assert response.status_code == 200
    block = response.json()
    assert block["version"] == "v2" and block["content"]["type"] == "instagram"
    assert len(block["content"]["messages"]) == 1 and block["content"]["messages"][0]["text"]
    again = client.post("/webhooks/manychat", params={"format": "dynamic"}, json=body)
    assert again.json()["content"]["messages"] == []  # the duplicate sends nothing
    wrong = client.post("/webhooks/manychat", params={"format": "xml"}, json=body)
    assert wrong.status_code == 422 and "format" in wrong.text


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"\xff\xfe\x00garbage", 400, "JSON"),
        (b"[1, 2]", 422, "JSON object"),
        ({"last_input_text": "hi"}, 422, "subscriber.id"),
        ({"subscriber": {"name": "no id"}}, 422, "subscriber.id"),
        ({"subscriber": {"id": [1]}}, 422, "subscriber.id"),
        ({"subscriber": {"id": "1"}, "last_input_text": {"text": "x"}}, 422, "last_input_text"),
        ({"subscriber": {"id": "1"}, "last_input_text": 12}, 422, "last_input_text"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "JSON"),
        ({"subscriber": {"id": "12\n34"}, "last_input_text": "hi"}, 422, "control characters"),
        ({"subscriber": {"id": "12\t34"}, "last_input_text": "hi"}, 422, "control characters"),
        ({"id": "9\u001b[31m", "last_input_text": "hi"}, 422, "control characters"),
    ],
)
def test_bad_input_is_a_clear_4xx(
    client: httpx.Client, body: object, status: int, needle: str
) -> None:
    response = webhook(client, body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert needle in payload["error"] + " ".join(payload.get("problems", []))


def test_a_2mb_body_is_refused(client: httpx.Client) -> None:
    big = {"subscriber": {"id": "1"}, "last_input_text": "x" * (2 * 1024 * 1024)}
    response = webhook(client, big)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]
    assert "ManyChat" in response.json()["error"]


def test_an_oversized_admin_body_is_not_told_about_manychat(client: httpx.Client) -> None:
    response = client.post("/admin/pause", json={"reason": "x" * 40_000})
    assert response.status_code == 413, response.text
    payload = response.json()
    assert "admin request body" in payload["error"]
    assert "ManyChat" not in payload["error"] + " ".join(payload.get("problems", []))


def test_lone_surrogates_and_unknown_fields_are_fine(client: httpx.Client) -> None:
    raw = (
        b'{"subscriber": {"id": "sur", "extra": 1}, '
        b'"last_input_text": "hi \\ud83d there", "new_field": [1]}'
    )
    response = webhook(client, raw)
    assert response.status_code == 200 and response.json()["should_send"] is True
    empty = webhook(client, b'{"subscriber": {"id": "sur2"}, "last_input_text": "\\udc00"}')
    assert empty.status_code == 200
    assert empty.json()["reason"] == "empty" and empty.json()["should_send"] is False


def test_media_is_answered_as_media(client: httpx.Client) -> None:
    photo = {
        "subscriber": {"id": "photo-fan"},
        "last_input_text": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=9&signature=z",
    }
    body = webhook(client, photo).json()
    assert body["should_send"] is True
    assert "lookaside" not in body["response"]


def test_token_is_required(server: Server) -> None:
    url = f"{server.url}/webhooks/manychat"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.post(url, json=GOOD, headers=headers)
        assert response.status_code == 401
        assert "Authorization: Bearer" in " ".join(response.json()["problems"])
    assert httpx.post(f"{server.url}/admin/pause", json={"reason": "x"}).status_code == 401
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_kill_switch_over_http_and_cli(
    client: httpx.Client, env: dict[str, str], workdir: Path
) -> None:
    bad = client.post("/admin/pause", json={})
    assert bad.status_code == 422 and "reason" in bad.text
    assert client.post("/admin/pause", json={"reason": "loop spotted"}).json() == {
        "paused": True,
        "reason": "loop spotted",
    }
    paused = webhook(client, {"subscriber": {"id": "k1"}, "last_input_text": "anyone?"}).json()
    assert (paused["should_send"], paused["reason"]) == (False, "paused")
    status = run_cli(["status"], env, workdir)
    assert status.returncode == 0 and "PAUSED" in status.stdout and "loop spotted" in status.stdout
    assert client.post("/admin/resume").json()["paused"] is False
    # CLI pause is seen by the running server at once: the state lives in the database
    assert run_cli(["pause", "--reason", "from the cli"], env, workdir).returncode == 0
    assert client.get("/healthz").json()["paused"] is True
    assert (
        webhook(client, {"subscriber": {"id": "k2"}, "last_input_text": "hello"}).json()["reason"]
        == "paused"
    )
    assert run_cli(["resume"], env, workdir).returncode == 0
    answered = webhook(client, {"subscriber": {"id": "k2"}, "last_input_text": "hello?"}).json()
    assert answered["should_send"] is True
    assert client.get("/admin/status").json()["paused"] is False


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/webhooks/manychat").status_code == 405


def test_mark_a_contact_converted(client: httpx.Client) -> None:
    webhook(client, {"subscriber": {"id": "conv-1"}, "last_input_text": "hi!"})
    assert client.post("/admin/contacts/converted", json={"subscriber_id": "conv-1"}).json() == {
        "converted": True,
        "subscriber_id": "conv-1",
        "already": False,
        "stopped": False,
        "note": None,
    }
    again = client.post("/admin/contacts/converted", json={"subscriber_id": "@conv-1"})
    assert again.status_code == 404  # no such username: usernames come with the subscriber
    assert client.post("/admin/contacts/converted", json={"subscriber_id": "conv-1"}).json()[
        "already"
    ]
    missing = client.post("/admin/contacts/converted", json={"subscriber_id": "ghost"})
    assert missing.status_code == 404 and "ghost" in missing.json()["error"]
    assert client.post("/admin/contacts/converted", json={"id": 1}).status_code == 422
    # A customer is helped (the example persona has customer instructions), never pitched.
    helped = webhook(client, {"subscriber": {"id": "conv-1"}, "last_input_text": "bought it!"})
    assert helped.json()["should_send"] is True and helped.json()["stage"] == "customer"
