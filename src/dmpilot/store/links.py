"""Tracked links: recording a click on a token dmpilot issued."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from dmpilot.store.schema import link_clicks, link_tokens


class Links:
    __slots__ = ("db",)

    def __init__(self, db: Connection) -> None:
        self.db = db

    def record_click(self, token: str, now: datetime, user_agent: str | None) -> bool:
        """Record a click on a tracked link; False for a token dmpilot never issued."""
        known = self.db.scalar(select(link_tokens.c.token).where(link_tokens.c.token == token))
        if known is None:
            return False
        self.db.execute(
            link_clicks.insert().values(
                token=token, clicked_at=now, user_agent=(user_agent or "")[:200] or None
            )
        )
        return True
