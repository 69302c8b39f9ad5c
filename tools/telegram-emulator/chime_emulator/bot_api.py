"""The /bot<token>/<method> endpoint, answering exactly like the Bot API.

It is served straight from ASGI, beside FastAPI's routing rather than through it: it is
the hot path of every test and bench, and FastAPI's middleware and routing were most of
its cost. The control API stays on FastAPI.
"""

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chime_emulator.emulator import Emulator
from chime_emulator.errors import ApiError, not_found
from chime_emulator.faults import STATUS_DESCRIPTIONS, FaultMode, FaultRule
from chime_emulator.jsonio import dump_json
from chime_emulator.methods import METHODS, Described
from chime_emulator.params import read_params

JSON_HEADERS = [(b"content-type", b"application/json")]


async def _apply_fault(emulator: Emulator, fault: FaultRule) -> None:
    """Sleeps for slow and timeout faults; raises the injected error unless only slow."""
    if fault.delay_s > 0:
        await asyncio.sleep(fault.delay_s)
    if fault.mode in (FaultMode.ERROR, FaultMode.TIMEOUT):
        emulator.state.stats.errors_5xx_injected += 1
        description = STATUS_DESCRIPTIONS.get(fault.status, "Internal Server Error")
        raise ApiError(fault.status, description)


async def call_method(emulator: Emulator, request: Request, path: str) -> tuple[int, Any]:
    """The HTTP status and body of one Bot API call; `path` is what follows `/bot`."""
    try:
        token, slash, method = path.partition("/")
        if not slash or not method or "/" in method:
            raise not_found()
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
        return error.error_code, error.body()
    if isinstance(result, Described):
        return 200, {"ok": True, "result": result.result, "description": result.description}
    return 200, {"ok": True, "result": result}


async def send_json(send: Send, status: int, body: Any) -> None:
    payload = dump_json(body)
    headers = [*JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def serve(emulator: Emulator, scope: Scope, receive: Receive, send: Send) -> None:
    """Answers an HTTP request whose path starts with /bot."""
    path: str = scope["path"]
    status, body = await call_method(emulator, Request(scope, receive), path[len("/bot") :])
    await send_json(send, status, body)
