"""The /bot<token>/<method> routes, answering exactly like the Bot API."""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from chime_emulator.emulator import Emulator
from chime_emulator.errors import ApiError, not_found
from chime_emulator.faults import STATUS_DESCRIPTIONS, FaultMode, FaultRule
from chime_emulator.methods import METHODS, Described
from chime_emulator.params import read_params


async def _apply_fault(emulator: Emulator, fault: FaultRule) -> None:
    """Sleeps for slow and timeout faults; raises the injected error unless only slow."""
    if fault.delay_s > 0:
        await asyncio.sleep(fault.delay_s)
    if fault.mode in (FaultMode.ERROR, FaultMode.TIMEOUT):
        emulator.state.stats.errors_5xx_injected += 1
        description = STATUS_DESCRIPTIONS.get(fault.status, "Internal Server Error")
        raise ApiError(fault.status, description)


def build_router(emulator: Emulator) -> APIRouter:
    router = APIRouter()

    @router.api_route("/bot{token}/{method}", methods=["GET", "POST"])
    async def call_method(request: Request, token: str, method: str) -> JSONResponse:
        try:
            bot = emulator.authenticate(token)
            handler = METHODS.get(method.lower())
            if handler is None:
                raise not_found()
            emulator.state.stats.requests_per_method[method] += 1
            params = await read_params(request)
            fault = emulator.faults.take(method, bot.id)
            if fault is not None:
                await _apply_fault(emulator, fault)
            result = await handler(emulator, bot, params)
        except ApiError as error:
            emulator.state.stats.rejected_per_status[error.error_code] += 1
            return JSONResponse(error.body(), status_code=error.error_code)
        body: dict[str, Any] = {"ok": True}
        if isinstance(result, Described):
            body |= {"result": result.result, "description": result.description}
        else:
            body["result"] = result
        return JSONResponse(body)

    return router
