"""`python -m chime_ingest webhooks sync|status` against the emulator's Bot API."""

import io

import httpx
import pytest

from chime_emulator.app import create_app as create_emulator
from chime_emulator.config import EmulatorConfig
from chime_ingest.domain.bots import webhook_secret
from chime_ingest.entrypoints.cli import main, webhooks
from chime_ingest.settings import ALLOWED_UPDATES, MIGRATIONS, SERVICE, IngestSettings
from chime_kit.runtime import run_migrations
from chime_kit.testing import eventually, free_port, serving

pytestmark = pytest.mark.integration

TOKENS = (
    "5550031:AAIngestCliTestTokenXXXXXXXXXXXXXXXX",
    "5550032:AAIngestCliTestTokenYYYYYYYYYYYYYYYY",
)
BOTS = (5550031, 5550032)


def settings_for(database_url, telegram, public_url, **more):
    return IngestSettings(
        database_url=database_url,
        bot_tokens=list(TOKENS),
        webhook_secret_key="k",
        telegram_api_base=telegram,
        public_url=public_url,
        **more,
    )


async def run(settings, command):
    out = io.StringIO()
    code = await webhooks(settings, command, out)
    return code, out.getvalue()


async def test_sync_registers_every_bot_and_reports_what_had_drifted(database_url):
    await run_migrations(database_url, SERVICE, MIGRATIONS)
    emulator = create_emulator(EmulatorConfig(bot_tokens=TOKENS))
    # Nothing listens there: deliveries fail, which status must show.
    public = f"http://127.0.0.1:{free_port()}"
    async with serving(emulator) as telegram, httpx.AsyncClient(base_url=telegram) as api:
        await api.post(
            f"/bot{TOKENS[0]}/setWebhook",
            json={"url": "https://old.example/hook", "max_connections": 10},
        )
        settings = settings_for(database_url, telegram, public)
        code, printed = await run(settings, "sync")
        assert code == 0, printed
        assert "url: Telegram has 'https://old.example/hook'" in printed
        assert "max_connections: Telegram has 10, configured 40" in printed
        assert "url: Telegram has '(none)'" in printed  # the second bot had none
        assert TOKENS[0] not in printed
        assert TOKENS[1] not in printed
        for bot_id, token in zip(BOTS, TOKENS, strict=True):
            info = (await api.get(f"/bot{token}/getWebhookInfo")).json()["result"]
            assert info["url"] == f"{public}/telegram/{bot_id}/webhook"
            assert info["max_connections"] == 40
            assert sorted(info["allowed_updates"]) == sorted(ALLOWED_UPDATES)

        # The emulator delivers with the secret it was given.
        await api.post("/_emulator/messages", json={"bot_id": BOTS[0], "chat_id": 5, "text": "hi"})

        async def failed_delivery():
            info = (await api.get(f"/bot{TOKENS[0]}/getWebhookInfo")).json()["result"]
            return info.get("last_error_message")

        await eventually(failed_delivery)
        code, printed = await run(settings, "status")
        assert code == 0, printed
        assert printed.count("no drift") == 2
        assert "pending updates 1" in printed
        assert "last error" in printed
        assert "here: 0 waiting to be interpreted, 0 poison" in printed

        drifted = settings_for(database_url, telegram, public, webhook_max_connections=20)
        code, printed = await run(drifted, "status")
        assert code == 1
        assert printed.count("max_connections: Telegram has 40, configured 20") == 2


async def test_the_secret_token_sync_sets_is_the_one_the_webhook_checks(database_url):
    emulator = create_emulator(EmulatorConfig(bot_tokens=TOKENS[:1]))
    async with serving(emulator) as telegram:
        settings = settings_for(database_url, telegram, "https://ingest.example")
        settings = settings.model_copy(update={"bot_tokens": settings.bot_tokens[:1]})
        assert (await run(settings, "sync"))[0] == 0
        bot = emulator.state.emulator.state.bots_by_id[BOTS[0]]
        assert bot.webhook_secret == webhook_secret("k", BOTS[0])


def test_the_command_line_names_both_commands(capsys):
    with pytest.raises(SystemExit):
        main(["webhooks", "--help"])
    shown = capsys.readouterr().out
    assert "sync" in shown
    assert "status" in shown
