"""The few Bot API calls ingest makes (getMe, the webhook's set, delete and info,
getUpdates, answerCallbackQuery), on the kit's client and its one error model: a call that did not
succeed raises TelegramError."""

from __future__ import annotations

from typing import Any

from chime_kit.telegram import BotApi, TelegramError

__all__ = ["TelegramBotApi", "TelegramError"]


class TelegramBotApi:
    """One client for many bots; the token only ever appears in the request path."""

    def __init__(self, api: BotApi) -> None:
        self.api = api

    async def call(
        self, token: str, method: str, params: dict[str, Any], wait: float | None = None
    ) -> Any:
        """The call's result; `wait` replaces the read timeout (long polling)."""
        return await self.api.result(token, method, params, read_timeout=wait)

    async def aclose(self) -> None:
        await self.api.aclose()

    async def get_me(self, token: str) -> dict[str, Any]:
        me: dict[str, Any] = await self.call(token, "getMe", {})
        return me

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

    async def delete_webhook(self, token: str) -> None:
        await self.call(token, "deleteWebhook", {})

    async def get_webhook_info(self, token: str) -> dict[str, Any]:
        info: dict[str, Any] = await self.call(token, "getWebhookInfo", {})
        return info

    async def answer_callback_query(self, token: str, query_id: str, text: str) -> None:
        params: dict[str, Any] = {"callback_query_id": query_id}
        if text:
            params["text"] = text[:200]  # Telegram shows at most 200 characters
        await self.call(token, "answerCallbackQuery", params)

    async def get_updates(
        self,
        token: str,
        offset: int | None,
        poll_seconds: int,
        allowed_updates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"timeout": poll_seconds}
        if offset is not None:
            params["offset"] = offset
        if allowed_updates is not None:
            params["allowed_updates"] = allowed_updates
        result: list[dict[str, Any]] = await self.call(
            token, "getUpdates", params, wait=poll_seconds + 10
        )
        return result
