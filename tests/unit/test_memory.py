"""Remembered facts: extraction measured on a labelled corpus, merging, prompt lines.

Measured on tests/data/facts.yaml (387 messages, 130 bot replies, six languages):

    kind       precision  recall
    name         100.0 %  100.0 %   (38 facts)
    city         100.0 %   94.9 %   (59)
    job          100.0 %   94.6 %   (56)
    interest     100.0 %  100.0 %   (42)
    age          100.0 %   96.4 %   (28)
    asks_about   100.0 %  100.0 %   (83 kinds asked)

These are in-sample: the rules were tuned on this corpus. The honest figure is the
"held out" section, written after the rules and measured once before any tuning:
precision 100 % for name, city, job and age and 90.5 % for interest (two values ran
on: "yoga every"); recall name 93 %, city 96 %, job 83 %, interest 86 %, age 82 %;
asks_about precision 100 %, recall 86 % (yes/no questions such as "wohnst du in
Berlin?" were not read then). Expect unseen messages to land nearer those numbers.

What stays unread, by design or for now: facts without a first-person phrase
("32, software engineer from Toronto"), places named only through a common noun ("a
small town near Leeds"), ages in words ("twenty-five"), lowercase names after "I'm" or
"call me", and a name after "I'm" anywhere but the start of a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dmpilot.domain import memory
from dmpilot.domain.memory import (
    MAX_VALUE,
    Fact,
    FactKind,
    asks_about,
    describe_known,
    extract_facts,
    merge,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "facts.yaml"
LANGUAGES = ("en", "fr", "es", "it", "de", "pt")
MIN_PRECISION = 0.95
MIN_RECALL = 0.80
MIN_ASKS_PRECISION = 0.95
MIN_ASKS_RECALL = 0.90


def _corpus() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    return data


def _same(kind: FactKind, expected: object, got: str) -> bool:
    """A value matches its label ignoring case and spacing; interests as a set of items.
    A list label means any of its values is right ("from Lyon, living in Paris")."""
    options = expected if isinstance(expected, list) else [expected]

    def norm(value: object) -> object:
        text = " ".join(str(value).split()).casefold()
        if kind is FactKind.INTEREST:
            return frozenset(item.strip() for item in text.split(","))
        return text

    return any(norm(option) == norm(got) for option in options)


def _fact_scores() -> dict[FactKind, tuple[int, int, int]]:
    """(true positives, false positives, false negatives) per kind over the corpus."""
    counts = {kind: [0, 0, 0] for kind in FactKind}
    for message in _corpus()["messages"]:
        expected: Mapping[str, object] = message["facts"]
        got = {fact.kind: fact.value for fact in extract_facts(message["text"])}
        for kind in FactKind:
            label, value = expected.get(kind.value), got.get(kind)
            if label is not None and value is not None and _same(kind, label, value):
                counts[kind][0] += 1
                continue
            if value is not None:
                counts[kind][1] += 1
            if label is not None:
                counts[kind][2] += 1
    return {kind: (c[0], c[1], c[2]) for kind, c in counts.items()}


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 1.0


# -- the corpus ------------------------------------------------------------------------------


def test_the_corpus_covers_six_languages_and_hard_negatives() -> None:
    corpus = _corpus()
    messages, questions = corpus["messages"], corpus["questions"]
    assert len(messages) >= 150
    for language in LANGUAGES:
        assert sum(1 for m in messages if m["lang"] == language) >= 20, language
    assert sum(1 for m in messages if not m["facts"]) >= 50  # hard negatives
    assert {k for m in messages for k in m["facts"]} == {kind.value for kind in FactKind}
    assert len(questions) >= 60
    assert sum(1 for q in questions if not q["asks"]) >= 20  # statements asking nothing
    assert {k for q in questions for k in q["asks"]} == {kind.value for kind in FactKind}


def test_extraction_precision_and_recall_per_kind() -> None:
    scores = _fact_scores()
    print("\nkind       precision  recall   tp  fp  fn")
    for kind, (tp, fp, fn) in scores.items():
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        print(f"{kind.value:9}  {precision:8.1%}  {recall:6.1%}  {tp:3} {fp:3} {fn:3}")
    for kind, (tp, fp, fn) in scores.items():
        assert _ratio(tp, tp + fp) >= MIN_PRECISION, f"{kind}: precision"
        assert _ratio(tp, tp + fn) >= MIN_RECALL, f"{kind}: recall"


def test_asks_about_precision_and_recall() -> None:
    tp = fp = fn = 0
    for question in _corpus()["questions"]:
        expected = {FactKind(k) for k in question["asks"]}
        got = asks_about(question["text"])
        tp += len(expected & got)
        fp += len(got - expected)
        fn += len(expected - got)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    print(f"\nasks_about precision {precision:.1%} recall {recall:.1%} ({tp} tp, {fp} fp, {fn} fn)")
    assert precision >= MIN_ASKS_PRECISION
    assert recall >= MIN_ASKS_RECALL


# -- extraction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("I'm Sam", FactKind.NAME, "Sam"),
        ("my name is Sam", FactKind.NAME, "Sam"),
        ("je m'appelle Léa", FactKind.NAME, "Léa"),
        ("me llamo Ana", FactKind.NAME, "Ana"),
        ("mi chiamo Luca", FactKind.NAME, "Luca"),
        ("ich heiße Jonas", FactKind.NAME, "Jonas"),
        ("meu nome é João", FactKind.NAME, "João"),
        ("call me Sam", FactKind.NAME, "Sam"),
        ("I'm from Lyon", FactKind.CITY, "Lyon"),
        ("I live in Berlin", FactKind.CITY, "Berlin"),
        ("je viens de Lyon", FactKind.CITY, "Lyon"),
        ("j'habite à Nantes", FactKind.CITY, "Nantes"),
        ("soy de Sevilla", FactKind.CITY, "Sevilla"),
        ("vivo en Madrid", FactKind.CITY, "Madrid"),
        ("sono di Roma", FactKind.CITY, "Roma"),
        ("abito a Milano", FactKind.CITY, "Milano"),
        ("ich komme aus Köln", FactKind.CITY, "Köln"),
        ("ich wohne in Wien", FactKind.CITY, "Wien"),
        ("sou do Porto", FactKind.CITY, "Porto"),
        ("moro em Lisboa", FactKind.CITY, "Lisboa"),
        ("I'm a nurse", FactKind.JOB, "nurse"),
        ("I work as a designer", FactKind.JOB, "designer"),
        ("je suis infirmière", FactKind.JOB, "infirmière"),
        ("je bosse dans la com", FactKind.JOB, "dans la com"),
        ("trabajo como profesora", FactKind.JOB, "profesora"),
        ("soy médico", FactKind.JOB, "médico"),
        ("lavoro come cuoco", FactKind.JOB, "cuoco"),
        ("faccio il grafico", FactKind.JOB, "grafico"),
        ("ich arbeite als Lehrerin", FactKind.JOB, "Lehrerin"),
        ("ich bin Fotograf", FactKind.JOB, "Fotograf"),
        ("trabalho como enfermeira", FactKind.JOB, "enfermeira"),
        ("sou engenheiro", FactKind.JOB, "engenheiro"),
        ("I love hiking", FactKind.INTEREST, "hiking"),
        ("I'm into street photography", FactKind.INTEREST, "street photography"),
        ("j'adore la rando", FactKind.INTEREST, "rando"),
        ("me encanta surfear", FactKind.INTEREST, "surfear"),
        ("mi piace viaggiare", FactKind.INTEREST, "viaggiare"),
        ("ich liebe Fotografie", FactKind.INTEREST, "Fotografie"),
        ("adoro fotografar", FactKind.INTEREST, "fotografar"),
        ("I'm 25", FactKind.AGE, "25"),
        ("j'ai 32 ans", FactKind.AGE, "32"),
        ("tengo 40 años", FactKind.AGE, "40"),
        ("ho 29 anni", FactKind.AGE, "29"),
        ("ich bin 31", FactKind.AGE, "31"),
        ("tenho 27 anos", FactKind.AGE, "27"),
    ],
)
def test_each_kind_in_each_language(text: str, kind: FactKind, value: str) -> None:
    assert extract_facts(text) == [Fact(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "I'm tired",
        "I'm good",
        "I'm here",
        "je suis là",
        "je suis content",
        "soy feliz",
        "ich bin müde",
        "I'm from the future",
        "i'm from work",
        "I'm from the gym",
        "je viens du boulot",
        "I'm a bit tired",
        "j'ai 17 ans d'expérience",
        "I'm 15 minutes away",
        "I'm 30 km away",
        "call me later",
        "I love your photos",
        "I'M SAM",  # all capitals: a capital says nothing about a name
    ],
)
def test_hard_negatives_state_nothing(text: str) -> None:
    assert extract_facts(text) == []


@pytest.mark.parametrize("age", range(10, 18))
def test_minors_never_become_an_age(age: int) -> None:
    for text in (f"I'm {age}", f"j'ai {age} ans", f"tengo {age} años", f"ich bin {age}"):
        assert extract_facts(text) == [], text


@pytest.mark.parametrize(("text", "age"), [("I'm 18", "18"), ("I'm 99", "99"), ("I'm 100", None)])
def test_ages_run_from_18_to_99(text: str, age: str | None) -> None:
    assert extract_facts(text) == ([Fact(FactKind.AGE, age)] if age else [])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("i'm from lyon", "Lyon"),
        ("i live in new york", "New York"),
        ("je viens d'aix-en-provence", "Aix-en-Provence"),
        ("moro em são paulo", "São Paulo"),
        ("I'm from the UK", "UK"),
        ("I'M FROM LYON", "Lyon"),
        ("I live in McAllen", "McAllen"),
    ],
)
def test_places_are_capitalised_sensibly(text: str, value: str) -> None:
    assert extract_facts(text) == [Fact(FactKind.CITY, value)]


def test_a_message_gives_one_fact_per_kind_in_kind_order() -> None:
    facts = extract_facts("I'm 27, I love yoga. My name is Ana and I live in Porto, I'm a nurse")
    assert [f.kind for f in facts] == list(FactKind)
    assert [f.value for f in facts] == ["Ana", "Porto", "nurse", "yoga", "27"]


def test_values_are_cut_from_the_original_text() -> None:
    # A decomposed accent (e + U+0301) stays with its letter; spacing is tidied.
    assert extract_facts("je m'appelle  Le\u0301a") == [Fact(FactKind.NAME, "Le\u0301a")]
    assert extract_facts("j'adore   la   photographie") == [Fact(FactKind.INTEREST, "photographie")]


def test_values_are_at_most_sixty_characters() -> None:
    text = "I love photography, hiking, climbing, snowboarding, surfing, skateboarding and yoga"
    (fact,) = extract_facts(text)
    assert fact.kind is FactKind.INTEREST
    assert len(fact.value) <= MAX_VALUE
    assert fact.value == "photography, hiking, climbing"


# -- questions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("where are you from?", {FactKind.CITY}),
        ("what's your name?", {FactKind.NAME}),
        ("what do you do for a living?", {FactKind.JOB}),
        ("how old are you?", {FactKind.AGE}),
        ("tu viens d'où ?", {FactKind.CITY}),
        ("tu fais quoi dans la vie ?", {FactKind.JOB}),
        ("¿de dónde eres?", {FactKind.CITY}),
        ("¿a qué te dedicas?", {FactKind.JOB}),
        ("di dove sei?", {FactKind.CITY}),
        ("che lavoro fai?", {FactKind.JOB}),
        ("woher kommst du?", {FactKind.CITY}),
        ("was machst du beruflich?", {FactKind.JOB}),
        ("de onde você é?", {FactKind.CITY}),
        ("o que você faz?", {FactKind.JOB}),
        ("I'm from Lyon too", set()),
        ("Nice! I'm from Lyon too.\nWhere are you from?", {FactKind.CITY}),
        ("I'm a photographer, and you?", {FactKind.JOB}),
        ("whereabouts", set()),
    ],
)
def test_asks_about(text: str, kinds: set[FactKind]) -> None:
    assert asks_about(text) == kinds


def test_a_statement_with_question_words_asks_nothing() -> None:
    assert asks_about("I know where you are from. Where I'm from it's cold.") == frozenset()
    assert asks_about("what do you do tonight?") == frozenset()


# -- merge and describe_known ----------------------------------------------------------------


def test_newer_facts_replace_older_ones() -> None:
    known = {FactKind.CITY: "Lyon", FactKind.JOB: "nurse"}
    merged = merge(known, [Fact(FactKind.CITY, "Berlin"), Fact(FactKind.AGE, "30")])
    assert merged == {FactKind.CITY: "Berlin", FactKind.JOB: "nurse", FactKind.AGE: "30"}
    assert known == {FactKind.CITY: "Lyon", FactKind.JOB: "nurse"}  # not mutated


def test_the_last_fact_of_a_kind_wins() -> None:
    merged = merge({}, [Fact(FactKind.NAME, "Sam"), Fact(FactKind.NAME, "Samantha")])
    assert merged == {FactKind.NAME: "Samantha"}


def test_interests_accumulate_up_to_three() -> None:
    known: dict[FactKind, str] = {}
    for interest in ("hiking", "film photography", "yoga"):
        known = merge(known, [Fact(FactKind.INTEREST, interest)])
    assert known[FactKind.INTEREST] == "hiking, film photography, yoga"
    known = merge(known, [Fact(FactKind.INTEREST, "surf")])
    assert known[FactKind.INTEREST] == "film photography, yoga, surf"  # oldest dropped


def test_a_repeated_interest_is_kept_once_and_counts_as_recent() -> None:
    known = {FactKind.INTEREST: "hiking, yoga, surf"}
    merged = merge(known, [Fact(FactKind.INTEREST, "Hiking")])
    assert merged[FactKind.INTEREST] == "yoga, surf, Hiking"


def test_a_list_of_interests_merges_item_by_item() -> None:
    known = {FactKind.INTEREST: "surf"}
    merged = merge(known, [Fact(FactKind.INTEREST, "cooking, yoga")])
    assert merged[FactKind.INTEREST] == "surf, cooking, yoga"


def test_extracted_facts_merge_across_messages() -> None:
    known: dict[FactKind, str] = {}
    for message in (
        "hi! I'm Sam",
        "I'm from Lyon",
        "I love hiking",
        "moved to Berlin? no, I live in Paris now",
    ):
        known = merge(known, extract_facts(message))
    assert known == {FactKind.NAME: "Sam", FactKind.CITY: "Paris", FactKind.INTEREST: "hiking"}


def test_describe_known_in_a_fixed_order() -> None:
    known = {
        FactKind.AGE: "25",
        FactKind.INTEREST: "hiking, film photography",
        FactKind.JOB: "nurse",
        FactKind.CITY: "Lyon",
        FactKind.NAME: "Sam",
    }
    expected = [
        "name: Sam",
        "lives in / comes from: Lyon",
        "job: nurse",
        "into: hiking, film photography",
        "age: 25",
    ]
    assert describe_known(known) == expected
    assert describe_known(dict(reversed(list(known.items())))) == expected


def test_describe_known_skips_blanks_and_tidies_spacing() -> None:
    assert describe_known({FactKind.NAME: "  ", FactKind.JOB: "graphic\n designer"}) == [
        "job: graphic designer"
    ]
    assert describe_known({}) == []


# -- robustness ------------------------------------------------------------------------------

# st.text leaves lone surrogates out; Instagram text has them, so build strings from
# characters that include them, plus fragments that reach deep into the rules.
_SURROGATES = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
_FRAGMENTS = st.sampled_from(
    [
        "I'm ",
        "my name is ",
        "call me ",
        "je viens de ",
        "j'ai ",
        " ans",
        "ich bin ",
        "tengo ",
        " años",
        "and you?",
        "et toi ?",
        "I love ",
        "Lyon",
        "SAM",
        "soy de ",
        "¿",
        "I work in ",
        "sou do ",
        "d'",
        "25",
        "17",
        "%",
        "e\u0301",
        "\n",
        "ß",
        "İ",
    ]
)
_TEXTS = st.lists(st.one_of(st.characters(), _SURROGATES, _FRAGMENTS), max_size=80).map("".join)


@settings(max_examples=500, deadline=None)
@given(_TEXTS)
def test_never_raises_and_values_stay_short(text: str) -> None:
    facts = extract_facts(text)
    kinds = [fact.kind for fact in facts]
    assert kinds == sorted(set(kinds), key=list(FactKind).index)
    assert all(0 < len(fact.value) <= MAX_VALUE for fact in facts)
    assert asks_about(text) <= frozenset(FactKind)
    assert len(describe_known(merge({}, facts))) == len(facts)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(_SURROGATES, st.sampled_from("My name is AaZz-' ")), max_size=200))
def test_long_names_and_places_are_cut(chars: list[str]) -> None:
    for prefix in ("my name is ", "I live in ", "my hobbies are "):
        for fact in extract_facts(prefix + "".join(chars)):
            assert len(fact.value) <= MAX_VALUE


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_the_ascii_fold_matches_the_general_one(text: str) -> None:
    assert memory._fold_ascii(text) == memory._fold_each(text)


@pytest.mark.parametrize(
    "text", ["", " ", "  Hi  there\t\n", "I'M  `Sam`\x1c\x1fok ", "a  b", " x", "x "]
)
def test_the_ascii_fold_on_spaces_and_apostrophes(text: str) -> None:
    assert memory._fold_ascii(text) == memory._fold_each(text)
