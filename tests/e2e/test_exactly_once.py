"""dmpilot's core promise through real server processes: one reply per user message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from dmpilot.store.database import create_db_engine
from support import Server, auth


async def _post_all(
    url: str, bodies: list[dict[str, Any]], concurrency: int = 250
) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=auth()) as client:
        responses = await asyncio.gather(*(client.post(url, json=b) for b in bodies))
    assert all(r.status_code == 200 for r in responses), {r.status_code for r in responses}
    return [r.json() for r in responses]


def test_50_contacts_x_5_identical_deliveries_get_exactly_50_replies(
    start_server: Callable[..., Server], database_url: str
) -> None:
    # Two server processes on one database: the guarantee must hold across instances.
    first = start_server(
        workers=2, DMPILOT_DATABASE_URL=database_url, DMPILOT_COALESCE_SECONDS="0.5"
    )
    second = start_server(
        workers=1, DMPILOT_DATABASE_URL=database_url, DMPILOT_COALESCE_SECONDS="0.5"
    )
    bodies = [
        {
            "subscriber": {"id": f"contact-{c}", "name": f"Fan {c}"},
            "last_input_text": f"hi, I'm fan {c}",
        }
        for c in range(50)
        for _ in range(5)
    ]
    urls = [f"{first.url}/webhooks/manychat", f"{second.url}/webhooks/manychat"]

    async def fire() -> list[dict[str, Any]]:
        halves = await asyncio.gather(
            _post_all(urls[0], bodies[0::2]), _post_all(urls[1], bodies[1::2])
        )
        return halves[0] + halves[1]

    answers = asyncio.run(fire())
    sent = [a for a in answers if a["should_send"]]
    assert len(sent) == 50
    assert {a["reason"] for a in answers if not a["should_send"]} == {"duplicate"}
    engine = create_db_engine(database_url, pool_size=1)
    with engine.connect() as db:
        per_contact = db.execute(
            sa.text(
                "SELECT c.external_id, "
                "SUM(CASE WHEN m.direction = 'in' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN m.direction = 'out' THEN 1 ELSE 0 END) "
                "FROM contacts c JOIN messages m ON m.contact_id = c.id GROUP BY c.external_id"
            )
        ).all()
        duplicate_events = db.scalar(
            sa.text("SELECT COUNT(*) FROM events WHERE reason = 'duplicate'")
        )
    engine.dispose()
    assert len(per_contact) == 50
    assert all((inbound, outbound) == (1, 1) for _, inbound, outbound in per_contact)
    assert duplicate_events == 200


def test_a_burst_of_four_messages_gets_one_reply(
    start_server: Callable[..., Server], database_url: str
) -> None:
    server = start_server(
        workers=2, DMPILOT_DATABASE_URL=database_url, DMPILOT_COALESCE_SECONDS="1.5"
    )
    url = f"{server.url}/webhooks/manychat"

    async def burst() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60, headers=auth()) as client:

            async def one(i: int) -> dict[str, Any]:
                await asyncio.sleep(i * 0.1)
                body = {
                    "subscriber": {"id": "burst-1"},
                    "last_input_text": f"message {i} of my burst",
                }
                response = await client.post(url, json=body)
                assert response.status_code == 200
                answer: dict[str, Any] = response.json()
                return answer

            return await asyncio.gather(*(one(i) for i in range(4)))

    answers = asyncio.run(burst())
    assert [a["should_send"] for a in answers].count(True) == 1
    engine = create_db_engine(database_url, pool_size=1)
    with engine.connect() as db:
        turns = db.execute(sa.text("SELECT last_inbound_id FROM turns")).all()
        newest_id, newest_text = db.execute(
            sa.text("SELECT id, text FROM messages WHERE direction = 'in' ORDER BY id DESC LIMIT 1")
        ).one()
    engine.dispose()
    # The request carrying the newest stored message answers, for all four of them.
    newest = int(newest_text.split()[1])
    assert answers[newest]["should_send"] is True
    assert all(a["reason"] == "coalesced" for i, a in enumerate(answers) if i != newest)
    assert turns == [(newest_id,)]  # one turn, answering up to the newest message
