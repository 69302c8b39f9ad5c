"""The operator page in headless Chromium against the platform running as processes: real
deliveries, a failure, a blocked chat and a fired reminder show up as the numbers the page
renders, its charts are drawn, and a screenshot is kept under .run/artifacts/."""

from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from chime_faults.stack import Stack
from chime_kit.testing import eventually

from .conftest import ROOT

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / ".run" / "artifacts"
CHATS = (9001, 9002, 9003)
BLOCKER = 9003
UNKNOWN_CHAT = 6161


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is needed: scripts/setup.sh installs it"
    return found


async def produce_traffic(stack: Stack, client: httpx.AsyncClient, key: str) -> None:
    emulator, api = stack.url("emulator"), stack.url("api")
    for chat in CHATS:
        await client.post(f"{emulator}/_emulator/chats", json={"type": "private", "id": chat})
    await client.post(
        f"{emulator}/_emulator/bots/{stack.bot_id}/block", json={"user_id": BLOCKER, "wait": True}
    )
    headers = {"Authorization": f"Bearer {key}"}
    for n, chat in enumerate((*CHATS, UNKNOWN_CHAT)):
        response = await client.post(
            f"{api}/v1/notifications",
            headers={**headers, "Idempotency-Key": f"operator-{n}"},
            json={"chat_id": chat, "text": f"hello {chat}"},
        )
        assert response.status_code == 202, response.text
    await client.post(
        f"{emulator}/_emulator/messages",
        json={"bot_id": stack.bot_id, "chat_id": CHATS[0], "text": "/remind in 1s stretch"},
    )


async def figures_when(client: httpx.AsyncClient, url: str, key: str) -> dict:
    """The page's data once every kind of traffic above is in it."""

    async def complete() -> dict | None:
        body = (await client.get(url, headers={"Authorization": f"Bearer {key}"})).json()
        done = (
            body["totals"]["sent"] >= 4  # two notifications, a reminder and its confirmation
            and body["totals"]["failed"] >= 2  # the unknown chat, the blocked one
            and body["totals"]["blocked"] >= 1
            and body["schedule_lag"]["samples"] >= 1
        )
        last.update(body)
        return body if done else None

    last: dict = {}
    try:
        return await eventually(complete, within=30)
    except AssertionError as exc:
        shown = {k: last.get(k) for k in ("totals", "schedule_lag", "tap_connected")}
        raise AssertionError(f"the page's data never showed it all: {shown}") from exc


async def text(page: Page, selector: str) -> str:
    return (await page.inner_text(selector)).strip()


async def test_the_operator_page_shows_live_figures_in_chromium(process_stack: Stack):
    stack = process_stack
    admin = await asyncio.to_thread(stack.create_api_key, "operator", ("admin",))
    client_key = await asyncio.to_thread(stack.create_api_key, "client")
    data_url = f"{stack.url('api')}/operator/data"
    async with httpx.AsyncClient(timeout=10) as client:
        # The data needs the admin scope.
        assert (await client.get(data_url)).status_code == 401
        refused = await client.get(data_url, headers={"Authorization": f"Bearer {client_key}"})
        assert refused.status_code == 403
        await produce_traffic(stack, client, client_key)
        figures = await figures_when(client, data_url, admin)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            # Without a key the page asks for one and shows nothing.
            await page.goto(f"{stack.url('api')}/operator")
            assert await page.is_visible("#login")
            assert not await page.is_visible("#view")

            await page.goto(f"{stack.url('api')}/operator#key={admin}")
            await page.wait_for_selector("#status[data-updated=yes]", timeout=15000)
            assert admin not in page.url  # the key left the address bar

            assert int(await text(page, "#sent-total")) == figures["totals"]["sent"]
            assert int(await text(page, "#failed-total")) == figures["totals"]["failed"]
            assert await text(page, "#blocked-total") == "1"
            assert int(await text(page, "#lag-samples")) >= 1
            p99 = await text(page, "#lag-p99")
            assert p99.endswith(" s")
            assert 0 <= float(p99.removesuffix(" s")) < 5
            assert float(await text(page, "#sent-rate")) > 0

            failures = await text(page, "#failures")
            assert "chat not found" in failures
            assert str(UNKNOWN_CHAT) in failures
            assert str(BLOCKER) in await text(page, "#blocked")
            bots = await page.locator("#bots tbody tr").all_inner_texts()
            assert any(row.split()[0] == str(stack.bot_id) for row in bots)
            queues = await page.locator("#queues tbody tr").all_inner_texts()
            assert any(row.startswith("sender.") for row in queues), queues
            assert any(".dlq" in row for row in queues)

            # The charts are drawn from the series: one point per bucket, sent above zero.
            sent_line = await page.get_attribute("#chart-rate path[data-series=sent]", "d")
            assert sent_line is not None
            assert sent_line.count("L") == len(figures["series"]) - 1
            heights = [float(p.split(",")[1]) for p in sent_line.replace("M", "L").split("L")[1:]]
            assert min(heights) < max(heights)  # a rise where the messages went out
            assert await page.get_attribute("#chart-lag path[data-series=lag_max]", "d")

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "operator-page.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            await browser.close()
