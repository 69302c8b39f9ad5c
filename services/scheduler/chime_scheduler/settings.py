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
    on_time_seconds: float = Field(
        default=5.0, ge=0, description="how late an occurrence may fire and still be on time"
        " (lag under load is not a misfire; the `skip` policy fires nothing later)",
    )  # fmt: skip
    gauges_every_seconds: float = Field(
        default=15.0, gt=0, description="how often live schedules and the due backlog are counted"
    )
