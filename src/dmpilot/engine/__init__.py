"""The engine: the one place a turn is orchestrated (core.py), composing replies
(compose.py) with its configuration and clock (config.py)."""

from dmpilot.engine.config import EngineConfig, utcnow
from dmpilot.engine.core import Engine

__all__ = ["Engine", "EngineConfig", "utcnow"]
