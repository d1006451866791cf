"""The console's actions (POST, CSRF-checked): the kill switch, the audit, and what an
operator does to one contact. Each sends a command to the engine and redirects back with a
flash saying what happened; a refusal is a 409 page with the engine's reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response

from dmpilot.audit import run_audit
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
from dmpilot.domain.contacts import (
    ActionOutcome,
    ContactActionResult,
    ContactInfo,
    ContactRef,
    ConvertOutcome,
    RefKind,
)
from dmpilot.domain.decision import Reason
from dmpilot.domain.findings import AuditReport
from dmpilot.domain.handoff import key_refusal
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.store.findings import replace_findings
from dmpilot.store.reads.console import ContactHeader
from dmpilot.web.console import params
from dmpilot.web.console.auth import FormSession, checked_form
from dmpilot.web.console.flash import Flash, flash_url
from dmpilot.web.console.pages import read, reply_blocked
from dmpilot.web.console.session import Session
from dmpilot.web.console.views import ConsoleError, redirect
from dmpilot.web.deps import system_of

router = APIRouter(prefix="/console", include_in_schema=False)  # pages, not the API
T = TypeVar("T")
BY = "console"  # who the engine records as having acted
MAX_REASON = 500
MAX_REPLY = 4000  # characters; the engine refuses what Instagram would (1000 bytes)


class ContactAction(StrEnum):
    TAKE_OVER = "take-over"
    HAND_BACK = "hand-back"
    REPLY = "reply"
    CONVERT = "convert"
    STOP = "stop"
    RESET = "reset"


# What each outcome of each action tells the operator. REFUSED is a 409 page instead.
FLASHES: dict[tuple[ContactAction, ActionOutcome], Flash] = {
    (ContactAction.TAKE_OVER, ActionOutcome.DONE): Flash.TAKEN_OVER,
    (ContactAction.TAKE_OVER, ActionOutcome.ALREADY): Flash.ALREADY_HANDOFF,
    (ContactAction.HAND_BACK, ActionOutcome.DONE): Flash.HANDED_BACK,
    (ContactAction.HAND_BACK, ActionOutcome.ALREADY): Flash.NOT_IN_HANDOFF,
    (ContactAction.REPLY, ActionOutcome.DONE): Flash.QUEUED,
    (ContactAction.REPLY, ActionOutcome.DUPLICATE): Flash.DUPLICATE,
    (ContactAction.REPLY, ActionOutcome.ALREADY): Flash.DUPLICATE,
    (ContactAction.STOP, ActionOutcome.DONE): Flash.STOPPED,
    (ContactAction.STOP, ActionOutcome.ALREADY): Flash.ALREADY_STOPPED,
    (ContactAction.RESET, ActionOutcome.DONE): Flash.RESET,
    (ContactAction.RESET, ActionOutcome.ALREADY): Flash.ALREADY_RESET,
}
CONVERT_FLASHES = {
    ConvertOutcome.CONVERTED: Flash.CONVERTED,
    ConvertOutcome.ALREADY: Flash.ALREADY_CONVERTED,
    ConvertOutcome.STOPPED: Flash.CONVERTED_STOPPED,
}


# -- the kill switch -----------------------------------------------------------------------------


@router.post("/pause")
async def pause(request: Request, session: FormSession) -> Response:
    fields = await checked_form(request, session)
    reason = params.checked_text(fields.get("reason", ""), "reason", MAX_REASON).strip()
    if not reason:
        raise ConsoleError(
            400, "say why you are pausing: the reason is shown to everyone", back="/console"
        )
    system = system_of(request)
    await _engine(system.engine.handle(Pause(reason, BY)))
    return redirect(flash_url("/console/overview", Flash.PAUSED))


@router.post("/resume")
async def resume(request: Request, session: FormSession) -> Response:
    await checked_form(request, session)
    system = system_of(request)
    state = await read(system, lambda reads: reads.control())
    if not state.paused:
        return redirect(flash_url("/console/overview", Flash.ALREADY_RUNNING))
    await _engine(system.engine.handle(Resume(BY)))
    return redirect(flash_url("/console/overview", Flash.RESUMED))


# -- the audit -------------------------------------------------------------------------------------


@router.post("/audit/run")
async def run_audit_now(request: Request, session: FormSession) -> Response:
    """The whole history, like `dmpilot audit`; its findings replace the stored ones."""
    await checked_form(request, session)
    system = system_of(request)
    now = system.clock.now()
    report = await read(
        system,
        lambda reads: run_audit(
            reads,
            system.persona,
            now,
            links=system.engine.links,
            similarity_threshold=system.settings.similarity_threshold,
        ),
    )
    await _store_findings(system, report)
    return redirect(flash_url("/console/audit", Flash.AUDITED))


async def _store_findings(system: System, report: AuditReport) -> None:
    now = system.clock.now()

    def write() -> None:
        with system.store.writing() as unit:
            replace_findings(unit.db, report, now)

    try:
        await to_thread.run_sync(write)
    except StoreUnavailable as exc:
        raise ConsoleError(503, f"the audit ran but its findings were not stored: {exc}") from exc


# -- one contact ---------------------------------------------------------------------------------


def _back(contact_id: int) -> str:
    return f"/console/contacts/{contact_id}"


async def _contact(system: System, contact_id: str) -> ContactHeader:
    number = params.contact_id(contact_id)
    header = await read(system, lambda reads: reads.console_contact(number))
    if header is None:
        raise ConsoleError(404, f"there is no contact {number}", back="/console/inbox")
    return header


def _ref(header: ContactHeader) -> ContactRef:
    return ContactRef(RefKind.INTERNAL, str(header.contact.id))


async def _engine(work: Awaitable[T]) -> T:
    """An engine command; the database being away is a 503 page, not a 500."""
    try:
        return await work
    except StoreUnavailable as exc:
        raise ConsoleError(503, f"nothing was done: the database is not answering ({exc})") from exc


def _answer(action: ContactAction, header: ContactHeader, result: ContactActionResult) -> Response:
    back = _back(header.contact.id)
    if result.contact is None or result.outcome is None:
        raise ConsoleError(404, f"there is no contact {header.contact.id}", back="/console/inbox")
    if result.outcome is ActionOutcome.REFUSED:
        raise ConsoleError(
            409,
            result.detail or "the engine refused this action for this contact",
            back=back,
            title="That cannot be done",
        )
    flash = FLASHES.get((action, result.outcome))
    return redirect(flash_url(back, flash) if flash else back)


async def _act(
    request: Request,
    contact_id: str,
    session: Session,
    command: Callable[[ContactRef, str], TakeOver | HandBack | StopContact],
    action: ContactAction,
) -> Response:
    """The actions that need nothing but the contact: checked form, one command, a flash."""
    await checked_form(request, session)
    system = system_of(request)
    header = await _contact(system, contact_id)
    result = await _engine(system.engine.handle(command(_ref(header), BY)))
    return _answer(action, header, result)


@router.post("/contacts/{contact_id}/take-over")
async def take_over(request: Request, contact_id: str, session: FormSession) -> Response:
    return await _act(request, contact_id, session, TakeOver, ContactAction.TAKE_OVER)


@router.post("/contacts/{contact_id}/hand-back")
async def hand_back(request: Request, contact_id: str, session: FormSession) -> Response:
    return await _act(request, contact_id, session, HandBack, ContactAction.HAND_BACK)


@router.post("/contacts/{contact_id}/reply")
async def reply(request: Request, contact_id: str, session: FormSession) -> Response:
    fields = await checked_form(request, session)
    system = system_of(request)
    header = await _contact(system, contact_id)
    text = params.checked_text(fields.get("text", ""), "message", MAX_REPLY, multiline=True)
    key = fields.get("key", "")
    if key_refusal(key) is not None:
        raise ConsoleError(
            400, "the form's message key is missing or malformed: reload the page and write again"
        )
    if not text.strip():
        raise ConsoleError(
            400, "the message is empty: write something to send", back=_back(header.contact.id)
        )
    blocked = reply_blocked(system, header.contact)
    if blocked is not None:
        raise ConsoleError(409, blocked, back=_back(header.contact.id))
    result = await _engine(system.engine.handle(SendAsHuman(_ref(header), BY, text, key)))
    return _answer(ContactAction.REPLY, header, result)


@router.post("/contacts/{contact_id}/convert")
async def convert(request: Request, contact_id: str, session: FormSession) -> Response:
    await checked_form(request, session)
    system = system_of(request)
    header = await _contact(system, contact_id)
    result = await _engine(system.engine.handle(MarkConverted(_ref(header), BY)))
    if result.contact is None or result.outcome is None:
        raise ConsoleError(404, f"there is no contact {header.contact.id}", back="/console/inbox")
    return redirect(flash_url(_back(header.contact.id), CONVERT_FLASHES[result.outcome]))


@router.post("/contacts/{contact_id}/stop")
async def stop(request: Request, contact_id: str, session: FormSession) -> Response:
    return await _act(request, contact_id, session, StopContact, ContactAction.STOP)


@router.post("/contacts/{contact_id}/reset")
async def reset(request: Request, contact_id: str, session: FormSession) -> Response:
    await checked_form(request, session)
    system = system_of(request)
    header = await _contact(system, contact_id)
    # The page never offers this for a minor or an opt-out; a forged request is refused
    # here too, before the engine (which refuses it again, in its transaction).
    if not header.contact.resettable:
        raise ConsoleError(
            409,
            _not_resettable(header.contact),
            back=_back(header.contact.id),
        )
    result = await _engine(system.engine.handle(ResetContact(_ref(header), BY)))
    return _answer(ContactAction.RESET, header, result)


def _not_resettable(contact: ContactInfo) -> str:
    """Why the page offers no reset for this contact, in the operator's words."""
    if contact.stop_reason == Reason.MINOR:
        return "the contact said they are under 18: it is never reset"
    if contact.stop_reason == Reason.OPT_OUT:
        return "the contact asked to stop: it is never reset"
    if contact.converted_at is not None:
        return "the contact converted: it is a customer, not a funnel to start over"
    if contact.stopped_at is None:
        return "the contact is not stopped: there is nothing to reset"
    return "only a contact whose funnel ran its course, or that an operator stopped, is reset"
