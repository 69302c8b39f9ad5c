"""The Bot API over httpx: one pooled client for every token; answers, never exceptions.

The token is part of the URL, so no URL, request or httpx exception text leaves this module.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from chime_sender.domain.outcomes import CallResult


class TelegramClient:
    def __init__(
        self,
        api_base: str,
        *,
        connect_timeout: float,
        timeout: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            # Idle connections are kept a minute (httpx: 5 s): a cold one makes the first send
            # after a pause arrive late, and late sends bunch up against the token's limit.
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=60.0,
            ),
            transport=transport,
        )

    async def send_message(
        self,
        token: SecretStr,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> CallResult:
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
        if parse_mode:
            payload["parse_mode"] = parse_mode
        if reply_to_message_id is not None:
            payload["reply_parameters"] = {
                "message_id": reply_to_message_id,
                "allow_sending_without_reply": True,
            }
        return await self._call(token, "sendMessage", payload)

    async def _call(self, token: SecretStr, method: str, payload: dict[str, Any]) -> CallResult:
        url = f"{self._api_base}/bot{token.get_secret_value()}/{method}"
        try:
            response = await self._http.post(url, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            return CallResult(ok=False, transport_error="connection")  # never reached Telegram
        except (httpx.WriteError, httpx.WriteTimeout):
            return CallResult(ok=False, transport_error="connection")  # request incomplete
        except httpx.TimeoutException:
            # Sent, but no answer in time: Telegram may have delivered it.
            return CallResult(ok=False, transport_error="timeout")
        except httpx.TransportError:
            return CallResult(ok=False, transport_error="no_answer")
        return _answer(response)

    async def aclose(self) -> None:
        await self._http.aclose()


def _answer(response: httpx.Response) -> CallResult:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # A proxy's HTML error page, say: only the status tells what happened.
        return CallResult(
            ok=False, error_code=response.status_code, description="answer was not Bot API JSON"
        )
    if body.get("ok") is True:
        result = body.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return CallResult(ok=True, message_id=message_id if isinstance(message_id, int) else None)
    parameters = body.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    error_code = body.get("error_code")
    description = body.get("description")
    return CallResult(
        ok=False,
        error_code=error_code if isinstance(error_code, int) else response.status_code,
        description=description if isinstance(description, str) else None,
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
    )
