"""Checking a persona file: every problem in one run, and what the loader cannot see.

The loader (pydantic) stops at the model validator's first error and knows nothing of
coverage: whether every language has its goodbyes, whether a disclosure names the
persona, whether lines are written in the language they are filed under. The checks here
run on the raw YAML mapping, so they still run when the model does not validate, and
each problem says what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from dmpilot.brains.scripted import builtin_bank
from dmpilot.domain.language import SUPPORTED, detect_language, words
from dmpilot.domain.persona import (
    DEFAULT_FOLLOW_UP_HOURS,
    MAX_FOLLOW_UP_HOURS,
    RESERVED_STAGES,
    Persona,
)
from dmpilot.domain.safety import claims_human, fold
from dmpilot.domain.validator import URL
from dmpilot.personas import PersonaError, bundled_persona_path, read_persona_yaml


class Severity(StrEnum):
    ERROR = "error"  # the persona must not be used as it is
    WARNING = "warning"  # works, but probably not as meant
    INFO = "info"  # how a gap is filled, for the record


@dataclass(frozen=True, slots=True)
class PersonaProblem:
    severity: Severity
    field: str  # dotted path in the YAML, e.g. "exits.fr" or "stages.1.max_replies"
    message: str  # what is wrong and how to fix it


FILE = "(file)"
TOP = "(top level)"
_DOCS = "see docs/persona.md"
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
# Tables keyed by language; lines under a language the persona does not list are dead.
_LANGUAGE_TABLES = (
    "exits",
    "disclosure",
    "opt_out_goodbye",
    "forbidden",
    "phrases",
    "link_reference",
    "nudge_lines",
)
# A validator message that starts with the field it is about: "exits: add …" from the
# model validator, "exits.fr needs …" from a field validator.
_FIELD_FIRST = re.compile(r"^(?P<field>[a-z_]+(?:\.\w+)*)(?P<colon>:)?\s+(?P<rest>.+)$", re.DOTALL)
_PLACEHOLDER = re.compile(r"\{\w+\}")
_MIN_DETECT_WORDS = 4  # shorter lines are too ambiguous to call a mismatch


def check_persona_file(path: Path | None) -> tuple[Persona | None, list[PersonaProblem]]:
    """Load and check a persona file (default: the bundled one); never raises for a bad file.

    Returns the persona when the loader accepts it (it may still have ERROR problems from
    the coverage checks), and every problem found, errors first.
    """
    path = path or bundled_persona_path()
    try:
        raw = read_persona_yaml(path)
    except PersonaError as exc:
        return None, [_error(FILE, str(exc))]
    if not isinstance(raw, dict):
        kind = "is empty" if raw is None else f"holds a {type(raw).__name__}"
        return None, [
            _error(FILE, f"{path}: {kind}; a persona is a mapping (name:, languages:, …)")
        ]
    persona, loaded = _validate(raw)
    coverage = _coverage(raw)
    covered = [p.field for p in coverage if p.severity is Severity.ERROR]
    # Drop validator errors the coverage checks repeat in more detail (the model validator
    # stops at its first one; the coverage checks report them all).
    problems = [
        problem
        for problem, from_validator in loaded
        if not (from_validator and _covers(covered, problem.field))
    ]
    return persona, _ordered(problems + coverage)


def check_persona(persona: Persona) -> list[PersonaProblem]:
    """Coverage problems of a persona that already loaded, errors first."""
    return _ordered(_coverage(persona.model_dump(mode="json")))


# -- the loader's own errors -----------------------------------------------------------


# (problem, raised by a persona validator rather than a type or shape check)
_Loaded = list[tuple[PersonaProblem, bool]]


def _validate(raw: dict[str, object]) -> tuple[Persona | None, _Loaded]:
    try:
        return Persona.model_validate(raw), []
    except ValidationError as exc:
        return None, [_from_pydantic(e) for e in exc.errors()]


def _from_pydantic(error: ErrorDetails) -> tuple[PersonaProblem, bool]:
    field = ".".join(str(part) for part in error["loc"])
    message = error["msg"]
    if error["type"] == "value_error":
        # Persona validators already say what to fix; lift the field they name.
        message = message.removeprefix("Value error, ")
        named = _FIELD_FIRST.match(message)
        if named and (_covers([named["field"]], field) if field else named["colon"]):
            field, message = named["field"], named["rest"]
        return _error(field or TOP, message), True
    if error["type"] == "missing":
        message = f"required; add it ({_DOCS})"
    elif error["type"] == "extra_forbidden":
        message = f"not a persona field; remove it or fix its spelling ({_DOCS})"
    else:
        value = error.get("input")
        got = f" (got {value!r})" if _short(value) else ""
        message = f"{message}{got}; fix the value ({_DOCS})"
    return _error(field or TOP, message), False


def _covers(fields: list[str], field: str) -> bool:
    return any(f == field or f.startswith(f"{field}.") for f in fields)


def _short(value: object) -> bool:
    return value is None or (isinstance(value, str | int | float | bool) and len(repr(value)) < 80)


# -- coverage, on the raw mapping ------------------------------------------------------


def _coverage(data: Mapping[str, object]) -> list[PersonaProblem]:
    languages = _languages(data.get("languages"))
    found = _stage_problems(data)
    found += _language_problems(data, languages)
    found += _disclosure_problems(data)
    found += _line_problems(data)
    found += _scripted_problems(data, languages)
    found += _conversation_problems(data, languages)
    found += _follow_up_problems(data, languages)
    return found


def _conversation_problems(
    data: Mapping[str, object], languages: list[str]
) -> list[PersonaProblem]:
    """Schema v2: the parts that make a conversation convert, each with what is lost
    without it."""
    found: list[PersonaProblem] = []
    if data.get("offer") is None:
        found.append(
            PersonaProblem(
                Severity.WARNING,
                "offer",
                "missing: the model has no facts to answer 'how much?' with; add offer.facts "
                "(price, what is included) and offer.faq",
            )
        )
    boundaries = _as_mapping(data.get("boundaries"))
    for kind, what in (("explicit", "an explicit request"), ("meeting", "a meeting or a call")):
        table = _as_mapping(boundaries.get(kind))
        for language in languages:
            if language not in table:
                found.append(
                    PersonaProblem(
                        Severity.WARNING,
                        f"boundaries.{kind}.{language}",
                        f"missing: {what} in '{language}' is declined by the model instead "
                        "of in the persona's own words; add a line",
                    )
                )
        for language in table:
            if languages and language not in languages:
                found.append(
                    _error(
                        f"boundaries.{kind}.{language}",
                        f"'{language}' is not in languages; add it or remove the lines",
                    )
                )
    references = _as_mapping(data.get("link_reference"))
    for language in languages:
        if language not in references:
            found.append(
                PersonaProblem(
                    Severity.INFO,
                    f"link_reference.{language}",
                    "missing: a second request for the link is answered in the model's own "
                    'words; add a line like "it\'s the link i sent you above"',
                )
            )
    for i, stage in enumerate(_as_list(data.get("stages"))):
        if not isinstance(stage, Mapping) or stage.get("link_allowed") is True:
            continue
        for j, example in enumerate(_as_list(stage.get("examples"))):
            reply = _as_mapping(example).get("reply")
            if isinstance(reply, str) and ("{link}" in reply or URL.search(reply)):
                found.append(
                    _error(
                        f"stages.{i}.examples.{j}.reply",
                        "shows the link in a stage that does not allow it: the model would "
                        "learn to send it early; move the example to a link stage",
                    )
                )
    if data.get("customer") is None:
        found.append(
            PersonaProblem(
                Severity.INFO,
                "customer",
                "missing: a contact marked converted gets the goodbye on its next message "
                "instead of help; add customer.instructions",
            )
        )
    return found


def _follow_up_problems(data: Mapping[str, object], languages: list[str]) -> list[PersonaProblem]:
    """Nudges must fit Meta's 24-hour window and have words in every language."""
    found: list[PersonaProblem] = []
    nudging: list[str] = []
    for i, stage in enumerate(_as_list(data.get("stages"))):
        hours = _as_mapping(stage).get("follow_up_hours")
        if hours is None or isinstance(hours, bool) or not isinstance(hours, int | float):
            continue  # off, or a type error the loader reports
        nudging.append(str(_as_mapping(stage).get("name")))
        if not 0 < hours <= MAX_FOLLOW_UP_HOURS:
            found.append(
                _error(
                    f"stages.{i}.follow_up_hours",
                    f"{hours:g} h is outside Meta's 24-hour messaging window (a nudge goes out "
                    f"at least an hour before it closes); use more than 0 and at most "
                    f"{MAX_FOLLOW_UP_HOURS:g} ({DEFAULT_FOLLOW_UP_HOURS:g} is the usual value), "
                    "or remove it to send no follow-up after this stage",
                )
            )
    if not nudging:
        return found
    if data.get("max_nudges") == 0:
        found.append(
            PersonaProblem(
                Severity.WARNING,
                "max_nudges",
                f"0, so stages {nudging} never send the follow-up they set; raise max_nudges "
                "or remove their follow_up_hours",
            )
        )
    guidance = data.get("nudge_guidance")
    guided = isinstance(guidance, str) and bool(guidance.strip())
    lines = _as_mapping(data.get("nudge_lines"))
    for language in languages:
        if language not in lines:
            found.append(
                PersonaProblem(
                    Severity.WARNING if guided else Severity.ERROR,
                    f"nudge_lines.{language}",
                    "missing: a refused draft leaves the nudge unsent in this language; add a "
                    "line or two"
                    if guided
                    else f"missing, and stages {nudging} send follow-ups without "
                    "nudge_guidance; add lines, or write nudge_guidance for the model",
                )
            )
    for field, _, line in _lines(data, ("nudge_lines",)):
        if URL.search(line):
            found.append(_error(field, "carries a link; a nudge never does, remove it"))
    return found


def _stage_problems(data: Mapping[str, object]) -> list[PersonaProblem]:
    stages = _as_list(data.get("stages"))
    names = [s.get("name") for s in stages if isinstance(s, Mapping)]
    found: list[PersonaProblem] = []
    twice = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    if twice:
        found.append(_error("stages", f"stage names must be unique; rename one of each: {twice}"))
    for i, name in enumerate(names):
        if isinstance(name, str) and name in RESERVED_STAGES:
            found.append(
                _error(f"stages.{i}.name", f"'{name}' is reserved for the system; rename the stage")
            )
    link = data.get("link")
    budget = link.get("budget", 1) if isinstance(link, Mapping) else 1
    linked = [
        str(s.get("name"))
        for s in stages
        if isinstance(s, Mapping) and s.get("link_allowed") is True
    ]
    if budget == 0 and linked:
        found.append(
            PersonaProblem(
                Severity.WARNING,
                "link.budget",
                f"0, so stages {linked} can never send the link; raise link.budget "
                "or set link_allowed: false",
            )
        )
    return found


def _language_problems(data: Mapping[str, object], languages: list[str]) -> list[PersonaProblem]:
    if not languages:
        return []  # unusable `languages`: the loader's error says so
    found: list[PersonaProblem] = []
    for language in languages:
        if language not in SUPPORTED:
            found.append(
                PersonaProblem(
                    Severity.WARNING,
                    "languages",
                    f"'{language}' cannot be detected (dmpilot knows {', '.join(SUPPORTED)}): "
                    "contacts writing it are not recognised and replies in it fail the "
                    "language check; use a supported language",
                )
            )
    for table in ("exits", "disclosure"):
        if table not in data:
            continue  # required: the loader reports it missing
        entries = _as_mapping(data[table])
        for language in languages:
            if language not in entries:
                found.append(
                    _error(
                        f"{table}.{language}",
                        f"missing, and '{language}' is in languages; "
                        f"add at least one line under {table}.{language}",
                    )
                )
        for language, lines in entries.items():
            if isinstance(lines, list) and (
                not lines or any(isinstance(x, str) and not x.strip() for x in lines)
            ):
                found.append(
                    _error(
                        f"{table}.{language}",
                        "needs at least one line and no empty ones; write the lines or "
                        "remove the empty ones",
                    )
                )
    goodbyes = _as_mapping(data.get("opt_out_goodbye"))
    for language in languages:
        field = f"opt_out_goodbye.{language}"
        if language not in goodbyes:
            found.append(
                _error(
                    field,
                    f"missing for '{language}'; add a goodbye or set it to null to answer "
                    "opt-outs with silence",
                )
            )
        elif (goodbye := goodbyes[language]) is None or goodbye == "":
            found.append(
                PersonaProblem(
                    Severity.INFO, field, "opt-outs are answered with silence (set on purpose)"
                )
            )
        elif isinstance(goodbye, str) and not goodbye.strip():
            found.append(_error(field, "only whitespace; write a goodbye, or null for silence"))
    for table in _LANGUAGE_TABLES:
        for language in _as_mapping(data.get(table)):
            if language not in languages:
                found.append(
                    _error(
                        f"{table}.{language}",
                        f"'{language}' is not in languages; add it to languages "
                        f"or remove {table}.{language}",
                    )
                )
    return found


def _disclosure_problems(data: Mapping[str, object]) -> list[PersonaProblem]:
    name = data.get("name")
    # Whole words, accents and case ignored: "Lena's" names Lena, "Alexandra" not "Alex".
    named = (
        re.compile(rf"(?<!\w){re.escape(fold(name))}(?!\w)")
        if isinstance(name, str) and name.strip()
        else None
    )
    found: list[PersonaProblem] = []
    for field, _, line in _lines(data, ("disclosure",)):
        if named is not None and not named.search(fold(line)):
            found.append(
                _error(
                    field,
                    f"does not name {name}; the honest answer must say on whose behalf it "
                    f"speaks, e.g. 'an AI assistant replying for {name}'",
                )
            )
        if claims_human(line):
            found.append(_error(field, "claims to be human; say plainly that this is an AI"))
        if URL.search(line):
            found.append(_error(field, "carries a link; remove it from the disclosure"))
    return found


def _line_problems(data: Mapping[str, object]) -> list[PersonaProblem]:
    found: list[PersonaProblem] = []
    for field, _, line in _lines(data, ("exits", "disclosure", "opt_out_goodbye", "nudge_lines")):
        if line.strip() and line != line.strip():  # blank lines are errors of their own
            found.append(
                PersonaProblem(
                    Severity.WARNING,
                    field,
                    "starts or ends with whitespace; remove it",
                )
            )
    for field, language, line in _lines(
        data, ("exits", "disclosure", "opt_out_goodbye", "phrases", "nudge_lines")
    ):
        if language not in SUPPORTED:
            continue
        text = _PLACEHOLDER.sub(" ", line)
        if len(words(text)) < _MIN_DETECT_WORDS:
            continue
        detected = detect_language(text)
        if detected is not None and detected != language:
            found.append(
                PersonaProblem(
                    Severity.WARNING,
                    field,
                    f"reads as '{detected}', not '{language}'; write it in '{language}' "
                    f"or file it under '{detected}'",
                )
            )
    return found


def _scripted_problems(data: Mapping[str, object], languages: list[str]) -> list[PersonaProblem]:
    phrases = _as_mapping(data.get("phrases"))
    stages = [s for s in _as_list(data.get("stages")) if isinstance(s, Mapping)]
    names = [str(s.get("name")) for s in stages]
    found: list[PersonaProblem] = []
    for language, value in phrases.items():
        for key in _as_mapping(_as_mapping(value).get("stages")):
            if names and key not in names:
                found.append(
                    _error(
                        f"phrases.{language}.stages.{key}",
                        f"'{key}' is not a stage name (stages: {names}); rename it to one "
                        "of them or remove it",
                    )
                )
    for language in languages:
        bank = phrases.get(language)
        builtin = builtin_bank(language) is not None
        if not isinstance(bank, Mapping):
            if builtin:
                found.append(
                    PersonaProblem(
                        Severity.INFO,
                        f"phrases.{language}",
                        f"scripted brain: built-in lines for {language}",
                    )
                )
            else:
                found.append(
                    PersonaProblem(
                        Severity.WARNING,
                        f"phrases.{language}",
                        f"scripted brain: no lines for '{language}'; add phrases.{language}",
                    )
                )
            continue
        own = _as_mapping(bank.get("stages"))
        for stage in stages:
            name = stage.get("name")
            field = f"phrases.{language}.stages.{name}"
            lines = {x for x in _as_list(own.get(str(name))) if isinstance(x, str)}
            if not lines:
                found.append(
                    PersonaProblem(
                        Severity.INFO if builtin else Severity.WARNING,
                        field,
                        f"scripted brain: built-in lines for {language} in this stage"
                        if builtin
                        else "no lines, so the scripted brain cannot answer in this stage; "
                        "add some",
                    )
                )
            elif isinstance(cap := stage.get("max_replies"), int) and len(lines) < cap:
                found.append(
                    PersonaProblem(
                        Severity.WARNING,
                        field,
                        f"{len(lines)} lines for a stage of {cap} replies: the scripted brain "
                        "runs out and stays silent; add clearly different lines",
                    )
                )
    return found


# -- reading the raw mapping safely (any shape may be wrong) ---------------------------


def _lines(data: Mapping[str, object], tables: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    """(field path, language, line) of every text line in `tables`, skipping bad shapes."""
    for table in tables:
        for language, value in _as_mapping(data.get(table)).items():
            prefix = f"{table}.{language}"
            if table == "phrases":
                bank = _as_mapping(value)
                yield from _indexed(f"{prefix}.openers", language, bank.get("openers"))
                for group in ("stages", "media"):
                    for key, lines in _as_mapping(bank.get(group)).items():
                        yield from _indexed(f"{prefix}.{group}.{key}", language, lines)
            elif isinstance(value, str):
                yield prefix, language, value
            else:
                yield from _indexed(prefix, language, value)


def _indexed(prefix: str, language: str, value: object) -> Iterator[tuple[str, str, str]]:
    for i, line in enumerate(_as_list(value)):
        if isinstance(line, str):
            yield f"{prefix}.{i}", language, line


def _languages(value: object) -> list[str]:
    return [x for x in _as_list(value) if isinstance(x, str) and re.fullmatch(r"[a-z]{2}", x)]


def _as_mapping(value: object) -> dict[str, object]:
    # str(): YAML turns some keys into booleans or numbers (`no:` is False).
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _error(field: str, message: str) -> PersonaProblem:
    return PersonaProblem(Severity.ERROR, field, message)


def _ordered(problems: list[PersonaProblem]) -> list[PersonaProblem]:
    return sorted(problems, key=lambda p: _RANK[p.severity])  # stable: file order kept
