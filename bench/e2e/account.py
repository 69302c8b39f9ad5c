"""Who spent the CPU and the bus messages of a measured window, read from /proc and RabbitMQ.

Processes are read from /proc/<pid>/stat (utime + stime, every thread) at the start and the
end of the window; a service counts with any children it starts. PostgreSQL and RabbitMQ
are shared with whatever else runs on the machine, so they are split honestly:

- PostgreSQL backends: those pg_stat_activity shows in the bench's database (the services'
  pools, their autovacuum workers and the bench's own monitoring connection), in either
  snapshot. A backend that both started and ended inside the window is missed.
- PostgreSQL server processes (postmaster, checkpointer, background writer, WAL writer,
  launchers) serve every database: the bench is charged their CPU times its backends' share
  of all backends' CPU in the window.
- RabbitMQ's beam.smp serves every vhost: the bench is charged its CPU times the bench
  vhost's share of all vhosts' published + delivered messages in the window. Other runs
  create and delete vhosts all the time, so the counts are polled every two seconds during
  the window and a deleted vhost keeps its last count (what it moved after that poll is
  missed, which only raises the bench's share).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    ppid: int
    comm: str
    seconds: float


def processes() -> dict[int, Proc]:
    found: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        # comm may hold spaces and parentheses: the fields proper follow its last ")".
        head, rest = text.rsplit(")", 1)
        fields = rest.split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        found[int(entry.name)] = Proc(int(fields[1]), head.split("(", 1)[1], ticks / TICK)
    return found


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (every process, ours or not)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICK


def tree(procs: dict[int, Proc], root: int, stop: frozenset[int] = frozenset()) -> set[int]:
    """The root and its descendants, not descending into the `stop` processes."""
    children: dict[int, list[int]] = {}
    for pid, proc in procs.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in found and (pid == root or pid not in stop):
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def spent(before: dict[int, Proc], after: dict[int, Proc], pids: set[int]) -> float:
    """CPU seconds the pids used between the snapshots (a pid new since `before` from 0)."""
    total = 0.0
    for pid in pids:
        if pid in after:
            start = before[pid].seconds if pid in before else 0.0
            total += max(0.0, after[pid].seconds - start)
    return total


@dataclass
class Snapshot:
    at: float
    procs: dict[int, Proc]
    busy: float
    bench_backends: set[int]
    other_backends: set[int]
    vhosts: dict[str, Counter[str]] = field(default_factory=dict)


class Accountant:
    def __init__(self, api: str, auth: tuple[str, str], vhost: str, database_url: str) -> None:
        self.api, self.auth, self.vhost, self.database_url = api, auth, vhost, database_url
        self.conn: asyncpg.Connection | None = None
        self.seen: dict[str, Counter[str]] = {}

    async def __aenter__(self) -> Accountant:
        # Connected to the bench's database, so this connection's backend counts as the bench's.
        self.conn = await asyncpg.connect(self.database_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def vhost_stats(self) -> dict[str, Counter[str]]:
        async with httpx.AsyncClient(base_url=self.api, auth=self.auth) as client:
            response = await client.get("/api/vhosts")
            response.raise_for_status()
        return {
            v["name"]: Counter(
                {k: n for k, n in v.get("message_stats", {}).items() if isinstance(n, int)}
            )
            for v in response.json()
        }

    async def watch(self) -> None:
        """Keep the latest counts of every vhost until cancelled (see the module's doc)."""
        while True:
            self.seen.update(await self.vhost_stats())
            await asyncio.sleep(2)

    async def final_vhosts(self) -> dict[str, Counter[str]]:
        return {**self.seen, **await self.vhost_stats()}

    async def settle(self, within: float = 30.0) -> None:
        """Wait until the management API's counts for the bench's vhost stop moving: they are
        sampled every few seconds, so a read right after traffic lags behind it."""
        deadline = time.monotonic() + within
        last, still_since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = (await self.vhost_stats()).get(self.vhost, Counter())
            if now != last:
                last, still_since = now, time.monotonic()
            elif time.monotonic() - still_since >= 6:
                return
            await asyncio.sleep(1)

    async def snapshot(self) -> Snapshot:
        assert self.conn is not None
        rows = await self.conn.fetch(
            "SELECT pid, datname FROM pg_stat_activity WHERE datname IS NOT NULL"
        )
        name = await self.conn.fetchval("SELECT current_database()")
        bench = {r["pid"] for r in rows if r["datname"] == name}
        other = {r["pid"] for r in rows if r["datname"] != name}
        vhosts = await self.vhost_stats()
        return Snapshot(time.monotonic(), processes(), machine_busy(), bench, other, vhosts)


@dataclass
class Row:
    name: str
    seconds: float
    note: str = ""


def postmaster(procs: dict[int, Proc], backends: set[int]) -> int | None:
    for pid in backends:
        if pid in procs:
            return procs[pid].ppid
    return None


def listener(port: int) -> int | None:
    """The process listening on a local TCP port: other runs start RabbitMQ nodes of their
    own, so the broker is found by its AMQP port, not by its name."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                    return int(entry.name)
    return None


MESSAGES = ("publish", "deliver_get")


def moved(a: Counter[str], b: Counter[str]) -> int:
    return sum(max(0, b[k] - a[k]) for k in MESSAGES)


def rows(
    before: Snapshot, after: Snapshot, own: dict[str, int], vhost: str, amqp_port: int
) -> tuple[list[Row], list[str]]:
    """The CPU rows of the window (bench-attributable seconds) and notes on what is counted."""
    # The services are the load generator's children: each counts once, under its own name.
    named = frozenset(own.values())
    result = [
        Row(name, spent(before.procs, after.procs, tree(after.procs, pid, named) | {pid}))
        for name, pid in own.items()
    ]
    notes: list[str] = []
    bench = before.bench_backends | after.bench_backends
    others = before.other_backends | after.other_backends
    bench_cpu = spent(before.procs, after.procs, bench)
    others_cpu = spent(before.procs, after.procs, others - bench)
    result.append(Row("postgresql backends", bench_cpu, f"{len(bench)} of the bench's database"))
    master = postmaster(after.procs, bench)
    if master is not None:
        server = tree(after.procs, master) - bench - others
        whole = spent(before.procs, after.procs, server)
        share = bench_cpu / (bench_cpu + others_cpu) if bench_cpu + others_cpu else 1.0
        result.append(
            Row(
                "postgresql server procs",
                whole * share,
                f"{share:.0%} of {whole:.2f} s ({len(server)} procs, shared)",
            )
        )
        notes.append(f"postgresql: other databases' backends used {others_cpu:.2f} s in the window")
    rabbit = listener(amqp_port)
    if rabbit is not None:
        whole = spent(before.procs, after.procs, {rabbit})
        empty: Counter[str] = Counter()
        ours = moved(before.vhosts.get(vhost, empty), after.vhosts.get(vhost, empty))
        everyone = sum(moved(before.vhosts.get(n, empty), c) for n, c in after.vhosts.items())
        share = ours / everyone if everyone else 1.0
        result.append(
            Row(
                f"rabbitmq {after.procs[rabbit].comm if rabbit in after.procs else '?'}",
                whole * share,
                f"{share:.0%} of {whole:.2f} s (by messages, shared)",
            )
        )
        notes.append(
            f"rabbitmq: all vhosts moved {everyone} messages in the window, the bench {ours}"
        )
    else:
        notes.append(f"rabbitmq: nothing local listens on {amqp_port}, its CPU is not counted")
    return result, notes


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on a service for `seconds`: collapsed stacks of its busy threads into `out`."""
    return subprocess.Popen(
        ["py-spy", "record", "-p", str(pid), "-d", str(int(seconds)), "--format", "raw",
         "--nolineno", "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def top_self(collapsed: Path, n: int = 10) -> tuple[int, list[tuple[str, float]]]:
    """The busy samples, and the frames most often on top of the stack (self time) as shares
    of them."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack:
            counts[stack.rsplit(";", 1)[-1]] += int(samples)
    total = sum(counts.values()) or 1
    return total, [(frame, count / total) for frame, count in counts.most_common(n)]
