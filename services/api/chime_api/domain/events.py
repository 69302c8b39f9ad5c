"""Events the api records in its own store and does not publish (no other service needs
them, and a key's hash stays home), so they are not part of the shared contracts."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from chime_contracts.envelope import Event
from chime_kit.event_store import register_private


class ApiKeyCreated(Event):
    type: Literal["api_key.created.v1"] = "api_key.created.v1"
    producer: ClassVar[str] = "api"

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


class ApiKeyRevoked(Event):
    type: Literal["api_key.revoked.v1"] = "api_key.revoked.v1"
    producer: ClassVar[str] = "api"

    api_key_id: str
    revoked_at: datetime


class ApiKeyRotated(Event):
    """A successor was issued; this key keeps working until `expires_at` (the overlap)."""

    type: Literal["api_key.rotated.v1"] = "api_key.rotated.v1"
    producer: ClassVar[str] = "api"

    api_key_id: str
    successor_id: str
    expires_at: datetime


class ApiKeyLimitsSet(Event):
    type: Literal["api_key.limits.set.v1"] = "api_key.limits.set.v1"
    producer: ClassVar[str] = "api"

    api_key_id: str
    rate_per_second: float
    burst: int


register_private(ApiKeyCreated, ApiKeyRevoked, ApiKeyRotated, ApiKeyLimitsSet)
