"""Meta's Instagram Messaging API webhook: signature, verification, and the payload read
into contacts' messages (`Inbound`) and everything else (`ChannelEvent`).

One POST carries `entry[] × messaging[]` items. Each is read on its own: an item dmpilot
cannot read becomes a `refused` event, and the others are handled as if it were not there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from dmpilot.channels.manychat import CONTROL
from dmpilot.domain.channel_events import (
    MAX_DETAIL_CHARS,
    ChannelEvent,
    ChannelEventKind,
    RefusedItem,
)
from dmpilot.domain.inbound import (
    MAX_EXTERNAL_ID_CHARS,
    MAX_MEDIA_URL_CHARS,
    Inbound,
    classify,
    describe,
    sanitize_text,
)

CHANNEL = "instagram"
SIGNATURE_HEADER = "x-hub-signature-256"
MAX_MID_CHARS = 256
# No platform id is longer than this (and str() refuses an int past 4,300 digits).
_Id = StrictStr | Annotated[StrictInt, Field(ge=-(10**40), le=10**40)]
_Text = StrictStr | None


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A detail Meta sent in a shape dmpilot does not know is dropped, not the message."""
    try:
        return handler(value)
    except ValidationError:
        return None


T = TypeVar("T")
Optional = Annotated[T | None, WrapValidator(_or_none)]


class _Lenient(BaseModel):
    # Meta adds fields over time; unknown ones are ignored, never refused.
    model_config = ConfigDict(extra="ignore")


class _Party(_Lenient):
    id: _Id


class _Payload(_Lenient):
    url: _Text = None
    title: _Text = None


class _Attachment(_Lenient):
    type: _Text = None
    payload: _Payload | None = None


class _Story(_Lenient):
    url: _Text = None
    id: _Id | None = None


class _ReplyTo(_Lenient):
    mid: _Text = None
    story: _Story | None = None


class _QuickReply(_Lenient):
    payload: _Text = None


class _Referral(_Lenient):
    ref: _Text = None
    source: _Text = None
    type: _Text = None
    ad_id: _Id | None = None


class _Message(_Lenient):
    mid: StrictStr
    text: _Text = None
    attachments: Optional[list[_Attachment]] = None
    is_echo: StrictBool = False
    is_deleted: StrictBool = False
    is_unsupported: StrictBool = False
    quick_reply: Optional[_QuickReply] = None
    reply_to: Optional[_ReplyTo] = None
    referral: Optional[_Referral] = None


class _Postback(_Lenient):
    mid: _Text = None
    title: _Text = None
    payload: _Text = None


class _Reaction(_Lenient):
    mid: _Text = None
    action: _Text = None
    reaction: _Text = None
    emoji: _Text = None


class _Read(_Lenient):
    mid: _Text = None


class _Item(_Lenient):
    sender: _Party
    recipient: _Party
    message: _Message | None = None
    postback: _Postback | None = None
    reaction: _Reaction | None = None
    read: _Read | None = None
    referral: _Referral | None = None


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is `sha256=<hex>` of the raw body keyed with the app secret."""
    if not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # As bytes: a header may hold any latin-1 character, which compare_digest refuses in str.
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


def sign(secret: str, body: bytes) -> str:
    """The header value Meta would send for `body` (tests, and `dmpilot` tooling)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def parse(payload: Any, received_at: datetime, account_id: str) -> list[Inbound | ChannelEvent]:
    """Every item of a webhook body, in order. Never raises: what cannot be read is a
    `refused` event carrying (a bounded copy of) what arrived."""
    entries = payload.get("entry") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or payload.get("object") != "instagram":
        return [_refused(RefusedItem.UNKNOWN_SHAPE, received_at, payload)]
    if not isinstance(entries, list):
        return [_refused(RefusedItem.UNKNOWN_SHAPE, received_at, payload)]
    items: list[Inbound | ChannelEvent] = []
    for entry in entries:
        messaging = entry.get("messaging") if isinstance(entry, dict) else None
        if not isinstance(messaging, list):
            # `changes` (comments, mentions) or `standby` (another app owns the thread).
            items.append(_refused(RefusedItem.UNKNOWN_SHAPE, received_at, entry))
            continue
        items.extend(_read_item(raw, received_at, account_id) for raw in messaging)
    return items


def _read_item(raw: Any, received_at: datetime, account_id: str) -> Inbound | ChannelEvent:
    try:
        item = _Item.model_validate(raw)
    except ValidationError:
        return _refused(RefusedItem.UNREADABLE, received_at, raw)
    echo = item.message is not None and item.message.is_echo
    # The account is the recipient of a contact's message and the sender of an echo.
    account, contact = (item.sender, item.recipient) if echo else (item.recipient, item.sender)
    contact_id = _clean_id(contact.id)
    if contact_id is None:
        return _refused(RefusedItem.UNREADABLE, received_at, raw)
    if _clean_id(account.id) != account_id:
        return _refused(RefusedItem.WRONG_ACCOUNT, received_at, raw, contact=contact_id)
    event = _event_of(item, contact_id, received_at)
    if event is None:
        return _refused(RefusedItem.UNKNOWN_SHAPE, received_at, raw, contact=contact_id)
    return event


def _event_of(item: _Item, contact: str, at: datetime) -> Inbound | ChannelEvent | None:
    message = item.message
    if message is not None:
        return _message_event(message, contact, at)
    if item.postback is not None:
        postback = item.postback
        text = postback.title or postback.payload or ""
        return _inbound(contact, at, _mid(postback.mid), text=text)
    if item.reaction is not None:
        reaction = item.reaction
        detail = {
            "action": _short(reaction.action or "react"),
            "reaction": _short(reaction.reaction or ""),
            "emoji": _short(reaction.emoji or ""),
        }
        return _channel_event(
            ChannelEventKind.REACTION, contact, at, _mid(reaction.mid), detail=detail
        )
    if item.read is not None:
        return _channel_event(ChannelEventKind.SEEN, contact, at, _mid(item.read.mid))
    if item.referral is not None:
        return _referral(item.referral, contact, at)
    return None


def _message_event(message: _Message, contact: str, at: datetime) -> Inbound | ChannelEvent:
    mid = _mid(message.mid)
    if message.is_deleted:
        return _channel_event(ChannelEventKind.DELETED, contact, at, mid)
    if message.is_unsupported:
        return _channel_event(ChannelEventKind.UNSUPPORTED, contact, at, mid)
    attachment = message.attachments[0] if message.attachments else None
    if message.is_echo:
        kind, text, _, _ = _classified(message, attachment)
        return _channel_event(ChannelEventKind.ECHO, contact, at, mid, text=describe(kind, text))
    inbound = _inbound(contact, at, mid, message=message, attachment=attachment)
    if message.referral is not None:
        # An ad's first message: the message is answered, and its source kept (below).
        return _with_source(inbound, message.referral)
    return inbound


def _classified(
    message: _Message, attachment: _Attachment | None
) -> tuple[Any, str, str | None, tuple[str, ...]]:
    story = message.reply_to.story if message.reply_to else None
    text = message.text
    if not (text and text.strip()) and message.quick_reply and message.quick_reply.payload:
        text = message.quick_reply.payload
    url = (attachment.payload.url if attachment and attachment.payload else None) or (
        story.url if story else None
    )
    return classify(
        text=text,
        attachment_type=attachment.type if attachment else None,
        attachment_url=url.strip()[:MAX_MEDIA_URL_CHARS] or None if url else None,
        story_reply=story is not None,
    )


def _inbound(
    contact: str,
    at: datetime,
    mid: str | None,
    *,
    text: str | None = None,
    message: _Message | None = None,
    attachment: _Attachment | None = None,
) -> Inbound:
    if message is not None:
        kind, clean, media_url, notes = _classified(message, attachment)
    else:
        kind, clean, media_url, notes = classify(text=text)
    return Inbound(
        channel=CHANNEL,
        contact_external_id=contact,
        kind=kind,
        text=clean,
        received_at=at,
        media_url=media_url,
        external_message_id=mid,
        notes=notes,
    )


def _with_source(inbound: Inbound, referral: _Referral) -> Inbound:
    return Inbound(
        channel=inbound.channel,
        contact_external_id=inbound.contact_external_id,
        kind=inbound.kind,
        text=inbound.text,
        received_at=inbound.received_at,
        media_url=inbound.media_url,
        external_message_id=inbound.external_message_id,
        notes=inbound.notes,
        source=referral_source(referral.source, referral.ref, referral.ad_id),
    )


def _referral(referral: _Referral, contact: str, at: datetime) -> ChannelEvent:
    source = referral_source(referral.source, referral.ref, referral.ad_id)
    detail = {
        "source": source,
        "type": _short(referral.type or ""),
        "ref": _short(referral.ref or ""),
        "ad_id": _short(str(referral.ad_id or "")),
    }
    return _channel_event(ChannelEventKind.REFERRAL, contact, at, None, detail=detail)


def referral_source(source: str | None, ref: str | None, ad_id: str | int | None) -> str:
    """Where a contact came from, as one short line: `ads:<ad id>`, `shortlink:<ref>`…"""
    origin = _short((source or "referral").strip().lower(), 32) or "referral"
    what = ad_id if ad_id not in (None, "") else ref
    return f"{origin}:{_short(str(what), 150)}" if what not in (None, "") else origin


def _channel_event(
    kind: ChannelEventKind,
    contact: str,
    at: datetime,
    mid: str | None,
    *,
    text: str = "",
    detail: Mapping[str, object] | None = None,
) -> ChannelEvent:
    return ChannelEvent(
        kind=kind,
        channel=CHANNEL,
        contact_external_id=contact,
        received_at=at,
        message_id=mid,
        text=text,
        detail=detail or {},
    )


def _refused(
    reason: RefusedItem, at: datetime, raw: Any, *, contact: str | None = None
) -> ChannelEvent:
    return ChannelEvent(
        kind=ChannelEventKind.REFUSED,
        channel=CHANNEL,
        contact_external_id=contact,
        received_at=at,
        reason=reason,
        detail={"item": _excerpt(raw)},
    )


def _excerpt(raw: Any) -> str:
    """A bounded copy of what arrived, for the operator reading the event."""
    try:
        text = json.dumps(raw, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        # e.g. an integer past str()'s 4,300 digits: say what it was, not what it said
        text = f"<{type(raw).__name__} that cannot be shown>"
    return text[:MAX_DETAIL_CHARS]


def _clean_id(value: str | int) -> str | None:
    text = str(value).strip()
    if not text or len(text) > MAX_EXTERNAL_ID_CHARS or CONTROL.search(text):
        return None
    return text


def _mid(value: str | None) -> str | None:
    if value is None:
        return None
    text = CONTROL.sub("", value).strip()
    return text[:MAX_MID_CHARS] or None


def _short(value: str, limit: int = 200) -> str:
    return " ".join(sanitize_text(value).split())[:limit]
