"""Does this text contain the persona's link? One answer for every caller.

The reply validator, the per-conversation link budget, the tracked-link rewrite and the
audit all ask the same question, and a model spells one link many ways:
``example.com/lena-presets``, ``http://…``, ``www.example.com/…``, ``EXAMPLE.com/lena-presets/``,
``(example.com/lena-presets).``. A substring check missed those and the link went out twelve
times, so the rule lives here once, as one regular expression built per link.

When in doubt the matcher counts: the budget must never be undercounted. Hence a longer path
under the link (``/lena-presets/more``), a query or a fragment still count as the link, and
non-ASCII letters next to a URL (CJK text has no spaces) do not hide it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

__all__ = ["LinkMatcher", "contains_link"]

# "https://…" has a scheme; so has "mailto:…"; "example.com:443/…" does not.
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?://|(?![0-9]))")
_BAD_HOST = re.compile(r"[\s<>\"'`{}|\\^/?#@\x00]")
_WEB_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = (80, 443)
_PATH_SAFE = "/:@!$&'()*+,;="

# An occurrence may not be glued to a preceding host label, e-mail local part or path.
_BEFORE = r"(?<![A-Za-z0-9._@/\-])"
# Scheme optional; "//example.com" (scheme-relative) counts too.
_SCHEME = r"(?:(?:https?:)?//)?"
_WWW = r"(?:www\.)?"
# The host stands alone: not "example.com.evil.net", not "example.community".
_HOST_END = r"(?![A-Za-z0-9\-]|\.[A-Za-z0-9\-])"
# The path segment ends: not "/lena-presets-old". A dot does not continue it ("….", "….html").
_SEGMENT_END = r"(?![A-Za-z0-9_\-~%+])"
_TOKEN = r"[A-Za-z0-9_\-]{1,32}(?![A-Za-z0-9_\-])"
# The rest of the URL (further path, query, fragment) belongs to the occurrence. It stops at
# brackets and quotes (so "[a](url)[b](url)" is two) and where another URL starts.
_TAIL = r"(?P<tail>[/?#](?:(?!https?://)[A-Za-z0-9\-._~:/?#@!$&*+,;=%])*)?"
# Trimmed off the end of the tail: sentence punctuation, closing brackets and quotes.
_TRAILING = frozenset(".,;:!?)]}>'\"»›…”’“‘*")


@dataclass(frozen=True, slots=True)
class _Target:
    hosts: tuple[str, ...]
    port: int | None
    paths: tuple[str, ...]


def _parse(url: str, what: str) -> _Target:
    raw = url.strip()
    if not raw:
        raise ValueError(f"{what} is empty; expected a URL such as https://example.com/page")
    if not _HAS_SCHEME.match(raw):
        raw = "//" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{what} {url!r} is not a valid URL: {exc}") from None
    if parts.scheme and parts.scheme.lower() not in _WEB_SCHEMES:
        raise ValueError(f"{what} {url!r} must be an http or https URL, not {parts.scheme!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(
            f"{what} {url!r} has no host; expected a URL such as https://example.com/page"
        )
    if _BAD_HOST.search(host):
        raise ValueError(f"{what} {url!r} has an invalid host {host!r}")
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return _Target(_host_spellings(host), port, _path_spellings(parts.path))


def _host_spellings(host: str) -> tuple[str, ...]:
    """The host as given plus its IDNA (punycode) or Unicode twin."""
    spellings = {host}
    with contextlib.suppress(UnicodeError):
        spellings.add(host.encode("idna").decode("ascii").lower())
    with contextlib.suppress(UnicodeError):
        spellings.add(host.encode("ascii").decode("idna").lower())
    return tuple(sorted(spellings, key=lambda s: (-len(s), s)))


def _path_spellings(path: str) -> tuple[str, ...]:
    """The path without trailing slashes, as given, percent-decoded and percent-encoded."""
    decoded = unquote(path)
    candidates = (path, decoded, quote(decoded, safe=_PATH_SAFE))
    spellings = {p.rstrip("/") for p in candidates} - {""}
    return tuple(sorted(spellings, key=lambda s: (-len(s), s)))


def _alternation(items: tuple[str, ...]) -> str:
    return "(?:" + "|".join(re.escape(item) for item in items) + ")"


def _site(target: _Target) -> str:
    ports = sorted({*_DEFAULT_PORTS, *((target.port,) if target.port is not None else ())})
    port = "(?::(?:" + "|".join(map(str, ports)) + ")(?![0-9]))?"
    return _WWW + _alternation(target.hosts) + _HOST_END + port


def _compile(link: _Target, tracked: _Target | None) -> re.Pattern[str]:
    persona = _site(link)
    if link.paths:
        persona += _alternation(link.paths) + _SEGMENT_END
    forms = [persona]
    if tracked is not None:
        base = _alternation(tracked.paths) if tracked.paths else ""
        forms.insert(0, _site(tracked) + base + "/l/" + _TOKEN)
    return re.compile(_BEFORE + _SCHEME + "(?:" + "|".join(forms) + ")" + _TAIL, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LinkMatcher:
    """Recognises the persona's link in any spelling, and dmpilot's tracked form of it.

    Build once with `for_link` and keep it: every call after that is one regex scan.
    """

    url: str
    tracked_base: str | None
    pattern: re.Pattern[str] = field(repr=False, compare=False)
    # Lowercase host names an occurrence must contain (a cheap prefilter for SQL scans).
    hosts: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def for_link(cls, url: str, tracked_base: str | None = None) -> LinkMatcher:
        """A matcher for `url`, and for `<tracked_base>/l/<token>` when `tracked_base` is given.

        Raises ValueError when either URL has no host or is not http(s).
        """
        link = _parse(url, "link")
        tracked = _parse(tracked_base, "tracked_base") if tracked_base is not None else None
        hosts = tuple(h.lower() for h in (*link.hosts, *(tracked.hosts if tracked else ())))
        return cls(url, tracked_base, _compile(link, tracked), hosts)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each occurrence, in order, without trailing punctuation."""
        found: list[tuple[int, int]] = []
        for match in self.pattern.finditer(text):
            end = match.end()
            floor = match.start("tail") if match.group("tail") is not None else end
            while end > floor and text[end - 1] in _TRAILING:
                end -= 1
            found.append((match.start(), end))
        return found

    def count(self, text: str) -> int:
        return sum(1 for _ in self.pattern.finditer(text))

    def contains(self, text: str) -> bool:
        return self.pattern.search(text) is not None

    def replace(self, text: str, replacement: str) -> str:
        """Every occurrence replaced by `replacement`; surrounding punctuation is kept."""
        pieces: list[str] = []
        last = 0
        for start, end in self.spans(text):
            pieces.append(text[last:start])
            pieces.append(replacement)
            last = end
        pieces.append(text[last:])
        return "".join(pieces)


def contains_link(text: str, url: str, tracked_base: str | None = None) -> bool:
    """One-off check; on a hot path build a `LinkMatcher` once and reuse it."""
    return LinkMatcher.for_link(url, tracked_base).contains(text)
