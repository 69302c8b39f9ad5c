from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chime_kit.settings import ServiceSettings


class ApiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHIME_API_", extra="ignore")

    http_port: int = 8004
    default_bot_id: int | None = Field(
        default=None, description="bot that sends a notification whose request names none"
    )
    db_writes_pool_max: int = Field(
        default=10,
        ge=1,
        description="connections of the pool the routes' writes (POSTs) commit through;"
        " db_pool_max sizes the runtime's (consumers, relay, loops) and the hot path's",
    )
    idempotency_wait_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how long a duplicate waits for the first request with its"
        " Idempotency-Key before it gets 409",
    )
    idempotency_ttl: timedelta = Field(
        default=timedelta(hours=24), description="how long a first response is replayed"
    )
    purge_interval_seconds: float = Field(
        default=600.0, gt=0, description="how often expired idempotency records are deleted"
    )
    key_rotation_overlap: timedelta = Field(
        default=timedelta(hours=24), description="how long a rotated key keeps working"
    )
    rate_per_second: float = Field(
        default=50.0, gt=0, description="default refill of a key's token bucket"
    )
    rate_burst: int = Field(default=100, ge=1, description="default size of a key's bucket")
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long a webhook endpoint has to answer"
    )
    history_retention_days: int = Field(
        default=30, ge=1, description="days of history and stats kept (whole days, UTC)"
    )
    history_partitions_ahead_days: int = Field(
        default=7, ge=1, description="days of history partitions made ready ahead of time"
    )
    history_maintenance_seconds: float = Field(
        default=300.0, gt=0, description="how often history partitions are made and dropped"
    )
