"""Persistence: the schema, migrations and every query. No SQL lives outside this package."""

from dmpilot.store.store import (
    CommitKind,
    ControlState,
    Recorded,
    Store,
    TurnCommit,
    TurnRejected,
)

__all__ = ["CommitKind", "ControlState", "Recorded", "Store", "TurnCommit", "TurnRejected"]
