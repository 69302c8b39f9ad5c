"""Settings every service shares; each service subclasses with its own env prefix."""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from the environment only here, e.g. `CHIME_SENDER_DATABASE_URL`."""

    # Validation errors never echo inputs: some are secrets.
    model_config = SettingsConfigDict(
        env_prefix="CHIME_", extra="ignore", hide_input_in_errors=True
    )

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/chime")
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    db_acquire_timeout_seconds: float = Field(
        default=5.0, gt=0, description="longest wait for a pooled (or new) database connection"
    )
    db_command_timeout_seconds: float = Field(
        default=10.0, gt=0, description="longest a database command may take before it fails"
    )
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    # Tracing follows OpenTelemetry's standard variables (unprefixed): the SDK itself reads
    # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_* and
    # OTEL_SDK_DISABLED; these are the ones the kit decides with.
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otel_exporter_otlp_traces_endpoint"
        ),
        description="OTLP/HTTP traces URL (…/v1/traces); overrides the endpoint below",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_exporter_otlp_endpoint"),
        description="OTLP/HTTP base URL, e.g. http://collector:4318; unset: no OTLP export",
    )
    otel_traces_exporter: str = Field(
        default="otlp",
        validation_alias=AliasChoices("OTEL_TRACES_EXPORTER", "otel_traces_exporter"),
        description="comma list of otlp, console, none",
    )
    otel_python_disabled_instrumentations: str = Field(
        default="",
        validation_alias=AliasChoices(
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "otel_python_disabled_instrumentations"
        ),
        description="comma list of instrumentations not to install: asyncpg, httpx",
    )
    traces_file: Path | None = Field(
        default=None, description="also append every finished span here, one JSON line each"
    )
    relay_batch_size: int = Field(default=1000, ge=1)
    relay_idle_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how long an idle relay waits for a commit's notification before it looks"
        " anyway (a safety net: every commit that writes the outbox wakes it)",
    )
    relay_rebalance_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often a relay takes its even share of the outbox partitions",
    )
    consumer_prefetch: int = Field(default=100, ge=1)
    consumer_batch_size: int = Field(
        default=50, ge=1, description="most messages a consumer applies in one transaction"
    )
    delivery_limit: int = Field(
        default=5, ge=1, description="redeliveries before a message is dead-lettered"
    )
    event_log_max_age: str | None = Field(
        default="7D",
        description="how long the stream chime.events.log keeps every event (empty: no log);"
        " the same value on every service",
    )
    migrate_on_start: bool = True
