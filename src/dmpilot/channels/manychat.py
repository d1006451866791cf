"""ManyChat External Request: the two body shapes in, flat JSON or Dynamic Block v2 out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from dmpilot.channels import PayloadError
from dmpilot.domain.decision import Decision
from dmpilot.domain.inbound import (
    MAX_EXTERNAL_ID_CHARS,
    MAX_MEDIA_URL_CHARS,
    MAX_NAME_CHARS,
    MAX_USERNAME_CHARS,
    Inbound,
    classify,
)

CHANNEL = "manychat"
OptionalText = StrictStr | None
# A ManyChat variable its External Request did not fill in, e.g. "{{user_id}}".
PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MISCONFIGURED = "the External Request body is misconfigured: a ManyChat variable was sent unfilled"


class _Lenient(BaseModel):
    # ManyChat bodies carry many fields dmpilot does not use; they are ignored, not refused.
    model_config = ConfigDict(extra="ignore")


class _TextHolder(_Lenient):
    text: OptionalText = None


class _AttachmentPayload(_Lenient):
    url: OptionalText = None


class _Attachment(_Lenient):
    type: OptionalText = None
    payload: _AttachmentPayload | None = None


class _Subscriber(_Lenient):
    id: Annotated[StrictStr | StrictInt, Field(description="ManyChat subscriber id")]
    name: OptionalText = None
    first_name: OptionalText = None
    last_name: OptionalText = None
    ig_username: OptionalText = None

    @field_validator("id")
    @classmethod
    def _usable_id(cls, value: str | int) -> str | int:
        text = str(value).strip()
        if not text:
            raise ValueError("must not be empty")
        if PLACEHOLDER.search(text):
            # Every fan would become this one contact: refuse, and say where to look.
            raise ValueError(
                f"is the unfilled ManyChat variable {text!r}: in the External Request body, "
                "insert the Contact Id field from the variable menu (or send Full Contact Data)"
            )
        if len(text) > MAX_EXTERNAL_ID_CHARS:
            raise ValueError(f"must be at most {MAX_EXTERNAL_ID_CHARS} characters")
        if CONTROL.search(text):
            # An id is typed by operators and printed in log lines: no hidden characters.
            raise ValueError(
                "contains control characters (a newline, tab or similar); send ManyChat's "
                "Contact Id field as it is"
            )
        return value

    @property
    def display_name(self) -> str | None:
        name = _filled(self.name)
        if not name:
            parts = [p for p in (_filled(self.first_name), _filled(self.last_name)) if p]
            name = " ".join(parts)
        return " ".join(CONTROL.sub(" ", name).split())[:MAX_NAME_CHARS] or None if name else None

    @property
    def username(self) -> str | None:
        handle = CONTROL.sub("", _filled(self.ig_username) or "").strip().removeprefix("@")
        return handle[:MAX_USERNAME_CHARS] or None


def _filled(value: str | None) -> str | None:
    """A field's value, or None when it is an unfilled ManyChat variable."""
    if value is None or PLACEHOLDER.fullmatch(value.strip()):
        return None
    return value


class _Body(_Lenient):
    subscriber: _Subscriber | None = None
    last_input_text: OptionalText = None
    text: OptionalText = None
    message: _TextHolder | None = None
    last_message: _TextHolder | None = None
    story_reply: _TextHolder | None = None
    story_mention: _TextHolder | None = None
    attachment: _Attachment | None = None


def _problems(exc: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"] if not str(part).startswith("function"))
        where = f"{prefix}{where}" if where else prefix.rstrip(".") or "body"
        got = type(err.get("input")).__name__ if "input" in err else None
        message = err["msg"].removeprefix("Value error, ")
        shown = {"dict": "object", "list": "array", "NoneType": "null", "str": "string"}
        out.append(f"{where}: {message}" + (f" (got {shown.get(got, got)})" if got else ""))
    return out


def _refusal(problems: list[str]) -> PayloadError:
    if any("unfilled ManyChat variable" in problem for problem in problems):
        return PayloadError(problems, MISCONFIGURED)
    return PayloadError(problems)


def parse(payload: Any, received_at: datetime) -> Inbound:
    """Read either body shape into an Inbound; PayloadError says exactly what is wrong."""
    if not isinstance(payload, dict):
        raise PayloadError(["the body must be a JSON object with a subscriber"])
    try:
        body = _Body.model_validate(payload)
    except ValidationError as exc:
        raise _refusal(_problems(exc)) from exc
    subscriber = body.subscriber
    if subscriber is None:
        # "Full Contact Data": the subscriber's fields sit at the top level.
        if "id" not in payload:
            raise PayloadError(
                [
                    'subscriber.id: field required — send {"subscriber": {"id": …}, '
                    '"last_input_text": …} or ManyChat\'s Full Contact Data'
                ]
            )
        try:
            subscriber = _Subscriber.model_validate(payload)
        except ValidationError as exc:
            raise _refusal(_problems(exc)) from exc

    text = next(
        (
            candidate
            for candidate in (
                body.last_input_text,
                body.text,
                body.message.text if body.message else None,
                body.last_message.text if body.last_message else None,
                body.story_reply.text if body.story_reply else None,
                body.story_mention.text if body.story_mention else None,
            )
            if candidate and candidate.strip()
        ),
        None,
    )
    if text is not None and PLACEHOLDER.fullmatch(text.strip()):
        raise PayloadError(
            [
                f"last_input_text: is the unfilled ManyChat variable {text.strip()!r}: insert "
                "Last Text Input from the variable menu"
            ],
            MISCONFIGURED,
        )
    attachment = body.attachment
    url = attachment.payload.url if attachment and attachment.payload else None
    kind, clean, media_url, notes = classify(
        text=text,
        attachment_type=attachment.type if attachment else None,
        attachment_url=url.strip()[:MAX_MEDIA_URL_CHARS] or None if url else None,
        story_reply=body.story_reply is not None,
        story_mention=body.story_mention is not None,
    )
    return Inbound(
        channel=CHANNEL,
        contact_external_id=str(subscriber.id).strip(),
        kind=kind,
        text=clean,
        received_at=received_at,
        contact_name=subscriber.display_name,
        contact_username=subscriber.username,
        media_url=media_url,
        notes=notes,
    )


def render_flat(decision: Decision) -> dict[str, Any]:
    """The flat JSON ManyChat maps into custom fields ($.response, $.should_send, …)."""
    return {
        "should_send": decision.should_send,
        "response": decision.text if decision.should_send else "",
        "stage": decision.stage,
        "should_stop": decision.should_stop,
        "delay_seconds": decision.delay_seconds,
        "reason": decision.reason.value if decision.reason else None,
    }


def render_dynamic(decision: Decision) -> dict[str, Any]:
    """Instagram Dynamic Block v2: ManyChat sends these messages itself (no Send block!)."""
    messages = [{"type": "text", "text": decision.text}] if decision.should_send else []
    return {
        "version": "v2",
        "content": {
            "type": "instagram",
            "messages": messages,
            "actions": [],
            "quick_replies": [],
        },
    }
