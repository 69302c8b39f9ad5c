"""Every error leaves as RFC 9457 problem+json, FastAPI's and Starlette's own included."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from chime_api.domain.problems import (
    MEDIA_TYPE,
    FieldError,
    Problem,
    ProblemError,
    http_problem,
    internal_error,
    location_of,
    validation_problem,
)
from chime_api.entrypoints.request_ids import request_id_of


def problem_response(problem: Problem, request: Request) -> Response:
    return JSONResponse(
        problem.body(instance=request.url.path, request_id=request_id_of(request.scope)),
        status_code=problem.status,
        headers=dict(problem.headers),
        media_type=MEDIA_TYPE,
    )


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.problem, request)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(location=location_of(e.get("loc", ())), message=str(e.get("msg", "")))
        for e in exc.errors()
    ]
    return problem_response(validation_problem(errors), request)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    problem = http_problem(exc.status_code)
    if exc.detail and exc.detail != problem.title:
        problem = http_problem(exc.status_code, str(exc.detail))
    response = problem_response(problem, request)
    response.headers.update(exc.headers or {})
    return response


async def _on_unhandled(request: Request, exc: Exception) -> Response:
    # The server logs the traceback (Starlette re-raises after this response); the client
    # learns nothing about the internals.
    return problem_response(internal_error(), request)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unhandled)
