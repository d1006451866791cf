"""Running scenarios through the real engine, each conversation in a database of its own.

The schema is migrated once into a template SQLite file in a temporary directory; each
conversation copies it, so conversations never share a contact, a broadcast window or an
anomaly guard, and can run side by side. The live database is never opened. Engine time
is a ManualClock started at a fixed date: the coalesce window and the lease polls advance
it instead of waiting, the fan's pauses are steps of it, and monotonic time stays real so
the reply budget and the latencies are the model's own.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from anyio import to_thread

from dmpilot import __version__
from dmpilot.audit.run import run_audit
from dmpilot.audit.stats import Prices
from dmpilot.bootstrap import bootstrap
from dmpilot.brains import Brain, ScriptedBrain
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.contacts import ContactRef, RefKind
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.domain.findings import Finding
from dmpilot.domain.inbound import Inbound, InboundKind, classify
from dmpilot.domain.persona import Persona
from dmpilot.engine import Engine, EngineConfig
from dmpilot.eval.conversation import Conversation, FanMessage, from_timeline
from dmpilot.eval.fan import Fan, ScriptedFan
from dmpilot.eval.kinds import Speaker
from dmpilot.eval.lines import attachment
from dmpilot.eval.outcomes import Judge
from dmpilot.eval.results import ConversationScore, Line, RunReport
from dmpilot.eval.scenario import Scenario, Step
from dmpilot.eval.scores import score, summarize
from dmpilot.runtime import ManualClock, SystemRandom, utcnow
from dmpilot.settings import Settings
from dmpilot.store import ReadUnit, Store

START = datetime(2026, 3, 2, 9, 0)  # fixed: two runs of one scenario see the same dates
CHANNEL = "eval"
# The fan's pause between messages when the scenario gives none: a few minutes, long past
# the dedup and coalesce windows, so each message is its own turn.
PAUSE_SECONDS = (60, 240)


class EvalError(Exception):
    """The evaluation could not run (the brain refused, a conversation crashed)."""


def eval_config(settings: Settings) -> EngineConfig:
    """The engine configured as the settings say, but answering inline (the runner is the
    webhook) with the time the live delivery mode gives a turn, and without tracked links."""
    config = EngineConfig.from_settings(settings)
    budget = config.reply_budget_seconds
    if settings.delivery_mode is not DeliveryMode.INLINE:
        budget = config.worker_budget_seconds  # push / hybrid: the worker's turn budget
    return replace(
        config,
        delivery=DeliveryMode.INLINE,
        reply_budget_seconds=budget,
        lease=max(config.lease, timedelta(seconds=budget + 5)),
        public_url=None,
    )


@dataclass
class Setup:
    settings: Settings
    persona: Persona
    brain: Brain
    fan: Fan = field(default_factory=ScriptedFan)
    repeat: int = 1
    concurrency: int = 4
    config: EngineConfig | None = None  # default: eval_config(settings)

    def engine_config(self) -> EngineConfig:
        return self.config or eval_config(self.settings)

    def brain_for(self, repeat: int) -> Brain:
        """Repeats of a scripted run draw other lines; a model is shared by every run."""
        if isinstance(self.brain, ScriptedBrain) and repeat > 1:
            return ScriptedBrain(seed=self.brain.seed + repeat - 1)
        return self.brain

    def prices(self, model: str) -> Prices:
        s = self.settings
        return Prices.for_model(model, s.price_input_per_mtok, s.price_output_per_mtok)


def _migrate(path: Path) -> None:
    Store.open(f"sqlite:///{path}").close()


def _groups(steps: Sequence[Step]) -> list[list[Step]]:
    groups: dict[int, list[Step]] = {}
    for step in steps:
        groups.setdefault(step.group, []).append(step)
    return list(groups.values())


def _inbound(scenario: Scenario, step: Step, text: str | None, at: datetime) -> tuple[Inbound, str]:
    """The message as a channel would hand it over, and how the timeline will show it."""
    kind, clean, media_url, notes = classify(text=text, attachment_type=attachment(step))
    inbound = Inbound(
        CHANNEL,
        f"eval-{scenario.id}",
        kind,
        clean,
        at,
        contact_name=scenario.fan.name,
        media_url=media_url,
        notes=notes,
    )
    shown = clean if kind is InboundKind.TEXT else f"[{kind.value}] {clean}".strip()
    return inbound, shown


class Conversing:
    """One scenario, run once, through an engine of its own over `database`."""

    def __init__(self, setup: Setup, scenario: Scenario, repeat: int, database: Path) -> None:
        self.setup = setup
        self.scenario = scenario
        self.repeat = repeat
        self.database = database
        self.config = setup.engine_config()
        self.clock = ManualClock(START)

    async def run(self) -> ConversationScore:
        store = Store.open(f"sqlite:///{self.database}", run_migrations=False, pool_size=2)
        try:
            system = bootstrap(
                self.setup.settings,
                store=store,
                persona=self.setup.persona,
                brain=self.setup.brain_for(self.repeat),
                clock=self.clock,
                random=SystemRandom(self.setup.settings.seed + self.repeat),
                config=self.config,
                senders={},
            )
            engine = system.engine
            sent = await self._talk(engine)
            judge = Judge(self.setup.persona, engine.links, self.config.similarity_threshold)
            conversation = await to_thread.run_sync(self._read, store, engine, sent)
        finally:
            store.close()
        outcomes = judge.judge(conversation, self.scenario.outcomes())
        return score(conversation, outcomes, judge, self.setup.prices, self.repeat)

    async def _talk(self, engine: Engine) -> list[FanMessage]:
        pause = random.Random(f"{self.scenario.id}:{self.repeat}")
        sent: list[FanMessage] = []
        seen: list[Line] = []  # the conversation as the fan sees it
        for group in _groups(self.scenario.steps()):
            self.clock.current += group[0].turn.quiet or timedelta(
                seconds=pause.randint(*PAUSE_SECONDS)
            )
            deliveries: list[Inbound] = []
            for step in group:  # a burst is written before any answer comes
                text = await self.setup.fan.write(step, self.scenario, seen)
                inbound, shown = _inbound(self.scenario, step, text, self.clock.current)
                sent.append(FanMessage(step, text, shown))
                seen.append(Line(speaker=Speaker.FAN, text=shown))
                deliveries += [inbound] * step.turn.redelivered
            # Copies and bursts arrive at once, as ManyChat's concurrent webhooks do.
            decisions = await asyncio.gather(
                *(engine.handle(ReceiveMessage(inbound)) for inbound in deliveries)
            )
            seen += [Line(speaker=Speaker.PERSONA, text=d.text) for d in decisions if d.should_send]
        await engine.drain()
        return sent

    def _read(self, store: Store, engine: Engine, sent: list[FanMessage]) -> Conversation:
        with store.reading() as reads:
            return self._conversation(reads, engine, sent)

    def _conversation(
        self, reads: ReadUnit, engine: Engine, sent: list[FanMessage]
    ) -> Conversation:
        contact = reads.find_contact(ContactRef(RefKind.EXTERNAL, f"eval-{self.scenario.id}"))
        if contact is None:  # nothing was ever stored
            return Conversation(self.scenario, tuple(sent), (), tuple(sent))
        info, entries = reads.timeline(contact.id)
        audit = run_audit(
            reads,
            self.setup.persona,
            self.clock.now(),
            links=engine.links,
            contact_id=contact.id,
            similarity_threshold=self.config.similarity_threshold,
        )
        findings: Counter[Finding] = Counter()
        for found in audit.by_contact:
            findings.update(found.counts)
        return from_timeline(self.scenario, sent, info, entries, findings)


async def run_eval(
    setup: Setup,
    scenarios: Sequence[Scenario],
    progress: Callable[[ConversationScore], None] | None = None,
) -> RunReport:
    """Every scenario `setup.repeat` times; `progress` hears of each conversation done.
    Raises EvalError naming the scenario when a conversation cannot run."""
    started, clock = utcnow(), time.perf_counter()
    limit = asyncio.Semaphore(max(1, setup.concurrency))
    with tempfile.TemporaryDirectory(prefix="dmpilot-eval-") as workdir:
        template = Path(workdir) / "template.db"
        await to_thread.run_sync(_migrate, template)

        async def one(scenario: Scenario, repeat: int) -> ConversationScore:
            async with limit:
                database = Path(workdir) / f"{scenario.id}.{repeat}.db"
                shutil.copyfile(template, database)
                try:
                    result = await Conversing(setup, scenario, repeat, database).run()
                except Exception as exc:
                    raise EvalError(
                        f"scenario {scenario.id} (run {repeat}) failed: {type(exc).__name__}: {exc}"
                    ) from exc
            if progress is not None:
                progress(result)
            return result

        # A task group: one conversation failing cancels the others before their
        # databases are removed.
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(one(s, r))
                    for r in range(1, setup.repeat + 1)
                    for s in scenarios
                ]
        except* EvalError as failed:
            raise failed.exceptions[0] from None
    conversations = [task.result() for task in tasks]
    brain = setup.brain
    return RunReport(
        dmpilot=__version__,
        started_at=started,
        seconds=round(time.perf_counter() - clock, 2),
        brain=brain.name,
        model=getattr(brain, "model", None),
        persona=setup.persona.name,
        fan=setup.fan.name,
        fan_fallbacks=setup.fan.failures,
        repeat=setup.repeat,
        summary=summarize(conversations),
        conversations=sorted(conversations, key=lambda c: (c.scenario, c.repeat)),
    )
