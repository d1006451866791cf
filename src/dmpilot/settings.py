"""One Settings object, read from DMPILOT_* environment variables (see the README table)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from dmpilot.alerts.addresses import (
    checked_address,
    checked_addresses,
    checked_host,
    checked_webhook_url,
)
from dmpilot.brains.models import DEFAULT_MODEL
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.domain.persona import MAX_TYPING_SECONDS
from dmpilot.domain.privacy import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS

BrainKind = Literal["scripted", "anthropic", "openai"]

# Upper bounds: past these a value is a typo, and inf/1e308 would overflow timedelta or SQL.
HOUR = 3600.0
DAY = 86_400.0
WEEK = 7 * DAY
MAX_PRICE = 10_000.0  # US$ per million tokens, far above any model's list price

# The name each secret is read from, for error messages (never the value).
_SECRET_VARIABLES = {
    "webhook_token": "DMPILOT_WEBHOOK_TOKEN",
    "console_password": "DMPILOT_CONSOLE_PASSWORD",
    "manychat_api_key": "DMPILOT_MANYCHAT_API_KEY",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "openai_api_key": "OPENAI_API_KEY",
    "meta_app_secret": "DMPILOT_META_APP_SECRET",
    "meta_verify_token": "DMPILOT_META_VERIFY_TOKEN",
    "meta_access_token": "DMPILOT_META_ACCESS_TOKEN",
}
# The Instagram channel's settings: all of them, or none.
_META_VARIABLES = {
    "meta_app_secret": "DMPILOT_META_APP_SECRET",
    "meta_verify_token": "DMPILOT_META_VERIFY_TOKEN",
    "meta_access_token": "DMPILOT_META_ACCESS_TOKEN",
    "meta_account_id": "DMPILOT_META_ACCOUNT_ID",
}


def clean_secret(variable: str, value: str) -> str | None:
    """A secret with surrounding whitespace removed (a pasted key often ends in a newline);
    None when blank. Secrets travel in HTTP headers, which carry visible ASCII only, so any
    other character is refused here rather than failing, or leaking, at the first request."""
    value = value.strip()
    if not value:
        return None
    for position, char in enumerate(value, start=1):
        if not "\x21" <= char <= "\x7e":
            # Say what kind of character and where, never which: the value is a secret.
            raise ValueError(
                f"{variable} holds {_kind_of(char)} (character {position}): HTTP headers "
                "carry visible ASCII only (no spaces, control characters, accents or "
                "typographic quotes); copy the value again from its source"
            )
    return value


def _revealed(value: object) -> object:
    """A SecretStr given in code (Settings(...), model_copy) checked as the text it holds,
    like the same value read from the environment."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _kind_of(char: str) -> str:
    if char.isspace():
        return "a space"
    return "a control character" if char.isascii() else "a non-ASCII character"


class Settings(BaseSettings):
    # hide_input_in_errors: a ValidationError's text must never carry a secret it was given.
    model_config = SettingsConfigDict(
        env_prefix="DMPILOT_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = "sqlite:///./dmpilot.db"
    webhook_token: SecretStr | None = None
    persona: Path | None = None
    brain: BrainKind | None = None
    model: str = DEFAULT_MODEL
    cache_min_tokens: int | None = Field(None, ge=0, le=1_000_000)
    dedup_window_seconds: float = Field(30.0, ge=0, le=WEEK, allow_inf_nan=False)
    coalesce_seconds: float = Field(2.0, ge=0, le=30, allow_inf_nan=False)
    reply_budget_seconds: float = Field(7.0, gt=0, le=60, allow_inf_nan=False)
    lease_seconds: float = Field(20.0, gt=0, le=HOUR, allow_inf_nan=False)
    history_messages: int = Field(20, ge=1, le=200)
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_attempts: int = Field(3, ge=1, le=5)
    similarity_threshold: float = Field(80.0, ge=50, le=100, allow_inf_nan=False)
    broadcast_contacts: int = Field(3, ge=1, le=10_000)
    broadcast_window_seconds: float = Field(3600, gt=0, le=WEEK, allow_inf_nan=False)
    daily_new_conversations: int = Field(50, ge=1, le=1_000_000)
    leak_threshold: float = Field(0.3, gt=0, le=1, allow_inf_nan=False)
    max_tokens: int = Field(200, ge=16, le=4096)
    guard_enabled: bool = True
    guard_window_seconds: float = Field(600, gt=0, le=WEEK, allow_inf_nan=False)
    guard_min_decisions: int = Field(20, ge=1, le=100_000)
    guard_repetition_share: float = Field(0.3, gt=0, le=1, allow_inf_nan=False)
    guard_error_share: float = Field(0.5, gt=0, le=1, allow_inf_nan=False)
    track_links: bool = False
    public_url: str | None = None
    # US$ per million tokens; unset: the model's own prices (brains/models.py).
    price_input_per_mtok: float | None = Field(None, ge=0, le=MAX_PRICE, allow_inf_nan=False)
    price_output_per_mtok: float | None = Field(None, ge=0, le=MAX_PRICE, allow_inf_nan=False)
    seed: int = Field(0, ge=-(2**63), le=2**63 - 1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    pool_size: int = Field(5, ge=1, le=50)
    api_docs: bool = False

    # -- the operator console and human handoff ------------------------------------------
    # Sign-in secret for /console; unset: the webhook token (or, with neither, a password
    # `dmpilot serve` makes up and prints at start).
    console_password: SecretStr | None = None
    console_session_hours: float = Field(12.0, gt=0, le=24 * 30, allow_inf_nan=False)
    # A contact a person took over goes back to the bot by itself after this long.
    handoff_hours: float = Field(24.0, gt=0, le=24 * 30, allow_inf_nan=False)
    # A contact asking for a real person is handed to one (the bot falls silent).
    handoff_on_request: bool = True

    # -- a contact's data (README "A contact's data") ------------------------------------
    # Message texts older than this many days are blanked by the worker; unset: kept.
    retention_days: int | None = Field(None, ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS)

    # -- delivery (the outbox and its worker) ------------------------------------------
    delivery: DeliveryMode | None = None
    manychat_api_key: SecretStr | None = None
    manychat_api_url: str = "https://api.manychat.com"
    manychat_timeout_seconds: float = Field(10.0, gt=0, le=60, allow_inf_nan=False)
    inline_seconds: float = Field(6.0, gt=0, le=9, allow_inf_nan=False)
    worker_budget_seconds: float = Field(45.0, gt=0, le=300, allow_inf_nan=False)
    turn_retry_attempts: int = Field(4, ge=1, le=10)
    turn_retry_seconds: float = Field(30.0, gt=0, le=DAY, allow_inf_nan=False)
    send_attempts: int = Field(5, ge=1, le=20)
    send_lease_seconds: float = Field(60.0, gt=0, le=HOUR, allow_inf_nan=False)
    min_send_gap_seconds: float = Field(2.0, ge=0, le=HOUR, allow_inf_nan=False)
    sends_per_second: int = Field(20, ge=1, le=100)
    worker_poll_seconds: float = Field(0.5, gt=0, le=60, allow_inf_nan=False)
    worker_concurrency: int = Field(8, ge=1, le=64)
    # `dmpilot serve` runs the delivery worker in-process; unset: on in push and hybrid
    # delivery, off inline (nothing is ever queued there).
    worker: bool | None = None

    # -- the Instagram Messaging API channel (/webhooks/instagram) ------------------------
    meta_app_secret: SecretStr | None = None  # signs every webhook POST (X-Hub-Signature-256)
    meta_verify_token: SecretStr | None = None  # the token typed into the app's webhook setup
    meta_access_token: SecretStr | None = None  # the account's token for the Send API
    meta_account_id: str | None = None  # the Instagram professional account's id (digits)
    meta_graph_url: str = "https://graph.instagram.com/v25.0"
    meta_timeout_seconds: float = Field(10.0, gt=0, le=60, allow_inf_nan=False)

    # -- alerts to the operator (dmpilot/alerts; README "Alerts") --------------------------
    alert_webhook_url: SecretStr | None = None  # Slack/Discord-compatible; its path is a secret
    alert_smtp_host: str | None = None
    alert_smtp_port: int = Field(587, ge=1, le=65535)
    alert_smtp_user: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_from: str | None = None
    alert_smtp_to: str | None = None  # comma-separated
    alert_smtp_starttls: bool = True
    alert_timeout_seconds: float = Field(10.0, gt=0, le=60, allow_inf_nan=False)
    alert_check_seconds: float = Field(60.0, ge=1, le=HOUR, allow_inf_nan=False)
    alert_cooldown_minutes: float = Field(360.0, ge=1, le=WEEK / 60, allow_inf_nan=False)
    # Failed or unknown deliveries, and failed turns, counted over this window.
    alert_window_minutes: float = Field(30.0, ge=1, le=DAY / 60, allow_inf_nan=False)
    alert_delivery_failures: int = Field(5, ge=1, le=1_000_000)
    alert_brain_errors: int = Field(5, ge=1, le=1_000_000)
    alert_daily_budget_usd: float | None = Field(None, gt=0, le=1_000_000, allow_inf_nan=False)
    # Hours of the account's usual hours without one inbound message; 0: never alert.
    alert_silence_hours: float = Field(6.0, ge=0, le=WEEK / HOUR, allow_inf_nan=False)

    anthropic_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DMPILOT_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        None, validation_alias=AliasChoices("DMPILOT_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DMPILOT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("DMPILOT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )

    @field_validator(
        "webhook_token",
        "console_password",
        "anthropic_api_key",
        "openai_api_key",
        "manychat_api_key",
        "meta_app_secret",
        "meta_verify_token",
        "meta_access_token",
        mode="before",
    )
    @classmethod
    def _clean_secret(cls, value: object, info: ValidationInfo) -> object:
        value = _revealed(value)
        if not isinstance(value, str):
            return value  # pydantic's own type error says what is wrong
        name = info.field_name or ""
        return clean_secret(_SECRET_VARIABLES.get(name, name), value)

    @field_validator("meta_account_id", mode="before")
    @classmethod
    def _account_id(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 32):
            raise ValueError(
                "DMPILOT_META_ACCOUNT_ID is the Instagram account's numeric id (digits only), "
                "as the Meta app dashboard shows it under Instagram → API setup"
            )
        return value

    @field_validator("alert_webhook_url", mode="before")
    @classmethod
    def _alert_webhook_url(cls, value: object) -> object:
        value = _revealed(value)
        return checked_webhook_url(value) if isinstance(value, str) else value

    @field_validator(
        "alert_smtp_host",
        "alert_smtp_user",
        "alert_smtp_password",
        "alert_smtp_from",
        "alert_smtp_to",
        mode="before",
    )
    @classmethod
    def _alert_smtp(cls, value: object, info: ValidationInfo) -> object:
        value = _revealed(value)
        if not isinstance(value, str):
            return value
        value = value.strip()
        variable = f"DMPILOT_{(info.field_name or '').upper()}"
        if not value:
            return None
        if info.field_name == "alert_smtp_host":
            return checked_host(variable, value)
        if info.field_name == "alert_smtp_user" and not value.isprintable():
            raise ValueError(f"{variable} holds a control character: give the SMTP user name")
        if info.field_name == "alert_smtp_from":
            return checked_address(variable, value)
        if info.field_name == "alert_smtp_to":
            return ", ".join(checked_addresses(variable, value))
        return value

    @model_validator(mode="after")
    def _alerts_are_complete(self) -> Settings:
        mail = {
            "DMPILOT_ALERT_SMTP_FROM": self.alert_smtp_from,
            "DMPILOT_ALERT_SMTP_TO": self.alert_smtp_to,
        }
        if self.alert_smtp_host and not all(mail.values()):
            missing = ", ".join(name for name, value in mail.items() if not value)
            raise ValueError(f"DMPILOT_ALERT_SMTP_HOST is set, so e-mail alerts need {missing}")
        given = [name for name, value in mail.items() if value]
        if (given or self.alert_smtp_user or self.alert_smtp_password) and not self.alert_smtp_host:
            raise ValueError(
                "e-mail alerts need DMPILOT_ALERT_SMTP_HOST (the SMTP server), with "
                "DMPILOT_ALERT_SMTP_FROM and DMPILOT_ALERT_SMTP_TO"
            )
        if bool(self.alert_smtp_user) != bool(self.alert_smtp_password):
            raise ValueError(
                "DMPILOT_ALERT_SMTP_USER and DMPILOT_ALERT_SMTP_PASSWORD go together: "
                "set both to sign in to the SMTP server, or neither"
            )
        return self

    @model_validator(mode="after")
    def _retention_outlives_dedup(self) -> Settings:
        days = self.retention_days
        if days is not None and days * DAY <= self.dedup_window_seconds:
            raise ValueError(
                f"DMPILOT_RETENTION_DAYS ({days}) must be longer than "
                f"DMPILOT_DEDUP_WINDOW_SECONDS ({self.dedup_window_seconds:g} s): a message's "
                "dedup key is deleted with its text"
            )
        return self

    @model_validator(mode="after")
    def _brain_is_usable(self) -> Settings:
        if self.brain == "anthropic" and self.anthropic_api_key is None:
            raise ValueError("DMPILOT_BRAIN=anthropic needs ANTHROPIC_API_KEY")
        if self.brain == "openai" and not self.openai_base_url:
            raise ValueError(
                "DMPILOT_BRAIN=openai needs OPENAI_BASE_URL, e.g. http://127.0.0.1:11434/v1"
            )
        if self.delivery in (DeliveryMode.PUSH, DeliveryMode.HYBRID) and not self.manychat_api_key:
            raise ValueError(
                f"DMPILOT_DELIVERY={self.delivery.value} sends replies through ManyChat's API: "
                "set DMPILOT_MANYCHAT_API_KEY (ManyChat → Settings → API), or use inline"
            )
        if self.send_lease_seconds <= self.manychat_timeout_seconds:
            raise ValueError(
                "DMPILOT_SEND_LEASE_SECONDS must be longer than DMPILOT_MANYCHAT_TIMEOUT_SECONDS: "
                "a worker's claim must outlive the send it covers"
            )
        meta = {name: getattr(self, name) for name in _META_VARIABLES}
        if any(meta.values()) and not all(meta.values()):
            missing = ", ".join(_META_VARIABLES[name] for name, value in meta.items() if not value)
            raise ValueError(
                f"the Instagram channel needs every DMPILOT_META_* setting; missing: {missing} "
                "(see the README, 'Instagram without ManyChat')"
            )
        # A send to Instagram may be three calls (seen, typing, the message) and the
        # persona's typing pause (at most MAX_TYPING_SECONDS).
        instagram_send = 3 * self.meta_timeout_seconds + MAX_TYPING_SECONDS
        if self.instagram and self.send_lease_seconds <= instagram_send:
            raise ValueError(
                f"DMPILOT_SEND_LEASE_SECONDS must be longer than {instagram_send:g} s (three "
                "times DMPILOT_META_TIMEOUT_SECONDS plus a persona's typing pause): a worker's "
                "claim must outlive the send it covers"
            )
        if self.track_links and not self.public_url:
            raise ValueError(
                "DMPILOT_TRACK_LINKS needs DMPILOT_PUBLIC_URL, the address Instagram users "
                "can reach, e.g. https://dm.example.com"
            )
        return self

    @property
    def brain_kind(self) -> BrainKind:
        if self.brain is not None:
            return self.brain
        return "anthropic" if self.anthropic_api_key else "scripted"

    @property
    def delivery_mode(self) -> DeliveryMode:
        if self.delivery is not None:
            return self.delivery
        return DeliveryMode.HYBRID if self.manychat_api_key else DeliveryMode.INLINE

    @property
    def instagram(self) -> bool:
        """The Instagram Messaging API channel is configured (every DMPILOT_META_* is set)."""
        return self.meta_app_secret is not None and self.meta_account_id is not None

    @property
    def runs_worker(self) -> bool:
        if self.worker is not None:
            return self.worker
        # Instagram replies always leave through the Send API, pushed by the worker.
        return self.delivery_mode is not DeliveryMode.INLINE or self.instagram

    @property
    def token(self) -> str | None:
        return self.webhook_token.get_secret_value() if self.webhook_token else None

    @property
    def alerts_configured(self) -> bool:
        """Alerts have somewhere to go: a webhook, an SMTP server, or both."""
        return self.alert_webhook_url is not None or self.alert_smtp_host is not None

    @property
    def alert_recipients(self) -> list[str]:
        return [part.strip() for part in (self.alert_smtp_to or "").split(",") if part.strip()]

    @property
    def console_secret(self) -> str | None:
        """What signs an operator in to /console: its own password, else the token."""
        if self.console_password is not None:
            return self.console_password.get_secret_value()
        return self.token
