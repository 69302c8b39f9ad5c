"""The platform as separate processes, each writing its spans to a JSON-lines file: the
whole span tree of a reminder, of a cron schedule's occurrence and of an API notification
(services, parents, links), and no secret in any span or log line."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.utils import suppress_http_instrumentation

from chime_faults.stack import Stack
from chime_kit.span_export import read_span_file
from chime_kit.testing import eventually

from .conftest import PROCESS_TOKEN as TOKEN

pytestmark = pytest.mark.e2e

USER = 515151
Span = Mapping[str, Any]


class Spans:
    def __init__(self, spans: list[Span]) -> None:
        self.all = spans
        self.by_id = {s["span_id"]: s for s in spans}

    def parent(self, span: Span) -> Span | None:
        return self.by_id.get(span["parent_span_id"] or "")

    def ancestors(self, span: Span) -> list[Span]:
        found = []
        while (span := self.parent(span)) is not None:  # type: ignore[assignment]
            found.append(span)
        return found

    def of_trace(self, trace_id: str) -> list[Span]:
        return [s for s in self.all if s["trace_id"] == trace_id]

    def root(self, trace_id: str) -> Span:
        (root,) = [s for s in self.of_trace(trace_id) if s["parent_span_id"] is None]
        return root

    def chain(self, trace_id: str, *steps: tuple[str, str, str]) -> list[Span]:
        """Spans of the trace, one per (service, kind, name pattern), each a descendant of
        the one before: the path a message took."""
        found: list[Span] = []
        for service, kind, pattern in steps:
            matches = [
                s
                for s in self.of_trace(trace_id)
                if s["service"] == service
                and s["kind"] == kind
                and re.search(pattern, s["name"] + " " + str(s["attributes"].get("url.full", "")))
                and (not found or found[-1] in self.ancestors(s))
            ]
            assert matches, f"no {service} {kind} {pattern!r} after {[f['name'] for f in found]}"
            found.append(min(matches, key=lambda s: s["start_unix_nano"]))
        return found


@asynccontextmanager
async def outside_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the outside world: earlier tests of this process may have instrumented
    httpx, and a span of the test's must not become the parent of the stack's."""
    with suppress_http_instrumentation():
        async with httpx.AsyncClient(timeout=10) as client:
            yield client


def sent_texts(messages: list[dict[str, Any]], needle: str) -> list[str] | None:
    texts = [m["text"] for m in messages]
    return texts if any(needle in t for t in texts) else None


# A cron schedule fires at the next whole minute: up to a minute more than the default.
@pytest.mark.timeout(300)
async def test_a_reminder_a_schedule_and_an_api_notification_leave_whole_span_trees(
    process_stack: Stack, tmp_path
):
    stack = process_stack
    emulator = stack.url("emulator")
    async with outside_client() as client:

        async def sent(needle: str) -> list[str] | None:
            response = await client.get(
                f"{emulator}/_emulator/bots/{stack.bot_id}/sent", params={"chat_id": USER}
            )
            return sent_texts(response.json()["messages"], needle)

        await client.post(f"{emulator}/_emulator/chats", json={"type": "private", "id": USER})
        # A schedule every minute, made through the api first: it fires (within a minute)
        # while the rest runs.
        key = await asyncio.to_thread(
            stack.create_api_key, "traces", ("notify", "read", "schedule")
        )
        auth = {"Authorization": f"Bearer {key}"}
        response = await client.post(
            f"{stack.url('api')}/v1/schedules",
            headers={**auth, "Idempotency-Key": "traces-cron"},
            json={
                "user_id": USER,
                "spec": {"kind": "cron", "expression": "* * * * *"},
                "time_zone": "UTC",
                "message": {"text": "Cron tick"},
            },
        )
        assert response.status_code == 202, response.text
        await client.post(
            f"{emulator}/_emulator/messages",
            json={"bot_id": stack.bot_id, "chat_id": USER, "text": "/remind in 1s hello"},
        )
        await eventually(lambda: sent("⏰ hello"), within=20)

        response = await client.post(
            f"{stack.url('api')}/v1/notifications",
            headers={**auth, "Idempotency-Key": "traces-1"},
            json={"chat_id": USER, "text": "Deploy finished"},
        )
        assert response.status_code == 202, response.text
        status_url = f"{stack.url('api')}/v1/notifications/{response.json()['id']}"

        async def reported() -> bool:
            status = await client.get(status_url, headers=auth)
            return status.json()["status"] == "sent"

        await eventually(reported)
        await eventually(lambda: sent("Cron tick"), within=75)
    # Stopping flushes every process's batched spans.
    await asyncio.to_thread(stack.stop)

    files = sorted((tmp_path / "traces").glob("*.jsonl"))
    assert [f.stem for f in files] == ["api", "ingest", "scheduler", "sender"]
    spans = Spans([s for f in files for s in read_span_file(f)])
    # Every parent named is a span some service exported: no trace is cut in two.
    assert all(s["parent_span_id"] is None or s["parent_span_id"] in spans.by_id for s in spans.all)

    # The reminder fires in a trace of its own, linked to the request's trace.
    (fire,) = [s for s in spans.all if s["name"] == "fire reminder"]
    assert fire["parent_span_id"] is None
    (link,) = fire["links"]
    requested = spans.by_id[link["span_id"]]
    assert requested["trace_id"] == link["trace_id"] != fire["trace_id"]
    assert requested["service"] == "chime-scheduler"
    assert requested["kind"] == "CONSUMER"
    request_root = spans.root(requested["trace_id"])
    assert request_root["service"] == "chime-ingest"
    assert request_root["kind"] == "SERVER"
    assert request_root["name"] == "POST /telegram/{bot_id}/webhook"
    # Webhook → the reminder's request at the scheduler → its confirmation sent to Telegram.
    spans.chain(
        requested["trace_id"],
        ("chime-ingest", "SERVER", "webhook"),
        ("chime-scheduler", "CONSUMER", "reminder|schedule"),
        ("chime-sender", "CONSUMER", "send.requested"),
        ("chime-sender", "CLIENT", r"/sendMessage"),
    )
    # The firing → the sender's delivery → the Bot API call → the api's history of it (the
    # api's notification status binds only its own outcomes; its history binds them all).
    _, delivery, call = spans.chain(
        fire["trace_id"],
        ("chime-scheduler", "INTERNAL", "."),
        ("chime-sender", "CONSUMER", "."),
        ("chime-sender", "CLIENT", r"/sendMessage"),
    )
    spans.chain(fire["trace_id"], ("chime-sender", "CONSUMER", delivery["name"]),
                ("chime-api", "CONSUMER", "message.sent"))  # fmt: skip
    assert call["attributes"]["url.full"].startswith(f"{emulator}/bot<bot-token>/")
    assert call["scope"] == "chime.telegram"  # the kit's Bot API client

    # The schedule's occurrence likewise: a trace of its own, linked to the span that
    # created the schedule in the api request's trace, continued down to the Bot API call.
    fire = min(
        (s for s in spans.all if s["name"] == "fire schedule"), key=lambda s: s["start_unix_nano"]
    )
    assert fire["service"] == "chime-scheduler"
    assert fire["parent_span_id"] is None
    (link,) = fire["links"]
    created = spans.by_id[link["span_id"]]
    assert (created["service"], created["kind"]) == ("chime-scheduler", "CONSUMER")
    assert created["name"] == "consume schedule.requested.v1"
    request_root = spans.root(created["trace_id"])
    assert (request_root["service"], request_root["name"]) == ("chime-api", "POST /v1/schedules")
    assert created["trace_id"] != fire["trace_id"]
    _, _, call = spans.chain(
        fire["trace_id"],
        ("chime-scheduler", "INTERNAL", "fire schedule"),
        ("chime-sender", "CONSUMER", "send.requested"),
        ("chime-sender", "CLIENT", r"/sendMessage"),
    )
    assert call["scope"] == "chime.telegram"  # the kit's Bot API client

    # The API notification: the request, its delivery, the call, the status it reports.
    (post,) = [s for s in spans.all if s["name"] == "POST /v1/notifications"]
    assert post["parent_span_id"] is None
    _, delivery, call = spans.chain(
        post["trace_id"],
        ("chime-api", "SERVER", "POST /v1/notifications"),
        ("chime-sender", "CONSUMER", "send.requested"),
        ("chime-sender", "CLIENT", r"/sendMessage"),
    )
    spans.chain(post["trace_id"], ("chime-sender", "CONSUMER", delivery["name"]),
                ("chime-api", "CONSUMER", "message.sent"))  # fmt: skip
    assert call["attributes"]["url.full"].endswith("/bot<bot-token>/sendMessage")
    # Its transaction, queries included, under the request's span.
    _, stored = spans.chain(
        post["trace_id"],
        ("chime-api", "SERVER", "POST /v1/notifications"),
        ("chime-api", "CLIENT", "INSERT"),
    )
    assert stored["attributes"]["db.system"] == "postgresql"
    assert stored["scope"] == "opentelemetry.instrumentation.asyncpg"

    # No secret in any exported span or any log line of any process.
    secrets = {"bot token": TOKEN, "API key": key, "webhook secret": stack.webhook_secret}
    exported = [(f.name, f.read_text()) for f in files]
    logged = [(f.name, f.read_text()) for f in sorted((tmp_path / "logs").glob("*.log"))]
    assert len(logged) == 5
    for what, secret in secrets.items():
        for name, text in [*exported, *logged]:
            assert secret not in text, f"the {what} is in {name}"
    # ...though the calls that carried them were recorded.
    assert "bot<bot-token>/sendMessage" in dict(exported)["sender.jsonl"]
