"""Inbound messages: what a contact sent, normalised into a typed event before use."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_TEXT_CHARS = 4000  # Instagram caps DMs at 1000 chars; anything longer is not a human message.
# Stored lengths. ManyChat's name fields are free text its users type, so a longer name is
# cut, never refused (refusing would lose the message); the same for usernames and links.
MAX_NAME_CHARS = 200
MAX_USERNAME_CHARS = 100
MAX_MEDIA_URL_CHARS = 2048
MAX_EXTERNAL_ID_CHARS = 128  # an identity: a longer one is refused, cutting it would merge fans


class InboundKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    VOICE = "voice"
    STICKER = "sticker"  # stickers, likes, hearts, GIFs
    SHARE = "share"  # a shared post or reel
    FILE = "file"
    STORY_REPLY = "story_reply"
    STORY_MENTION = "story_mention"
    MEDIA = "media"  # a CDN link whose type the platform did not say
    EMPTY = "empty"


# Platform attachment types → our kinds. Unknown types fall back to FILE.
ATTACHMENT_KINDS: dict[str, InboundKind] = {
    "image": InboundKind.IMAGE,
    "photo": InboundKind.IMAGE,
    "video": InboundKind.VIDEO,
    "audio": InboundKind.VOICE,
    "voice": InboundKind.VOICE,
    "file": InboundKind.FILE,
    "sticker": InboundKind.STICKER,
    "like_heart": InboundKind.STICKER,
    "like": InboundKind.STICKER,
    "animated_image": InboundKind.STICKER,
    "gif": InboundKind.STICKER,
    "share": InboundKind.SHARE,
    "ig_reel": InboundKind.SHARE,
    "reel": InboundKind.SHARE,
    "ig_post": InboundKind.SHARE,
    "story_mention": InboundKind.STORY_MENTION,
    "story_reply": InboundKind.STORY_REPLY,
}

# Instagram media arrives as links on Meta's CDNs; such a link is a photo, not words.
_MEDIA_URL = re.compile(
    r"https?://(?:lookaside\.fbsbx\.com/ig_messaging_cdn|cdn\.fbsbx\.com|"
    r"scontent[\w.-]*\.(?:cdninstagram\.com|fbcdn\.net)|[\w.-]*\.cdninstagram\.com)\S*",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
_NEWLINES = re.compile(r"\n{3,}")
_KEEP_CONTROLS = {"\n"}


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a contact, as the engine sees it: clean text plus a kind."""

    channel: str
    contact_external_id: str
    kind: InboundKind
    text: str
    received_at: datetime
    contact_name: str | None = None
    contact_username: str | None = None
    media_url: str | None = None
    external_message_id: str | None = None  # a platform message id (Meta's mid), when there is one
    source: str | None = None  # where the contact came from (an ad, an ig.me link), when said
    notes: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return self.kind is InboundKind.EMPTY

    def dedup_key(self) -> str | None:
        """What makes two deliveries 'the same message'. None: never deduplicated."""
        if self.is_empty:
            return None
        if self.external_message_id:
            return message_key(self.external_message_id)
        basis = f"{self.kind}:{comparable_text(self.text)}:{self.media_url or ''}"
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:40]


def message_key(mid: str) -> str:
    """The dedup key of a platform message id: the same for a message and its later
    deletion, reaction or echo."""
    return hashlib.sha256(f"mid:{mid}".encode()).hexdigest()[:40]


def scrub(value: Any) -> Any:
    """Every string in a decoded JSON value (keys too) without lone UTF-16 surrogates or NUL
    bytes: no database, model API or log line downstream can choke on them.

    The JSON decoder turns a `\\ud800` escape into a lone surrogate; PostgreSQL refuses NUL
    in text. Applied once, where a body enters.
    """
    if isinstance(value, str):
        return _UNSAFE.sub("", value)
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def sanitize_text(raw: str) -> str:
    """Remove what no model API or database should see: lone surrogates, control characters.

    Valid surrogate pairs were already joined by the JSON decoder, so any surrogate code
    point left in a Python string is a lone half and is dropped.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    cleaned = []
    for ch in text:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            continue
        if unicodedata.category(ch) == "Cc" and ch not in _KEEP_CONTROLS:
            continue
        cleaned.append(ch)
    text = unicodedata.normalize("NFC", "".join(cleaned))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _NEWLINES.sub("\n\n", text).strip()
    return text[:MAX_TEXT_CHARS]


def comparable_text(text: str) -> str:
    """Case- and spacing-insensitive form used to recognise the same words twice."""
    return " ".join(text.casefold().split())


def split_media_urls(text: str) -> tuple[str, str | None]:
    """Pull Meta CDN links out of the text: (remaining words, first media link)."""
    urls = _MEDIA_URL.findall(text)
    if not urls:
        return text, None
    return sanitize_text(_MEDIA_URL.sub(" ", text)), urls[0]


def classify(
    *,
    text: str | None,
    attachment_type: str | None = None,
    attachment_url: str | None = None,
    story_reply: bool = False,
    story_mention: bool = False,
) -> tuple[InboundKind, str, str | None, tuple[str, ...]]:
    """Decide what a raw message is. Returns (kind, clean text, media url, notes)."""
    notes: list[str] = []
    clean = sanitize_text(text or "")
    if text and clean != text.strip():
        notes.append("sanitized")
    clean, cdn_url = split_media_urls(clean)
    media_url = attachment_url or cdn_url
    if cdn_url:
        notes.append("media_url_in_text")

    if story_mention:
        kind = InboundKind.STORY_MENTION
    elif story_reply:
        kind = InboundKind.STORY_REPLY
    elif attachment_type:
        kind = ATTACHMENT_KINDS.get(attachment_type.strip().lower(), InboundKind.FILE)
        if clean and kind not in (InboundKind.STORY_REPLY, InboundKind.STORY_MENTION):
            notes.append(f"attachment:{kind}")
            kind = InboundKind.TEXT
    elif clean:
        kind = InboundKind.TEXT
    elif cdn_url:
        kind = InboundKind.MEDIA
    else:
        kind = InboundKind.EMPTY
    return kind, clean, media_url, tuple(notes)


def describe(kind: InboundKind, text: str) -> str:
    """How an inbound reads in a transcript, so a brain can answer a photo or a voice note."""
    labels = {
        InboundKind.IMAGE: "[sent a photo]",
        InboundKind.VIDEO: "[sent a video]",
        InboundKind.VOICE: "[sent a voice message]",
        InboundKind.STICKER: "[sent a sticker]",
        InboundKind.SHARE: "[shared a post]",
        InboundKind.FILE: "[sent a file]",
        InboundKind.MEDIA: "[sent a photo or video]",
        InboundKind.STORY_MENTION: "[mentioned you in their story]",
        InboundKind.STORY_REPLY: "[replied to your story]",
    }
    label = labels.get(kind)
    if label and text:
        return f"{label} {text}"
    return label or text
