"""The Bot API over aiohttp: one pooled session for every token, one error model for every caller.

Every call ends in an `Answer`, never an exception: Telegram's own answer (`ok`, or its
`error_code`, `description` and `parameters`), or the transport failure that stood for one,
told apart by whether the request may have reached Telegram. A caller that prefers an
exception asks `result()`, which raises `TelegramError` carrying the same `Answer`.

The token is part of the URL, so no URL, request or aiohttp exception text leaves this module.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr

from chime_kit.telemetry import redact

# When no answer came: "connection" (the request never reached Telegram, or not whole),
# "timeout" or "no_answer" (it did, and Telegram may have acted on it).
Transport = Literal["connection", "timeout", "no_answer"]


@dataclass(frozen=True)
class Answer:
    """One Bot API call's answer, or the transport failure that stood for one."""

    ok: bool
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    retry_after: float | None = None
    migrate_to_chat_id: int | None = None
    transport_error: str | None = None

    @property
    def message_id(self) -> int | None:
        value = self.result.get("message_id") if isinstance(self.result, dict) else None
        return value if isinstance(value, int) else None

    @property
    def maybe_delivered(self) -> bool:
        """No answer, though the request left: Telegram may have done what it asked."""
        return self.transport_error in ("timeout", "no_answer")

    @property
    def summary(self) -> str:
        if self.ok:
            return "ok"
        if self.transport_error:
            return self.transport_error
        return f"{self.error_code}"


class TelegramError(Exception):
    """A call that did not succeed, for callers that want an exception (`BotApi.result`)."""

    def __init__(self, method: str, answer: Answer) -> None:
        super().__init__(f"{method} failed: {answer.summary} {answer.description or ''}".strip())
        self.method = method
        self.answer = answer

    @property
    def error_code(self) -> int | None:
        return self.answer.error_code


_tracer = trace.get_tracer("chime.telegram")


class BotApi:
    """One aiohttp session per Bot API base, shared by every token, made on the first call.

    aiohttp rather than httpx: the sender makes a call per message, and httpx's request and
    pool machinery was a third of its CPU (bench/sender). Idle connections are kept
    `keepalive` seconds, a minute by default (a cold one makes the first call after a pause
    late, and late sends bunch up against a token's limit); keep it below the server's own
    idle timeout, or a call may go out on a connection the server is closing, and its
    outcome is unknown. `max_connections` bounds the calls in flight, and a call that waits
    longer than `timeout` for a connection never left.
    """

    def __init__(
        self,
        api_base: str,
        *,
        connect_timeout: float = 5.0,
        timeout: float = 15.0,
        max_connections: int = 100,
        keepalive: float = 60.0,
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._pool_timeout = timeout
        self._max_connections = max_connections
        self._timeout = self._timeouts(timeout)
        self._session: aiohttp.ClientSession | None = None

    def _timeouts(self, read: float) -> aiohttp.ClientTimeout:
        # `connect` bounds the wait for a pooled connection and its opening together (a call
        # that ran out of it never left); `sock_read` the wait for the answer once sent.
        return aiohttp.ClientTimeout(
            total=None,
            connect=self._pool_timeout,
            sock_connect=self._connect_timeout,
            sock_read=read,
        )

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, keepalive_timeout=self._keepalive
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"Content-Type": "application/json"},
                raise_for_status=False,
                # HTTPS_PROXY / NO_PROXY as httpx honoured them; looked up per call only
                # where a proxy is configured at all.
                trust_env=bool(urllib.request.getproxies()),
            )
        return self._session

    async def call(
        self,
        token: SecretStr | str,
        method: str,
        payload: dict[str, Any],
        *,
        read_timeout: float | None = None,
    ) -> Answer:
        """`read_timeout` replaces the read timeout for this call (long polling).

        In a CLIENT span of its own (the HTTP call, as OpenTelemetry's HTTP client
        instrumentations make one), its URL with the token redacted."""
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        url = f"{self._api_base}/bot{secret}/{method}"
        timeout = self._timeout if read_timeout is None else self._timeouts(read_timeout)
        with _tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as span:
            recording = span.is_recording()
            if recording:
                span.set_attributes({"http.request.method": "POST", "url.full": redact(url)})
            status, answer = await self._post(url, payload, timeout)
            if recording:
                if status is None:
                    span.set_status(StatusCode.ERROR, answer.transport_error)
                else:
                    span.set_attribute("http.response.status_code", status)
        return answer

    async def _post(
        self, url: str, payload: dict[str, Any], limits: aiohttp.ClientTimeout
    ) -> tuple[int | None, Answer]:
        """The HTTP status (None when no answer came) and Telegram's answer."""
        try:
            async with self._http().post(url, data=orjson.dumps(payload), timeout=limits) as r:
                status, content = r.status, await r.read()
        except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError):
            return None, Answer(ok=False, transport_error="connection")  # never left
        except TimeoutError:
            return None, Answer(ok=False, transport_error="timeout")  # sent, no answer in time
        except aiohttp.ClientError:
            # Cut off after it may have left (the server hung up, the answer was cut short).
            return None, Answer(ok=False, transport_error="no_answer")
        return status, answer_of(status, content)

    async def result(
        self,
        token: SecretStr | str,
        method: str,
        payload: dict[str, Any],
        *,
        read_timeout: float | None = None,
    ) -> Any:
        """The call's `result`; raises `TelegramError` when it did not succeed."""
        answer = await self.call(token, method, payload, read_timeout=read_timeout)
        if not answer.ok:
            raise TelegramError(method, answer)
        return answer.result

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def answer_of(status_code: int, content: bytes) -> Answer:
    """Telegram's answer as an `Answer`; a body that is not Bot API JSON keeps the status."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        # A proxy's HTML error page, say: only the status tells what happened.
        return Answer(ok=False, error_code=status_code, description="answer was not Bot API JSON")
    if body.get("ok") is True:
        return Answer(ok=True, result=body.get("result"))
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    retry_after = parameters.get("retry_after")
    migrate_to = parameters.get("migrate_to_chat_id")
    error_code = body.get("error_code")
    description = body.get("description")
    return Answer(
        ok=False,
        error_code=error_code if isinstance(error_code, int) else status_code,
        description=description if isinstance(description, str) else None,
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        migrate_to_chat_id=migrate_to if isinstance(migrate_to, int) else None,
    )
