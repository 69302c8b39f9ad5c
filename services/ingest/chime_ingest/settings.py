from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from chime_ingest.domain.pools import Pool, Pools, pools_problems
from chime_kit.bots import BotTokens, tokens_by_bot
from chime_kit.settings import ServiceSettings

SERVICE = "ingest"
MIGRATIONS = "chime_ingest.migrations"

# What ingest acts on; other kinds are not asked for (Telegram would send them for nothing).
ALLOWED_UPDATES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "my_chat_member",
)


class PoolSetting(BaseModel):
    """One pool of `CHIME_INGEST_BOT_POOLS`: its front bot, its workers, their weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    front: int
    workers: list[int]
    weights: dict[int, float] = Field(
        default_factory=dict, description="a worker's share of new chats (default 1)"
    )


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHIME_INGEST_", extra="ignore")

    http_port: int = 8001
    bot_tokens: BotTokens = Field(
        default_factory=list, description="comma-separated or JSON list of bot tokens"
    )
    webhook_secret_key: SecretStr | None = Field(
        default=None,
        description="each bot's X-Telegram-Bot-Api-Secret-Token is derived from this key;"
        " required in webhook mode",
    )
    mode: Literal["webhook", "polling"] = "webhook"
    public_url: str | None = Field(
        default=None, description="when set, setWebhook points each bot at this base URL"
    )
    telegram_api_base: str = "https://api.telegram.org"
    polling_timeout_seconds: int = Field(default=25, ge=0, le=50)
    poll_lease_seconds: float = Field(
        default=30.0,
        ge=3.0,
        description="polling mode: how long a replica's claim to poll a bot lasts unrenewed"
        " (renewed every third of it); another replica takes a dead one's bots after it",
    )
    allowed_updates: list[str] = Field(
        default_factory=lambda: list(ALLOWED_UPDATES),
        description="the update kinds each bot's webhook (or long poll) asks Telegram for;"
        " empty: Telegram's default (all but chat_member and reactions)",
    )
    webhook_max_connections: int = Field(
        default=40,
        ge=1,
        le=100,
        description="setWebhook's max_connections: requests Telegram sends a bot's webhook"
        " at once (order across chats is not kept then; within a chat it is)",
    )
    group_commit_max: int = Field(
        default=1000, ge=1, description="most updates the receive path stores in one transaction"
    )
    group_commit_transactions: int = Field(
        default=4,
        ge=1,
        description="transactions of the receive path in flight at once: while some wait for"
        " their commit, the next takes what arrived",
    )
    interpreter_batch_size: int = Field(
        default=200, ge=1, description="most updates (one per chat) interpreted per transaction"
    )
    interpreter_max_attempts: int = Field(
        default=5, ge=1, description="tries of an update's interpretation before it is poison"
    )
    interpreter_idle_seconds: float = Field(
        default=0.5,
        gt=0,
        description="how often an idle interpreter looks for updates other replicas stored"
        " (its own replica's wake it at once)",
    )
    username_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="how long the interpreter waits at start for the bots' usernames (getMe)"
        " before interpreting without those not learned yet; intake records updates at once,"
        " and usernames keep being asked for in the background",
    )
    default_time_zone: str = "UTC"
    max_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="webhook bodies above this are refused (413) as they are read; real"
        " updates are about 1 KB, and a message's own limits (4,096 characters, 100"
        " entities, a reply) keep any below a few hundred KB",
    )

    bot_pools: dict[str, PoolSetting] = Field(
        default_factory=dict,
        description='JSON: pool name -> {"front": <bot id>, "workers": [<bot id>, ...],'
        ' "weights": {"<bot id>": 2}}; a private chat that starts the front bot is assigned'
        " the least-loaded worker and handed a deep link to it. Every bot needs a token.",
    )

    def pools(self) -> Pools:
        return Pools(
            tuple(
                Pool(name, p.front, tuple(p.workers), dict(p.weights))
                for name, p in sorted(self.bot_pools.items())
            )
        )

    @model_validator(mode="after")
    def _pools_are_sound(self) -> "IngestSettings":
        problems = pools_problems(self.pools().pools, list(tokens_by_bot(self.bot_tokens)))
        if problems:
            raise ValueError("CHIME_INGEST_BOT_POOLS: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> "IngestSettings":
        # Without it anyone who finds the URL could post forged updates.
        if self.mode == "webhook" and self.bot_tokens and self.webhook_secret_key is None:
            raise ValueError(
                "CHIME_INGEST_WEBHOOK_SECRET_KEY must be set in webhook mode (a long random"
                " string); the webhook secret of each bot is derived from it"
            )
        return self
