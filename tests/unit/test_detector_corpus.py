"""Precision and recall of every detector over the labelled corpus tests/data/detectors.yaml.

Each message's label set is compared with what the detectors say, over all messages, so a
detector is charged for every false alarm anywhere in the corpus. `claims_human`, the
validator's check on the persona's own replies, is scored the same way over the corpus's
`drafts`. The table is printed on
every run (`pytest tests/unit/test_detector_corpus.py`); docs/detectors.md explains the
thresholds and holds the last measured figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

from dmpilot.domain.intent import Intent, detect_intents
from dmpilot.domain.safety import (
    OptOut,
    asks_for_human,
    asks_if_bot,
    claims_human,
    fold,
    opt_out_level,
    opts_out,
    says_minor,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "detectors.yaml"
LANGUAGES = ("en", "fr", "es", "it", "de", "pt")
MIN_MESSAGES = 300
MIN_PER_LANGUAGE = 30


def _has_intent(intent: Intent) -> Callable[[str], bool]:
    return lambda text: intent in detect_intents(text)


DETECTORS: dict[str, Callable[[str], bool]] = {
    "minor": says_minor,
    "opt_out": opts_out,
    "opt_out_ambiguous": lambda text: opt_out_level(text) is OptOut.AMBIGUOUS,
    "asks_bot": asks_if_bot,
    "asks_human": asks_for_human,
    **{intent.value: _has_intent(intent) for intent in Intent},
}
# Run over the persona's drafts, not the contacts' messages.
DRAFT_DETECTORS: dict[str, Callable[[str], bool]] = {"claims_human": claims_human}

# docs/detectors.md says why each threshold is what it is. Missing a minor or an explicit
# opt-out is never acceptable; a false alarm costs a conversation, never safety, but no
# detector may cry wolf more than once in twenty.
MIN_PRECISION = 0.95
MIN_RECALL: dict[str, float] = {
    "minor": 1.0,
    "opt_out": 1.0,
    "claims_human": 1.0,
    "opt_out_ambiguous": 0.95,
    "asks_bot": 0.95,
    "asks_human": 0.95,
    "asks_link": 0.95,
    "asks_price": 0.95,
    "interested": 0.95,
    "explicit": 0.95,
    "out_of_scope": 0.95,
}

# Messages that fooled a detector once, with the labels they must have.
KNOWN_FALSE_POSITIVES: list[tuple[str, frozenset[str]]] = [
    ("is this real?", frozenset()),
    ("is this real or edited?", frozenset()),
    ("are you a real photographer?", frozenset()),
    ("c'est vrai ?", frozenset()),
    ("that's a real pleasure", frozenset()),
    ("I'm training for a marathon", frozenset()),
    ("avec plaisir", frozenset()),
    ("j'ai 17 ans d'expérience", frozenset()),
    ("I'm 15 minutes away", frozenset()),
    ("I'm 16 hours into this flight", frozenset()),
    ("my son is 15", frozenset()),
    ("stop it lol", frozenset({"opt_out_ambiguous"})),
    ("stop it 😂", frozenset({"opt_out_ambiguous"})),
    ("omg stop", frozenset({"opt_out_ambiguous"})),
    ("arrête tu me fais rire", frozenset({"opt_out_ambiguous"})),
    ("para jajaja", frozenset({"opt_out_ambiguous"})),
    ("stop spamming me", frozenset({"opt_out"})),
    ("germany", frozenset()),
    ("I'm from Germany", frozenset()),
    ("how much I love this photo!", frozenset()),
    ("price of flights these days", frozenset()),
    ("I don't want to meet you", frozenset()),
    ("my 11 year old son loves your photos", frozenset()),
    ("I have 2 kids aged 15 and 17", frozenset()),
    ("17 ans d'expérience", frozenset()),
    ("year 2011 was great", frozenset()),
    ("I've been shooting for 15 years", frozenset()),
    ("turned 15 minutes late", frozenset()),
    ("in 2015 I went to Japan", frozenset()),
    ("my daughter is in 9th grade", frozenset()),
]


@dataclass(frozen=True)
class Message:
    text: str
    lang: str
    labels: frozenset[str]


@dataclass
class Score:
    detector: str
    support: int = 0
    tp: int = 0
    false_positives: list[Message] = field(default_factory=list)
    false_negatives: list[Message] = field(default_factory=list)

    @property
    def fp(self) -> int:
        return len(self.false_positives)

    @property
    def fn(self) -> int:
        return len(self.false_negatives)

    @property
    def precision(self) -> float:
        said = self.tp + self.fp
        return self.tp / said if said else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.support if self.support else 1.0


@cache
def _load(section: str) -> tuple[Message, ...]:
    raw = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    return tuple(
        Message(str(item["text"]), str(item["lang"]), frozenset(item["labels"] or []))
        for item in raw[section]
    )


def corpus() -> tuple[Message, ...]:
    return _load("messages")


def drafts() -> tuple[Message, ...]:
    return _load("drafts")


def _score(
    messages: tuple[Message, ...], detectors: dict[str, Callable[[str], bool]]
) -> dict[str, Score]:
    table = {name: Score(name) for name in detectors}
    for message in messages:
        for name, detect in detectors.items():
            score, said, truth = table[name], detect(message.text), name in message.labels
            score.support += truth
            if said and truth:
                score.tp += 1
            elif said:
                score.false_positives.append(message)
            elif truth:
                score.false_negatives.append(message)
    return table


@cache
def scores() -> dict[str, Score]:
    return {**_score(corpus(), DETECTORS), **_score(drafts(), DRAFT_DETECTORS)}


def render(table: dict[str, Score]) -> str:
    header = (
        f"{'detector':<18} {'support':>7} {'TP':>4} {'FP':>4} {'FN':>4} "
        f"{'precision':>9} {'recall':>7}"
    )
    lines = [header, "-" * len(header)]
    for s in table.values():
        lines.append(
            f"{s.detector:<18} {s.support:>7} {s.tp:>4} {s.fp:>4} {s.fn:>4} "
            f"{s.precision:>9.1%} {s.recall:>7.1%}"
        )
    return "\n".join(lines)


def _listing(
    title: str, messages: list[Message], detectors: dict[str, Callable[[str], bool]] = DETECTORS
) -> str:
    rows = [
        f"  [{m.lang}] {m.text!r}  labels={sorted(m.labels)}"
        f"  detected={sorted(n for n, d in detectors.items() if d(m.text))}"
        for m in messages
    ]
    return f"{title} ({len(messages)}):\n" + "\n".join(rows) if rows else ""


def test_corpus_size_and_languages() -> None:
    messages = corpus()
    per_language = Counter(m.lang for m in messages)
    assert len(messages) >= MIN_MESSAGES, len(messages)
    assert set(per_language) == set(LANGUAGES), per_language
    assert min(per_language.values()) >= MIN_PER_LANGUAGE, per_language


@pytest.mark.parametrize(
    ("section", "detectors"), [("messages", DETECTORS), ("drafts", DRAFT_DETECTORS)]
)
def test_corpus_is_well_formed(section: str, detectors: dict[str, Callable[[str], bool]]) -> None:
    messages = _load(section)
    unknown = [m for m in messages if not m.labels <= detectors.keys()]
    assert not unknown, _listing("unknown labels", unknown, detectors)
    texts = Counter(m.text for m in messages)
    assert not [t for t, n in texts.items() if n > 1], "duplicate messages"
    assert all(m.text.strip() for m in messages)
    assert {m.lang for m in messages} == set(LANGUAGES)


@pytest.mark.parametrize(("phrase", "labels"), KNOWN_FALSE_POSITIVES)
def test_known_false_positives_are_in_the_corpus(phrase: str, labels: frozenset[str]) -> None:
    holders = [m for m in corpus() if fold(phrase) in fold(m.text)]
    assert holders, f"{phrase!r} is not in the corpus"
    assert any(m.labels == labels for m in holders), _listing(f"{phrase!r} labels", holders)


def test_report(capsys: pytest.CaptureFixture[str]) -> None:
    """Always prints the table, even without -s."""
    table = scores()
    with capsys.disabled():
        print(
            f"\n\ndetectors over {len(corpus())} messages and {len(drafts())} drafts "
            f"({CORPUS.name})\n{render(table)}\n"
        )
    assert set(table) == set(MIN_RECALL)


@pytest.mark.parametrize("detector", [*DETECTORS, *DRAFT_DETECTORS])
def test_detector_meets_its_thresholds(detector: str) -> None:
    score = scores()[detector]
    detectors = DRAFT_DETECTORS if detector in DRAFT_DETECTORS else DETECTORS
    problems = []
    if score.precision < MIN_PRECISION:
        problems.append(f"precision {score.precision:.1%} < {MIN_PRECISION:.0%}")
    if score.recall < MIN_RECALL[detector]:
        problems.append(f"recall {score.recall:.1%} < {MIN_RECALL[detector]:.0%}")
    assert not problems, "\n".join(
        [
            f"{detector}: " + "; ".join(problems),
            _listing("false positives", score.false_positives, detectors),
            _listing("false negatives (missed)", score.false_negatives, detectors),
        ]
    )
