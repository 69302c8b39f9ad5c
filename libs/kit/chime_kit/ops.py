"""/healthz (alive), /readyz (dependencies reachable), /health/details (what a person reads
to find what is wrong, `health.py`) and /metrics for every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chime_kit.health import details

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
LivenessCheck = Callable[[], dict[str, bool]]


def liveness_of(request: Request) -> LivenessCheck | None:
    """The running service's liveness (its runtime's loops), None while starting."""
    service = getattr(request.app.state, "service", None)
    return service.runtime.liveness if service is not None else None


def ops_routes(
    readiness: Callable[[Request], ReadinessCheck | None],
    liveness: Callable[[Request], LivenessCheck | None] = liveness_of,
) -> list[Route]:
    """`readiness(request)` finds the running service's check (None while starting);
    `liveness(request)` names what is wedged (a loop), so Kubernetes restarts the process."""

    async def healthz(request: Request) -> Response:
        check = liveness(request)
        wedged = sorted(name for name, ok in (check() if check else {}).items() if not ok)
        if wedged:
            return JSONResponse({"status": "wedged", "wedged": wedged}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        check = readiness(request)
        if check is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = await check()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def health_details(request: Request) -> Response:
        service = getattr(request.app.state, "service", None)
        if service is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        found = await details(service.runtime)
        # Always 200: the body says what is degraded; probes use /healthz and /readyz.
        return JSONResponse(found)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, include_in_schema=False),
        Route("/readyz", readyz, include_in_schema=False),
        Route("/health/details", health_details, include_in_schema=False),
        Route("/metrics", metrics, include_in_schema=False),
    ]
