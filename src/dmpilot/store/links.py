"""Tracked links: recording a click on a token dmpilot issued."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from dmpilot.domain.follow_ups import FollowUpCancel
from dmpilot.store.follow_ups import cancel_follow_up
from dmpilot.store.schema import link_clicks, link_tokens


class Links:
    __slots__ = ("db",)

    def __init__(self, db: Connection) -> None:
        self.db = db

    def record_click(self, token: str, now: datetime, user_agent: str | None) -> bool:
        """Record a click on a tracked link; False for a token dmpilot never issued. The
        contact followed the link: no nudge follows."""
        contact_id = self.db.scalar(
            select(link_tokens.c.contact_id).where(link_tokens.c.token == token)
        )
        if contact_id is None:
            return False
        self.db.execute(
            link_clicks.insert().values(
                token=token, clicked_at=now, user_agent=(user_agent or "")[:200] or None
            )
        )
        cancel_follow_up(self.db, contact_id, FollowUpCancel.LINK_CLICKED, now)
        return True
