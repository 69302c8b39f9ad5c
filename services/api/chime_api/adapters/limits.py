"""Authenticate a key and take a token from its bucket in one statement (one round trip per
request), and add each replica's request counts to the usage table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from chime_api.adapters.keys import key_of
from chime_api.domain.keys import ApiKey, Limits
from chime_api.domain.limits import Spent
from chime_kit.db import Connection

# The bucket's level now: what was left plus the refill since, capped at its size.
_LEVEL = (
    "LEAST(EXCLUDED.burst, b.tokens"
    " + GREATEST(0, EXTRACT(EPOCH FROM now() - b.refilled_at)) * EXCLUDED.rate)"
)
_WORKING_KEY = """
WITH k AS (
    SELECT * FROM api_keys WHERE id = $1 AND secret_hash = $2 AND revoked_at IS NULL
      AND (expires_at IS NULL OR expires_at > now())
)"""
_SPEND = f"""
, spent AS (
    INSERT INTO rate_buckets AS b (api_key_id, tokens, refilled_at, rate, burst, granted)
    SELECT id, COALESCE(burst, $4) - 1, now(), COALESCE(rate_per_second, $3),
           COALESCE(burst, $4), true FROM k
    ON CONFLICT (api_key_id) DO UPDATE SET
        tokens = CASE WHEN {_LEVEL} >= 1 THEN {_LEVEL} - 1 ELSE {_LEVEL} END,
        granted = {_LEVEL} >= 1,
        refilled_at = now(), rate = EXCLUDED.rate, burst = EXCLUDED.burst
    RETURNING tokens, granted, rate, b.burst AS bucket
)"""  # noqa: S608 (constants only)
_AUTHENTICATE_AND_SPEND = (
    _WORKING_KEY + _SPEND + " SELECT k.*, spent.tokens, spent.granted, spent.rate, spent.bucket"  # noqa: S608
    " FROM k, spent"
)
# The same check and the same spend, for a key whose row this replica has already read:
# only the bucket comes back (the columns of the key's row cost more to decode than the rest
# of the statement).
_SPEND_ONLY = _WORKING_KEY + _SPEND + " SELECT tokens, granted, rate, bucket FROM spent"  # noqa: S608


@dataclass(frozen=True)
class Read:
    """A route's own read, to run in the statement that checks the key and spends its token
    (one round trip for the request). `sql` numbers its parameters from $5 (the first four
    are the key's); `order` sorts its rows (a join does not keep a subquery's order)."""

    sql: str
    args: Sequence[Any] = ()
    order: str = ""


# Statements by read (a handful of route reads: asyncpg prepares each once per connection).
_SPEND_AND_READ: dict[tuple[str, str], str] = {}


def _spend_and_read(read: Read) -> str:
    found = _SPEND_AND_READ.get((read.sql, read.order))
    if found is None:
        # The routes' own SQL, never a request's text (its values are parameters).
        read_cte = f", r AS (SELECT true AS read_found, q.* FROM ({read.sql}) q)"  # noqa: S608
        found = (
            _WORKING_KEY + _SPEND + read_cte  # noqa: S608
            + " SELECT spent.tokens AS spent_tokens, spent.granted AS spent_granted,"
            " spent.rate AS spent_rate, spent.bucket AS spent_bucket, r.*"
            " FROM spent LEFT JOIN r ON true " + read.order
        )  # fmt: skip
        _SPEND_AND_READ[(read.sql, read.order)] = found
    return found


def unflushed(dsn: str) -> str:
    """The DSN of connections whose commits do not wait for the disk (asyncpg passes unknown
    DSN parameters on as server settings). The buckets are machinery: a crash may forget
    their last few hundred milliseconds (a few extra requests granted); with a flush per
    commit, a busy key's row lock would be held through every fsync, one request at a time.
    """
    return f"{dsn}{'&' if '?' in dsn else '?'}synchronous_commit=off"


async def no_session_state(conn: object) -> None:
    """The reset of the hot path's pool on release: nothing to do (asyncpg still rolls back
    an open transaction). Its users run single statements and leave no session state (no
    SET, LISTEN, cursor or advisory lock), so the default reset, a round trip per release,
    cleared nothing; it was half of a request's statements."""


async def authenticate_and_spend(
    conn: Connection, key_id: str, secret_hash: str, default: Limits
) -> tuple[ApiKey, Spent] | None:
    """The working key with this id and secret hash and its bucket after this request; None
    when no key works with them (nothing is spent then)."""
    row = await conn.fetchrow(
        _AUTHENTICATE_AND_SPEND, key_id, secret_hash, default.per_second, default.burst
    )
    if row is None:
        return None
    spent = Spent(
        granted=row["granted"], tokens=row["tokens"], rate=row["rate"], burst=row["bucket"]
    )
    return key_of(row), spent


async def spend(conn: Connection, key_id: str, secret_hash: str, default: Limits) -> Spent | None:
    """As `authenticate_and_spend` (the key must still work: not revoked, not past its
    rotation overlap), without its row: None when no key works with them."""
    row = await conn.fetchrow(_SPEND_ONLY, key_id, secret_hash, default.per_second, default.burst)
    if row is None:
        return None
    return Spent(
        granted=row["granted"], tokens=row["tokens"], rate=row["rate"], burst=row["bucket"]
    )


async def add_usage(conn: Connection, counts: Mapping[tuple[str, date], tuple[int, int]]) -> None:
    """Add (requests, limited) per (key, day)."""
    await conn.executemany(
        "INSERT INTO usage_requests (api_key_id, day, requests, limited) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (api_key_id, day) DO UPDATE SET"
        " requests = usage_requests.requests + excluded.requests,"
        " limited = usage_requests.limited + excluded.limited",
        [(key, day, requests, limited) for (key, day), (requests, limited) in counts.items()],
    )


async def spend_and_read(
    conn: Connection, key_id: str, secret_hash: str, default: Limits, read: Read
) -> tuple[Spent, list[Any]] | None:
    """As `spend`, and the route's read in the same statement: the bucket after this
    request and the read's rows (whatever was spent: the caller decides what it may see).
    None when no key works with them. The read is a snapshot taken with the key's check."""
    rows = await conn.fetch(
        _spend_and_read(read), key_id, secret_hash, default.per_second, default.burst, *read.args
    )
    if not rows:
        return None
    first = rows[0]
    spent = Spent(
        granted=first["spent_granted"], tokens=first["spent_tokens"], rate=first["spent_rate"],
        burst=first["spent_bucket"],
    )  # fmt: skip
    return spent, [r for r in rows if r["read_found"]]
