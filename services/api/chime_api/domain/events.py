"""Events the api records in its own store and does not publish (no other service needs
them, and a key's hash stays home), so they are not part of the shared contracts."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event
from chime_kit.event_store import register_private


class ApiEvent(Event):
    """An event of the api's own store: produced by the api, never published."""

    producer: ClassVar[str] = "api"


class ApiKeyCreated(ApiEvent):
    type: Literal["api_key.created.v1"] = "api_key.created.v1"

    api_key_id: str
    name: str
    prefix: str
    # SHA-256 of a random secret: kept so the key table can be rebuilt from events.
    secret_hash: str
    scopes: list[str]
    created_at: datetime
    team: str | None = None
    rate_per_second: float | None = Field(default=None, description="None: the default")
    burst: int | None = None
    rotated_from: str | None = None


class ApiKeyRevoked(ApiEvent):
    type: Literal["api_key.revoked.v1"] = "api_key.revoked.v1"

    api_key_id: str
    revoked_at: datetime


class ApiKeyRotated(ApiEvent):
    """A successor was issued; this key keeps working until `expires_at` (the overlap)."""

    type: Literal["api_key.rotated.v1"] = "api_key.rotated.v1"

    api_key_id: str
    successor_id: str
    expires_at: datetime


class ApiKeyLimitsSet(ApiEvent):
    type: Literal["api_key.limits.set.v1"] = "api_key.limits.set.v1"

    api_key_id: str
    rate_per_second: float
    burst: int


class WebhookCreated(ApiEvent):
    """An outgoing webhook: delivers its owner's events of `types` after `position`. The
    secret signs deliveries, so it is kept (as the table keeps it) for a rebuild."""

    type: Literal["webhook.created.v1"] = "webhook.created.v1"

    webhook_id: str
    owner: str
    api_key_id: str
    url: str
    secret: str
    types: list[str]
    position: int
    created_at: datetime


class WebhookSecretRotated(ApiEvent):
    type: Literal["webhook.secret.rotated.v1"] = "webhook.secret.rotated.v1"

    webhook_id: str
    secret: str
    rotated_at: datetime


class WebhookPaused(ApiEvent):
    type: Literal["webhook.paused.v1"] = "webhook.paused.v1"

    webhook_id: str
    paused_at: datetime


class WebhookResumed(ApiEvent):
    type: Literal["webhook.resumed.v1"] = "webhook.resumed.v1"

    webhook_id: str
    resumed_at: datetime


class WebhookDeleted(ApiEvent):
    type: Literal["webhook.deleted.v1"] = "webhook.deleted.v1"

    webhook_id: str
    deleted_at: datetime


class WebhookReplayed(ApiEvent):
    """Deliver again every event after `after_position`, from `replayed_at` on."""

    type: Literal["webhook.replayed.v1"] = "webhook.replayed.v1"

    webhook_id: str
    after_position: int
    replayed_at: datetime


class WebhookDelivered(ApiEvent):
    """The receiver acknowledged `count` events, the last at `position`."""

    type: Literal["webhook.delivered.v1"] = "webhook.delivered.v1"

    webhook_id: str
    position: int
    count: int
    delivered_at: datetime


class WebhookDeliveryFailed(ApiEvent):
    """A delivery failed after `count` others of its round went through (the last at
    `position`); the next try is at `retry_at`."""

    type: Literal["webhook.delivery.failed.v1"] = "webhook.delivery.failed.v1"

    webhook_id: str
    position: int
    count: int
    error: str
    retry_at: datetime


# Every one of them, so the store decodes them (the contracts' registry does not know them).
PRIVATE_EVENTS: tuple[type[ApiEvent], ...] = (
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyRotated,
    ApiKeyLimitsSet,
    WebhookCreated,
    WebhookSecretRotated,
    WebhookPaused,
    WebhookResumed,
    WebhookDeleted,
    WebhookReplayed,
    WebhookDelivered,
    WebhookDeliveryFailed,
)
register_private(*PRIVATE_EVENTS)
