"""What routes ask for: the running service and an API key holding the scopes they need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request, Security
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    SecurityScopes,
)

from chime_api.adapters.limits import Read
from chime_api.bootstrap import Dependencies
from chime_api.domain.keys import ApiKey, Scope
from chime_api.domain.limits import Spent
from chime_api.domain.problems import (
    ProblemError,
    forbidden,
    rate_limited,
    unauthorized,
    unavailable,
)
from chime_api.entrypoints.request_ids import add_response_headers
from chime_api.handlers import keys
from chime_kit.db import Connection
from chime_kit.http import RETRY_AFTER_SECONDS

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer chime_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the key itself")


async def running_service(request: Request) -> Dependencies:
    """What the running service was built from (bootstrap's dependencies). Async on
    purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread hand-off on
    every request (14 % of a replica's CPU on the hot path before it was async)."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        detail = "the service is starting or stopping"
        raise ProblemError(unavailable(detail, RETRY_AFTER_SECONDS))
    return cast(Dependencies, service.deps)


ServiceDep = Annotated[Dependencies, Depends(running_service)]


def _presented(bearer: HTTPAuthorizationCredentials | None, header: str | None) -> str:
    presented = bearer.credentials if bearer is not None else header
    if not presented:
        raise ProblemError(unauthorized("an API key is required: Authorization: Bearer <key>"))
    return presented


def _admitted(
    service: Dependencies, found: tuple[ApiKey, Spent] | None, scopes: list[Scope]
) -> ApiKey:
    """The key, once it is known to work, had a token left in its bucket and holds the
    route's scopes (refused in that order); the RateLimit headers go on every response."""
    if found is None:
        raise ProblemError(unauthorized("the API key is not valid or has been revoked"))
    key, spent = found
    service.usage.count(key.id, limited=not spent.granted)
    add_response_headers(spent.headers())
    if not spent.granted:
        raise ProblemError(rate_limited(spent.retry_after, spent.headers()))
    missing = key.missing(scopes)
    if missing:
        raise ProblemError(forbidden(missing))
    return key


async def authorized_key(
    security_scopes: SecurityScopes,
    service: ServiceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    """The caller's key, once it is known to work, holds the route's scopes and had a token
    left in its bucket; the RateLimit headers go on every response to it."""
    presented = _presented(bearer, header)
    async with service.limits_pool.acquire() as conn:
        found = await keys.authenticate(conn, presented, service.default_limits)
    return _admitted(service, found, [Scope(s) for s in security_scopes.scopes])


@dataclass(frozen=True)
class PresentedKey:
    """A key as presented, not yet checked: the route checks it with its own read in one
    statement (`admit`), refused as `authorized_key` refuses."""

    key: str
    scopes: list[Scope]


async def presented_key(
    security_scopes: SecurityScopes,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> PresentedKey:
    return PresentedKey(_presented(bearer, header), [Scope(s) for s in security_scopes.scopes])


async def admit(
    service: Dependencies,
    conn: Connection,
    presented: PresentedKey,
    read: Callable[[ApiKey], Read],
) -> tuple[ApiKey, list[Any] | None]:
    """The caller's key as `authorized_key` admits it, and the rows of the route's `read`,
    taken in the same statement once this replica has seen the key work (None before: the
    route then reads on `conn` itself)."""
    found = await keys.authenticate_and_read(conn, presented.key, service.default_limits, read)
    if found is None:
        return _admitted(service, None, presented.scopes), None  # raises: 401
    key, spent, rows = found
    return _admitted(service, (key, spent), presented.scopes), rows


def _needs(scope: Scope) -> object:
    return Security(authorized_key, scopes=[scope.value])


NotifyDep = Annotated[ApiKey, _needs(Scope.NOTIFY)]
ScheduleDep = Annotated[ApiKey, _needs(Scope.SCHEDULE)]
BroadcastDep = Annotated[ApiKey, _needs(Scope.BROADCAST)]
TopicsDep = Annotated[ApiKey, _needs(Scope.TOPICS)]
ReadDep = Annotated[ApiKey, _needs(Scope.READ)]
# For a route that reads in its key's statement (`admit`): the same security and scopes.
ReadPresented = Annotated[PresentedKey, Security(presented_key, scopes=[Scope.READ.value])]
AdminDep = Annotated[ApiKey, _needs(Scope.ADMIN)]
