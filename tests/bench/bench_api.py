"""REST API benchmark (issue 20): stream and samples latency, throughput under 100 clients, the rate
limiter's accuracy, and the server's memory over a long stream. Loopback, one server process.

Run (quiet machine): ``make bench-api`` or
``.venv/bin/python tests/bench/bench_api.py [--duration 60] [--stream-minutes 10] [--quick]``.
``--quick`` is a smoke run of about a minute (short phases, small counts): its figures are not
the targets' measurements.

What it does:

1. A fresh data folder and metadata database (PostgreSQL by default, with row-level security
   and the app role as in production; ``--database sqlite``: the embedded file), Redis DB
   ``--redis-db`` for the shared rate-limit counters; the local tenant on the enterprise tier with the API limits
   lifted (``DOPPEL_API_TIER_LIMITS``), and a second tenant on the starter tier limited to
   ``--limit-rps`` requests per second, reached with a real API key of one of its members.
2. The API server in its own process (uvicorn, ``app.api.factory.api_routes`` under /api/v1).
3. adult.csv (``--train-rows``) uploaded and a model trained through the API (``--model``,
   ``--epochs``), then warmed with one sample.
4. Phases, each over HTTP with the Python client's wire format:

   - stream: ``GET /models/{id}/stream?batch_size=1``, the gap between consecutive rows, P50/P99;
   - samples n=1: sequential ``POST /models/{id}/samples``, P50/P99;
   - samples n=10,000 as NDJSON: rows per second end to end (median of the runs);
   - 100 concurrent clients (asyncio, one keep-alive connection each) asking n=100 for ``--duration`` s:
     requests/s, errors (any non-200), P50/P95/P99;
   - the limiter: 20 clients hammer ``GET /models`` with the limited tenant's key for
     ``--limit-seconds``; in every whole one-second window where some request was refused (the
     demand was above the limit), the accepted requests vs the tier's limit (the client can only
     guess the server's window from the request's midpoint, so one window's count may stray by a
     few; the mean over many windows does not);
   - memory: one stream read for ``--stream-minutes``, the server's RSS sampled every 5 s
     (growth = last minus the first sample after 10 s).

Targets (issue 20): stream P50 < 5 ms, P99 < 25 ms per row; samples n=1 P50 < 10 ms; n=10,000
>= 100,000 rows/s; >= 200 requests/s with no errors under 100 clients; limiter within 5 %;
memory growth < 50 MB over 10 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("DOPPEL_DATASETS", REPO.parent / "shared" / "datasets"))
sys.path.insert(0, str(REPO))

from app.api.client import Doppel  # noqa: E402

LIMITED_TENANT = "bench-limited"
SERVER_CODE = (
    "import sys, uvicorn\n"
    "from starlette.applications import Starlette\n"
    "from app.api.factory import api_routes\n"
    "uvicorn.run(Starlette(routes=api_routes()), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentiles(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"n": 0}
    ms = np.asarray(values_s) * 1000
    return {"n": len(values_s), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- setup -----------------------------------------------------------------------------------


def _environment(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    limits = {
        "enterprise": {"api_requests_per_s": 0, "api_rows_per_min": 0, "api_max_sample_rows": 1_000_000},
        "starter": {"api_requests_per_s": args.limit_rps, "api_rows_per_min": 0},
    }
    environment = {"DOPPEL_DATA_DIR": str(data_dir), "DOPPEL_CACHE_URL": f"redis://127.0.0.1:6379/{args.redis_db}",
                   "DOPPEL_API_TIER_LIMITS": json.dumps(limits), "DOPPEL_EMBEDDED_WORKER_THREADS": "1"}
    return environment


def _postgres(name: str) -> str:
    """A fresh PostgreSQL database ``name`` reached as a non-owner app role; its URL."""
    from infra.db import migrate
    from infra.db.postgres import provision
    from tests.conftest import POSTGRES_URL

    provisioned = provision(POSTGRES_URL, database=name, owner_role="doppel_bench_owner",
                            app_role="doppel_bench_app", recreate=True)
    migrate(provisioned.owner_url, app_role="doppel_bench_app")
    return provisioned.app_url


def _drop_postgres(name: str) -> None:
    from infra.db.postgres import drop_database
    from tests.conftest import POSTGRES_URL

    drop_database(POSTGRES_URL, database=name)


def _seed_tenants() -> str:
    """The local owner on the enterprise tier; a starter tenant with a member and a read key. Returns the key."""
    from auth.provisioning import ensure_local_user
    from infra.db import tenant_session
    from infra.records import tenancy
    from infra.records.authz import Actor
    from infra.records.members import grant_at_login
    from infra.tenant_ids import LOCAL_TENANT
    from infra.usecases.api_keys import create_api_key

    ensure_local_user()
    with tenant_session(LOCAL_TENANT) as session:
        tenancy.set_tier(session, tier="enterprise", actor="bench")
    with tenant_session(LIMITED_TENANT) as session:
        tenancy.ensure_tenant(session, display_name="Bench limited", tier="starter", actor="bench")
        user = tenancy.ensure_user(session, subject="bench|limited", email="limited@bench.test")
        grant_at_login(session, user_id=user.id, role="member", reason="bench")
        actor = Actor(user_id=user.id, label="limited@bench.test")
    return create_api_key(LIMITED_TENANT, actor=actor, name="bench", scopes=["read"])[1]


def _clear_counters(redis_db: int) -> None:
    import redis

    client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{redis_db}")
    for tenant in ("local", LIMITED_TENANT):
        for key in client.scan_iter(f"doppel:t:{tenant}:ratelimit:*"):
            client.delete(key)
    client.close()


def _start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-c", SERVER_CODE, str(port)], cwd=REPO, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the API server did not answer /health within 60 s")


def _train(client: Doppel, args: argparse.Namespace, folder: Path) -> str:
    import engine

    data = folder / "adult_bench.csv"
    engine.read(DATASETS / "adult.csv").head(args.train_rows).write_csv(data)
    started = client.train(data, model=args.model, epochs=args.epochs)
    client.wait(started.job, timeout=1800)
    client.sample(started.model_id, n=1, seed=0)  # warm: the model is loaded once here
    return started.model_id


# -- phases ----------------------------------------------------------------------------------


def stream_latency(base: str, model_id: str, rows: int) -> dict[str, Any]:
    gaps: list[float] = []
    with httpx.Client(base_url=base, timeout=None) as http:
        with http.stream("GET", f"/models/{model_id}/stream", params={"batch_size": 1, "seed": 1}) as response:
            response.raise_for_status()
            last = time.perf_counter()
            for line in response.iter_lines():
                if not line:
                    continue
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
                if len(gaps) >= rows + 20:
                    break
    return _percentiles(gaps[20:])  # the first rows include the request and the stream's start


def samples_latency(base: str, model_id: str, requests: int) -> dict[str, Any]:
    times: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i in range(requests + 5):
            start = time.perf_counter()
            http.post(f"/models/{model_id}/samples", json={"n": 1, "seed": i}).raise_for_status()
            if i >= 5:
                times.append(time.perf_counter() - start)
    return _percentiles(times)


def samples_throughput(base: str, model_id: str, n: int, runs: int) -> dict[str, Any]:
    rates: list[float] = []
    with httpx.Client(base_url=base, timeout=300) as http:
        for i in range(runs):
            start = time.perf_counter()
            response = http.post(f"/models/{model_id}/samples", json={"n": n, "seed": i},
                                 headers={"Accept": "application/x-ndjson"})
            response.raise_for_status()
            lines = response.content.count(b"\n")
            rates.append(lines / (time.perf_counter() - start))
    return {"n": n, "runs": runs, "rows_per_s_median": round(statistics.median(rates)),
            "rows_per_s_best": round(max(rates))}


class _Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the load generator's client.

    httpx's async pool spends more CPU per request than a small server does once a hundred
    connections share it, so the load phases would measure the client; this one only writes a
    request and reads a ``Content-Length`` answer.
    """

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        url = httpx.URL(base)
        self.host, self.port, self.prefix = url.host, url.port or 80, url.path.rstrip("/")
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.headers}"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        self.writer.write(head.encode() + payload)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        length, closing = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                closing = True
        await self.reader.readexactly(length)
        if closing:
            await self.close()
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def _hammer(base: str, *, clients: int, seconds: float, method: str, path: str, body: Any,
                  headers: dict[str, str]) -> list[tuple[float, float, int]]:
    """(send epoch time, latency s, status) of every request of ``clients`` loops for ``seconds``."""
    results: list[tuple[float, float, int]] = []
    connections = [_Connection(base, headers) for _ in range(clients)]
    stop = time.monotonic() + seconds

    async def one_client(connection: _Connection) -> None:
        while time.monotonic() < stop:
            sent, start = time.time(), time.perf_counter()
            try:
                status = await connection.request(method, path, body)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                await connection.close()
                status = -1
            results.append((sent, time.perf_counter() - start, status))
        await connection.close()

    await asyncio.gather(*(one_client(c) for c in connections))
    return results


def concurrent_load(base: str, model_id: str, *, clients: int, seconds: float, n: int) -> dict[str, Any]:
    start = time.perf_counter()
    results = asyncio.run(_hammer(base, clients=clients, seconds=seconds, method="POST",
                                  path=f"/models/{model_id}/samples", body={"n": n}, headers={}))
    elapsed = time.perf_counter() - start
    ok = [latency for _, latency, status in results if status == 200]
    statuses = Counter(status for _, _, status in results)
    return {**_percentiles(ok), "clients": clients, "seconds": round(elapsed, 1), "n": n, "requests": len(results),
            "requests_per_s": round(len(ok) / elapsed, 1), "errors": len(results) - len(ok),
            "statuses": {str(k): v for k, v in statuses.items()}}


def limiter_accuracy(base: str, key: str, *, limit: int, seconds: float, clients: int = 20) -> dict[str, Any]:
    results = asyncio.run(_hammer(base, clients=clients, seconds=seconds, method="GET", path="/models", body=None,
                                  headers={"Authorization": f"Bearer {key}"}))
    # The server counts a request in the epoch second it arrives: the midpoint of send and answer.
    def window(sent: float, latency: float) -> int:
        return int(sent + latency / 2)

    accepted = Counter(window(sent, lat) for sent, lat, status in results if status == 200)
    refused = Counter(window(sent, lat) for sent, lat, status in results if status == 429)
    whole = sorted(set(accepted) | set(refused))[1:-1]  # whole one-second windows only
    saturated = [w for w in whole if refused[w]]  # demand above the limit: the limiter decided
    held = [accepted[w] for w in saturated]
    mean = statistics.mean(held) if held else 0.0
    return {"limit_per_s": limit, "windows": len(whole), "saturated_windows": len(saturated),
            "accepted_per_s_mean": round(mean, 2), "accepted_per_s_max": max(held, default=0),
            "accepted_total": sum(accepted.values()), "refused_429": sum(refused.values()),
            # every window the run touched, the partial first and last included: a bound from below
            "accepted_per_s_overall": round(sum(accepted.values()) / max(1, len(set(accepted) | set(refused))), 2),
            "other_statuses": sum(1 for _, _, s in results if s not in (200, 429)),
            "deviation_pct": round(100 * (mean - limit) / limit, 2) if limit else None}


def memory_over_stream(base: str, model_id: str, pid: int, *, minutes: float) -> dict[str, Any]:
    samples: list[tuple[float, float]] = []
    rows = 0
    stop = threading.Event()

    def sample_memory() -> None:
        start = time.monotonic()
        while not stop.is_set():
            samples.append((time.monotonic() - start, _rss_mb(pid)))
            stop.wait(5)

    watcher = threading.Thread(target=sample_memory, daemon=True)
    watcher.start()
    deadline = time.monotonic() + minutes * 60
    with httpx.Client(base_url=base, timeout=None) as http:
        with http.stream("GET", f"/models/{model_id}/stream", params={"batch_size": 1, "seed": 2}) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                rows += bool(line)
                if time.monotonic() > deadline:
                    break
    stop.set()
    watcher.join()
    settled = [mb for t, mb in samples if t >= 10] or [mb for _, mb in samples]
    return {"minutes": minutes, "rows": rows, "rss_start_mb": round(settled[0], 1), "rss_end_mb": round(settled[-1], 1),
            "rss_max_mb": round(max(settled), 1), "growth_mb": round(settled[-1] - settled[0], 1)}


# -- the run ---------------------------------------------------------------------------------


def _table(results: dict[str, Any]) -> str:
    s, one, big, load, lim, mem = (results.get(k, {}) for k in
                                   ("stream", "samples_n1", "samples_n10000", "concurrent", "limiter", "memory"))
    lines = [
        "| measure | result | target |",
        "|---|---|---|",
        f"| stream, per row | P50 {s.get('p50_ms')} ms, P99 {s.get('p99_ms')} ms ({s.get('n')} rows) | P50 < 5 ms, P99 < 25 ms |",
        f"| POST samples n=1 | P50 {one.get('p50_ms')} ms, P99 {one.get('p99_ms')} ms | P50 < 10 ms |",
        f"| POST samples n=10,000 NDJSON | {big.get('rows_per_s_median')} rows/s (median of {big.get('runs')}) | >= 100,000 rows/s |",
        f"| {load.get('clients')} clients x n={load.get('n')}, {load.get('seconds')} s | {load.get('requests_per_s')} req/s, "
        f"{load.get('errors')} errors, P95 {load.get('p95_ms')} ms | >= 200 req/s, no errors |",
        f"| limiter at {lim.get('limit_per_s')}/s | {lim.get('accepted_per_s_mean')}/s accepted (max "
        f"{lim.get('accepted_per_s_max')}; {lim.get('deviation_pct')} %) in {lim.get('saturated_windows')} saturated "
        f"windows of {lim.get('windows')} | within 5 % |",
        f"| memory, {mem.get('minutes')} min stream | {mem.get('rss_start_mb')} -> {mem.get('rss_end_mb')} MB "
        f"(growth {mem.get('growth_mb')} MB, {mem.get('rows')} rows) | growth < 50 MB |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="argn", help="model kind trained for the run (default argn)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-rows", type=int, default=5_000)
    parser.add_argument("--stream-rows", type=int, default=5_000, help="rows timed in the stream phase")
    parser.add_argument("--sample-requests", type=int, default=500, help="sequential n=1 requests")
    parser.add_argument("--big-runs", type=int, default=5, help="n=10,000 requests")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the concurrent phase")
    parser.add_argument("--limit-rps", type=int, default=50, help="the limited tier's requests per second")
    parser.add_argument("--limit-seconds", type=float, default=30.0)
    parser.add_argument("--stream-minutes", type=float, default=10.0, help="length of the memory phase")
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute (not a measurement)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql",
                        help="metadata database: a fresh PostgreSQL database with RLS and an app role, dropped "
                             "after the run (production's), or the embedded SQLite (default postgresql)")
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database of the rate-limit counters")
    parser.add_argument("--out", default="bench-results/api.json")
    args = parser.parse_args()
    if args.quick:
        args.model, args.epochs, args.train_rows = "mst", 1, 1_000
        args.stream_rows, args.sample_requests, args.big_runs = 300, 50, 2
        args.duration, args.limit_seconds, args.stream_minutes = 5.0, 5.0, 0.25

    folder = Path(tempfile.mkdtemp(prefix="doppel-bench-api-"))
    os.environ.update(_environment(args, folder / "data"))
    pg_name = f"doppel_bench_api_{os.getpid()}"
    if args.database == "postgresql":
        os.environ["DOPPEL_DATABASE_URL"] = _postgres(pg_name)
        from infra.settings import get_settings

        get_settings.cache_clear()  # migrating read the settings before the URL was set
    key = _seed_tenants()
    _clear_counters(args.redis_db)
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    server = _start_server(port)
    results: dict[str, Any] = {"args": vars(args), "machine": {"cpus": os.cpu_count()}}
    try:
        with Doppel(base) as client:
            model_id = _train(client, args, folder)
        print(f"model {model_id} trained and warm; server pid {server.pid}", flush=True)
        results["stream"] = stream_latency(base, model_id, args.stream_rows)
        print("stream", results["stream"], flush=True)
        results["samples_n1"] = samples_latency(base, model_id, args.sample_requests)
        print("samples n=1", results["samples_n1"], flush=True)
        results["samples_n10000"] = samples_throughput(base, model_id, 10_000, args.big_runs)
        print("samples n=10000", results["samples_n10000"], flush=True)
        results["concurrent"] = concurrent_load(base, model_id, clients=args.clients, seconds=args.duration, n=100)
        print("concurrent", results["concurrent"], flush=True)
        _clear_counters(args.redis_db)
        results["limiter"] = limiter_accuracy(base, key, limit=args.limit_rps, seconds=args.limit_seconds)
        print("limiter", results["limiter"], flush=True)
        results["memory"] = memory_over_stream(base, model_id, server.pid, minutes=args.stream_minutes)
        print("memory", results["memory"], flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)
        _clear_counters(args.redis_db)
        if args.database == "postgresql":
            from infra.db import get_database

            get_database().dispose()
            _drop_postgres(pg_name)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(_table(results))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
