#!/usr/bin/env bash
# Runs every check and every test against real PostgreSQL and RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"
bash scripts/setup.sh
export CHIME_TEST_POSTGRES="${CHIME_TEST_POSTGRES:-postgresql://postgres:postgres@127.0.0.1:5432/postgres}"

echo "== lint and types"
uv run ruff check .
uv run ruff format --check .
uv run hadolint Dockerfile
uv run shellcheck scripts/*.sh .ci/run
uv run mypy contracts/chime_contracts libs/*/chime_* services/*/chime_* \
  tools/telegram-emulator/chime_emulator tools/faults/chime_faults
echo "== tests"
uv run pytest "$@"
echo "== fault suite, quick form (the full form: uv run python -m chime_faults)"
uv run python -m chime_faults --quick
