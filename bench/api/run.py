"""bench/api: the api under open-loop (fixed-rate) load, beside the bare framework's ceiling.

    uv run python bench/api/run.py [--seconds 10] [--read-rate 1000] [--mixed-rate 2000]
                                   [--replicas 2] [--callers 4]

Starts `--replicas` api processes (`python -m chime_api serve`) on a database and a vhost of
the run's own, makes one key per caller (teams of their own) and a few notifications each,
then times:

1. **bare ceiling**: a FastAPI route with a pydantic response and nothing else (one
   uvicorn process per replica, as the api runs), closed loop, 10 s: the most the framework
   answers here;
2. **reads** at `--read-rate`: GET a notification (70 %), a page of 20 (20 %), schedules
   (10 %), callers and replicas in turn;
3. **mixed** at `--mixed-rate`: the same reads, and a third POST /v1/notifications with an
   Idempotency-Key (one in ten a retry of an earlier key: a replay);
4. **rate limit across replicas**: one key limited to 100/s with a burst of 100, asked four times
   faster through both replicas in turn; granted must equal burst + rate x elapsed.

The api ceiling also prints the replicas' CPU per request (user + system, /proc) and their
PostgreSQL backends' share is left out: it is the api process's own cost. `--profile DIR`
runs py-spy on every replica during the api ceiling and prints the frames most often on top
of the stack (self time) and the hot path's own functions with their inclusive share.
`--ceiling post` makes the api ceiling POSTs of a notification, each with an Idempotency-Key
of its own (the write path, to profile it as the read).

Open loop: request i is due at start + i/rate and sent then whether or not earlier ones
came back; its latency counts from when it was due, so a stall is not hidden. Prints p50,
p99, max, errors and 429s, the machine's conditions and load average.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from chime_api.domain.keys import Limits
from chime_api.entrypoints.cli import create_key
from chime_api.settings import ApiSettings
from chime_kit.testing import free_port

_spec = importlib.util.spec_from_file_location(
    "relay_bench", Path(__file__).parents[1] / "relay" / "run.py"
)
assert _spec is not None
assert _spec.loader is not None
relay_bench = importlib.util.module_from_spec(_spec)
sys.modules["relay_bench"] = relay_bench
_spec.loader.exec_module(relay_bench)
Environment = relay_bench.Environment

BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel

class Out(BaseModel):
    id: str
    status: str

app = FastAPI()

@app.get("/v1/notifications/{nid}")
async def get(nid: str) -> Out:
    return Out(id=nid, status="sent")
"""


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    def note(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(seconds)

    def line(self, label: str, rate: float, seconds: float) -> str:
        done = sorted(self.latencies)
        if not done:
            return f"{label}: nothing answered ({self.errors} errors)"

        def pct(p: float) -> float:
            return done[min(len(done) - 1, int(p * len(done)))] * 1000

        failures = sum(n for s, n in self.statuses.items() if s >= 500) + self.errors
        return (
            f"{label:<34} asked {rate:>6.0f}/s  answered {len(done) / seconds:>7.0f}/s"
            f"  p50 {pct(0.50):6.1f} ms  p99 {pct(0.99):7.1f} ms  max {done[-1] * 1000:7.1f} ms"
            f"  errors {failures}  429s {self.statuses.get(429, 0)}"
            f"  statuses {dict(sorted(self.statuses.items()))}"
        )


Request = tuple[str, str, bytes | None, dict[str, str]]


async def open_loop(
    session: aiohttp.ClientSession, requests: list[Request], rate: float
) -> tuple[Tally, float]:
    tally = Tally()
    start = time.perf_counter()

    async def one(due: float, request: Request) -> None:
        method, url, body, headers = request
        try:
            async with session.request(method, url, data=body, headers=headers) as response:
                await response.read()
                tally.note(response.status, time.perf_counter() - due)
        except (TimeoutError, aiohttp.ClientError):
            tally.errors += 1

    tasks = []
    for i, request in enumerate(requests):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due, request)))
    await asyncio.gather(*tasks)
    return tally, time.perf_counter() - start


async def closed_loop(
    session: aiohttp.ClientSession,
    urls: list[str],
    seconds: float,
    workers: int = 64,
    posts: bool = False,
) -> float:
    """Requests answered per second by `workers` callers each asking again at once: GETs of
    `urls` in turn, or (`posts`) POSTs of a notification there, each with an Idempotency-Key
    of its own."""
    done = 0
    ends = time.perf_counter() + seconds
    turn = itertools.cycle(urls)
    numbers = itertools.count()

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < ends:
            if posts:
                n = next(numbers)
                ask = session.post(
                    next(turn), json={"chat_id": 1000 + n, "text": f"ceiling {n}"},
                    headers={"Idempotency-Key": f"ceiling-{n}"},
                )  # fmt: skip
            else:
                ask = session.get(next(turn))
            async with ask as response:
                await response.read()
                done += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / seconds


def spawn(
    args: list[str], env: dict[str, str], cwd: Path | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    output = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, *args], env={**os.environ, **env}, cwd=cwd,
        stdout=output, stderr=output,
    )  # fmt: skip


async def ready(session: aiohttp.ClientSession, url: str, within: float = 60) -> None:
    ends = time.monotonic() + within
    while time.monotonic() < ends:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU these processes have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on a replica until interrupted: collapsed stacks of its busy threads."""
    return subprocess.Popen(
        ["py-spy", "record", "-p", str(pid), "--format", "raw", "--nolineno", "--nonblocking",
         "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


# Inclusive shares worth naming: where a request's time goes, step by step.
HOT_PATH = (
    "RequestIds.__call__", "RequestObserver.__call__", "DependencyGuard.handle",
    "AllowedMethods.handle", "BodyLimit.handle", "authorized_key", "authenticate",
    "authenticate_and_spend", "get_notification", "solve_dependencies", "create_notification",
    "respond_once", "once", "request_notification", "claim", "complete", "flush", "decide",
    "serialize_response", "fetchrow", "acquire", "release", "OutboxRelay._pipeline",
)  # fmt: skip


def profile_lines(collapsed: list[Path], n: int = 25) -> list[str]:
    top: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for path in collapsed:
        for line in path.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            if not stack:
                continue
            count = int(samples)
            total += count
            frames = stack.split(";")
            top[frames[-1]] += count
            for name in {f.split(" (")[0] for f in frames} & set(HOT_PATH):
                inclusive[name] += count
    total = total or 1
    lines = [f"{total:,} busy samples; top self time:"]
    lines += [f"  {c / total:6.1%}  {frame}" for frame, c in top.most_common(n)]
    lines.append("inclusive (the function and all it calls):")
    lines += [f"  {c / total:6.1%}  {name}" for name, c in inclusive.most_common()]
    return lines


def logs_of(folder: Path) -> str:
    return "\n".join(log.read_text()[-2000:] for log in sorted(folder.glob("api-*.log")))


async def exactness(
    session: aiohttp.ClientSession, bases: list[str], key: str, asks: int, workers: int = 8
) -> int:
    codes: list[int] = []
    turn = itertools.count()
    headers = {"Authorization": f"Bearer {key}"}

    async def worker() -> None:
        while (i := next(turn)) < asks:
            url = f"{bases[i % len(bases)]}/v1/schedules"
            try:
                async with session.get(url, headers=headers) as r:
                    await r.read()
                    codes.append(r.status)
            except (TimeoutError, aiohttp.ClientError):
                codes.append(0)  # no answer (a replica still behind): the count is uncertain

    await asyncio.gather(*(worker() for _ in range(workers)))
    if set(codes) - {200, 429}:
        # A 503 (the database too slow to hand out a connection) or no answer (0) makes the
        # count uncertain.
        print(f"  answers other than 200/429: { {c: codes.count(c) for c in set(codes)} }")
    return codes.count(200)


def reads(bases: list[str], callers: list[tuple[str, list[str]]], n: int) -> list[Request]:
    rng = random.Random(1)
    out: list[Request] = []
    for i in range(n):
        key, ids = callers[i % len(callers)]
        base = bases[i % len(bases)]
        headers = {"Authorization": f"Bearer {key}"}
        roll = rng.random()
        if roll < 0.7:
            url = f"{base}/v1/notifications/{rng.choice(ids)}"
        elif roll < 0.9:
            url = f"{base}/v1/notifications?limit=20"
        else:
            url = f"{base}/v1/schedules"
        out.append(("GET", url, None, headers))
    return out


def mixed(bases: list[str], callers: list[tuple[str, list[str]]], n: int) -> list[Request]:
    rng = random.Random(2)
    out = reads(bases, callers, n)
    keys: list[tuple[str, bytes, str]] = []
    for i in range(0, n, 3):
        key, _ = callers[i % len(callers)]
        if keys and rng.random() < 0.1:
            idem, body, key = rng.choice(keys)  # a retry: replayed, not sent again
        else:
            idem = f"bench-{i}"
            body = orjson.dumps({"chat_id": 1000 + i, "text": f"bench {i}"})
            keys.append((idem, body, key))
        headers = {
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": idem,
            "Content-Type": "application/json",
        }
        out[i] = ("POST", f"{bases[i % len(bases)]}/v1/notifications", body, headers)
    return out


async def main(args: argparse.Namespace) -> None:
    async with Environment() as env:
        settings = ApiSettings(database_url=env.dsn, amqp_url=env.amqp_url)
        ports = [free_port() for _ in range(args.replicas)]
        bare_dir = Path(tempfile.mkdtemp(prefix="chime-bench-api-"))
        api_env = {
            "CHIME_API_DATABASE_URL": env.dsn,
            "CHIME_API_AMQP_URL": env.amqp_url,
            "CHIME_API_DEFAULT_BOT_ID": "1",
            "CHIME_API_LOG_LEVEL": "WARNING",
            "CHIME_API_DB_POOL_MAX": "20",
        }
        # Migrate once before the replicas start (each would race to).
        migrate = spawn(["-m", "chime_api", "migrate"], api_env)
        if await asyncio.to_thread(migrate.wait) != 0:
            raise SystemExit("migration failed")
        callers = []
        for n in range(args.callers):
            _, key = await create_key(
                settings, f"caller{n}", ["notify", "schedule", "read"], team=f"team{n}",
                limits=Limits(1_000_000, 1_000_000),
            )  # fmt: skip
            callers.append(key)
        _, limited = await create_key(
            settings, "limited", ["read"], team="limited", limits=Limits(100, 100)
        )
        _, exact = await create_key(
            settings, "exact", ["read"], team="exact", limits=Limits(0.0001, 1000)
        )
        bare_ports = [free_port() for _ in range(args.replicas)]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            connector = aiohttp.TCPConnector(limit=256)
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                bases = [f"http://127.0.0.1:{p}" for p in ports]
                # One after the other: replicas starting together race on history partitions.
                for port, base in zip(ports, bases, strict=True):
                    env_of = {**api_env, "CHIME_API_HTTP_PORT": str(port)}
                    procs.append(spawn(["-m", "chime_api", "serve"], env_of,
                                       log=bare_dir / f"api-{port}.log"))  # fmt: skip
                    await ready(session, f"{base}/readyz")
                seeded = []
                for key in callers:
                    ids = []
                    for i in range(20):
                        async with session.post(
                            f"{bases[0]}/v1/notifications",
                            json={"chat_id": i + 1, "text": "seed"},
                            headers={"Authorization": f"Bearer {key}"},
                        ) as response:
                            ids.append((await response.json())["id"])
                    seeded.append((key, ids))

                (bare_dir / "bare_app.py").write_text(BARE_APP)
                uvicorn = [
                    "-m",
                    "uvicorn",
                    "bare_app:app",
                    "--loop",
                    "uvloop",
                    "--http",
                    "httptools",
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--port",
                ]
                bare = [spawn([*uvicorn, str(p)], {}, cwd=bare_dir) for p in bare_ports]
                try:
                    for p in bare_ports:
                        await ready(session, f"http://127.0.0.1:{p}/v1/notifications/x")
                    ceiling = await closed_loop(
                        session, [f"http://127.0.0.1:{p}/v1/notifications/x" for p in bare_ports],
                        args.ceiling_seconds,
                    )  # fmt: skip
                finally:
                    for proc in bare:
                        proc.terminate()
                        proc.wait()

                print(f"conditions: {await conditions(env)}")
                print(f"bare FastAPI ceiling ({args.replicas} processes, closed loop): "
                      f"{ceiling:.0f} req/s")  # fmt: skip
                key0, ids0 = seeded[0]
                auth_session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=1024), timeout=timeout,
                    headers={"Authorization": f"Bearer {key0}"},
                )  # fmt: skip
                spies = []
                if args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spies = [py_spy(p.pid, args.profile / f"api-{i}.txt")
                             for i, p in enumerate(procs)]  # fmt: skip
                    await asyncio.sleep(1)  # py-spy attached
                cpu_before = cpu_seconds([p.pid for p in procs])
                posts = args.ceiling == "post"
                path = "/v1/notifications" if posts else f"/v1/notifications/{ids0[0]}"
                async with auth_session:
                    api_ceiling = await closed_loop(
                        auth_session, [f"{b}{path}" for b in bases], args.ceiling_seconds,
                        posts=posts,
                    )  # fmt: skip
                cpu = cpu_seconds([p.pid for p in procs]) - cpu_before
                for spy in spies:
                    spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled
                    await asyncio.to_thread(spy.wait, 60)
                what = "POST a notification" if posts else "GET one notification"
                print(f"api {what} ceiling (closed loop): {api_ceiling:.0f} req/s"
                      f" = {api_ceiling / ceiling:.0%} of the bare framework;"
                      f" replicas' CPU {cpu * 1000 / (api_ceiling * args.ceiling_seconds):.2f}"
                      f" ms per request  load {os.getloadavg()[0]:.2f}")  # fmt: skip
                if args.profile:
                    outs = [args.profile / f"api-{i}.txt" for i in range(len(procs))]
                    print("\n".join(profile_lines([o for o in outs if o.exists()])))
                if args.only_ceiling:
                    return

                for label, rate, build in [
                    ("reads", args.read_rate, reads),
                    ("mixed (1/3 POST + Idempotency-Key)", args.mixed_rate, mixed),
                ]:
                    requests = build(bases, seeded, int(rate * args.seconds))
                    tally, took = await open_loop(session, requests, rate)
                    print(tally.line(label, rate, took), f" load {os.getloadavg()[0]:.2f}")

                # Exactness: a bucket of 1,000 that (practically) does not refill, asked 2,000
                # times by 8 callers at once through the replicas in turn: exactly 1,000 pass.
                granted = await exactness(session, bases, exact, 2000)
                print(f"limit: burst 1000 x{args.replicas} replicas, 2000 asked:"
                      f" granted {granted} ({(granted - 1000) / 1000:+.2%})")  # fmt: skip
                # Refill: 100/s with a burst of 100, asked at 400/s; the span is the
                # requests' due times, so a slow server makes `expected` an estimate.
                headers = {"Authorization": f"Bearer {limited}"}
                n = int(400 * args.seconds)
                schedules = [f"{bases[i % len(bases)]}/v1/schedules" for i in range(n)]
                asked: list[Request] = [("GET", url, None, headers) for url in schedules]
                tally, took = await open_loop(session, asked, 400)
                granted = tally.statuses.get(200, 0)
                expected = 100 + 100 * (n - 1) / 400
                print(tally.line(f"limit: 100/s x{args.replicas} replicas", 400, took))
                print(f"  granted {granted}, burst + rate x span = {expected:.0f}"
                      f" ({(granted - expected) / expected:+.2%})")  # fmt: skip
        finally:
            for proc in procs:
                if proc.poll() is not None:
                    print(f"an api replica had exited ({proc.returncode}); its log:")
                    print(logs_of(bare_dir))
                proc.terminate()
                proc.wait()
            shutil.rmtree(bare_dir, ignore_errors=True)


async def conditions(env: object) -> dict[str, str]:
    import asyncpg

    pool = await asyncpg.create_pool(env.dsn, min_size=1, max_size=1)  # type: ignore[attr-defined]
    try:
        return await relay_bench.conditions(pool, env.api)  # type: ignore[attr-defined, no-any-return]
    finally:
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--read-rate", type=float, default=1000.0)
    parser.add_argument("--mixed-rate", type=float, default=2000.0)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--ceiling-seconds", type=float, default=5.0)
    parser.add_argument("--ceiling", choices=["get", "post"], default="get",
                        help="the api ceiling's request: GET a notification, or POST one"
                        " with an Idempotency-Key")  # fmt: skip
    parser.add_argument("--profile", type=Path, help="py-spy the replicas during the api ceiling")
    parser.add_argument("--only-ceiling", action="store_true",
                        help="stop after the api ceiling (for profiling)")  # fmt: skip
    asyncio.run(main(parser.parse_args()))
