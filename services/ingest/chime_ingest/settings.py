from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from chime_kit.bots import BotTokens
from chime_kit.settings import ServiceSettings


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
    default_time_zone: str = "UTC"
    max_body_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="webhook bodies above this are refused (413) as they are read; real"
        " updates are about 1 KB, and a message's own limits (4,096 characters, 100"
        " entities, a reply) keep any below a few hundred KB",
    )

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> "IngestSettings":
        # Without it anyone who finds the URL could post forged updates.
        if self.mode == "webhook" and self.bot_tokens and self.webhook_secret_key is None:
            raise ValueError(
                "CHIME_INGEST_WEBHOOK_SECRET_KEY must be set in webhook mode (a long random"
                " string); the webhook secret of each bot is derived from it"
            )
        return self
