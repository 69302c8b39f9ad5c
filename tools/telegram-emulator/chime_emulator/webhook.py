"""Delivery of pending updates to a bot's webhook, as Telegram delivers them.

Up to the bot's `max_connections` requests are in flight at once; updates of one chat go
one at a time and in order, while different chats' updates overtake each other. Any
answer other than 2xx (and any network error) is retried with a growing delay for up to
`webhook_give_up_s` (a day, as Telegram keeps an update); the update stays pending — and
counted in getWebhookInfo — until then. `webhook_max_attempts` gives up sooner (tests).
"""

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass

import aiohttp
import httpx

from chime_emulator.config import EmulatorConfig
from chime_emulator.jsonio import dump_json
from chime_emulator.state import Bot, PendingUpdate, Stats

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
# How far into the queue the dispatcher looks for an update whose chat is free.
SCAN_WINDOW = 1000


@dataclass(frozen=True)
class DeliveryResult:
    status: int | None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


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
        self._poster: AiohttpPoster | HttpxPoster | None = None
        self._dispatchers: dict[int, asyncio.Task[None]] = {}
        self._wakeups: dict[int, asyncio.Event] = {}
        self._waiters: dict[tuple[int, int], list[asyncio.Future[DeliveryResult]]] = {}

    def kick(self, bot: Bot) -> None:
        """Makes sure a dispatcher is delivering this bot's pending updates."""
        wakeup = self._wakeups.get(bot.id)
        if wakeup is not None:
            wakeup.set()
        dispatcher = self._dispatchers.get(bot.id)
        if bot.webhook_url and bot.pending and (dispatcher is None or dispatcher.done()):
            self._wakeups[bot.id] = asyncio.Event()
            self._dispatchers[bot.id] = asyncio.create_task(self._dispatch(bot))

    def result_of(self, bot: Bot, update_id: int) -> asyncio.Future[DeliveryResult]:
        future: asyncio.Future[DeliveryResult] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault((bot.id, update_id), []).append(future)
        return future

    def abandon_waiters(self, bot: Bot, reason: str) -> None:
        """Answers everyone waiting on this bot's deliveries, e.g. when its webhook goes."""
        for _, update_id in [key for key in self._waiters if key[0] == bot.id]:
            self._resolve(bot, update_id, DeliveryResult(None, reason))

    async def aclose(self) -> None:
        dispatchers = list(self._dispatchers.values())
        self._dispatchers.clear()
        for dispatcher in dispatchers:
            dispatcher.cancel()
        for dispatcher in dispatchers:
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher
        for key in list(self._waiters):
            for future in self._waiters.pop(key):
                if not future.done():
                    future.set_result(DeliveryResult(None, "emulator stopped"))
        if self._poster is not None:
            await self._poster.aclose()
            self._poster = None

    def _resolve(self, bot: Bot, update_id: int, result: DeliveryResult) -> None:
        for future in self._waiters.pop((bot.id, update_id), []):
            if not future.done():
                future.set_result(result)

    def _start_free(
        self, bot: Bot, in_flight: dict[asyncio.Task[DeliveryResult | None], PendingUpdate]
    ) -> None:
        """Starts deliveries of the oldest updates whose chats have none in flight."""
        busy = {update.chat_id for update in in_flight.values()}
        flying = {update.update_id for update in in_flight.values()}
        for update in itertools.islice(bot.pending, SCAN_WINDOW):
            if len(in_flight) >= bot.max_connections:
                return
            if update.update_id in flying or (
                update.chat_id is not None and update.chat_id in busy
            ):
                if update.chat_id is not None:
                    busy.add(update.chat_id)
                continue
            task = asyncio.create_task(self._deliver_with_retries(bot, update))
            in_flight[task] = update
            if update.chat_id is not None:
                busy.add(update.chat_id)

    async def _dispatch(self, bot: Bot) -> None:
        in_flight: dict[asyncio.Task[DeliveryResult | None], PendingUpdate] = {}
        wakeup = self._wakeups[bot.id]
        try:
            while bot.webhook_url and (bot.pending or in_flight):
                self._start_free(bot, in_flight)
                woken = asyncio.ensure_future(wakeup.wait())
                done, _ = await asyncio.wait(
                    [*in_flight, woken], return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
                wakeup.clear()
                for task in [task for task in in_flight if task in done]:
                    update = in_flight.pop(task)
                    result = task.result()
                    if result is None:
                        continue  # the webhook changed meanwhile; deliver it anew
                    with contextlib.suppress(ValueError):
                        bot.pending.remove(update)
                    self._resolve(bot, update.update_id, result)
        finally:
            for task in in_flight:
                task.cancel()

    async def _deliver_with_retries(self, bot: Bot, update: PendingUpdate) -> DeliveryResult | None:
        url = bot.webhook_url
        limit = self._config.webhook_max_attempts
        give_up_at = time.monotonic() + self._config.webhook_give_up_s
        attempt = 0
        while True:
            if bot.webhook_url != url:
                return None
            result = await self._post(url, bot.webhook_secret, update)
            attempt += 1
            if result.succeeded:
                self._stats.webhook_deliveries_ok += 1
                return result
            self._stats.webhook_attempts_failed += 1
            bot.last_error_date = int(time.time())
            bot.last_error_message = result.error
            logger.warning("webhook of bot %s failed: %s", bot.id, result.error)
            if (limit is not None and attempt >= max(1, limit)) or time.monotonic() >= give_up_at:
                break
            delay = self._config.webhook_backoff_s * 2 ** min(attempt - 1, 30)
            await asyncio.sleep(min(self._config.webhook_max_backoff_s, delay))
        self._stats.webhook_deliveries_failed += 1
        logger.warning("dropping update %s of bot %s", update.update_id, bot.id)
        return result

    async def _post(self, url: str, secret: str | None, update: PendingUpdate) -> DeliveryResult:
        if self._poster is None:
            timeout = self._config.webhook_timeout_s
            self._poster = (
                AiohttpPoster(timeout)
                if self._transport is None
                else HttpxPoster(self._transport, timeout)
            )
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SECRET_HEADER] = secret
        status, error = await self._poster.post(url, dump_json(update.payload), headers)
        if status is not None and 200 <= status < 300:
            return DeliveryResult(status)
        return DeliveryResult(status, error)


def _wrong_response(status: int, reason: str | None) -> str:
    return f"Wrong response from the webhook: {status} {reason or ''}".rstrip()


class AiohttpPoster:
    """Posts over the network with aiohttp, a fraction of httpx's CPU per request."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status, _wrong_response(response.status, response.reason)
        except TimeoutError:
            return None, "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return None, "Connection refused"
        except aiohttp.ClientError as error:
            return None, f"{type(error).__name__}: {error}"

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxPoster:
    """Posts through an httpx transport: tests route webhooks to an in-process ASGI app."""

    def __init__(self, transport: httpx.AsyncBaseTransport, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout_s)

    async def post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, "Read timeout expired"
        except httpx.ConnectError:
            return None, "Connection refused"
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"
        return response.status_code, _wrong_response(response.status_code, response.reason_phrase)

    async def aclose(self) -> None:
        await self._client.aclose()
