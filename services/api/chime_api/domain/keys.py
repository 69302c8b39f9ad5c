"""API keys: how they look, how they are stored (hashed), what they may do, whom they serve.

A key handed to a client is `chime_<id-part>_<secret><checksum>`: a fixed prefix and shape
that secret scanners match (`KEY_PATTERN`), 32 random base62 characters of secret and a
6-character base62 CRC32 of everything before it, so a scanner (and the api, before any
database lookup) tells a real key from a typo or a look-alike. The id part names the stored
row (`key_<id-part>`), so a key is found by primary key and its secret compared in constant
time. The secret holds ~190 random bits, so a plain SHA-256 is a sound hash: there is
nothing to brute-force that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ulid import ULID

from chime_api.domain.events import ApiKeyCreated, ApiKeyLimitsSet, ApiKeyRevoked, ApiKeyRotated
from chime_contracts.envelope import Event
from chime_kit.streams import Aggregate

KEY_PREFIX = "chime_"
ID_PREFIX = "key_"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ID_LENGTH = 26  # a ULID in lower-case Crockford base32
_SECRET_LENGTH = 32
_CHECKSUM_LENGTH = 6
_LEGACY_SECRET_LENGTH = 43  # token_urlsafe(32), without a checksum
# What a secret scanner looks for (GitHub custom patterns, gitleaks, trufflehog).
KEY_PATTERN = r"chime_[0-9a-hjkmnp-tv-z]{26}_[0-9A-Za-z]{38}"
# Characters of the full key shown in listings, enough to tell keys apart, never the secret.
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 12
DEFAULT_OVERLAP = timedelta(hours=24)


class Scope(StrEnum):
    NOTIFY = "notify"  # send notifications, edit and delete what was sent
    SCHEDULE = "schedule"  # create and change schedules
    BROADCAST = "broadcast"  # broadcast to a topic's subscribers
    TOPICS = "topics"  # manage topics and subscriptions
    READ = "read"  # read everything the key's owner has
    ADMIN = "admin"  # manage the owner's keys


# Names the first version of the api used; a CLI or a stored key may still say them.
LEGACY_SCOPES = {"notifications:write": Scope.NOTIFY, "notifications:read": Scope.READ}


class InvalidKeyError(ValueError):
    """The string is not a Chime API key."""


@dataclass(frozen=True)
class IssuedKey:
    """What creating a key yields: the row to store and the key shown once to its owner."""

    id: str
    prefix: str
    secret_hash: str
    plaintext: str


@dataclass(frozen=True)
class Limits:
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    per_second: float = 50.0
    burst: int = 100


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    secret_hash: str
    scopes: frozenset[Scope]
    created_at: datetime
    team: str | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None  # set when rotated: the overlap's end
    limits: Limits | None = None  # None: the configured default

    def active(self, now: datetime) -> bool:
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and not expired

    @property
    def owner(self) -> str:
        return owner_of(self.id, self.team)

    def allows(self, *needed: Scope) -> bool:
        return all(scope in self.scopes for scope in needed)

    def missing(self, needed: list[Scope]) -> list[Scope]:
        return [scope for scope in needed if scope not in self.scopes]


def owner_of(key_id: str, team: str | None) -> str:
    """What a key's requests belong to: its team's, or its own when it has none."""
    return f"team:{team}" if team else f"key:{key_id}"


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = []
    for _ in range(_CHECKSUM_LENGTH):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def issue_key() -> IssuedKey:
    id_part = str(ULID()).lower()
    secret = "".join(secrets.choice(_BASE62) for _ in range(_SECRET_LENGTH))
    body = f"{KEY_PREFIX}{id_part}_{secret}"
    return IssuedKey(
        id=f"{ID_PREFIX}{id_part}",
        prefix=body[:SHOWN_PREFIX_LENGTH],
        secret_hash=hash_secret(secret),
        plaintext=body + _checksum(body),
    )


def parse_key(plaintext: str) -> tuple[str, str]:
    """The stored id and the secret of a presented key; InvalidKeyError if malformed or its
    checksum does not match (no database lookup is spent on it)."""
    if not plaintext.startswith(KEY_PREFIX) or not plaintext.isascii():
        raise InvalidKeyError("not a Chime API key")
    id_part, sep, rest = plaintext.removeprefix(KEY_PREFIX).partition("_")
    if not sep or len(id_part) != _ID_LENGTH or not id_part.isalnum():
        raise InvalidKeyError("not a Chime API key")
    if len(rest) == _LEGACY_SECRET_LENGTH:
        return f"{ID_PREFIX}{id_part.lower()}", rest  # issued before checksums; still honoured
    if len(rest) != _SECRET_LENGTH + _CHECKSUM_LENGTH or not rest.isalnum():
        raise InvalidKeyError("not a Chime API key")
    secret, checksum = rest[:_SECRET_LENGTH], rest[_SECRET_LENGTH:]
    if not hmac.compare_digest(_checksum(plaintext[:-_CHECKSUM_LENGTH]), checksum):
        raise InvalidKeyError("not a Chime API key")
    return f"{ID_PREFIX}{id_part.lower()}", secret


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def parse_scopes(values: list[str]) -> frozenset[Scope]:
    """Known scopes only (legacy names translated); ValueError names the first unknown one."""
    scopes: set[Scope] = set()
    for value in values:
        if value in LEGACY_SCOPES:
            scopes.add(LEGACY_SCOPES[value])
            continue
        try:
            scopes.add(Scope(value))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {value!r} (known: {known})") from None
    return frozenset(scopes)


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer <token>` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class KnownKeys:
    """Presented keys this replica has authenticated, each with its row as first read. A
    memo, not a cache of the key's state: what a request uses of it never changes (id,
    secret hash, scopes, team), and what may change (revoked, rotated, limits) is decided
    in PostgreSQL by every request's statement, never read from here, so a revoked key is
    refused at its next request on every replica. What it saves is parsing the key,
    hashing its secret and reading its row back on every request. Bounded: once full it
    starts again empty (a working key costs one full read to come back)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._known: dict[str, ApiKey] = {}

    def __len__(self) -> int:
        return len(self._known)

    def get(self, presented: str) -> ApiKey | None:
        return self._known.get(presented)

    def remember(self, presented: str, key: ApiKey) -> None:
        if len(self._known) >= self.size:
            self._known.clear()
        self._known[presented] = key


# --- the key stream: decided from, folded into the api_keys table -------------------------


def stream_of(key_id: str) -> str:
    return f"api-key-{key_id}"


def key_from(created: ApiKeyCreated) -> ApiKey:
    return ApiKey(
        id=created.api_key_id,
        name=created.name,
        prefix=created.prefix,
        secret_hash=created.secret_hash,
        scopes=parse_scopes([s for s in created.scopes if s in _KNOWN]),
        created_at=created.created_at,
        team=created.team,
        limits=Limits(created.rate_per_second, created.burst)
        if created.rate_per_second is not None and created.burst is not None
        else None,
    )


_KNOWN = {s.value for s in Scope} | set(LEGACY_SCOPES)


def _evolve(key: ApiKey | None, event: Event) -> ApiKey | None:
    if isinstance(event, ApiKeyCreated):
        return key_from(event)
    if key is None:
        return None
    if isinstance(event, ApiKeyRevoked):
        return replace(key, revoked_at=event.revoked_at)
    if isinstance(event, ApiKeyRotated):
        return replace(key, expires_at=event.expires_at)
    if isinstance(event, ApiKeyLimitsSet):
        return replace(key, limits=Limits(event.rate_per_second, event.burst))
    return key


KEY: Aggregate[ApiKey | None] = Aggregate(None, _evolve)
