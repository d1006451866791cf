"""The Persona: a creator's voice, story, offer, boundaries, languages, funnel, link and
exits, as validated data. Schema v2 adds backstory, offer facts and FAQ, boundaries,
examples per stage, written exits and the customer stage; every v1 file still loads."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dmpilot.domain.delivery import MESSAGING_WINDOW

T = TypeVar("T")
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code, e.g. en")]


MAX_TYPING_SECONDS = 10.0  # typing_seconds: a pause, not a wait a worker notices
# A nudge goes out at least this long before Meta's 24-hour window closes: room for the
# reply's pacing delay, the outbox's rate and a worker that was briefly down.
FOLLOW_UP_MARGIN = timedelta(hours=1)
MAX_FOLLOW_UP_HOURS = (MESSAGING_WINDOW - FOLLOW_UP_MARGIN) / timedelta(hours=1)
DEFAULT_FOLLOW_UP_HOURS = 20.0  # the value the docs and the example persona use


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exchange(_Strict):
    """One example of how the persona answers: a fan's message and the persona's reply."""

    fan: str = Field(min_length=1)
    reply: str = Field(min_length=1)


class StageSpec(_Strict):
    """One funnel stage: how many replies the contact gets in it, and how to talk there."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    max_replies: Annotated[int, Field(ge=1, le=100)]
    instructions: str = ""
    link_allowed: bool = False
    examples: list[Exchange] = Field(default_factory=list)
    # After a reply in this stage, a contact quiet this many hours gets one nudge; None: no
    # follow-up after this stage's replies.
    follow_up_hours: Annotated[float, Field(allow_inf_nan=False, strict=True)] | None = None

    @field_validator("follow_up_hours")
    @classmethod
    def _inside_the_window(cls, hours: float | None) -> float | None:
        if hours is not None and not 0 < hours <= MAX_FOLLOW_UP_HOURS:
            raise ValueError(
                f"follow_up_hours must be more than 0 and at most {MAX_FOLLOW_UP_HOURS:g}: a "
                "nudge must go out inside Meta's 24-hour messaging window, an hour before it "
                f"closes ({DEFAULT_FOLLOW_UP_HOURS:g} is the usual value)"
            )
        return hours


class FaqEntry(_Strict):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class OfferSpec(_Strict):
    """What the link sells. These are the only facts the model may state about it."""

    name: str = Field(min_length=1)
    facts: list[str] = Field(default_factory=list)
    faq: list[FaqEntry] = Field(default_factory=list)


class Boundaries(_Strict):
    """The persona's own words for declining, per language. Sent as written, never a pitch."""

    explicit: dict[LanguageCode, list[str]] = Field(default_factory=dict)  # sexual requests
    meeting: dict[LanguageCode, list[str]] = Field(default_factory=dict)  # meet, call, numbers
    # Topics the model is told to steer away from (politics, medical advice, …).
    avoid: list[str] = Field(default_factory=list)


class CustomerSpec(_Strict):
    """After a purchase: the contact is a customer, helped rather than pitched."""

    instructions: str = Field(min_length=1)
    max_replies: Annotated[int, Field(ge=1, le=50)] = 5


class LinkSpec(_Strict):
    url: HttpUrl
    platform: str = Field(min_length=1, description="How replies name where the link goes")
    budget: Annotated[int, Field(ge=0, le=5)] = 1


class EmojiRules(_Strict):
    max_per_reply: Annotated[int, Field(ge=0, le=10)] = 1


class PhraseBank(_Strict):
    """Lines the offline scripted brain combines; {name} and {link} are filled in."""

    openers: list[str] = Field(default_factory=list)
    stages: dict[str, list[str]] = Field(default_factory=dict)
    media: dict[str, list[str]] = Field(default_factory=dict)
    # Follow-up nudges, when the persona has no nudge_lines in this language.
    nudges: list[str] = Field(default_factory=list)


MAX_DELAY_SECONDS = 3600

# Stages the system uses around a persona's funnel; a persona cannot name its own so.
RESERVED_STAGES = frozenset({"closing", "stopped", "converted", "customer"})


class Persona(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    backstory: str = ""
    voice: list[str] = Field(default_factory=list)
    languages: list[LanguageCode] = Field(min_length=1)
    link: LinkSpec
    offer: OfferSpec | None = None
    boundaries: Boundaries = Boundaries()
    stages: list[StageSpec] = Field(min_length=1)
    # How the model writes the goodbye; `exits` are the fallback lines (and examples).
    exit_guidance: str = ""
    exits: dict[LanguageCode, list[str]]
    # How to answer a question about the link once it was sent ("it's the link above").
    link_reference: dict[LanguageCode, str] = Field(default_factory=dict)
    customer: CustomerSpec | None = None
    disclosure: dict[LanguageCode, list[str]]
    # A language mapped to null or "" answers opt-outs with silence, on purpose.
    opt_out_goodbye: dict[LanguageCode, str | None] = Field(default_factory=dict)
    forbidden: dict[LanguageCode, list[str]] = Field(default_factory=dict)
    emoji: EmojiRules = EmojiRules()
    reactivate_after_days: Annotated[int, Field(ge=1)] | None = None
    reply_delay_seconds: tuple[int, int] = (0, 0)
    # Instagram direct only: mark the conversation seen and show "typing…" this long
    # before each message (0: off). Replies already wait reply_delay_seconds; keep it short.
    typing_seconds: Annotated[float, Field(ge=0, le=MAX_TYPING_SECONDS)] = 0.0
    max_words: Annotated[int, Field(ge=3, le=200)] = 40
    phrases: dict[LanguageCode, PhraseBank] = Field(default_factory=dict)
    # Follow-ups (stages' follow_up_hours): at most max_nudges per funnel cycle, written by
    # the model from nudge_guidance, or one of nudge_lines (also the fallback when every
    # draft fails a check, and what the scripted brain sends).
    max_nudges: Annotated[int, Field(ge=0, le=3, strict=True)] = 1
    nudge_guidance: str = ""
    nudge_lines: dict[LanguageCode, list[str]] = Field(default_factory=dict)

    def entry_threshold(self, name: str) -> int:
        """Replies already sent in the cycle when stage `name` begins (derived from caps)."""
        sent = 0
        for spec in self.stages:
            if spec.name == name:
                return sent
            sent += spec.max_replies
        raise KeyError(name)

    def in_language(self, table: dict[str, T], language: str) -> T | None:
        """The entry for `language`, else the default language's, else None."""
        return table.get(language, table.get(self.default_language))

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def stage(self, name: str) -> StageSpec:
        for spec in self.stages:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def link_stages(self) -> list[str]:
        return [spec.name for spec in self.stages if spec.link_allowed]

    def follow_up_hours(self, stage: str) -> float | None:
        """How long after a reply in `stage` a quiet contact is nudged; None: never (also
        for the system's stages: closing, customer, …)."""
        spec = next((s for s in self.stages if s.name == stage), None)
        return spec.follow_up_hours if spec is not None else None

    def stage_index(self, name: str) -> int:
        for index, spec in enumerate(self.stages):
            if spec.name == name:
                return index
        raise KeyError(name)

    @field_validator("exits", "disclosure", "nudge_lines")
    @classmethod
    def _variants_not_empty(
        cls, table: dict[str, list[str]], info: ValidationInfo
    ) -> dict[str, list[str]]:
        for language, variants in table.items():
            if not variants or any(not v.strip() for v in variants):
                raise ValueError(f"{info.field_name}.{language} needs at least one non-empty line")
        # Stored and sent exactly as written: no stray spaces around a line.
        return {language: [v.strip() for v in variants] for language, variants in table.items()}

    @field_validator("opt_out_goodbye")
    @classmethod
    def _goodbye_stripped(cls, table: dict[str, str | None]) -> dict[str, str | None]:
        return {language: (line or "").strip() or None for language, line in table.items()}

    @field_validator("reply_delay_seconds")
    @classmethod
    def _delay_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if low < 0 or high < low or high > MAX_DELAY_SECONDS:
            raise ValueError(
                f"reply_delay_seconds must be [min, max] with 0 <= min <= max <= "
                f"{MAX_DELAY_SECONDS} (an hour); pushed replies wait this long before sending"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Persona:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stages: stage names must be unique, got {names}")
        reserved = sorted(set(names) & RESERVED_STAGES)
        if reserved:
            raise ValueError(f"stages: {reserved} are reserved stage names; rename them")
        for table in ("exits", "disclosure"):
            missing = [lang for lang in self.languages if lang not in getattr(self, table)]
            if missing:
                raise ValueError(
                    f"{table}: add lines for every language in 'languages' (missing: {missing})"
                )
        url = str(self.link.url)
        for language, lines in self.disclosure.items():
            if any(url in line for line in lines):
                raise ValueError(
                    f"disclosure.{language}: a disclosure line must not carry the link"
                )
        for kind in ("explicit", "meeting"):
            for language, lines in getattr(self.boundaries, kind).items():
                if any(url in line for line in lines):
                    raise ValueError(
                        f"boundaries.{kind}.{language}: a boundary line must not carry the link"
                    )
        self._follow_ups_consistent(url)
        for language, bank in self.phrases.items():
            unknown = sorted(set(bank.stages) - set(names))
            if unknown:
                raise ValueError(
                    f"phrases.{language}.stages: {unknown} are not stage names (stages: {names})"
                )
        return self

    def _follow_ups_consistent(self, url: str) -> None:
        for language, lines in self.nudge_lines.items():
            if language not in self.languages:
                raise ValueError(
                    f"nudge_lines.{language}: '{language}' is not in 'languages' "
                    f"{self.languages}; add it there or remove these lines"
                )
            if any(url in line for line in lines):
                raise ValueError(f"nudge_lines.{language}: a nudge must not carry the link")
            too_long = [line for line in lines if len(line.split()) > self.max_words]
            if too_long:
                raise ValueError(
                    f"nudge_lines.{language}: {len(too_long)} line(s) over max_words "
                    f"({self.max_words}); a nudge is sent as written, so shorten them"
                )
        nudging = [s.name for s in self.stages if s.follow_up_hours is not None]
        if not nudging or self.nudge_guidance.strip():
            return
        missing = [lang for lang in self.languages if lang not in self.nudge_lines]
        if missing:
            raise ValueError(
                f"nudge_lines: stages {nudging} send follow-ups and there is no "
                f"nudge_guidance for the model; add lines for every language in "
                f"'languages' (missing: {missing}), or write nudge_guidance"
            )
