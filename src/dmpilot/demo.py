"""A realistic simulated history through the real engine: `dmpilot demo`.

Sixty fans write in English or French: funnels run to their goodbye, some send photos,
stickers and voice notes, some ask whether this is a bot, ManyChat retries deliveries,
two opt out and one says they are sixteen. Demo contacts live on their own channel
("demo"), so a database holding real contacts is never mixed with them.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from dmpilot.bootstrap import System, bootstrap
from dmpilot.brains import ScriptedBrain
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.decision import Decision
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.domain.inbound import Inbound, classify
from dmpilot.engine import EngineConfig
from dmpilot.runtime import ManualClock, SystemRandom
from dmpilot.settings import Settings
from dmpilot.store import Store

CHANNEL = "demo"
TALK = {
    "en": [
        "hey! love your photos",
        "I'm from Lyon, and you?",
        "mostly my phone honestly",
        "last trip was Portugal, so good",
        "mountains for sure",
        "I edit a little in Lightroom",
        "the light in your feed is amazing",
        "how do you get those colours?",
        "ooh that sounds useful",
        "maybe I'll try them",
        "thanks for the chat!",
        "have a nice day",
        "see you!",
    ],
    "fr": [
        "coucou ! j'adore tes photos",
        "je suis de Lyon et toi ?",
        "surtout avec mon téléphone",
        "mon dernier voyage c'était le Portugal",
        "plutôt montagne",
        "je retouche un peu sur Lightroom",
        "la lumière de ton feed est incroyable",
        "comment tu fais ces couleurs ?",
        "ah ça a l'air pratique",
        "je vais peut-être essayer",
        "merci pour la discussion !",
        "bonne journée",
        "à bientôt !",
    ],
}
PHOTO = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=4242&signature=demo"


def _inbound(contact: str, name: str, text: str | None, at: datetime, **media: str) -> Inbound:
    kind, clean, url, notes = classify(
        text=text,
        attachment_type=media.get("attachment_type"),
        attachment_url=media.get("attachment_url"),
    )
    return Inbound(
        CHANNEL,
        contact,
        kind,
        clean,
        at,
        contact_name=name,
        contact_username=contact.lower(),
        media_url=url,
        notes=notes,
    )


def demo_system(store: Store, settings: Settings, start: datetime, seed: int = 7) -> System:
    config = EngineConfig(
        dedup_window=timedelta(seconds=30),
        coalesce_seconds=0,
        reply_budget_seconds=30,
        lease=timedelta(seconds=60),
        history_messages=20,
        daily_new_conversations=10_000,
        delivery=DeliveryMode.INLINE,
    )
    return bootstrap(
        settings,
        store=store,
        brain=ScriptedBrain(seed=seed),
        clock=ManualClock(start),
        random=SystemRandom(seed),
        config=config,
    )


async def run_demo(system: System, contacts: int = 60, seed: int = 7) -> Counter[str]:
    rng = random.Random(seed)
    clock = system.clock
    if not isinstance(clock, ManualClock):
        raise TypeError("run_demo needs the ManualClock of demo_system()")
    start = clock.current
    engine = system.engine
    outcomes: Counter[str] = Counter()

    async def say(contact: str, name: str, text: str | None, **media: str) -> Decision:
        clock.current += timedelta(minutes=rng.randint(1, 9), seconds=rng.randint(0, 59))
        inbound = _inbound(contact, name, text, clock.current, **media)
        decision = await engine.handle(ReceiveMessage(inbound))
        outcomes[decision.reason.value if decision.reason else "sent"] += 1
        return decision

    for index in range(contacts):
        language = "fr" if index % 3 == 2 else "en"
        contact, name = f"fan{index:03d}", f"Fan {index}"
        clock.current = start + timedelta(hours=index * 1.2)
        lines = TALK[language]
        for turn, line in enumerate(lines):
            if index == 5 and turn == 3:
                await say(contact, name, "wait, are you a bot?")
            if index == 8 and turn == 2:
                await say(contact, name, "t'es un robot ?" if language == "fr" else "are you real?")
            if index % 7 == 1 and turn == 1:
                await say(contact, name, PHOTO)
            if index % 11 == 3 and turn == 4:
                await say(contact, name, None, attachment_type="sticker")
            if index % 13 == 4 and turn == 2:
                await say(contact, name, None, attachment_type="audio")
            if index in (12, 31) and turn == 5:
                await say(contact, name, "please stop messaging me")
                break
            if index == 20 and turn == 3:
                await say(contact, name, "I'm 16 btw")
            decision = await say(contact, name, line)
            if index % 9 == 0:  # ManyChat delivers some messages twice
                clock.current += timedelta(seconds=2)
                again = await engine.handle(
                    ReceiveMessage(_inbound(contact, name, line, clock.current))
                )
                outcomes[again.reason.value if again.reason else "sent"] += 1
            if decision.should_stop:
                break
    return outcomes
