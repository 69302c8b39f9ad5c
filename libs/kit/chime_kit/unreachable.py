"""Telling "a dependency is unreachable now" from every other error.

The HTTP edges answer such a failure 503 with Retry-After, and a consumer keeps its messages
and waits for the database instead of spending their delivery limit: retrying later can
succeed, so it is neither the caller's fault nor a poison message.
"""

import asyncpg

# asyncpg's ways of saying "the server is not there now": connection lost or refused
# (class 08), shutting down or starting up (57P0x), too many connections, disk or memory
# full (53xxx), a protocol state broken by a dropped link, and the socket's own errors
# (TimeoutError, a pool acquire timing out among them, is an OSError).
_UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InternalClientError,
)
# InterfaceErrors that are mistakes in the request or the code, not a lost connection.
_NOT_A_LOST_LINK = (
    ValueError,  # DataError (an argument the column cannot take), ClientConfigurationError
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.UnsupportedServerFeatureError,
)


def dependency_unavailable(exc: BaseException) -> bool:
    """True when `exc` says a dependency is unreachable now, so retrying later can succeed."""
    if isinstance(exc, BaseExceptionGroup):
        return all(dependency_unavailable(e) for e in exc.exceptions)
    if isinstance(exc, _UNREACHABLE):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, _NOT_A_LOST_LINK)
