"""GET /operator (the page: static, no data until a key is given) and /operator/data."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Request, Security
from fastapi.responses import HTMLResponse

from chime_api.domain.keys import ApiKey, Scope
from chime_api.domain.problems import ProblemError, unavailable
from chime_api.entrypoints.dependencies import authorized_key
from chime_api.operator.live import Live
from chime_kit.http import RETRY_AFTER_SECONDS

router = APIRouter(prefix="/operator", tags=["operator"])
AdminDep = Annotated[ApiKey, Security(authorized_key, scopes=[Scope.ADMIN.value])]
PAGE = resources.files("chime_api.operator").joinpath("static/operator.html")


@router.get("", include_in_schema=False)
async def page() -> HTMLResponse:
    # No data in it: the page asks for /operator/data with the key the person gives it.
    return HTMLResponse(
        PAGE.read_text(encoding="utf-8"),
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline';"
            " script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            "Cache-Control": "no-store",
        },
    )


# Out of the OpenAPI document: it is the page's, not an API for clients.
@router.get("/data", include_in_schema=False)
async def data(request: Request, _: AdminDep) -> dict[str, Any]:
    live: Live | None = getattr(request.app.state, "operator", None)
    if live is None:
        raise ProblemError(unavailable("the operator view is starting", RETRY_AFTER_SECONDS))
    return await live.snapshot()
