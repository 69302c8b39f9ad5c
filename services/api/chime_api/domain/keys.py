"""API keys: how they look, how they are stored (hashed), and what they may do.

A key handed to a client is `chime_<id-part>_<secret>`. The id part names the stored row
(`key_<id-part>`), so a key is found by primary key and its secret compared in constant
time. The secret is 32 random bytes, so a plain SHA-256 is a sound hash: there is nothing
to brute-force that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ulid import ULID

KEY_PREFIX = "chime_"
ID_PREFIX = "key_"
# Characters of the full key shown in listings, enough to tell keys apart, never the secret.
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 12


class Scope(StrEnum):
    NOTIFICATIONS_WRITE = "notifications:write"
    NOTIFICATIONS_READ = "notifications:read"
    # Operating Chime: the operator page and its data.
    ADMIN = "admin"


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
class ApiKey:
    id: str
    name: str
    prefix: str
    secret_hash: str
    scopes: frozenset[Scope]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, *needed: Scope) -> bool:
        return all(scope in self.scopes for scope in needed)

    def missing(self, needed: list[Scope]) -> list[Scope]:
        return [scope for scope in needed if scope not in self.scopes]


def issue_key() -> IssuedKey:
    id_part = str(ULID()).lower()
    secret = secrets.token_urlsafe(32)
    plaintext = f"{KEY_PREFIX}{id_part}_{secret}"
    return IssuedKey(
        id=f"{ID_PREFIX}{id_part}",
        prefix=plaintext[:SHOWN_PREFIX_LENGTH],
        secret_hash=hash_secret(secret),
        plaintext=plaintext,
    )


def parse_key(plaintext: str) -> tuple[str, str]:
    """The stored id and the secret of a presented key; InvalidKeyError if malformed."""
    if not plaintext.startswith(KEY_PREFIX):
        raise InvalidKeyError("not a Chime API key")
    id_part, sep, secret = plaintext.removeprefix(KEY_PREFIX).partition("_")
    # ULIDs are 26 Crockford base32 characters; the secret is url-safe base64 (it may hold
    # "_" itself, hence partition on the first one only).
    if not sep or len(id_part) != 26 or not id_part.isalnum() or not id_part.isascii():
        raise InvalidKeyError("not a Chime API key")
    if len(secret) < 32:
        raise InvalidKeyError("not a Chime API key")
    return f"{ID_PREFIX}{id_part.lower()}", secret


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def parse_scopes(values: list[str]) -> frozenset[Scope]:
    """Known scopes only; ValueError names the first unknown one."""
    scopes: set[Scope] = set()
    for value in values:
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
