"""Persistence: the schema, migrations and every query. No SQL lives outside this package."""

from dmpilot.store.store import ControlState, Recorded, Store, TurnCommit, TurnRejected

__all__ = ["ControlState", "Recorded", "Store", "TurnCommit", "TurnRejected"]
