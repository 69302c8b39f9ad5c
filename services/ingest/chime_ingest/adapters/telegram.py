"""The few Bot API calls ingest makes: the webhook's (set, delete, info), getUpdates and
answerCallbackQuery."""

from __future__ import annotations

from typing import Any

import httpx


class TelegramError(Exception):
    def __init__(self, method: str, error_code: int, description: str) -> None:
        super().__init__(f"{method} failed: {error_code} {description}")
        self.error_code = error_code


class TelegramBotApi:
    """One client for many bots; the token only ever appears in the request path."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    async def call(
        self, token: str, method: str, params: dict[str, Any], wait: float | None = None
    ) -> Any:
        response = await self.client.post(
            f"{self.base_url}/bot{token}/{method}",
            json=params,
            timeout=wait if wait is not None else self.client.timeout,
        )
        body = response.json()
        if not body.get("ok"):
            raise TelegramError(
                method, body.get("error_code", response.status_code), body.get("description", "")
            )
        return body["result"]

    async def set_webhook(
        self,
        token: str,
        url: str,
        secret_token: str,
        *,
        allowed_updates: list[str] | None = None,
        max_connections: int | None = None,
    ) -> None:
        params: dict[str, Any] = {"url": url, "secret_token": secret_token}
        if allowed_updates is not None:
            params["allowed_updates"] = allowed_updates
        if max_connections is not None:
            params["max_connections"] = max_connections
        await self.call(token, "setWebhook", params)

    async def get_webhook_info(self, token: str) -> dict[str, Any]:
        info: dict[str, Any] = await self.call(token, "getWebhookInfo", {})
        return info

    async def answer_callback_query(self, token: str, query_id: str, text: str) -> None:
        params: dict[str, Any] = {"callback_query_id": query_id}
        if text:
            params["text"] = text[:200]  # Telegram shows at most 200 characters
        await self.call(token, "answerCallbackQuery", params)

    async def delete_webhook(self, token: str) -> None:
        await self.call(token, "deleteWebhook", {})

    async def get_updates(
        self,
        token: str,
        offset: int | None,
        poll_seconds: int,
        allowed_updates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"timeout": poll_seconds}
        if allowed_updates is not None:
            params["allowed_updates"] = allowed_updates
        if offset is not None:
            params["offset"] = offset
        result: list[dict[str, Any]] = await self.call(
            token, "getUpdates", params, wait=poll_seconds + 10
        )
        return result
