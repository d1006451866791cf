"""`dmpilot doctor`: is this deployment fit to answer a live account?

Each check returns a `Check` (pass / warn / fail / skip, what was found, how to fix it) and
never raises; anything that talks to a network or a database is bounded by a timeout.
Details never carry a secret: tokens and keys are never quoted, database URLs are masked,
and every detail passes through `scrub` with the configured secrets as a last guard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
from pydantic import SecretStr

from dmpilot.brains import Brain, ProbeStatus, build_brain
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.personas import PersonaError, bundled_persona_path, load_persona
from dmpilot.personas.check import Severity, check_persona_file
from dmpilot.settings import Settings
from dmpilot.store.database import UnsupportedDatabase, masked_url, pool_capacity
from dmpilot.store.revision import SchemaState, schema_state

TIMEOUT_SECONDS = 5.0
MIN_TOKEN_LENGTH = 24
# Lowercased fragments of values people paste from docs and .env templates.
_PLACEHOLDERS = (
    "change",
    "secret",
    "password",
    "token",
    "example",
    "placeholder",
    "dmpilot",
    "test",
    "xxxx",
    "1234",
    "abcd",
    "your",
)
_MIN_DISTINCT_CHARACTERS = 10  # a random 24+ character token has about 20
_NEW_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"  # works, but not as a live account should run
    FAIL = "fail"  # the deployment is not fit: `dmpilot doctor` exits 1
    SKIP = "skip"  # does not apply to this configuration


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


# GET a URL within a timeout, without following redirects; returns the status code.
Fetch = Callable[[str, float], Awaitable[int]]


async def http_status(url: str, timeout_seconds: float) -> int:
    async with httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False) as client:
        response = await client.get(url)
        return response.status_code


# -- webhook token ---------------------------------------------------------------------------


def check_webhook_token(token: str | None) -> Check:
    name = "webhook token"
    fix = f"set DMPILOT_WEBHOOK_TOKEN to a random value, e.g. from `{_NEW_TOKEN}`"
    if token is None:
        return Check(name, Status.FAIL, "DMPILOT_WEBHOOK_TOKEN is not set", fix)
    if len(token) < MIN_TOKEN_LENGTH:
        return Check(
            name,
            Status.FAIL,
            f"DMPILOT_WEBHOOK_TOKEN has {len(token)} characters, fewer than {MIN_TOKEN_LENGTH}",
            fix,
        )
    folded = token.lower()
    if any(word in folded for word in _PLACEHOLDERS) or (
        len(set(token)) < _MIN_DISTINCT_CHARACTERS
    ):
        # The token is never quoted, not even the fragment that gave it away.
        return Check(
            name, Status.FAIL, "DMPILOT_WEBHOOK_TOKEN looks like a placeholder, not random", fix
        )
    return Check(name, Status.PASS, f"set, {len(token)} characters")


# -- persona ---------------------------------------------------------------------------------


def check_persona(path: Path | None) -> Check:
    name = "persona"
    bundled = bundled_persona_path()
    fix_example = "write your own persona (docs/persona.md) and set DMPILOT_PERSONA to its path"
    if path is None or path.expanduser().resolve() == bundled:
        return Check(
            name,
            Status.FAIL,
            "the bundled example persona (a fictional photographer with an example.com link)",
            fix_example,
        )
    persona, problems = check_persona_file(path)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    fix = f"run `dmpilot check-persona {path}` and fix every error it lists"
    if persona is None or errors:
        first = errors[0] if errors else None
        shown = f"{first.field}: {first.message}" if first else "cannot be loaded"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Check(name, Status.FAIL, f"{path}: {_one_line(shown)}{more}", fix)
    example = load_persona(bundled)
    if persona.link.url == example.link.url:
        return Check(
            name,
            Status.FAIL,
            f"{path} is a copy of the example: its link is {example.link.url}",
            fix_example,
        )
    warnings = sum(1 for p in problems if p.severity is Severity.WARNING)
    if warnings:
        return Check(
            name,
            Status.WARN,
            f"{persona.name} ({path}): {warnings} warning{'s' if warnings > 1 else ''}",
            f"run `dmpilot check-persona {path}` to read them",
        )
    return Check(name, Status.PASS, f"{persona.name} ({path}), link {persona.link.url}")


# -- brain -----------------------------------------------------------------------------------


async def check_brain(settings: Settings, timeout_seconds: float) -> Check:
    name = "brain"
    kind = settings.brain_kind
    if kind == "scripted":
        return Check(
            name,
            Status.WARN,
            "the scripted brain answers from a fixed phrase bank: not for a live account",
            "set ANTHROPIC_API_KEY (or DMPILOT_BRAIN=openai with OPENAI_BASE_URL)",
        )
    brain = build_brain(settings)
    try:
        return await _probe_brain(brain, kind, settings.model, timeout_seconds)
    finally:
        await brain.aclose()


async def _probe_brain(brain: Brain, kind: str, model: str, timeout_seconds: float) -> Check:
    # The SDK's own timeout covers the request; wait_for bounds its retries as well.
    result = await asyncio.wait_for(brain.probe(timeout_seconds), timeout_seconds * 2)
    key = "ANTHROPIC_API_KEY" if kind == "anthropic" else "OPENAI_API_KEY"
    endpoint = "ANTHROPIC_BASE_URL" if kind == "anthropic" else "OPENAI_BASE_URL"
    if result.status is ProbeStatus.OK:
        return Check("brain", Status.PASS, f"{kind}, model {model}: the key and model answer")
    if result.status is ProbeStatus.REFUSED:
        return Check(
            "brain",
            Status.FAIL,
            f"{kind}: {result.detail}",
            f"check {key} and DMPILOT_MODEL (see 'Choosing a model' in the README)",
        )
    return Check(
        "brain",
        Status.FAIL,
        f"{kind} is not reachable: {result.detail}",
        f"check the network, a proxy or {endpoint}; replies are skipped until it answers",
    )


# -- database --------------------------------------------------------------------------------


def check_database(url: str, pool_size: int, processes: int, timeout_seconds: float) -> list[Check]:
    """Two checks: reachable and migrated; then, on PostgreSQL, the connection arithmetic."""
    shown = masked_url(url)
    try:
        state = schema_state(url, timeout_seconds)
    except UnsupportedDatabase as exc:
        return [Check("database", Status.FAIL, str(exc), "fix DMPILOT_DATABASE_URL")]
    except StoreUnavailable as exc:
        return [
            Check(
                "database",
                Status.FAIL,
                f"cannot open the {exc}",
                "check DMPILOT_DATABASE_URL, that the server runs and accepts this user, "
                "or run `dmpilot migrate` to create it",
            ),
            _skipped_connections(),
        ]
    return [_schema_check(shown, state), check_connections(state, pool_size, processes)]


def _schema_check(shown: str, state: SchemaState) -> Check:
    name = "database"
    if state.current == state.head:
        return Check(name, Status.PASS, f"{shown} at revision {state.head} (head)")
    if state.current is None:
        return Check(name, Status.FAIL, f"{shown} has no dmpilot schema", "run `dmpilot migrate`")
    if state.current not in state.known:
        return Check(
            name,
            Status.FAIL,
            f"{shown} is at revision {state.current}, newer than this dmpilot (head {state.head})",
            "upgrade dmpilot to the version that migrated this database",
        )
    return Check(
        name,
        Status.FAIL,
        f"{shown} is at revision {state.current}, not the head {state.head}",
        "run `dmpilot migrate` (serve also migrates at start)",
    )


def check_connections(state: SchemaState, pool_size: int, processes: int) -> Check:
    name = "database connections"
    if state.max_connections is None:
        return Check(
            name, Status.SKIP, f"{state.dialect}: no connection limit (one writer at a time)"
        )
    # Each process keeps pool_size connections and opens as many again under load.
    per_process = pool_capacity(pool_size)
    peak = processes * per_process
    available = state.max_connections - (state.reserved_connections or 0)
    arithmetic = (
        f"{processes} processes × 2 × DMPILOT_POOL_SIZE {pool_size} = {peak} connections at "
        f"peak; PostgreSQL allows {available} (max_connections {state.max_connections} − "
        f"{state.reserved_connections or 0} reserved)"
    )
    if peak > available:
        return Check(
            name,
            Status.WARN,
            arithmetic + ": under load, connections could be refused",
            "lower DMPILOT_POOL_SIZE or the number of processes, or raise max_connections",
        )
    return Check(name, Status.PASS, arithmetic)


def _skipped_connections() -> Check:
    return Check("database connections", Status.SKIP, "the database could not be opened")


# -- ManyChat --------------------------------------------------------------------------------


async def check_manychat(settings: Settings, timeout_seconds: float) -> Check:
    name = "ManyChat API key"
    mode = settings.delivery_mode.value
    key = settings.manychat_api_key
    if mode == "inline" or key is None:
        return Check(name, Status.SKIP, "inline delivery: replies leave in the webhook response")
    from dmpilot.channels.manychat_api import ManyChatSender

    sender = ManyChatSender(
        key.get_secret_value(), settings.manychat_api_url, timeout_seconds=timeout_seconds
    )
    try:
        problem = await asyncio.wait_for(sender.probe(), timeout_seconds * 2)
    finally:
        await sender.aclose()
    if problem is None:
        return Check(name, Status.PASS, f"{mode} delivery: ManyChat accepts the key")
    return Check(
        name,
        Status.FAIL,
        f"{mode} delivery: {problem}",
        "copy the key again from ManyChat → Settings → API into DMPILOT_MANYCHAT_API_KEY",
    )


# -- Instagram (Meta) ------------------------------------------------------------------------

INSTAGRAM_SECRETS = "Instagram (Meta) secrets"
INSTAGRAM_TOKEN = "Instagram access token"
MIN_VERIFY_TOKEN_LENGTH = 16
_MIN_VERIFY_DISTINCT = 8  # a random 16-character token has about 14
_META_SETUP = "README: 'Instagram without ManyChat'"
_NEW_META_TOKEN = (
    "generate a new token in the Meta app dashboard (Instagram → API setup with Instagram "
    "business login → Generate token) and set DMPILOT_META_ACCESS_TOKEN"
)


def check_instagram_secrets(
    app_secret: str | None,
    verify_token: str | None,
    access_token: str | None,
    account_id: str | None,
) -> Check:
    """The direct Instagram channel's settings: all four or none, a verify token that is not
    trivially guessed, an account id of digits. Nothing here talks to Meta."""
    name = INSTAGRAM_SECRETS
    given = {
        "DMPILOT_META_APP_SECRET": app_secret,
        "DMPILOT_META_VERIFY_TOKEN": verify_token,
        "DMPILOT_META_ACCESS_TOKEN": access_token,
        "DMPILOT_META_ACCOUNT_ID": account_id,
    }
    missing = [variable for variable, value in given.items() if not value]
    if len(missing) == len(given):
        return Check(name, Status.SKIP, "Instagram channel not configured (no DMPILOT_META_*)")
    if missing:
        return Check(
            name,
            Status.FAIL,
            f"the Instagram channel needs every DMPILOT_META_* setting; missing: "
            f"{', '.join(missing)}",
            f"set them all, or none to run without the Instagram channel ({_META_SETUP})",
        )
    if not (account_id and account_id.isascii() and account_id.isdigit()):
        return Check(
            name,
            Status.FAIL,
            "DMPILOT_META_ACCOUNT_ID is not the account's numeric id (digits only)",
            "copy the id the Meta app dashboard shows next to the account "
            "(Instagram → API setup with Instagram business login)",
        )
    token = verify_token or ""
    fix = f"set DMPILOT_META_VERIFY_TOKEN to a random value, e.g. from `{_NEW_TOKEN}`, and "
    fix += "type the same value as the Verify Token in the Meta app's webhook setup"
    if len(token) < MIN_VERIFY_TOKEN_LENGTH:
        # Never quoted: only its length.
        return Check(
            name,
            Status.WARN,
            f"DMPILOT_META_VERIFY_TOKEN has {len(token)} characters; "
            f"{MIN_VERIFY_TOKEN_LENGTH} or more are recommended",
            fix,
        )
    if len(set(token)) < _MIN_VERIFY_DISTINCT:
        return Check(
            name,
            Status.WARN,
            "DMPILOT_META_VERIFY_TOKEN repeats a few characters: it looks guessable, not random",
            fix,
        )
    return Check(
        name,
        Status.PASS,
        f"app secret, verify token ({len(token)} characters) and access token set; "
        f"account {account_id}",
    )


async def check_instagram_token(
    access_token: str | None,
    account_id: str | None,
    graph_url: str,
    timeout_seconds: float,
) -> Check:
    """Meta accepts the access token, and it belongs to DMPILOT_META_ACCOUNT_ID."""
    name = INSTAGRAM_TOKEN
    if not access_token or not account_id:
        return Check(name, Status.SKIP, "Instagram channel not configured")
    from dmpilot.channels.instagram_api import InstagramSender

    sender = InstagramSender(access_token, account_id, graph_url, timeout_seconds=timeout_seconds)
    try:
        problem = await asyncio.wait_for(sender.probe(), timeout_seconds * 2)
    finally:
        await sender.aclose()
    if problem is None:
        return Check(name, Status.PASS, f"Meta accepts the token for account {account_id}")
    if problem.startswith("cannot reach"):  # InstagramSender.probe's words for no answer
        fix = "check the network, a proxy or DMPILOT_META_GRAPH_URL"
    elif "DMPILOT_META_ACCOUNT_ID is" in problem:  # the token is another account's
        fix = (
            "set DMPILOT_META_ACCOUNT_ID to the account the token belongs to, or generate "
            "the token for the account it names now"
        )
    else:
        fix = _NEW_META_TOKEN + f" ({_META_SETUP}); until then every Instagram send fails"
    return Check(name, Status.FAIL, problem, fix)


# -- public URL ------------------------------------------------------------------------------


async def check_public_url(url: str | None, fetch: Fetch, timeout_seconds: float) -> Check:
    name = "public URL"
    if not url:
        return Check(
            name,
            Status.SKIP,
            "DMPILOT_PUBLIC_URL is not set, so /healthz was not checked from outside",
            "set DMPILOT_PUBLIC_URL=https://… (tracked links need it too) to check it",
        )
    fix_https = (
        "serve dmpilot behind an HTTPS proxy (serve --proxy) and set "
        "DMPILOT_PUBLIC_URL=https://your.domain"
    )
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme != "https":
        return Check(
            name,
            Status.FAIL,
            f"{url} is not HTTPS: ManyChat and Meta only call HTTPS webhooks",
            fix_https,
        )
    target = url.rstrip("/") + "/healthz"
    try:
        code = await asyncio.wait_for(fetch(target, timeout_seconds), timeout_seconds * 2)
    except (httpx.HTTPError, OSError, TimeoutError, ValueError) as exc:
        return Check(
            name,
            Status.FAIL,
            f"{target} did not answer: {_one_line(str(exc)) or type(exc).__name__}",
            "check DNS, the proxy and its certificate, and that `dmpilot serve` runs",
        )
    if code == 200:
        return Check(name, Status.PASS, f"{target} answers 200 over HTTPS")
    return Check(
        name,
        Status.FAIL,
        f"{target} answered {code}, not 200",
        "point DMPILOT_PUBLIC_URL at dmpilot itself (a redirect or an error page is not it); "
        "a 503 means dmpilot cannot reach its database",
    )


# -- everything ------------------------------------------------------------------------------


async def run_checks(
    settings: Settings,
    *,
    processes: int = 3,
    timeout_seconds: float = TIMEOUT_SECONDS,
    fetch: Fetch = http_status,
) -> list[Check]:
    """Every check, the slow ones at once; the list is in a fixed order."""
    database = asyncio.to_thread(
        check_database, settings.database_url, settings.pool_size, processes, timeout_seconds
    )
    meta_token = _secret(settings.meta_access_token)
    instagram_token = check_instagram_token(
        meta_token, settings.meta_account_id, settings.meta_graph_url, timeout_seconds
    )
    brain, manychat, instagram, public, db_checks = await asyncio.gather(
        _guarded("brain", check_brain(settings, timeout_seconds)),
        _guarded("ManyChat API key", check_manychat(settings, timeout_seconds)),
        _guarded(INSTAGRAM_TOKEN, instagram_token),
        _guarded("public URL", check_public_url(settings.public_url, fetch, timeout_seconds)),
        _guarded_many("database", database),
    )
    meta_settings = (
        _secret(settings.meta_app_secret),
        _secret(settings.meta_verify_token),
        meta_token,
        settings.meta_account_id,
    )
    checks = [
        _guarded_sync("webhook token", lambda: check_webhook_token(settings.token)),
        _guarded_sync("persona", lambda: check_persona(settings.persona)),
        brain,
        *db_checks,
        manychat,
        _guarded_sync(INSTAGRAM_SECRETS, lambda: check_instagram_secrets(*meta_settings)),
        instagram,
        public,
    ]
    return [scrub(check, _secrets(settings)) for check in checks]


def failed(checks: Iterable[Check]) -> bool:
    return any(check.status is Status.FAIL for check in checks)


async def _guarded(name: str, work: Awaitable[Check]) -> Check:
    try:
        return await work
    except Exception as exc:  # a check that breaks is a failed check, never a traceback
        return _broken(name, exc)


async def _guarded_many(name: str, work: Awaitable[list[Check]]) -> list[Check]:
    try:
        return await work
    except Exception as exc:
        return [_broken(name, exc)]


def _guarded_sync(name: str, work: Callable[[], Check]) -> Check:
    try:
        return work()
    except (PersonaError, OSError, ValueError) as exc:
        return _broken(name, exc)


def _broken(name: str, exc: BaseException) -> Check:
    if isinstance(exc, TimeoutError):
        detail = "no answer in time"
    else:
        detail = f"{type(exc).__name__}: {_one_line(str(exc))}"
    return Check(name, Status.FAIL, detail, "fix what the detail names, then run doctor again")


def _secrets(settings: Settings) -> list[str]:
    values = [
        settings.webhook_token,
        settings.manychat_api_key,
        settings.anthropic_api_key,
        settings.openai_api_key,
        settings.meta_app_secret,
        settings.meta_verify_token,
        settings.meta_access_token,
    ]
    return [value.get_secret_value() for value in values if value is not None]


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def scrub(check: Check, secrets: Iterable[str]) -> Check:
    """The check with any configured secret masked: details quote servers and libraries."""
    detail, fix = check.detail, check.fix
    for secret in secrets:
        detail, fix = detail.replace(secret, "***"), fix.replace(secret, "***")
    return Check(check.name, check.status, detail, fix)


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]
