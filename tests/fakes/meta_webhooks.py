"""Meta's Instagram webhook payloads, shaped like the documented examples, and their
signatures: what Meta would POST to /webhooks/instagram.

    body = batch(message("ig-1", "hi", mid="m1"), reaction("ig-1", "m0"))
    client.post("/webhooks/instagram", content=body, headers=signed(body))
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from dmpilot.channels.instagram import sign

ACCOUNT_ID = "17841400000000001"
APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "verify-me-please"
ACCESS_TOKEN = "IGAAtest-access-token-0123456789"
TIMESTAMP = 1_763_900_000_000  # ms, as Meta sends it
_mids = itertools.count(1)

META_SETTINGS: dict[str, Any] = {
    "meta_app_secret": APP_SECRET,
    "meta_verify_token": VERIFY_TOKEN,
    "meta_access_token": ACCESS_TOKEN,
    "meta_account_id": ACCOUNT_ID,
}


def new_mid() -> str:
    return f"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAw{next(_mids):08d}"


def _item(sender: str, recipient: str, **event: Any) -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": TIMESTAMP,
        **event,
    }


def message(
    contact: str,
    text: str | None = None,
    *,
    mid: str | None = None,
    account: str = ACCOUNT_ID,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"mid": mid or new_mid(), **fields}
    if text is not None:
        body["text"] = text
    return _item(contact, account, message=body)


def attachment(
    contact: str,
    kind: str,
    url: str = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1",
    **kw: Any,
) -> dict[str, Any]:
    return message(contact, attachments=[{"type": kind, "payload": {"url": url}}], **kw)


def echo(contact: str, text: str, mid: str, account: str = ACCOUNT_ID) -> dict[str, Any]:
    """The account's own message coming back (sender: the account)."""
    return _item(account, contact, message={"mid": mid, "text": text, "is_echo": True})


def deleted(contact: str, mid: str) -> dict[str, Any]:
    return _item(contact, ACCOUNT_ID, message={"mid": mid, "is_deleted": True})


def unsupported(contact: str) -> dict[str, Any]:
    return _item(contact, ACCOUNT_ID, message={"mid": new_mid(), "is_unsupported": True})


def reaction(contact: str, mid: str, action: str = "react") -> dict[str, Any]:
    event = {"mid": mid, "action": action}
    if action == "react":
        event |= {"reaction": "love", "emoji": "\u2764\ufe0f"}
    return _item(contact, ACCOUNT_ID, reaction=event)


def seen(contact: str, mid: str) -> dict[str, Any]:
    return _item(contact, ACCOUNT_ID, read={"mid": mid})


def postback(contact: str, title: str, payload: str) -> dict[str, Any]:
    return _item(
        contact, ACCOUNT_ID, postback={"mid": new_mid(), "title": title, "payload": payload}
    )


def referral(contact: str, ad_id: str = "6045246247433", ref: str = "spring") -> dict[str, Any]:
    return _item(
        contact,
        ACCOUNT_ID,
        referral={"ref": ref, "ad_id": ad_id, "source": "ADS", "type": "OPEN_THREAD"},
    )


def batch(*items: dict[str, Any], per_entry: int = 1000) -> bytes:
    """One POST: the items split into entries of at most `per_entry` messaging items."""
    entries = [
        {"id": ACCOUNT_ID, "time": TIMESTAMP, "messaging": list(items[i : i + per_entry])}
        for i in range(0, len(items), per_entry)
    ]
    return json.dumps({"object": "instagram", "entry": entries}).encode()


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"}
