"""Is a reply a repeat of something already said? Shared by the live check and the audit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from rapidfuzz import fuzz

_NOT_WORDS = re.compile(r"[^\w\s]|_", re.UNICODE)

# Measured on the pairs in tests/unit/test_repetition.py: rewordings of one sentence
# score 83-100, distinct replies of one persona at most 62.
DEFAULT_SIMILARITY_THRESHOLD = 80.0


def normalize_for_comparison(text: str) -> str:
    """Lowercase words only: punctuation, emoji and spacing do not make a reply new."""
    return " ".join(_NOT_WORDS.sub(" ", text.casefold()).split())


def text_key(text: str) -> str:
    """A short stable key of the normalised text: equal keys mean an exact repeat."""
    return hashlib.blake2b(normalize_for_comparison(text).encode(), digest_size=8).hexdigest()


def similarity(a: str, b: str) -> float:
    return fuzz.ratio(normalize_for_comparison(a), normalize_for_comparison(b))


def find_repeat(
    candidate: str,
    previous: Iterable[str],
    threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
) -> str | None:
    """The earlier reply that `candidate` repeats exactly or nearly, if any."""
    norm = normalize_for_comparison(candidate)
    for earlier in previous:
        other = normalize_for_comparison(earlier)
        if norm == other:
            return earlier
        if norm and other and fuzz.ratio(norm, other) >= threshold:
            return earlier
    return None


def similar_contacts(
    candidate: str,
    others: Iterable[tuple[int, str]],
    threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
) -> set[int]:
    """Contacts that were already sent `candidate`, exactly or nearly (broadcast check)."""
    norm = normalize_for_comparison(candidate)
    if not norm:
        return set()
    return {
        contact
        for contact, text in others
        if (other := normalize_for_comparison(text)) == norm
        or (other and fuzz.ratio(norm, other) >= threshold)
    }


def distinct_texts(texts: Iterable[str], threshold: float = DEFAULT_SIMILARITY_THRESHOLD) -> int:
    """How many different replies `texts` hold, near-duplicates counted once (loop check)."""
    kept: list[str] = []
    for text in texts:
        norm = normalize_for_comparison(text)
        if not any(norm == other or fuzz.ratio(norm, other) >= threshold for other in kept):
            kept.append(norm)
    return len(kept)
