"""The offline brain: short persona-flavoured replies from the persona's phrase bank.

Deterministic for a given seed, contact and turn, and it never repeats itself to a
contact: candidates that repeat an earlier reply (exactly or nearly) are passed over.
"""

from __future__ import annotations

import random

from dmpilot.brains.base import BrainExhausted, BrainReply, BrainRequest
from dmpilot.domain.inbound import InboundKind
from dmpilot.domain.persona import PhraseBank
from dmpilot.domain.repetition import find_repeat

_MEDIA_GROUPS = {
    InboundKind.IMAGE: "image",
    InboundKind.VIDEO: "image",
    InboundKind.MEDIA: "image",
    InboundKind.SHARE: "share",
    InboundKind.VOICE: "voice",
    InboundKind.STICKER: "sticker",
    InboundKind.STORY_REPLY: "story",
    InboundKind.STORY_MENTION: "story",
    InboundKind.FILE: "share",
}


class ScriptedBrain:
    name = "scripted"
    checks_broadcast = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    async def generate(self, request: BrainRequest) -> BrainReply:
        bank = self._bank(request)
        candidates = self.candidates(request, bank)
        rng = random.Random(f"{self.seed}:{request.contact_id}:{len(request.recent_replies)}")
        rng.shuffle(candidates)
        for text in candidates:
            if text in request.rejected:
                continue
            if find_repeat(text, request.recent_replies) is None:
                return BrainReply(text=text, model="scripted")
        raise BrainExhausted(f"all {len(candidates)} phrase combinations were already used")

    @staticmethod
    def _bank(request: BrainRequest) -> PhraseBank:
        phrases = request.persona.phrases
        bank = phrases.get(request.language) or phrases.get(request.persona.default_language)
        if bank is None:
            raise BrainExhausted(f"the persona has no phrase bank for {request.language!r}")
        return bank

    @staticmethod
    def candidates(request: BrainRequest, bank: PhraseBank) -> list[str]:
        lines = bank.stages.get(request.stage.name, [])
        with_link = [line for line in lines if "{link}" in line]
        if request.link_allowed and with_link:
            lines = with_link
        else:
            lines = [line for line in lines if "{link}" not in line]
        latest = request.pending[-1] if request.pending else None
        group = _MEDIA_GROUPS.get(InboundKind(latest.kind)) if latest else None
        leads = bank.media.get(group, []) if group else []
        leads = leads or bank.openers
        combos = [f"{lead} {line}" for lead in leads for line in lines] + list(lines)
        name = (request.contact_name or "").split(" ")[0]
        fill = {
            "name": name,
            "link": str(request.persona.link.url),
            "platform": request.persona.link.platform,
        }
        return [" ".join(combo.format(**fill).split()) for combo in combos]

    async def aclose(self) -> None:
        return None
