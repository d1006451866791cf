"""Operator endpoints behind the token: kill switch, status, conversions, deliveries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from dmpilot.domain.commands import MarkConverted, Pause, Resume
from dmpilot.domain.contacts import ContactRef, ConvertOutcome
from dmpilot.domain.delivery import DeliveryState
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
