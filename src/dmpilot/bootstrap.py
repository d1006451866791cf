"""The one composition root: settings in, a wired system out.

The web app's lifespan, every CLI command, the demo, the evaluation and the tests build
dmpilot here; tests pass fakes as keyword overrides (`bootstrap(settings, brain=…,
clock=…)`). Parts are built on first use, so a read-only command never builds a brain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TypeVar

from anyio import to_thread

from dmpilot.brains import Brain, build_brain
from dmpilot.domain.persona import Persona
from dmpilot.domain.ports import Clock, RandomSource, Sender
from dmpilot.engine import Engine, EngineConfig
from dmpilot.personas import load_persona
from dmpilot.runtime import SystemClock, SystemRandom
from dmpilot.settings import Settings
from dmpilot.store import ReadUnit, Store
from dmpilot.worker import Chore, Worker

T = TypeVar("T")


@dataclass
class System:
    settings: Settings
    run_migrations: bool = True
    # Overrides: when given, used instead of what the settings would build.
    given_persona: Persona | None = None
    given_store: Store | None = None
    given_clock: Clock | None = None
    given_random: RandomSource | None = None
    given_brain: Brain | None = None
    given_senders: Mapping[str, Sender] | None = None
    given_config: EngineConfig | None = None

    @cached_property
    def persona(self) -> Persona:
        return self.given_persona or load_persona(self.settings.persona)

    @cached_property
    def store(self) -> Store:
        if self.given_store is not None:
            return self.given_store
        return Store.open(
            self.settings.database_url,
            run_migrations=self.run_migrations,
            pool_size=self.settings.pool_size,
        )

    @cached_property
    def clock(self) -> Clock:
        return self.given_clock or SystemClock()

    @cached_property
    def random(self) -> RandomSource:
        return self.given_random or SystemRandom()

    @cached_property
    def brain(self) -> Brain:
        return self.given_brain or build_brain(self.settings)

    @cached_property
    def senders(self) -> dict[str, Sender]:
        if self.given_senders is not None:
            return dict(self.given_senders)
        senders: dict[str, Sender] = {}
        key = self.settings.manychat_api_key
        if key is not None:
            from dmpilot.channels.manychat_api import ManyChatSender

            senders["manychat"] = ManyChatSender(
                key.get_secret_value(),
                self.settings.manychat_api_url,
                timeout_seconds=self.settings.manychat_timeout_seconds,
            )
        settings = self.settings
        if settings.instagram and settings.meta_access_token and settings.meta_account_id:
            from dmpilot.channels.instagram_api import InstagramSender

            senders["instagram"] = InstagramSender(
                settings.meta_access_token.get_secret_value(),
                settings.meta_account_id,
                settings.meta_graph_url,
                timeout_seconds=settings.meta_timeout_seconds,
                typing_seconds=self.persona.typing_seconds,
            )
        return senders

    @cached_property
    def config(self) -> EngineConfig:
        return self.given_config or EngineConfig.from_settings(self.settings)

    @cached_property
    def engine(self) -> Engine:
        return Engine(
            self.store,
            self.brain,
            self.persona,
            self.config,
            clock=self.clock,
            random=self.random,
            senders=self.senders,
        )

    @cached_property
    def chores(self) -> list[Chore]:
        """The worker's periodic housekeeping, from the settings (each chore is safe to
        run in every process at once)."""
        chores: list[Chore] = []
        if self.settings.alerts_configured:
            from dmpilot.alerts.chore import build_alert_chore

            chores.append(
                build_alert_chore(self.settings, self.store, self.clock, self.persona.name)
            )
        if self.settings.retention_days is not None:
            from dmpilot.engine.privacy import RETENTION_EVERY_SECONDS, apply_retention

            run = partial(apply_retention, self.engine, self.settings.retention_days)
            chores.append(Chore("retention", RETENTION_EVERY_SECONDS, run))
        return chores

    @cached_property
    def worker(self) -> Worker:
        return Worker(
            self.engine,
            poll_seconds=self.settings.worker_poll_seconds,
            concurrency=self.settings.worker_concurrency,
            chores=self.chores,
        )

    async def read(self, work: Callable[[ReadUnit], T]) -> T:
        """Run a read model off the event loop (web routes, the console)."""

        def run() -> T:
            with self.store.reading() as unit:
                return work(unit)

        return await to_thread.run_sync(run)

    def built(self, part: str) -> bool:
        return part in self.__dict__

    async def aclose(self) -> None:
        """Close what was built: the worker, the brain's and senders' clients, the pool."""
        if self.built("worker"):
            await self.worker.stop()
        if self.built("engine"):
            await self.engine.drain()
        if self.built("brain"):
            await self.brain.aclose()
        if self.built("senders"):
            for sender in self.senders.values():
                await sender.aclose()
        self.close_store()

    def close_store(self) -> None:
        if self.built("store"):
            self.store.close()


def bootstrap(
    settings: Settings | None = None,
    *,
    run_migrations: bool = True,
    persona: Persona | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    random: RandomSource | None = None,
    brain: Brain | None = None,
    senders: Mapping[str, Sender] | None = None,
    config: EngineConfig | None = None,
) -> System:
    """Everything dmpilot is made of, from `settings` (default: the environment); any
    part given as a keyword is used instead of the one the settings would build."""
    return System(
        settings or Settings(),
        run_migrations,
        given_persona=persona,
        given_store=store,
        given_clock=clock,
        given_random=random,
        given_brain=brain,
        given_senders=senders,
        given_config=config,
    )
