"""The console's pages (GET): overview, inbox, one conversation and its live fragment,
the audit. Each reads through one read transaction off the event loop."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from dmpilot.audit.stats import Prices
from dmpilot.bootstrap import System
from dmpilot.domain.contacts import ContactInfo, ContactStatus
from dmpilot.domain.delivery import DeliveryMode, DeliveryState
from dmpilot.domain.funnel import CUSTOMER_STAGE, EXIT_STAGE, STOPPED_STAGE
from dmpilot.domain.handoff import REFUSALS, Refusal
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.store.reads.console import NEW_STAGE, InboxQuery, TimelineCursor
from dmpilot.store.units import ReadUnit
from dmpilot.web.console import params, present
from dmpilot.web.console.auth import FragmentSession, PageSession
from dmpilot.web.console.charts import bars, columns
from dmpilot.web.console.flash import flash_of
from dmpilot.web.console.views import SECURITY_HEADERS, ConsoleError, redirect, render, render_text
from dmpilot.web.deps import system_of

router = APIRouter(prefix="/console", include_in_schema=False)  # pages, not the API
T = TypeVar("T")
TIMELINE_POLL_MS = 3000


async def read(system: System, work: Callable[[ReadUnit], T]) -> T:
    """A read model off the event loop; the database being away is a 503 page."""
    try:
        return await system.read(work)
    except StoreUnavailable as exc:
        raise ConsoleError(503, f"could not read the database: {exc}") from exc


def prices_of(system: System) -> present.Priced:
    settings = system.settings
    return present.Priced(
        Prices.for_model(
            settings.model, settings.price_input_per_mtok, settings.price_output_per_mtok
        )
    )


def known_stages(system: System) -> list[str]:
    """Every value contacts.stage can hold, in funnel order, for the inbox's filter."""
    persona_stages = [spec.name for spec in system.persona.stages]
    return [NEW_STAGE, *persona_stages, EXIT_STAGE, STOPPED_STAGE, CUSTOMER_STAGE]


def reply_blocked(system: System, contact: ContactInfo) -> str | None:
    """Why the reply form cannot send, or None when it can."""
    if system.config.delivery_for(contact.channel) is DeliveryMode.INLINE:
        return REFUSALS[Refusal.INLINE]
    if contact.stopped_at is not None:
        return REFUSALS[Refusal.STOPPED]
    return None


@router.get("")
async def home(_session: PageSession) -> Response:
    return redirect("/console/overview")


@router.get("/overview")
async def overview(request: Request, session: PageSession) -> HTMLResponse:
    system = system_of(request)
    now = system.clock.now()
    figures, queue = await read(
        system, lambda reads: (reads.console_overview(now), reads.delivery_counts())
    )
    today = figures.today
    spend = prices_of(system)(today.tokens)
    stage_bars = bars(
        [(stage, figures.funnel.by_stage.get(stage, 0)) for stage in known_stages(system)]
    )
    conversion = bars(
        [
            ("Contacts", figures.funnel.contacts),
            ("Link sent", figures.funnel.link_sent),
            ("Clicked", figures.funnel.clicked),
            ("Converted", figures.funnel.converted),
        ],
        steps=True,
    )
    replies = columns([(f"{day:%b %d}", count) for day, count in figures.replies_per_day])
    return render(
        request,
        "overview.html",
        session=session,
        section="overview",
        title="Overview",
        flash=flash_of(request),
        figures=figures,
        spend=spend,
        budget=system.config.daily_new_conversations,
        stage_bars=stage_bars,
        conversion=conversion,
        replies=replies,
        replies_total=sum(count for _, count in figures.replies_per_day),
        queue={state.value: queue.get(state, 0) for state in DeliveryState},
        delivery=system.config.delivery.value,
        persona=system.persona.name,
    )


@router.get("/inbox")
async def inbox(request: Request, session: PageSession) -> HTMLResponse:
    system = system_of(request)
    stages = known_stages(system)
    q = params.query_value(request, "q")
    query = InboxQuery(
        search=params.search(q),
        stage=params.stage(params.query_value(request, "stage"), stages),
        status=params.status(params.query_value(request, "state")),
        with_findings=params.flag(params.query_value(request, "findings"), "findings"),
        after=params.inbox_cursor(params.query_value(request, "after"), "after"),
        before=params.inbox_cursor(params.query_value(request, "before"), "before"),
    )
    if query.after is not None and query.before is not None:
        raise ConsoleError(400, "give after= or before=, not both")
    now = system.clock.now()
    page = await read(system, lambda reads: reads.console_inbox(query, now))
    filters = {
        "q": (q or "").strip(),
        "stage": query.stage or "",
        "state": query.status.value if query.status else "",
        "findings": "1" if query.with_findings else "",
    }

    def page_url(**cursor: str) -> str:
        kept = {key: value for key, value in filters.items() if value}
        return "/console/inbox?" + urlencode(kept | cursor) if kept or cursor else "/console/inbox"

    return render(
        request,
        "inbox.html",
        session=session,
        section="inbox",
        title="Inbox",
        page=page,
        now=now,
        filters=filters,
        stages=stages,
        states=[status.value for status in ContactStatus],
        newer_url=page_url(before=page.newer.encode()) if page.newer else None,
        older_url=page_url(after=page.older.encode()) if page.older else None,
        first_url=page_url() if query.after or query.before else None,
    )


def _entries_context(system: System) -> dict[str, Any]:
    """What the timeline entry template needs besides the entries."""
    return {"cost_of": prices_of(system), "present": present}


@router.get("/contacts/{contact_id}")
async def conversation(request: Request, contact_id: str, session: PageSession) -> HTMLResponse:
    system = system_of(request)
    number = params.contact_id(contact_id)
    before = params.timeline_cursor(params.query_value(request, "before"), "before")
    header, timeline, control = await read(
        system,
        lambda reads: (
            reads.console_contact(number),
            reads.console_timeline(number, before),
            reads.control(),
        ),
    )
    if header is None:
        raise ConsoleError(404, f"there is no contact {number}", back="/console/inbox")
    now = system.clock.now()
    status = header.contact.status(now)
    return render(
        request,
        "contact.html",
        session=session,
        section="inbox",
        title=(header.contact.username and f"@{header.contact.username}")
        or header.contact.name
        or header.contact.external_id,
        flash=flash_of(request),
        header=header,
        contact_status=status,
        timeline=timeline,
        live=before is None,  # an earlier window is history: nothing is appended to it
        poll_ms=TIMELINE_POLL_MS,
        paused=control.paused,
        reply_blocked=reply_blocked(system, header.contact),
        reply_key=secrets.token_hex(16),  # a resubmitted form queues its message once
        in_handoff=status is ContactStatus.HANDOFF,
        **_entries_context(system),
    )


def _title(contact: ContactInfo) -> str:
    if contact.username:
        return f"@{contact.username}"
    return contact.name or contact.external_id


@router.get("/contacts/{contact_id}/timeline")
async def timeline_fragment(
    request: Request, contact_id: str, _session: FragmentSession
) -> Response:
    """What happened after the cursor, as entries to append; the new cursor and the
    contact's status travel in headers."""
    system = system_of(request)
    try:
        number = params.contact_id(contact_id)
        after = params.timeline_cursor(params.query_value(request, "after"), "after")
        if after is None:
            raise ConsoleError(400, "after= is required: <message id>_<event id>")
        cursor: TimelineCursor = after
        header, page = await read(
            system,
            lambda reads: (
                reads.console_contact(number),
                reads.console_timeline_after(number, cursor),
            ),
        )
        if header is None:
            raise ConsoleError(404, f"there is no contact {number}")
    except ConsoleError as error:
        return PlainTextResponse(error.message, status_code=error.status, headers=SECURITY_HEADERS)
    body = render_text("timeline_entries.html", entries=page.entries, **_entries_context(system))
    return HTMLResponse(
        body,
        headers={
            **SECURITY_HEADERS,
            "X-Timeline-Cursor": page.newest.encode(),
            "X-Contact-Status": header.contact.status(system.clock.now()).value,
        },
    )


@router.get("/audit")
async def audit(request: Request, session: PageSession) -> HTMLResponse:
    system = system_of(request)
    rows = await read(system, lambda reads: reads.console_findings())
    found_at = max((row.found_at for row in rows if row.found_at), default=None)
    return render(
        request,
        "audit.html",
        session=session,
        section="audit",
        title="Audit",
        flash=flash_of(request),
        rows=rows,
        found_at=found_at,
        total=sum(row.total for row in rows),
    )
