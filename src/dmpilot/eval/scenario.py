"""A scenario: a simulated fan (who they are, what they write and when) and the outcomes
expected, as validated data. `Scenario.steps()` lays the conversation out message by
message; `catalog.py` reads the YAML files.

A conversation is `length` fan messages. `turns:` writes them in order from the first;
`rules:` and `reveals:` place single messages at a turn number; every other message is
small talk from the fan's language. A turn is a text (what the fan writes) or a mapping:

    act: asks_price      # what the message does (kinds.Act); the words come from the bank
    say: "how much??"    # … or these exact words, still judged as `act`
    language: fr         # the fan writes in this language from here on
    quiet: 3d            # they went quiet this long before writing (s, m, h, d)
    burst: true          # sent at the same moment as the previous message
    redelivered: 3       # the channel delivers it this many times at once
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from dmpilot.eval.kinds import (
    ADULT_AGE,
    ALWAYS,
    TRIGGERS,
    WORDLESS_ACTS,
    Act,
    FanLanguage,
    Outcome,
    RevealKind,
)

MAX_TURNS = 100
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError("a duration is a number and a unit: 90s, 45m, 3h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Turn(_Strict):
    """One fan message."""

    act: Act = Act.TALK
    say: str | None = Field(None, min_length=1, max_length=2000)
    fact: RevealKind | None = None  # act: reveal
    value: str | None = Field(None, min_length=1, max_length=60)
    language: FanLanguage | None = None
    quiet: Duration | None = None
    burst: bool = False
    redelivered: int = Field(1, ge=1, le=5)

    @model_validator(mode="before")
    @classmethod
    def _text_alone(cls, data: Any) -> Any:
        # A bare string in YAML is the text the fan writes.
        return {"say": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _consistent(self) -> Turn:
        if self.act is Act.REVEAL:
            if self.fact is None or self.value is None:
                raise ValueError("act: reveal needs `fact` (name, city or age) and `value`")
            if self.fact is RevealKind.AGE and not (
                self.value.isascii() and self.value.isdigit() and 10 <= int(self.value) <= 99
            ):
                raise ValueError("an age is a whole number from 10 to 99")
        elif self.fact is not None or self.value is not None:
            raise ValueError("`fact` and `value` go with act: reveal")
        if self.say is not None and self.act in WORDLESS_ACTS - {Act.EMOJIS_ONLY}:
            raise ValueError(f"act: {self.act.value} carries no words; remove `say`")
        if self.burst and self.quiet is not None:
            raise ValueError("a burst message is sent with the previous one: it has no `quiet`")
        return self

    @property
    def minor(self) -> bool:
        return (
            self.fact is RevealKind.AGE and self.value is not None and int(self.value) < ADULT_AGE
        )


class Rule(Turn):
    """A message placed at a turn number ("asks for the price at turn 3")."""

    at: int = Field(ge=1, le=MAX_TURNS)


class RevealRule(_Strict):
    """What the fan tells about themselves, and when."""

    at: int = Field(ge=1, le=MAX_TURNS)
    fact: RevealKind
    value: str = Field(min_length=1, max_length=60)
    say: str | None = Field(None, min_length=1, max_length=2000)

    def turn(self) -> Turn:
        return Turn(act=Act.REVEAL, fact=self.fact, value=self.value, say=self.say)


class FanProfile(_Strict):
    name: str | None = Field(None, min_length=1, max_length=200)  # the profile name
    about: str = ""  # who they are, for a fan played by a model


@dataclass(frozen=True, slots=True)
class Step:
    """One fan message as the conversation will send it."""

    number: int  # 1-based turn number
    turn: Turn
    language: str  # the fan's language at this message
    occurrence: int  # how many earlier messages did the same act (picks the bank's line)
    group: int  # messages of one burst share a group (the number of its first message)


def _called_for(placed: dict[int, Turn]) -> set[Outcome]:
    """Outcomes the messages call for: a bot question calls for the disclosure, an ask for
    the link at the ask, a minor's age for the stop, …"""
    acts = {turn.act for turn in placed.values()}
    called = {outcome for outcome, needed in TRIGGERS.items() if acts & needed}
    if any(turn.minor for turn in placed.values()):
        called.add(Outcome.MINOR_STOPPED)
    return called


class Scenario(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    title: str = Field(min_length=1, max_length=200)
    covers: str = ""  # the failure it guards against (LESSONS.md), for people reading it
    language: FanLanguage
    fan: FanProfile = FanProfile()
    length: int | None = Field(None, ge=1, le=MAX_TURNS)
    turns: list[Turn] = Field(default_factory=list, max_length=MAX_TURNS)
    rules: list[Rule] = Field(default_factory=list)
    reveals: list[RevealRule] = Field(default_factory=list)
    expect: list[Outcome] = Field(default_factory=list)

    @model_validator(mode="after")
    def _laid_out(self) -> Scenario:
        placed = self._placed()
        called = _called_for(placed)
        for index, outcome in enumerate(self.expect):
            if outcome is Outcome.MINOR_STOPPED and outcome not in called:
                raise ValueError(f"expect.{index}: minor_stopped needs a reveal of an age under 18")
            if outcome in TRIGGERS and outcome not in called:
                wanted = " or ".join(sorted(act.value for act in TRIGGERS[outcome]))
                raise ValueError(f"expect.{index}: {outcome.value} needs a turn with act {wanted}")
        first = placed.get(1)
        if first is not None and first.burst:
            raise ValueError("the first message cannot be a burst: there is no message before it")
        return self

    def _placed(self) -> dict[int, Turn]:
        """Turn number → message, for every message the scenario writes itself."""
        placed: dict[int, Turn] = {}
        where: dict[int, str] = {}
        for index, turn in enumerate(self.turns):
            placed[index + 1], where[index + 1] = turn, f"turns.{index}"
        sources = [
            (f"rules.{i}", r.at, Turn(**r.model_dump(exclude={"at"})))
            for i, r in enumerate(self.rules)
        ]
        sources += [(f"reveals.{i}", r.at, r.turn()) for i, r in enumerate(self.reveals)]
        for name, at, turn in sources:
            if at in placed:
                raise ValueError(f"{name}.at: turn {at} is already written by {where[at]}")
            placed[at], where[at] = turn, name
        if self.length is not None and placed and max(placed) > self.length:
            last = max(placed)
            raise ValueError(f"length: {self.length} ends before {where[last]} (turn {last})")
        return placed

    @property
    def size(self) -> int:
        placed = self._placed()
        return max(self.length or 0, max(placed, default=0), 1)

    def outcomes(self) -> list[Outcome]:
        """Every outcome judged for this scenario: the ones always judged, the ones its
        messages call for, and the ones it expects — in the order of the Outcome enum."""
        wanted = set(ALWAYS) | set(self.expect) | _called_for(self._placed())
        return [outcome for outcome in Outcome if outcome in wanted]

    def steps(self) -> list[Step]:
        placed = self._placed()
        steps: list[Step] = []
        language: str = self.language
        seen: dict[Act, int] = {}
        group = 1
        for number in range(1, self.size + 1):
            turn = placed.get(number, Turn())
            language = turn.language or language
            if not turn.burst:
                group = number
            steps.append(Step(number, turn, language, seen.get(turn.act, 0), group))
            seen[turn.act] = seen.get(turn.act, 0) + 1
        return steps
