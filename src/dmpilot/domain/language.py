"""Which language a message is in: lingua's n-gram models plus whole-word evidence."""

from __future__ import annotations

import re
from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

_URLS = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "you",
            "your",
            "are",
            "is",
            "what",
            "how",
            "hey",
            "hi",
            "hello",
            "thanks",
            "thank",
            "yes",
            "no",
            "not",
            "it",
            "this",
            "that",
            "with",
            "for",
            "have",
            "do",
            "don't",
            "i'm",
            "im",
            "my",
            "me",
            "so",
            "just",
            "really",
            "love",
            "like",
            "can",
            "want",
            "where",
            "when",
            "why",
            "who",
            "would",
            "will",
            "lol",
            "omg",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "tu",
            "toi",
            "ton",
            "ta",
            "tes",
            "est",
            "es",
            "quoi",
            "comment",
            "salut",
            "bonjour",
            "merci",
            "oui",
            "non",
            "pas",
            "ce",
            "cette",
            "avec",
            "pour",
            "avoir",
            "je",
            "j'ai",
            "moi",
            "mon",
            "ma",
            "mes",
            "vraiment",
            "aime",
            "veux",
            "où",
            "quand",
            "pourquoi",
            "qui",
            "c'est",
            "ça",
            "un",
            "une",
            "des",
            "du",
            "au",
            "aux",
            "suis",
            "t'es",
            "mdr",
            "coucou",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "y",
            "tú",
            "tu",
            "eres",
            "es",
            "qué",
            "cómo",
            "hola",
            "gracias",
            "sí",
            "no",
            "con",
            "para",
            "tengo",
            "yo",
            "mi",
            "muy",
            "quiero",
            "dónde",
            "cuándo",
            "por",
            "estoy",
            "eres",
            "jaja",
        ]
    ),
    "it": frozenset(
        [
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "e",
            "tu",
            "sei",
            "è",
            "cosa",
            "come",
            "ciao",
            "grazie",
            "sì",
            "no",
            "non",
            "con",
            "per",
            "ho",
            "io",
            "mio",
            "mia",
            "molto",
            "voglio",
            "dove",
            "quando",
            "perché",
            "sono",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "du",
            "bist",
            "ist",
            "was",
            "wie",
            "hallo",
            "hi",
            "danke",
            "ja",
            "nein",
            "nicht",
            "mit",
            "für",
            "habe",
            "ich",
            "mein",
            "meine",
            "sehr",
            "will",
            "wo",
            "wann",
            "warum",
            "bin",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "e",
            "você",
            "tu",
            "é",
            "que",
            "como",
            "olá",
            "oi",
            "obrigado",
            "obrigada",
            "sim",
            "não",
            "com",
            "para",
            "tenho",
            "eu",
            "meu",
            "minha",
            "muito",
            "quero",
            "onde",
            "quando",
            "porque",
            "sou",
            "kkk",
        ]
    ),
}

# Letters that only some languages use settle ties.
_MARKERS: dict[str, str] = {"fr": "çœêèàù", "es": "ñ¿¡", "de": "ßäöü", "pt": "ãõ"}


_LINGUA = {
    "en": Language.ENGLISH,
    "fr": Language.FRENCH,
    "es": Language.SPANISH,
    "it": Language.ITALIAN,
    "de": Language.GERMAN,
    "pt": Language.PORTUGUESE,
}
SUPPORTED = tuple(_LINGUA)
_MIN_SCORE = 0.6
_MIN_MARGIN = 0.2
_SHORT_MESSAGE_WORDS = 2


@cache
def _detector() -> LanguageDetector:
    # High-accuracy models (about 200 MB, loaded once, constant for the life of the
    # process): low-accuracy mode called plain French sentences Italian. Whole-word
    # function words decide the one- and two-word messages n-grams cannot.
    return (
        LanguageDetectorBuilder.from_languages(*_LINGUA.values())
        .with_preloaded_language_models()
        .build()
    )


def load_models() -> None:
    """Load the language models now (at startup) rather than inside the first request."""
    _detector()


def words(text: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD.findall(text.casefold())]


def _function_word_scores(tokens: list[str], lowered: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for language, vocabulary in _FUNCTION_WORDS.items():
        hits = float(sum(1 for t in tokens if t in vocabulary))
        hits += 0.5 * sum(1 for ch in _MARKERS.get(language, "") if ch in lowered)
        if hits:
            scores[language] = hits
    return scores


def detect_language(text: str, candidates: list[str] | None = None) -> str | None:
    """The language of `text` among `candidates` (default: all supported), or None if unsure.

    Evidence is lingua's confidence plus whole-word function words ("germany" is not
    "many"); a language needs a clear score and a clear margin over the runner-up.
    """
    text = _URLS.sub(" ", text)  # links carry no language
    tokens = words(text)
    if not tokens:
        return None
    pool = [c for c in (candidates or SUPPORTED) if c in _LINGUA]
    if not pool:
        return None
    lowered = text.casefold()
    function_words = {
        language: hits
        for language, hits in _function_word_scores(tokens, lowered).items()
        if language in pool
    }
    if len(tokens) <= _SHORT_MESSAGE_WORDS:
        # n-gram models guess on one or two words; only whole-word evidence counts here.
        if not function_words:
            return None
        ranked = sorted(function_words.items(), key=lambda item: item[1], reverse=True)
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            return None
        return ranked[0][0]
    scores = dict.fromkeys(pool, 0.0)
    for value in _detector().compute_language_confidence_values(text):
        code = value.language.iso_code_639_1.name.lower()
        if code in scores:
            scores[code] += value.value
    for language, hits in function_words.items():
        scores[language] += 0.35 * min(hits, 3)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best, best_score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if best_score < _MIN_SCORE or best_score - runner_up < _MIN_MARGIN:
        return None
    return best
