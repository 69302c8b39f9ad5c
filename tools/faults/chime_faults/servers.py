"""PostgreSQL and RabbitMQ that belong to the fault suite alone.

Restarting a server is one of the faults, so the suite never touches the machine's own: it
creates a PostgreSQL cluster (initdb, pg_ctl) and a RabbitMQ node (its own node name, ports,
data and Erlang cookie) in a temporary directory, on free ports, and removes them at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from chime_kit.testing import free_port


def _run(cmd: list[str], env: Mapping[str, str] | None = None, user: str | None = None) -> str:
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(size: int) -> int:
    """The first of `size` consecutive free ports (RabbitMQ's CLI picks one of a range)."""
    for _ in range(200):
        first = free_port()
        if first + size < 65536 and all(_bindable(first + i) for i in range(size)):
            return first
    raise RuntimeError(f"no {size} consecutive free ports")


def postgres_bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        bindir = Path(_run([found, "--bindir"]).strip())
        if (bindir / "initdb").exists():
            return bindir
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")


class PrivatePostgres:
    """A PostgreSQL cluster in `root`, on a free port, with fsync on (restarts must be honest)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bindir = postgres_bindir()
        # PostgreSQL refuses to run as root; the cluster then belongs to the postgres user.
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _pg_ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
            " -c max_connections=300"
        )
        _run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
             "-w", "-t", "60", "-o", options, *args],
            user=self.user,
        )  # fmt: skip

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        if not self.data.exists():
            _run(
                [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                 "--auth=trust", "-E", "UTF8", "--no-instructions"],
                user=self.user,
            )  # fmt: skip
        self._pg_ctl("start")

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def version(self) -> str:
        return _run([str(self.bindir / "postgres"), "--version"]).strip()


def _rabbitmq_script(name: str) -> str:
    # The Debian wrappers in /usr/sbin switch to the rabbitmq user and its home; the scripts
    # behind them run a node wherever the environment says.
    direct = Path("/usr/lib/rabbitmq/bin") / name
    if direct.exists():
        return str(direct)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found")
    return found


class PrivateRabbit:
    """A RabbitMQ node of its own (name, ports, data, cookie) with the management plugin."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.node = f"chimefaults{os.getpid()}@localhost"
        self.amqp_port = free_port()
        self.management_port = free_port()
        self.dist_port = free_port()
        self.cli_ports = free_port_range(11)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root / "home"),  # where the node and its CLI find the cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(self.cli_ports),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(self.cli_ports + 10),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
        }

    def ctl(self, *args: str) -> str:
        return _run([_rabbitmq_script("rabbitmqctl"), "-n", self.node, *args], env=self.env())

    def start(self) -> None:
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(os.urandom(20).hex())
        cookie.chmod(0o400)
        (self.root / "rabbitmq.conf").write_text(
            f"management.tcp.port = {self.management_port}\n"
            "management.tcp.ip = 127.0.0.1\n"
            "loopback_users = none\n"
        )
        (self.root / "enabled_plugins").write_text("[rabbitmq_management].\n")
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [_rabbitmq_script("rabbitmq-server")],
                env=self.env(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.wait_app()

    def wait_app(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node exited; see {self.root / 'server.log'}")
            try:
                self.ctl("await_startup", "-t", "5")
                response = httpx.get(
                    f"{self.management_url}/api/overview", auth=("guest", "guest"), timeout=5
                )
                if response.status_code == 200:
                    return
            except (RuntimeError, httpx.HTTPError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node not up; see {self.root / 'server.log'}")
            time.sleep(0.5)

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        # The AMQP listener of the stopped app can linger for a moment: retry.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.ctl("start_app")
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        self.wait_app()

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(RuntimeError):
            self.ctl("shutdown")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def version(self) -> str:
        out = self.ctl("version").strip()
        return f"RabbitMQ {out}"
