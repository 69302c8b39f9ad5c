"""RFC 9457 problem details: every error the API returns has this shape."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

MEDIA_TYPE = "application/problem+json"
# Problem types are URI references relative to the API's base; "about:blank" means the
# HTTP status says it all (RFC 9457 section 4.2.1).
TYPE_BASE = "/problems/"


@dataclass(frozen=True)
class FieldError:
    location: str
    message: str


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    detail: str | None = None
    type: str = "about:blank"
    errors: tuple[FieldError, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self, instance: str | None, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        if request_id is not None:
            body["request_id"] = request_id
        if self.errors:
            body["errors"] = [{"location": e.location, "message": e.message} for e in self.errors]
        return body


class ProblemError(Exception):
    """Raised where a request cannot go on; the app renders `problem`."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail or problem.title)
        self.problem = problem


# A stable type for each plain HTTP error, so clients branch on `type`, never on text.
HTTP_TYPES = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "content-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


def http_problem(status: int, detail: str | None = None) -> Problem:
    """A plain HTTP error (404, 405, ...): its stable type, the status phrase as title."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    slug = HTTP_TYPES.get(status)
    kind = f"{TYPE_BASE}{slug}" if slug else "about:blank"
    return Problem(status=status, title=title, detail=detail, type=kind)


def location_of(loc: Sequence[str | int]) -> str:
    """('body', 'items', 0, 'text') -> 'body.items[0].text'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_problem(errors: Iterable[FieldError], detail: str | None = None) -> Problem:
    errors = tuple(errors)
    return Problem(
        status=422,
        title="Request is not valid",
        detail=detail or "; ".join(f"{e.location}: {e.message}" for e in errors) or None,
        type=f"{TYPE_BASE}validation-error",
        errors=errors,
    )


def unauthorized(detail: str) -> Problem:
    return Problem(
        status=401,
        title="Not authenticated",
        detail=detail,
        type=f"{TYPE_BASE}unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="chime"'},
    )


def forbidden(missing: Sequence[str]) -> Problem:
    needed = " ".join(missing)
    return Problem(
        status=403,
        title="Insufficient scope",
        detail=f"this API key lacks the scope {needed}",
        type=f"{TYPE_BASE}insufficient-scope",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
    )


def not_found(what: str) -> Problem:
    return Problem(
        status=404, title="Not Found", detail=f"{what} not found", type=f"{TYPE_BASE}not-found"
    )


def no_team() -> Problem:
    return Problem(
        status=409,
        title="This key belongs to no team",
        detail="only a key of a team creates keys (for its team); give it one with the CLI",
        type=f"{TYPE_BASE}no-team",
    )


def idempotency_key_reused() -> Problem:
    return Problem(
        status=422,
        title="Idempotency-Key reused with a different request",
        detail="this Idempotency-Key was first used with a different request body",
        type=f"{TYPE_BASE}idempotency-key-reused",
    )


def idempotency_in_flight() -> Problem:
    return Problem(
        status=409,
        title="Request with this Idempotency-Key is in progress",
        detail="retry once the first request has finished",
        type=f"{TYPE_BASE}idempotency-key-in-flight",
        headers={"Retry-After": "1"},
    )


def unavailable(detail: str, retry_after_seconds: int) -> Problem:
    return Problem(
        status=503,
        title="Service Unavailable",
        detail=detail,
        type=f"{TYPE_BASE}unavailable",
        headers={"Retry-After": str(retry_after_seconds)},
    )


def internal_error() -> Problem:
    return Problem(
        status=500,
        title="Internal Server Error",
        detail="the server could not handle the request; it has been logged",
        type=f"{TYPE_BASE}internal-error",
    )


def rate_limited(retry_after_seconds: int, headers: dict[str, str]) -> Problem:
    return Problem(
        status=429,
        title="Too Many Requests",
        detail=f"this API key's rate limit is spent; retry in {retry_after_seconds} s",
        type=f"{TYPE_BASE}rate-limited",
        headers={**headers, "Retry-After": str(retry_after_seconds)},
    )


def closed(what: str) -> Problem:
    return Problem(
        status=409,
        title="Cancelled",
        detail=f"{what} was cancelled; nothing more can change it",
        type=f"{TYPE_BASE}cancelled",
    )


def not_editable(notification_id: str) -> Problem:
    return Problem(
        status=409,
        title="Message not editable",
        detail=f"notification {notification_id} is not sent, or its message was deleted",
        type=f"{TYPE_BASE}message-not-editable",
    )
