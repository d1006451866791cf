"""Meta's Instagram Messaging API webhook: the subscription check (GET) and the events
(POST), authenticated by the app secret's signature, not by the bearer token (Meta
cannot send one).

A POST is answered once every item is stored: messages are answered later by the worker
through the Send API. Meta retries a failed POST for up to 36 hours, so a 5xx is only
ever answered when the database could not store; every item is deduplicated, so the
retry stores nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from dmpilot import metrics
from dmpilot.bootstrap import System
from dmpilot.channels import instagram
from dmpilot.domain.channel_events import ChannelEvent, ChannelEventKind
from dmpilot.domain.commands import ReceiveMessage, RecordChannelEvent
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.web.deps import SystemDep
from dmpilot.web.errors import ApiError, decode_json, read_body

log = logging.getLogger("dmpilot.web")
router = APIRouter()

# Meta batches up to 1,000 items per POST; a few KB each at most.
MAX_BODY_BYTES = 8 * 1024 * 1024
BODY = (
    "a Meta webhook body holds at most 1,000 events",
    "this endpoint only takes Meta's Instagram webhooks",
)
MAX_CHALLENGE_CHARS = 256
CONTACTS_AT_ONCE = 4  # contacts stored concurrently; one contact's items stay in order
Item = Inbound | ChannelEvent


def _configured(system: System) -> tuple[str, str, str]:
    """(app secret, verify token, account id), or 404 saying how to turn the channel on."""
    settings = system.settings
    if not (
        settings.instagram
        and settings.meta_app_secret
        and settings.meta_verify_token
        and settings.meta_account_id
    ):
        raise ApiError(
            404,
            "the Instagram channel is not configured",
            [
                "set DMPILOT_META_APP_SECRET, DMPILOT_META_VERIFY_TOKEN, "
                "DMPILOT_META_ACCESS_TOKEN and DMPILOT_META_ACCOUNT_ID (README: 'Instagram "
                "without ManyChat')"
            ],
        )
    return (
        settings.meta_app_secret.get_secret_value(),
        settings.meta_verify_token.get_secret_value(),
        settings.meta_account_id,
    )


@router.get("/webhooks/instagram", response_class=PlainTextResponse)
async def verify_subscription(
    system: SystemDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    _, verify_token, _ = _configured(system)
    matches = token is not None and secrets.compare_digest(
        token.encode("utf-8", "replace"), verify_token.encode()
    )
    if mode != "subscribe" or not matches or not challenge:
        raise ApiError(
            403,
            "the subscription check failed",
            [
                "hub.mode must be 'subscribe' and hub.verify_token must equal "
                "DMPILOT_META_VERIFY_TOKEN (the Verify Token typed in the Meta app's webhook setup)"
            ],
        )
    return PlainTextResponse(challenge[:MAX_CHALLENGE_CHARS])


@router.post("/webhooks/instagram")
async def instagram_webhook(request: Request, system: SystemDep) -> dict[str, Any]:
    secret, _, account_id = _configured(system)
    body = await read_body(request, MAX_BODY_BYTES, BODY)
    if not instagram.signature_valid(secret, body, request.headers.get(instagram.SIGNATURE_HEADER)):
        metrics.WEBHOOKS.labels(outcome="bad_signature").inc()
        raise ApiError(
            403,
            "missing or wrong X-Hub-Signature-256",
            [
                "Meta signs each POST with the app's secret: DMPILOT_META_APP_SECRET must be "
                "the Instagram app secret (app dashboard → Instagram → API setup with "
                "Instagram login), or App settings → Basic → App secret for an app that uses "
                "Facebook login"
            ],
        )
    items = instagram.parse(decode_json(body), system.clock.now(), account_id)
    by_contact: dict[str | None, list[Item]] = defaultdict(list)
    for item in items:
        key = item.contact_external_id
        by_contact[key].append(item)
    gate = asyncio.Semaphore(CONTACTS_AT_ONCE)
    outcomes = await asyncio.gather(
        *(_store_in_order(system, group, gate) for group in by_contact.values())
    )
    counts: dict[str, int] = defaultdict(int)
    for group in outcomes:
        for outcome in group:
            counts[outcome] += 1
    if counts.get("unavailable"):
        # Nothing is lost: Meta retries the whole POST and what was stored is deduplicated.
        raise ApiError(
            503,
            "the database is not answering; some events were not stored, a retry is safe",
        )
    return {"received": len(items), **dict(sorted(counts.items()))}


async def _store_in_order(system: System, group: list[Item], gate: asyncio.Semaphore) -> list[str]:
    async with gate:
        return [await _store(system, item) for item in group]


async def _store(system: System, item: Item) -> str:
    """Store one item; what it was (for the answer's counts). One item failing never
    stops the others."""
    try:
        if isinstance(item, Inbound):
            decision = await system.engine.handle(ReceiveMessage(item))
            outcome = decision.reason.value if decision.reason else decision.action.value
            metrics.WEBHOOKS.labels(outcome=outcome).inc()
            return "messages"
        await system.engine.handle(RecordChannelEvent(item))
    except StoreUnavailable as exc:
        log.error("could not store an Instagram webhook item", extra={"error": str(exc)})
        return "unavailable"
    except Exception:
        # A bug on one item: logged with its trace; the others go on, and Meta is not
        # asked to retry a POST whose other items are stored.
        log.exception("an Instagram webhook item failed")
        return "failed"
    return "refused" if item.kind is ChannelEventKind.REFUSED else "events"
