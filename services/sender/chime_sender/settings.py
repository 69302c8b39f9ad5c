import os
import socket

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import SettingsConfigDict

from chime_kit.bots import BotTokens
from chime_kit.settings import ServiceSettings

SERVICE = "sender"


class BotLimits(BaseModel):
    """Limits of one bot that differ from the installation's (unset: the installation's)."""

    token_rate: int | None = Field(default=None, ge=1)
    chat_interval: float | None = Field(default=None, ge=0)
    group_rate: int | None = Field(default=None, ge=1)
    group_window_seconds: float | None = Field(default=None, gt=0)
    paid_rate: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="messages per second with allow_paid_broadcast (Telegram allows up to"
        " 1,000, charged in Stars); unset: paid broadcasts are sent as free ones",
    )


class SenderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHIME_SENDER_", extra="ignore")

    http_port: int = 8003
    bot_tokens: BotTokens = Field(
        default_factory=list, description="a JSON list or comma-separated '<bot id>:<secret>'"
    )
    telegram_api_base: str = "https://api.telegram.org"
    telegram_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    telegram_timeout_seconds: float = Field(default=15.0, gt=0)
    telegram_max_connections: int = Field(default=200, ge=1)
    telegram_keepalive_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long an idle connection to the Bot API is kept; below the server's"
        " own idle timeout, or a call on a connection it is closing has an unknown outcome",
    )

    token_rate: int = Field(default=30, ge=1, description="messages per second per bot token")
    chat_interval: float = Field(default=1.0, ge=0, description="seconds between private sends")
    group_rate: int = Field(default=20, ge=1, description="messages per group_window per group")
    group_window_seconds: float = Field(default=60.0, gt=0)
    bot_limits: dict[int, BotLimits] = Field(
        default_factory=dict,
        description='per bot id, limits that differ, as JSON: {"123": {"token_rate": 10}}'
        ' or {"123": {"paid_rate": 1000}}',
    )
    limit_margin_seconds: float = Field(
        default=0.03, ge=0, description="slack added to the token window for network jitter"
    )
    slot_horizon_seconds: float = Field(
        default=0.25,
        ge=0,
        description="how far ahead a bot token's send slots are claimed (calls wait that long)",
    )
    slot_late_max_seconds: float = Field(
        default=0.5,
        ge=0,
        description="how late after its send slot a call may still start while its bot token"
        " has the headroom (a token at its full rate allows half the margin)",
    )
    slot_lead_seconds: float = Field(
        default=0.05,
        ge=0,
        description="how long after a claim its bot's first send slot starts at the earliest",
    )

    resend_when_unsure: bool = Field(
        default=False,
        description="resend when a call got no answer (at-least-once: may deliver twice)",
    )
    max_attempts: int = Field(default=5, ge=1, description="transient failures before giving up")
    backoff_base_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=60.0, gt=0)
    breaker_failures: int = Field(
        default=5, ge=1, description="consecutive failures (5xx, timeouts) that open a breaker"
    )
    breaker_cooldown_seconds: float = Field(
        default=30.0, gt=0, description="how long a bot's breaker stays open before a probe"
    )
    breaker_max_cooldown_seconds: float = Field(
        default=300.0, gt=0, description="the cooldown doubles after each failed probe, to this"
    )
    breaker_probe_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a replica holds a bot's probe at most (one that died frees it)",
    )
    breaker_refresh_seconds: float = Field(
        default=0.5,
        gt=0,
        le=1.0,
        description="how old this replica's copy of the shared breakers may be before a claim",
    )

    send_concurrency: int = Field(default=100, ge=1)
    claim_batch_size: int = Field(default=200, ge=1)
    lease_seconds: float = Field(default=60.0, gt=0, description="how long a send may take")
    max_idle_seconds: float = Field(
        default=0.25, gt=0, description="longest sleep between looks for ready deliveries"
    )
    settle_linger_seconds: float = Field(
        default=0.05,
        ge=0,
        description="how long answers gather before they are settled in one transaction"
        " (an error settles at once)",
    )
    recheck_seconds: float = Field(
        default=0.1,
        ge=0,
        description="how soon deliveries due but not claimable (a paced chat, a bot's slots"
        " within the horizon taken) are looked for again",
    )

    instance_name: str = Field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}",
        description="this process's name, unique among running senders and kept across its"
        " restarts (a pod's name): a restarted sender re-queues its predecessor's claims at once",
    )
    heartbeat_seconds: float = Field(default=0.1, gt=0, description="how often a sender beats")
    call_fence_seconds: float = Field(
        default=0.25,
        gt=0,
        description="each heartbeat lets calls of slots up to this far ahead start; what a dead"
        " sender was not yet let call is re-queued, the rest ends unknown",
    )
    dead_after_seconds: float = Field(
        default=5.0, gt=0, description="a sender whose heartbeat is older than this is dead"
    )

    @model_validator(mode="after")
    def _fence_outlasts_a_beat(self) -> "SenderSettings":
        if self.call_fence_seconds <= self.heartbeat_seconds:
            raise ValueError("call_fence_seconds must exceed heartbeat_seconds")
        if self.dead_after_seconds <= self.call_fence_seconds:
            raise ValueError("dead_after_seconds must exceed call_fence_seconds")
        return self

    @model_validator(mode="after")
    def _recheck_within_the_horizon(self) -> "SenderSettings":
        # A claim grants slots `horizon` ahead: looking again later would leave bots idle.
        if self.recheck_seconds >= self.slot_horizon_seconds > 0:
            raise ValueError("recheck_seconds must be shorter than slot_horizon_seconds")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_call(self) -> "SenderSettings":
        if (
            self.lease_seconds
            <= self.telegram_timeout_seconds + self.telegram_connect_timeout_seconds
        ):
            raise ValueError("lease_seconds must exceed the Telegram call timeouts")
        if (
            self.breaker_probe_lease_seconds
            <= self.telegram_timeout_seconds + self.telegram_connect_timeout_seconds
        ):
            raise ValueError("breaker_probe_lease_seconds must exceed the Telegram call timeouts")
        if self.breaker_max_cooldown_seconds < self.breaker_cooldown_seconds:
            raise ValueError("breaker_max_cooldown_seconds must be at least the cooldown")
        return self
