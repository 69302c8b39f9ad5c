#!/usr/bin/env bash
# Prepares a machine for Chime: PostgreSQL and RabbitMQ running (installed from Debian
# packages when missing), the RabbitMQ management API on (tests make vhosts through it),
# Debian's Chromium (the operator page's browser test drives it headless), uv installed,
# and the workspace synced from the lockfile. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 90); do port_open "$1" && return 0; sleep 1; done
  echo "nothing listens on port $1" >&2; return 1
}

# PostgreSQL
if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null; then
    log "installing PostgreSQL"
    apt_install postgresql
  fi
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432
  # A fresh Debian cluster asks TCP clients for a password: give postgres the one the
  # local defaults use.
  as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
fi

# RabbitMQ
if ! port_open 5672; then
  if ! command -v rabbitmq-server >/dev/null; then
    log "installing RabbitMQ"
    apt_install rabbitmq-server
  fi
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  wait_port 5672
fi
if ! port_open 15672; then
  log "enabling the RabbitMQ management API"
  as_root rabbitmq-plugins enable rabbitmq_management >/dev/null
  wait_port 15672
fi

# Chromium, for the operator page's test (Playwright drives Debian's build: Playwright's
# own browser download is not used).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  log "installing Chromium"
  apt_install chromium
fi

# uv and the workspace
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null; then
  log "installing uv"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
    apt_install python3-venv python3-pip
  fi
  # A venv of its own: Debian's Python refuses pip installs outside one (PEP 668).
  python3 -m venv "$HOME/.local/share/chime-uv"
  "$HOME/.local/share/chime-uv/bin/pip" install --quiet uv
  mkdir -p "$HOME/.local/bin"
  ln -sf "$HOME/.local/share/chime-uv/bin/uv" "$HOME/.local/bin/uv"
fi
log "syncing the workspace"
uv sync --frozen --quiet
