"""Events the api records in its own store and does not publish (no other service needs
them, so they are not part of the shared contracts)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from chime_contracts.envelope import Event


class ApiKeyCreated(Event):
    type: Literal["api_key.created.v1"] = "api_key.created.v1"
    producer: ClassVar[str] = "api"

    api_key_id: str
    name: str
    prefix: str
    # SHA-256 of a 32-byte random secret: kept so the key table can be rebuilt from events.
    secret_hash: str
    scopes: list[str]
    created_at: datetime


class ApiKeyRevoked(Event):
    type: Literal["api_key.revoked.v1"] = "api_key.revoked.v1"
    producer: ClassVar[str] = "api"

    api_key_id: str
    revoked_at: datetime
