from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chime_kit.settings import ServiceSettings


class ApiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHIME_API_", extra="ignore")

    http_port: int = 8004
    default_bot_id: int | None = Field(
        default=None, description="bot that sends a notification whose request names none"
    )
    idempotency_wait_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how long a duplicate waits for the first request with its"
        " Idempotency-Key before it gets 409",
    )
