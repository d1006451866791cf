"""Operator endpoints behind the token: kill switch, status, conversions, handoff and the
other actions on one contact, deliveries."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from dmpilot.alerts.senders import describe_targets
from dmpilot.bootstrap import System
from dmpilot.domain.commands import (
    ForgetContact,
    HandBack,
    MarkConverted,
    Pause,
    ResetContact,
    Resume,
    SendAsHuman,
    StopContact,
    TakeOver,
)
from dmpilot.domain.contacts import (
    ActionOutcome,
    ContactActionResult,
    ContactInfo,
    ContactRef,
    ConvertOutcome,
)
from dmpilot.domain.delivery import DeliveryState
from dmpilot.domain.inbound import scrub
from dmpilot.domain.privacy import ForgetResult
from dmpilot.engine.core import ContactAction
from dmpilot.store import ReadUnit
from dmpilot.store.alerts import AlertBook
from dmpilot.store.privacy.export import export_bytes
from dmpilot.web.deps import Authorized, SystemDep
from dmpilot.web.errors import ApiError, read_model

router = APIRouter(prefix="/admin", dependencies=Authorized)


class ConvertedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscriber_id: StrictStr | StrictInt = Field(
        description="the subscriber id, @username or id:<n>"
    )


# Free text an operator sends: lone surrogates and NUL removed, as for every webhook body.
CleanText = Annotated[StrictStr, BeforeValidator(scrub)]


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: CleanText = Field(min_length=1, max_length=500)


@router.post("/pause")
async def pause(request: Request, system: SystemDep) -> dict[str, Any]:
    body = await read_model(request, PauseRequest, 'send {"reason": "why you are pausing"}')
    if not body.reason:
        raise ApiError(422, 'the reason is empty; send {"reason": "why you are pausing"}')
    state = await system.engine.handle(Pause(body.reason.strip() or body.reason, "http"))
    return {"paused": state.paused, "reason": state.reason}


@router.post("/resume")
async def resume(system: SystemDep) -> dict[str, Any]:
    state = await system.engine.handle(Resume("http"))
    return {"paused": state.paused, "reason": state.reason}


@router.get("/status")
async def status(system: SystemDep) -> dict[str, Any]:
    state, incidents = await system.read(
        lambda reads: (reads.control(), AlertBook(reads.db).open_rows())
    )
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
        "alerts": {
            "targets": describe_targets(system.settings),
            "open": [
                {
                    "incident": row.key,
                    "opened_at": row.opened_at.isoformat(),
                    "last_alert_at": row.last_sent_at.isoformat(),
                    "outcome": row.outcome,
                    "summary": row.summary,
                }
                for row in incidents
            ],
        },
    }


@router.post("/contacts/converted")
async def converted(request: Request, system: SystemDep) -> dict[str, Any]:
    body = await read_model(
        request,
        ConvertedRequest,
        'send {"subscriber_id": "<ManyChat subscriber id, @username or id:<n>>"}',
    )
    ref = _ref(body.subscriber_id)
    result = await system.engine.handle(MarkConverted(ref, "http"))
    if result.contact is None:
        raise _no_contact(ref)
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
    text: CleanText = Field(max_length=10_000, description="what a person sends")
    key: CleanText | None = Field(
        None, max_length=48, description="idempotency key: the same key never sends twice"
    )


_CONTACT_HINT = 'send {"contact": "<subscriber id, @username or id:<n>>"}'


def _ref(value: str | int) -> ContactRef:
    try:
        return ContactRef.parse(str(value))
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc


def _no_contact(ref: ContactRef) -> ApiError:
    return ApiError(404, f"no contact {str(ref)!r}: give a subscriber id, @username or id:<n>")


def _done_to(result: ContactActionResult | ForgetResult, ref: ContactRef) -> ContactInfo:
    """The contact an action was done to: 404 if no contact matches, 409 with the reason
    when it may not be done to this contact."""
    if result.contact is None:
        raise _no_contact(ref)
    if result.outcome is ActionOutcome.REFUSED:
        raise ApiError(409, result.detail or "refused")
    return result.contact


async def _act(system: System, command: ContactAction) -> dict[str, Any]:
    """One action on one contact, answered with the contact as it is now."""
    result = await system.engine.handle(command)
    contact = _done_to(result, command.contact)
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


@router.get("/contacts/export")
async def export(
    system: SystemDep,
    contact: str = Query(max_length=300, description="the subscriber id, @username or id:<n>"),
) -> Response:
    """Everything stored about one contact, as one JSON document (dmpilot export)."""
    ref = _ref(contact)
    now = system.engine.clock.now()

    def work(reads: ReadUnit) -> tuple[int, dict[str, Any]] | None:
        found = reads.find_contact(ref)
        document = reads.export_contact(found.id, now) if found is not None else None
        return (found.id, document) if found is not None and document is not None else None

    exported = await system.read(work)
    if exported is None:
        raise _no_contact(ref)
    contact_id, document = exported
    return Response(
        export_bytes(document),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/contacts/forget")
async def forget(request: Request, system: SystemDep) -> dict[str, Any]:
    """Erase a contact's data (dmpilot forget): 404 if unknown, 409 while a message to it is
    being sent or a reply written."""
    body = await read_model(request, ContactRequest, _CONTACT_HINT)
    ref = _ref(body.contact)
    result = await system.engine.handle(ForgetContact(ref, "http"))
    contact = _done_to(result, ref)
    now = system.engine.clock.now()
    return {
        "outcome": result.outcome.value if result.outcome else None,
        "contact": {
            "id": contact.id,
            "status": contact.status(now).value,
            "stop_reason": contact.stop_reason,
        },
        "scrubbed": dict(result.scrubbed),
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
