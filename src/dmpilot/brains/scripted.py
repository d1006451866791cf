"""The offline brain: short persona-flavoured replies from a phrase bank.

The bank is the persona's own for the reply language, else the built-in one shipped for
that language (brains/phrases/<language>.yaml), so every supported language gets replies
in that language rather than the default language's (which the validator would reject).

Deterministic for a given seed, contact and turn, and it never repeats itself to a
contact: candidates that repeat an earlier reply (exactly or nearly) are passed over.
"""

from __future__ import annotations

import random
from functools import cache
from importlib import resources

import yaml

from dmpilot.brains.base import BrainExhausted, BrainReply, BrainRequest, ProbeResult
from dmpilot.domain.inbound import InboundKind
from dmpilot.domain.persona import Persona, PhraseBank, StageSpec
from dmpilot.domain.prompt import Purpose
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

BUILTIN_LANGUAGES = ("en", "fr", "es", "it", "de", "pt")
# Stage names belong to each persona, so the built-in banks key their lines by where a
# stage sits in the funnel instead: the non-link stages split in thirds, and link stages.
EARLY, MIDDLE, LATE, LINK = "early", "middle", "late", "link"
_THIRDS = (EARLY, MIDDLE, LATE)


@cache
def builtin_bank(language: str) -> PhraseBank | None:
    """The shipped phrase bank for `language` (stages keyed early/middle/late/link), if any."""
    if language not in BUILTIN_LANGUAGES:
        return None
    source = resources.files("dmpilot.brains").joinpath("phrases", f"{language}.yaml")
    return PhraseBank.model_validate(yaml.safe_load(source.read_text(encoding="utf-8")))


def stage_slot(persona: Persona, stage: StageSpec) -> str:
    """The built-in bank's key for `stage`: `link`, or its third among the non-link stages."""
    if stage.link_allowed:
        return LINK
    plain = [spec.name for spec in persona.stages if not spec.link_allowed]
    if stage.name not in plain:
        return MIDDLE  # not one of the persona's stages: neither an opener nor a pitch
    return _THIRDS[plain.index(stage.name) * len(_THIRDS) // len(plain)]


def phrase_bank(persona: Persona, language: str) -> PhraseBank | None:
    """The bank the scripted brain uses for `language`, stages keyed by the persona's names.

    The persona's own bank wins; stages it leaves without lines take the built-in lines
    (a stage without lines could never be answered). Without either for `language`, the
    default language's is used, as before built-in banks existed.
    """
    own = persona.phrases.get(language)
    builtin = builtin_bank(language)
    if own is None and builtin is None:
        own = persona.phrases.get(persona.default_language)
        builtin = builtin_bank(persona.default_language)
    if builtin is None:
        return own
    if own is not None and all(own.stages.get(spec.name) for spec in persona.stages):
        return own
    stages = {
        spec.name: builtin.stages.get(stage_slot(persona, spec), []) for spec in persona.stages
    }
    if own is None:
        return PhraseBank(openers=builtin.openers, media=builtin.media, stages=stages)
    return own.model_copy(update={"stages": stages | {k: v for k, v in own.stages.items() if v}})


def _filled(line: str, fill: dict[str, str]) -> str:
    return " ".join(line.format(**fill).split())


class ScriptedBrain:
    name = "scripted"
    checks_broadcast = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    async def generate(self, request: BrainRequest) -> BrainReply:
        if request.purpose is Purpose.EXIT:
            # Goodbyes come from the persona's own exit lines (the engine's fallback).
            raise BrainExhausted("the scripted brain writes no goodbyes")
        fill: dict[str, str] = {}
        if request.purpose is Purpose.NUDGE:
            lines = self.nudges(request)
        else:
            lines, fill = self._combos(request, self._bank(request))
        # Shuffled before they are filled in, and filled in one at a time: the first fresh
        # line is usually among the first few of a few hundred combinations.
        rng = random.Random(f"{self.seed}:{request.contact_id}:{len(request.recent_replies)}")
        rng.shuffle(lines)
        for line in lines:
            text = _filled(line, fill) if fill else line
            if text in request.rejected:
                continue
            if find_repeat(text, request.recent_replies) is None:
                return BrainReply(text=text, model="scripted")
        raise BrainExhausted(f"all {len(lines)} phrase combinations were already used")

    @staticmethod
    def _bank(request: BrainRequest) -> PhraseBank:
        bank = phrase_bank(request.persona, request.language)
        if bank is None:
            raise BrainExhausted(f"the persona has no phrase bank for {request.language!r}")
        return bank

    @staticmethod
    def candidates(request: BrainRequest, bank: PhraseBank) -> list[str]:
        """Every line the bank offers for this request, filled in."""
        combos, fill = ScriptedBrain._combos(request, bank)
        return [_filled(combo, fill) for combo in combos]

    @staticmethod
    def _combos(request: BrainRequest, bank: PhraseBank) -> tuple[list[str], dict[str, str]]:
        """The lines (an opener and a stage line, or a stage line alone) before their
        placeholders are filled, and what fills them."""
        persona = request.persona
        if request.stage in bank.stages:
            lines = bank.stages[request.stage]
        else:  # a customer: the gentlest lines the bank has, never a pitch
            plain = [spec.name for spec in persona.stages if not spec.link_allowed]
            lines = bank.stages.get(plain[-1] if plain else persona.stages[-1].name, [])
        with_link = [line for line in lines if "{link}" in line]
        if request.link_allowed and not with_link:
            # Asked for the link before a link stage: take the link stages' lines.
            with_link = [
                line
                for spec in persona.stages
                if spec.link_allowed
                for line in bank.stages.get(spec.name, [])
                if "{link}" in line
            ]
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
        return combos, fill

    @staticmethod
    def nudges(request: BrainRequest) -> list[str]:
        """Follow-up lines: the persona's nudge_lines, else its phrase bank's nudges, else
        the built-in ones, for the reply language."""
        persona, language = request.persona, request.language
        own = persona.phrases.get(language)
        builtin = builtin_bank(language)
        lines = (
            persona.nudge_lines.get(language)
            or (own.nudges if own is not None else [])
            or (builtin.nudges if builtin is not None else [])
        )
        name = (request.contact_name or "").split(" ")[0]
        return [" ".join(line.replace("{name}", name).split()) for line in lines]

    async def probe(self, timeout_seconds: float) -> ProbeResult:
        return ProbeResult.ok()

    async def aclose(self) -> None:
        return None
