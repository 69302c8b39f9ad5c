"""Delivery of pending updates to a bot's webhook: in order, with retries and backoff."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import httpx

from chime_emulator.config import EmulatorConfig
from chime_emulator.state import Bot, PendingUpdate, Stats
from chime_emulator.updates import is_allowed

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


@dataclass(frozen=True)
class DeliveryResult:
    status: int | None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class WebhookDelivery:
    def __init__(
        self,
        config: EmulatorConfig,
        stats: Stats,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._stats = stats
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._waiters: dict[tuple[int, int], list[asyncio.Future[DeliveryResult]]] = {}

    def kick(self, bot: Bot) -> None:
        """Makes sure a worker is delivering this bot's pending updates."""
        worker = self._workers.get(bot.id)
        if bot.webhook_url and bot.pending and (worker is None or worker.done()):
            self._workers[bot.id] = asyncio.create_task(self._deliver_pending(bot))

    def result_of(self, bot: Bot, update_id: int) -> asyncio.Future[DeliveryResult]:
        future: asyncio.Future[DeliveryResult] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((bot.id, update_id), []).append(future)
        return future

    def abandon_waiters(self, bot: Bot, reason: str) -> None:
        """Answers everyone waiting on this bot's deliveries, e.g. when its webhook goes."""
        for _, update_id in [key for key in self._waiters if key[0] == bot.id]:
            self._resolve(bot, update_id, DeliveryResult(None, reason))

    async def aclose(self) -> None:
        workers = list(self._workers.values())
        self._workers.clear()
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for bot_id, update_id in list(self._waiters):
            for future in self._waiters.pop((bot_id, update_id)):
                if not future.done():
                    future.set_result(DeliveryResult(None, "emulator stopped"))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _resolve(self, bot: Bot, update_id: int, result: DeliveryResult) -> None:
        for future in self._waiters.pop((bot.id, update_id), []):
            if not future.done():
                future.set_result(result)

    async def _deliver_pending(self, bot: Bot) -> None:
        while bot.webhook_url and bot.pending:
            head = bot.pending[0]
            if not is_allowed(head.payload, bot.allowed_updates):
                bot.pending.popleft()
                self._resolve(bot, head.update_id, DeliveryResult(None, "not in allowed_updates"))
                continue
            result = await self._deliver_with_retries(bot, head)
            if result is None:
                continue  # the webhook changed meanwhile; start over with the new one
            if bot.pending and bot.pending[0] is head:
                bot.pending.popleft()
            self._resolve(bot, head.update_id, result)

    async def _deliver_with_retries(self, bot: Bot, update: PendingUpdate) -> DeliveryResult | None:
        url = bot.webhook_url
        limit = self._config.webhook_max_attempts
        give_up_at = time.monotonic() + self._config.webhook_give_up_s
        result = DeliveryResult(None, "not attempted")
        attempt = 0
        while True:
            if bot.webhook_url != url:
                return None
            result = await self._post(url, bot.webhook_secret, update)
            attempt += 1
            if result.succeeded:
                self._stats.webhook_deliveries_ok += 1
                return result
            bot.last_error_date = int(time.time())
            bot.last_error_message = result.error
            logger.warning("webhook of bot %s failed: %s", bot.id, result.error)
            if not result.retryable or (limit is not None and attempt >= max(1, limit)):
                break
            if time.monotonic() >= give_up_at:
                break
            delay = self._config.webhook_backoff_s * 2 ** min(attempt - 1, 30)
            await asyncio.sleep(min(self._config.webhook_max_backoff_s, delay))
        self._stats.webhook_deliveries_failed += 1
        logger.warning("dropping update %s of bot %s", update.update_id, bot.id)
        return result

    async def _post(self, url: str, secret: str | None, update: PendingUpdate) -> DeliveryResult:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport, timeout=self._config.webhook_timeout_s
            )
        headers = {SECRET_HEADER: secret} if secret else {}
        try:
            response = await self._client.post(url, json=update.payload, headers=headers)
        except httpx.TimeoutException:
            return DeliveryResult(None, "Read timeout expired")
        except httpx.ConnectError:
            return DeliveryResult(None, "Connection refused")
        except httpx.HTTPError as error:
            return DeliveryResult(None, f"{type(error).__name__}: {error}")
        if 200 <= response.status_code < 300:
            return DeliveryResult(response.status_code)
        return DeliveryResult(
            response.status_code,
            f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}",
        )
