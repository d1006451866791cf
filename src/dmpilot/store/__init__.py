"""Persistence: the schema, migrations and every query. No SQL lives outside this package."""

from dmpilot.store.store import Store
from dmpilot.store.units import ReadUnit, WriteUnit

__all__ = ["ReadUnit", "Store", "WriteUnit"]
