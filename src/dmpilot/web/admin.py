"""Operator endpoints behind the token: kill switch, status, conversions, handoff and the
other actions on one contact, deliveries."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from dmpilot.bootstrap import System
from dmpilot.domain.commands import (
    HandBack,
    MarkConverted,
    Pause,
    ResetContact,
    Resume,
    SendAsHuman,
    StopContact,
    TakeOver,
)
from dmpilot.domain.contacts import ActionOutcome, ContactRef, ConvertOutcome
from dmpilot.domain.delivery import DeliveryState
from dmpilot.engine.core import ContactAction
from dmpilot.web.deps import Authorized, SystemDep
from dmpilot.web.errors import ApiError, read_model

router = APIRouter(prefix="/admin", dependencies=Authorized)


class ConvertedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscriber_id: StrictStr | StrictInt = Field(
        description="the subscriber id, @username or id:<n>"
    )


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: StrictStr = Field(min_length=1, max_length=500)


@router.post("/pause")
async def pause(request: Request, system: SystemDep) -> dict[str, Any]:
    body = await read_model(request, PauseRequest, 'send {"reason": "why you are pausing"}')
    state = await system.engine.handle(Pause(body.reason.strip() or body.reason, "http"))
    return {"paused": state.paused, "reason": state.reason}


@router.post("/resume")
async def resume(system: SystemDep) -> dict[str, Any]:
    state = await system.engine.handle(Resume("http"))
    return {"paused": state.paused, "reason": state.reason}


@router.get("/status")
async def status(system: SystemDep) -> dict[str, Any]:
    state = await system.read(lambda reads: reads.control())
    return {
        "paused": state.paused,
        "reason": state.reason,
        "changed_at": state.changed_at.isoformat() if state.changed_at else None,
        "changed_by": state.changed_by,
        "brain": system.brain.name,
        "persona": system.persona.name,
        "delivery": system.config.delivery.value,
        # Instagram direct: always answered through the Send API by the worker.
        "instagram": system.settings.instagram,
    }


@router.post("/contacts/converted")
async def converted(request: Request, system: SystemDep) -> dict[str, Any]:
    body = await read_model(
        request,
        ConvertedRequest,
        'send {"subscriber_id": "<ManyChat subscriber id, @username or id:<n>>"}',
    )
    try:
        ref = ContactRef.parse(str(body.subscriber_id))
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    result = await system.engine.handle(MarkConverted(ref, "http"))
    if result.contact is None:
        raise ApiError(404, f"no contact {str(ref)!r}: give a subscriber id, @username or id:<n>")
    stopped = result.outcome is ConvertOutcome.STOPPED
    return {
        "converted": True,
        "subscriber_id": result.contact.external_id,
        "already": result.outcome is ConvertOutcome.ALREADY,
        "stopped": stopped,
        "note": "the contact is stopped: nothing will be sent" if stopped else None,
    }


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact: StrictStr | StrictInt = Field(description="the subscriber id, @username or id:<n>")


class SayRequest(ContactRequest):
    text: StrictStr = Field(max_length=10_000, description="what a person sends")
    key: StrictStr | None = Field(
        None, max_length=48, description="idempotency key: the same key never sends twice"
    )


_CONTACT_HINT = 'send {"contact": "<subscriber id, @username or id:<n>>"}'


def _ref(value: str | int) -> ContactRef:
    try:
        return ContactRef.parse(str(value))
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc


async def _act(system: System, command: ContactAction) -> dict[str, Any]:
    """One action on one contact: 404 if no contact matches, 409 with the reason when it may
    not be done to this contact."""
    result = await system.engine.handle(command)
    contact = result.contact
    if contact is None:
        raise ApiError(
            404, f"no contact {str(command.contact)!r}: give a subscriber id, @username or id:<n>"
        )
    if result.outcome is ActionOutcome.REFUSED:
        raise ApiError(409, result.detail or "refused")
    now = system.engine.clock.now()
    return {
        "outcome": result.outcome.value if result.outcome else None,
        "contact": {
            "id": contact.id,
            "subscriber_id": contact.external_id,
            "username": contact.username,
            "status": contact.status(now).value,
            "handoff_until": contact.handoff_until.isoformat()
            if contact.in_handoff(now) and contact.handoff_until
            else None,
            "stop_reason": contact.stop_reason,
        },
        "delivery_id": result.delivery_id,
    }


@router.post("/contacts/handoff")
async def take_over(request: Request, system: SystemDep) -> dict[str, Any]:
    """Take a contact over: the bot is silent for it until handed back."""
    body = await read_model(request, ContactRequest, _CONTACT_HINT)
    return await _act(system, TakeOver(_ref(body.contact), "http"))


@router.post("/contacts/handback")
async def hand_back(request: Request, system: SystemDep) -> dict[str, Any]:
    body = await read_model(request, ContactRequest, _CONTACT_HINT)
    return await _act(system, HandBack(_ref(body.contact), "http"))


@router.post("/contacts/say")
async def say(request: Request, system: SystemDep) -> dict[str, Any]:
    """A person's message, through the outbox; the same `key` never sends twice."""
    body = await read_model(
        request, SayRequest, 'send {"contact": "@user", "text": "…", "key": "<optional, unique>"}'
    )
    key = body.key if body.key is not None else secrets.token_urlsafe(12)
    result = await _act(system, SendAsHuman(_ref(body.contact), "http", body.text, key))
    return result | {"key": key}


@router.post("/contacts/stop")
async def stop(request: Request, system: SystemDep) -> dict[str, Any]:
    body = await read_model(request, ContactRequest, _CONTACT_HINT)
    return await _act(system, StopContact(_ref(body.contact), "http"))


@router.post("/contacts/reset")
async def reset(request: Request, system: SystemDep) -> dict[str, Any]:
    body = await read_model(request, ContactRequest, _CONTACT_HINT)
    return await _act(system, ResetContact(_ref(body.contact), "http"))


@router.get("/deliveries")
async def deliveries(
    system: SystemDep,
    state: DeliveryState | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    rows = await system.read(lambda reads: reads.deliveries(state=state, limit=limit))
    return {
        "deliveries": [
            {
                "id": row.id,
                "subscriber": row.subscriber,
                "kind": row.kind,
                "state": row.state,
                "via": row.via,
                "attempts": row.attempts,
                "not_before": row.not_before.isoformat(),
                "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                "last_error": row.last_error,
            }
            for row in rows
        ]
    }
