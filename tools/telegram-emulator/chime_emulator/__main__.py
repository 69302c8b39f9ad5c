"""Command line: python -m chime_emulator --port 8081 --bot TOKEN --auto-register."""

import argparse
import os
from collections.abc import Sequence

import uvicorn

from chime_emulator.app import create_app
from chime_emulator.config import EmulatorConfig
from chime_emulator.emulator import REGISTERED_TOKEN
from chime_emulator.logs import log_config

ENV_PREFIX = "CHIME_EMULATOR_"


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="python -m chime_emulator", description="A local Telegram Bot API emulator."
    )
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("PORT", "8081")))
    parser.add_argument(
        "--bot", action="append", default=[], metavar="TOKEN", help="register a bot token"
    )
    parser.add_argument(
        "--auto-register",
        action="store_true",
        default=_env("AUTO_REGISTER", "") in ("1", "true"),
        help="register any well-formed token on first use",
    )
    parser.add_argument(
        "--token-rate",
        type=int,
        default=int(_env("TOKEN_RATE", "30")),
        help="messages per second per bot (0 disables)",
    )
    parser.add_argument(
        "--private-chat-interval",
        type=float,
        default=float(_env("PRIVATE_CHAT_INTERVAL", "1.0")),
        help="seconds between messages to one private chat (0 disables)",
    )
    parser.add_argument(
        "--group-rate-per-minute",
        type=int,
        default=int(_env("GROUP_RATE_PER_MINUTE", "20")),
        help="messages per minute to one group (0 disables)",
    )
    parser.add_argument(
        "--paid-broadcast-rate",
        type=int,
        default=int(_env("PAID_BROADCAST_RATE", "1000")),
        help="messages per second per bot for sends with allow_paid_broadcast",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        default=_env("ACCESS_LOG", "") in ("1", "true"),
        help="log every request (tokens redacted); off by default, it costs CPU per call",
    )
    args = parser.parse_args(argv)
    env_bots = [token.strip() for token in _env("BOTS", "").split(",") if token.strip()]
    for token in env_bots + args.bot:
        if not REGISTERED_TOKEN.fullmatch(token):
            parser.error(f"not a bot token (<bot id>:<secret>): {token!r}")
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        bot_tokens=tuple(env_bots + args.bot),
        auto_register=args.auto_register,
        token_rate=args.token_rate,
        private_chat_interval=args.private_chat_interval,
        group_rate_per_minute=args.group_rate_per_minute,
        paid_broadcast_rate=args.paid_broadcast_rate,
        access_log=args.access_log,
    )


# Telegram's front servers keep an idle connection open for longer than a client's pool
# keeps it (nginx's default is 75 s; the sender's keep-alive is 60 s), so a client never
# sends a request on a connection the server is closing. uvicorn's own default, 5 s, would
# have the emulator close them first, and a call cut off that way is an unknown outcome.
KEEP_ALIVE_SECONDS = 75


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_config=log_config(),
        access_log=config.access_log,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
