from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chime_kit.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHIME_SCHEDULER_", extra="ignore")

    http_port: int = 8002
    fire_batch_size: int = Field(default=1000, ge=1)
    max_idle_seconds: float = Field(
        default=0.25, gt=0, description="longest sleep between looks for due work"
    )
