"""Which errors mean "a dependency is unreachable now" (503 + Retry-After) and which do not."""

import asyncpg
import pytest
from asyncpg import exceptions as pg

from chime_kit.unreachable import dependency_unavailable

pytestmark = pytest.mark.unit

UNREACHABLE = [
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
    pg.CannotConnectNowError("the database system is starting up"),
    pg.AdminShutdownError("terminating connection due to administrator command"),
    pg.TooManyConnectionsError("sorry, too many clients already"),
    pg.ConnectionFailureError("connection failure"),
    TimeoutError(),  # what pool.acquire(timeout=...) raises
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError(113, "No route to host"),
    ExceptionGroup("both", [TimeoutError(), ConnectionResetError()]),
]
NOT_UNREACHABLE = [
    # An argument the column cannot take (an InterfaceError, and a ValueError).
    pg._base.DataError("invalid input for query argument $1: 9223372036854775808"),
    pg.DataError("invalid input for query argument $1 (value out of int64 range)"),
    pg.UniqueViolationError("duplicate key"),
    pg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    pg.UnsupportedClientFeatureError("no"),
    ValueError("bad"),
    RuntimeError("bug"),
    ExceptionGroup("mixed", [TimeoutError(), RuntimeError()]),
]


@pytest.mark.parametrize("error", UNREACHABLE, ids=lambda e: type(e).__name__)
def test_lost_or_refused_connections_are_unavailable(error):
    assert dependency_unavailable(error)


@pytest.mark.parametrize("error", NOT_UNREACHABLE, ids=lambda e: type(e).__name__)
def test_mistakes_in_the_request_or_the_code_are_not(error):
    assert not dependency_unavailable(error)
