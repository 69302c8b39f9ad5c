#!/usr/bin/env bash
# Starts the whole platform on this machine and shows it working.
#   bash scripts/up.sh          play the demo and stop
#   bash scripts/up.sh --keep   play the demo and keep running (Ctrl-C stops)
# With CHIME_TELEGRAM_TOKEN set, Chime talks to real Telegram by long polling instead of
# the local emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"
bash scripts/setup.sh
exec uv run python scripts/stack.py "$@"
