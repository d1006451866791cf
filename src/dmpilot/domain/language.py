"""Which language a message is in, by whole words only ("germany" never matches "many").

A small function-word detector: good enough to pick the exit message's language for
short DMs, and free of substring guesses.
"""

from __future__ import annotations

import re

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


def words(text: str) -> list[str]:
    return [w.replace("’", "'") for w in _WORD.findall(text.casefold())]


def detect_language(text: str, candidates: list[str] | None = None) -> str | None:
    """Best-scoring language among `candidates` (all known when None), or None if unsure."""
    tokens = words(text)
    if not tokens:
        return None
    pool = [c for c in (candidates or list(_FUNCTION_WORDS)) if c in _FUNCTION_WORDS]
    lowered = text.casefold()
    scores: dict[str, float] = {}
    for language in pool:
        score = float(sum(1 for t in tokens if t in _FUNCTION_WORDS[language]))
        score += 0.5 * sum(1 for ch in _MARKERS.get(language, "") if ch in lowered)
        if score:
            scores[language] = score
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]
