"""The engine: commands in (domain/commands.py), decisions out. `Engine.handle` dispatches;
receive.py tells the story of a message, turn.py of a turn under the lease, deliver.py of
the outbox, operator.py of what operators ask."""

from dmpilot.engine.config import EngineConfig
from dmpilot.engine.core import DeliveryReport, Engine, Turn

__all__ = ["DeliveryReport", "Engine", "EngineConfig", "Turn"]
