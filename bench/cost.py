"""What 1,000 replies cost on each model dmpilot knows, from the prompts it really builds.

    python bench/cost.py [--persona FILE] [--contacts 40]

Runs a simulated history (the demo's fans, through the real engine) with a brain that
records every request the engine makes and answers with the scripted brain's lines. Each
request is then priced per model: the stable persona prefix, the per-turn block, the
transcript and the reply, in tokens estimated from characters (no tokenizer runs
offline; brains/models.py holds each model's characters per token). The prefix is billed
as a cache read when the model caches a prefix that long, else at the input price.
Peak memory is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dmpilot.brains import BrainReply, BrainRequest, ProbeResult, ScriptedBrain
from dmpilot.brains.models import MODELS, ModelFacts
from dmpilot.demo import demo_system, run_demo
from dmpilot.personas import load_persona
from dmpilot.settings import Settings
from dmpilot.store import Store


@dataclass(frozen=True, slots=True)
class Call:
    prefix_chars: int
    variable_chars: int  # the turn block and the transcript: never cached
    output_chars: int


@dataclass
class RecordingBrain:
    """The scripted brain's answers; every request the engine makes, written down."""

    inner: ScriptedBrain
    calls: list[Call] = field(default_factory=list)
    name: str = "recording"
    checks_broadcast: bool = False

    async def generate(self, request: BrainRequest) -> BrainReply:
        reply = await self.inner.generate(request)
        prompt = request.prompt
        transcript = sum(len(text) for _, text in prompt.transcript)
        self.calls.append(
            Call(len(prompt.persona_block), len(prompt.turn_block) + transcript, len(reply.text))
        )
        return reply

    async def probe(self, timeout_seconds: float) -> ProbeResult:
        return await self.inner.probe(timeout_seconds)

    async def aclose(self) -> None:
        await self.inner.aclose()


def cost_per_reply(call: Call, facts: ModelFacts, cache: bool = True) -> tuple[float, bool]:
    """US$ for one call, and whether its prefix is long enough for the model to cache.

    A model whose minimum is not published is assumed to cache the prefix; `cache=False`
    prices every prefix at the input price, the bound when nothing is ever read back.
    """
    per_token = 1 / facts.chars_per_token / 1_000_000
    prefix = call.prefix_chars * per_token
    cached = cache and (
        facts.min_cache_tokens is None
        or call.prefix_chars / facts.chars_per_token >= facts.min_cache_tokens
    )
    prefix_price = facts.cache_read_per_mtok if cached else facts.input_per_mtok
    dollars = (
        prefix * prefix_price
        + call.variable_chars * per_token * facts.input_per_mtok
        + call.output_chars * per_token * facts.output_per_mtok
    )
    return dollars, cached


async def simulate(persona: Path | None, contacts: int) -> tuple[list[Call], int]:
    with tempfile.TemporaryDirectory(prefix="dmpilot-cost-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'cost.db'}"
        store = Store.open(url, pool_size=1)
        settings = Settings(database_url=url, persona=persona)
        system = demo_system(store, settings, datetime(2026, 11, 2, 9))
        brain = RecordingBrain(ScriptedBrain(seed=7))
        system.given_brain = brain
        try:
            outcomes = await run_demo(system, contacts=contacts)
        finally:
            await system.aclose()
        return brain.calls, outcomes["sent"] + outcomes["cap"] + outcomes["converted"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persona", type=Path, default=None)
    parser.add_argument("--contacts", type=int, default=40)
    args = parser.parse_args()
    load_persona(args.persona)  # a bad file fails here, with the loader's message
    calls, replies = asyncio.run(simulate(args.persona, args.contacts))
    if not calls:
        raise SystemExit("no model calls were made: nothing to price")

    prefix = statistics.mean(c.prefix_chars for c in calls)
    variable = statistics.mean(c.variable_chars for c in calls)
    output = statistics.mean(c.output_chars for c in calls)
    drafts = len(calls) / max(replies, 1)
    print(f"{len(calls)} model calls for {replies} replies ({drafts:.2f} drafts per reply)")
    print(
        f"per call: persona prefix {prefix:,.0f} chars, turn block + transcript "
        f"{variable:,.0f} chars, reply {output:,.0f} chars"
    )
    print()
    print(
        f"{'model':<20} {'prefix tok':>10} {'cached':>7} {'US$ / 1,000 replies':>20} "
        f"{'never cached':>13}"
    )
    for name, facts in MODELS.items():
        priced = [cost_per_reply(call, facts) for call in calls]
        per_reply = sum(dollars for dollars, _ in priced) / max(replies, 1)
        uncached = sum(cost_per_reply(call, facts, cache=False)[0] for call in calls)
        cached = sum(1 for _, hit in priced if hit) / len(priced)
        print(
            f"{name:<20} {prefix / facts.chars_per_token:>10,.0f} {cached:>7.0%} "
            f"{per_reply * 1000:>20.3f} {uncached / max(replies, 1) * 1000:>13.3f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
