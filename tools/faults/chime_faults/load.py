"""Bursts of work with a unique token in every text: API notifications, and reminders
that users ask the bot for through the emulator. Spread over several bots and chats so that
no Telegram limit dominates. Open loop: requests leave on the clock, not on answers."""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass

import httpx

from chime_faults.checker import Request

RETRY_FOR_SECONDS = 90.0
CHATS = 100_000  # notifications go to chats from here on
PROBE_CHAT = 900_000


@dataclass
class Load:
    client: httpx.AsyncClient
    emulator: str
    api: str
    api_key: str
    bots: list[int]
    chats_per_bot: int
    rng: random.Random
    serial: int = 0

    async def prepare(self, chats: list[int]) -> None:
        """Telegram knows a private chat once its user wrote to a bot."""
        for chat_id in chats:
            response = await self.client.post(
                f"{self.emulator}/_emulator/chats", json={"type": "private", "id": chat_id}
            )
            response.raise_for_status()

    def chats(self, *more: int) -> list[int]:
        return [CHATS + n for n in range(self.chats_per_bot)] + [PROBE_CHAT, *more]

    def token(self, tag: str) -> str:
        self.serial += 1
        return f"fs{tag}{self.serial:07d}{os.urandom(3).hex()}"

    def target(self, i: int) -> tuple[int, int]:
        bot = self.bots[i % len(self.bots)]
        return bot, CHATS + (i // len(self.bots)) % self.chats_per_bot

    async def notify(self, bot_id: int, chat_id: int, token: str) -> Request:
        """POST a notification; a client retries what got no answer with the same key."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": token}
        body = {"chat_id": chat_id, "bot_id": bot_id, "text": f"note {token}"}
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        reason = "no answer"
        while time.monotonic() < deadline:
            try:
                response = await self.client.post(
                    f"{self.api}/v1/notifications", json=body, headers=headers
                )
            except httpx.HTTPError as exc:
                reason = f"no answer: {type(exc).__name__}"
            else:
                if response.status_code == 202:
                    notification_id = response.json()["id"]
                    return Request(token, "api", bot_id, chat_id, True, None, notification_id)
                if response.status_code < 500 and response.status_code != 409:
                    return Request(token, "api", bot_id, chat_id, False, response.text[:200])
                reason = f"{response.status_code}"
            await asyncio.sleep(0.5)
        return Request(token, "api", bot_id, chat_id, False, reason)

    async def remind(self, bot_id: int, chat_id: int, token: str, in_seconds: int) -> Request:
        """A user asks for a reminder; accepted once the bot's webhook answered 200."""
        try:
            response = await self.client.post(
                f"{self.emulator}/_emulator/messages",
                json={
                    "bot_id": bot_id,
                    "chat_id": chat_id,
                    "text": f"/remind in {in_seconds}s {token}",
                    "wait": True,
                },
            )
            answer = response.json()
        except httpx.HTTPError as exc:
            return Request(token, "reminder", bot_id, chat_id, False, type(exc).__name__)
        if answer.get("status") == 200:
            return Request(token, "reminder", bot_id, chat_id, True)
        # Telegram gave up delivering the update (the emulator retries 5 times, not for hours).
        reason = f"webhook gave up: {answer.get('status') or answer.get('error')}"
        return Request(token, "reminder", bot_id, chat_id, False, reason)

    async def burst(
        self, tag: str, *, notifications: int, reminders: int, seconds: float, remind_in: int = 3
    ) -> list[Request]:
        total = notifications + reminders
        kinds = ["api"] * notifications + ["reminder"] * reminders
        self.rng.shuffle(kinds)
        tasks: list[asyncio.Task[Request]] = []
        start = time.monotonic()
        for i, kind in enumerate(kinds):
            await asyncio.sleep(max(0.0, start + i * seconds / total - time.monotonic()))
            bot_id, chat_id = self.target(self.serial)
            token = self.token(tag)
            if kind == "api":
                tasks.append(asyncio.create_task(self.notify(bot_id, chat_id, token)))
            else:
                # Reminders come from their own chats: a user's chat is paced at 1 message/s.
                chat_id += 500_000
                tasks.append(asyncio.create_task(self.remind(bot_id, chat_id, token, remind_in)))
        return list(await asyncio.gather(*tasks))
