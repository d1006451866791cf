"""One Settings object, read from DMPILOT_* environment variables (see the README table)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dmpilot.brains.models import DEFAULT_MODEL
from dmpilot.domain.delivery import DeliveryMode

BrainKind = Literal["scripted", "anthropic", "openai"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DMPILOT_", extra="ignore")

    database_url: str = "sqlite:///./dmpilot.db"
    webhook_token: SecretStr | None = None
    persona: Path | None = None
    brain: BrainKind | None = None
    model: str = DEFAULT_MODEL
    cache_min_tokens: int | None = Field(None, ge=0)
    dedup_window_seconds: float = Field(30.0, ge=0)
    coalesce_seconds: float = Field(2.0, ge=0, le=30)
    reply_budget_seconds: float = Field(7.0, gt=0, le=60)
    lease_seconds: float = Field(20.0, gt=0)
    history_messages: int = Field(20, ge=1, le=200)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_attempts: int = Field(3, ge=1, le=5)
    similarity_threshold: float = Field(80.0, ge=50, le=100)
    broadcast_contacts: int = Field(3, ge=1)
    broadcast_window_seconds: float = Field(3600, gt=0)
    daily_new_conversations: int = Field(50, ge=1)
    leak_threshold: float = Field(0.3, gt=0, le=1)
    max_tokens: int = Field(200, ge=16, le=4096)
    guard_enabled: bool = True
    guard_window_seconds: float = Field(600, gt=0)
    guard_min_decisions: int = Field(20, ge=1)
    guard_repetition_share: float = Field(0.3, gt=0, le=1)
    guard_error_share: float = Field(0.5, gt=0, le=1)
    track_links: bool = False
    public_url: str | None = None
    # US$ per million tokens; unset: the model's own prices (brains/models.py).
    price_input_per_mtok: float | None = Field(None, ge=0)
    price_output_per_mtok: float | None = Field(None, ge=0)
    seed: int = 0
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    pool_size: int = Field(5, ge=1, le=50)
    api_docs: bool = False

    # -- delivery (the outbox and its worker) ------------------------------------------
    delivery: DeliveryMode | None = None
    manychat_api_key: SecretStr | None = None
    manychat_api_url: str = "https://api.manychat.com"
    manychat_timeout_seconds: float = Field(10.0, gt=0, le=60)
    inline_seconds: float = Field(6.0, gt=0, le=9)
    worker_budget_seconds: float = Field(45.0, gt=0, le=300)
    turn_retry_attempts: int = Field(4, ge=1, le=10)
    turn_retry_seconds: float = Field(30.0, gt=0)
    send_attempts: int = Field(5, ge=1, le=20)
    send_lease_seconds: float = Field(60.0, gt=0, le=3600)
    min_send_gap_seconds: float = Field(2.0, ge=0)
    sends_per_second: int = Field(20, ge=1, le=100)
    worker_poll_seconds: float = Field(0.5, gt=0, le=60)
    worker_concurrency: int = Field(8, ge=1, le=64)
    # `dmpilot serve` runs the delivery worker in-process; unset: on in push and hybrid
    # delivery, off inline (nothing is ever queued there).
    worker: bool | None = None

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
        "webhook_token", "anthropic_api_key", "openai_api_key", "manychat_api_key", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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
    def runs_worker(self) -> bool:
        if self.worker is not None:
            return self.worker
        return self.delivery_mode is not DeliveryMode.INLINE

    @property
    def token(self) -> str | None:
        return self.webhook_token.get_secret_value() if self.webhook_token else None
