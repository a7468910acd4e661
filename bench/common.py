"""Shared helpers for the pipeline benchmarks: processes, load generation, journal checks, statistics.

Why a module of its own: the three pipeline benchmarks start the same processes (the ``causely-incidentio
simulator`` and ``standalone`` commands, a bare aiohttp baseline server) and the same load generator, and
must measure them the same way so their figures are comparable ratios.

It is also a small command line, so the baseline server and the fallback load generator run as *separate
processes* (a load generator in the server's own process would steal its event loop)::

    python bench/common.py serve-bare --port 8081
    python bench/common.py loadgen --url URL --concurrency 8 --duration 10 --prefix p   # token: $BENCH_TOKEN

Everything listens on and talks to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = ROOT / "tests" / "fixtures" / "payloads" / "detected-high-slo.json"
OBJECT_ID_MARK = "__OBJECT_ID__"
TOKEN_ENV = "BENCH_TOKEN"  # how the receiver token reaches wrk's Lua script and the Python load generator
API_TOKEN = "bench-api-token-0123456789"  # the simulator accepts only this key
REFUSED_TOKEN = "bench-refused-token-987654"  # a key the simulator answers 401 to: the worker pauses
CLI = [sys.executable, "-m", "causely_incidentio.cli"]


# -- small things ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else float("nan")


def parse_rfc3339(value: str) -> float:
    """``2026-11-26T10:00:00.123456Z`` → epoch seconds (the simulator's timestamps, microseconds)."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def payload_template() -> str:
    """The benchmark payload as sent: the fixture with ``objectId`` replaced by a marker to fill in."""
    data = json.loads(PAYLOAD.read_text())
    data["objectId"] = OBJECT_ID_MARK
    return json.dumps(data)


def payload_bytes(object_id: str) -> bytes:
    return payload_template().replace(OBJECT_ID_MARK, object_id).encode()


def machine_facts() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "wrk": wrk_version() or "not installed",
    }


def wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk"


def http_json(method: str, url: str, body: Any = None, timeout: float = 10.0) -> Any:
    """A tiny blocking JSON call (control APIs, readiness): no client library in the picture."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # loopback only
        raw = resp.read()
    return json.loads(raw) if raw else None


# -- how busy the machine is ----------------------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used since boot (every core, /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float = 60.0, threshold: float = 0.3, window: float = 1.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine uses < ``threshold`` cores; return the last load seen.

    Other work on a shared 2-core machine (another benchmark, a test suite) would halve any figure taken
    meanwhile; the load seen is printed with each measurement so a contaminated one can be recognised.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(window)
        load = (machine_busy_seconds() - b0) / (time.monotonic() - t0)
        if load < threshold or time.monotonic() >= deadline:
            return load


# -- processes ---------------------------------------------------------------------------------------


@dataclass
class Service:
    """A server this benchmark started as a separate process; stopped by its pid only."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def _spawn(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, **(env or {})}
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def _wait_http(service: Service, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.proc.returncode}; see {service.log}")
        try:
            with urllib.request.urlopen(service.url + path, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    service.stop()
    raise TimeoutError(f"{service.name} did not answer {path} within {timeout}s; see {service.log}")


def start_simulator(
    workdir: Path, *, latency_ms: float = 0.0, capacity: int = 1200, refill: float = 20.0,
    tokens: Sequence[str] = (API_TOKEN,),
) -> Service:
    """``causely-incidentio simulator`` on a free loopback port (``capacity`` 0 disables its rate limit)."""
    port = free_port()
    argv = [*CLI, "simulator", "--host", "127.0.0.1", "--port", str(port), "--latency-ms", str(latency_ms),
            "--rate-limit-capacity", str(capacity), "--rate-limit-refill", str(refill), "--log-level", "WARNING"]
    for t in tokens:
        argv += ["--token", t]
    log = workdir / "simulator.log"
    svc = Service("simulator", _spawn("simulator", argv, log), f"http://127.0.0.1:{port}", log)
    _wait_http(svc, "/_simulator/faults")
    return svc


def destination_secret(name: str, api_token: str, filters: str = "[]") -> dict[str, Any]:
    """A destination in Causely's published Secret format (what ``standalone --config`` reads)."""
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "causely", "labels": {"causely.ai/notif-config": "IncidentIO"}},
        "stringData": {
            "notif_config_name": name, "notif_config_type": "IncidentIO", "notif_config_token": api_token,
            "notif_config_url": "", "notif_config_global": "false", "notif_config_filters_enabled": "true",
            "notif_config_filters": filters, "notif_config_resolved_status_name": "Resolved",
        },
    }


def start_standalone(
    workdir: Path, *, secret: dict[str, Any], sim_url: str, receiver_token: str,
    env: dict[str, str] | None = None, log_level: str = "INFO",
) -> tuple[Service, Path]:
    """``causely-incidentio standalone`` with ``secret`` as its config; returns it and its journal path."""
    config = workdir / "destinations.json"
    config.write_text(json.dumps(secret))
    state = workdir / "journal.sqlite"
    port = free_port()
    argv = [*CLI, "standalone", "--config", str(config), "--state", str(state), "--listen", f"127.0.0.1:{port}",
            "--log-level", log_level]
    run_env = {"INCIDENT_IO_API_URL": sim_url, "INCIDENT_IO_ALLOWED_API_URLS": sim_url,
               "CAUSELY_RECEIVER_TOKEN": receiver_token, **(env or {})}
    log = workdir / "standalone.log"
    svc = Service("standalone", _spawn("standalone", argv, log, run_env), f"http://127.0.0.1:{port}", log)
    _wait_http(svc, "/readyz")
    return svc, state


def start_bare(workdir: Path) -> Service:
    """The baseline: an aiohttp app whose handler reads the body and answers 202, nothing else."""
    port = free_port()
    log = workdir / "bare.log"
    argv = [sys.executable, str(Path(__file__).resolve()), "serve-bare", "--port", str(port)]
    svc = Service("bare", _spawn("bare", argv, log), f"http://127.0.0.1:{port}", log)
    _wait_http(svc, "/healthz")
    return svc


def post_notification(url: str, token: str, object_id: str, timeout: float = 30.0) -> tuple[int, float]:
    """POST one notification; returns (status, wall-clock time the response was read)."""
    req = urllib.request.Request(
        url + "/notifications", data=payload_bytes(object_id), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status, time.time()
    except urllib.error.HTTPError as exc:
        return exc.code, time.time()


# -- the journal, read from outside ------------------------------------------------------------------


@dataclass
class JournalSnapshot:
    pending: set[str]
    findings: dict[str, str]  # object_id -> state
    incident_ids: dict[str, str]  # object_id -> incident id (findings with an incident)

    def all_ids(self) -> set[str]:
        return self.pending | set(self.findings)


def read_journal(state: Path) -> JournalSnapshot:
    """pending + findings in one read transaction (a row moves between them atomically: no double count)."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("BEGIN")
        pending = {r[0] for r in conn.execute("SELECT object_id FROM pending")}
        rows = conn.execute("SELECT object_id, state, incident_id FROM findings").fetchall()
        conn.execute("COMMIT")
    finally:
        conn.close()
    return JournalSnapshot(pending, {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows if r[2]})


def wait_for(predicate: Any, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# -- the journal commit cost ---------------------------------------------------------------------------


def sqlite_commit_cost(workdir: Path, commits: int = 2000) -> float:
    """Median seconds of one transaction inserting one 1.7 KB pending row, WAL + synchronous=FULL.

    The same statement and pragmas as ``SqliteJournal._insert_pending``, without the thread hop.
    """
    path = workdir / "commit-cost.sqlite"
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, destination_id TEXT NOT NULL, "
                 "object_id TEXT NOT NULL, payload BLOB NOT NULL, received_at REAL NOT NULL, "
                 "attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)")
    body = payload_bytes("commit-cost")
    times: list[float] = []
    try:
        for i in range(commits):
            t0 = time.perf_counter()
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO pending (destination_id, object_id, payload, received_at) "
                             "VALUES (?, ?, ?, ?)", ("secret/causely/x", f"id-{i}", body, time.time()))
            times.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return median(times)


async def journal_accept_cost(workdir: Path, count: int = 1000) -> float:
    """Median seconds of one ``SqliteJournal.accept`` of one intake, one at a time (with the thread hop)."""
    from causely_incidentio.sync.journal import SqliteJournal
    from causely_incidentio.sync.records import Intake

    journal = await SqliteJournal.open(workdir / "accept-cost.sqlite")
    body = payload_bytes("accept-cost")
    times: list[float] = []
    try:
        for i in range(count):
            t0 = time.perf_counter()
            await journal.accept([Intake("secret/causely/x", f"id-{i}", body, time.time())])
            times.append(time.perf_counter() - t0)
    finally:
        await journal.close()
    return median(times)


# -- load generation ---------------------------------------------------------------------------------

WRK_SCRIPT = r"""
-- POST the benchmark payload with a distinct objectId per request; keep the objectIds answered 202.
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  prefix = args[1]
  record = args[2] == "record"
  local f = assert(io.open(args[3], "rb"))
  template = f:read("*a")
  f:close()
  sent, accepted, other, ids = 0, 0, 0, {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
end
function request()
  sent = sent + 1
  local oid = string.format("%s-%d-%08d", prefix, tid, sent)
  local body = string.gsub(template, "__OBJECT_ID__", oid)
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
    if record then
      ids[#ids + 1] = string.match(body, '"objectId": *"([^"]+)"')
    end
  else
    other = other + 1
  end
end
function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_WRK_OUT"), "w"))
  local s, a, o = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    a = a + t:get("accepted")
    o = o + t:get("other")
    for _, id in ipairs(t:get("ids")) do out:write("id ", id, "\n") end
  end
  local e = summary.errors
  out:write(string.format("summary %d %d %d %d %d %f %f %f\n", s, a, o,
    e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean))
  out:close()
end
"""


@dataclass
class LoadResult:
    """What one load-generator run saw. ``seconds`` is the generator's own measured duration."""

    tool: str
    concurrency: int
    sent: int
    accepted: int  # 202s
    other: int  # any other status
    errors: int  # socket errors/timeouts
    seconds: float
    p50_ms: float
    p99_ms: float
    ids: set[str] = field(default_factory=set)

    @property
    def rate(self) -> float:
        """202s per second."""
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


def run_wrk(url: str, token: str, *, concurrency: int, duration: float, threads: int, prefix: str,
            workdir: Path, record_ids: bool) -> LoadResult:
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    template = workdir / "payload-template.json"
    template.write_text(payload_template())
    out = workdir / f"wrk-{prefix}.out"
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(script), url, "--", prefix, "record" if record_ids else "count", str(template)]
    env = {**os.environ, TOKEN_ENV: token, "BENCH_WRK_OUT": str(out)}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60, check=False)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    ids: set[str] = set()
    summary: list[str] = []
    for line in out.read_text().splitlines():
        if line.startswith("id "):
            ids.add(line[3:])
        elif line.startswith("summary "):
            summary = line.split()[1:]
    sent, accepted, other, errors, dur_us = (int(float(x)) for x in summary[:5])
    p50, p99 = float(summary[5]) / 1000, float(summary[6]) / 1000
    return LoadResult("wrk", concurrency, sent, accepted, other, errors, dur_us / 1e6, p50, p99, ids)


def run_python_loadgen(url: str, token: str, *, concurrency: int, duration: float, prefix: str,
                       workdir: Path, record_ids: bool) -> LoadResult:
    """The fallback when wrk is not installed: an aiohttp client in a separate process."""
    out = workdir / f"loadgen-{prefix}.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "loadgen", "--url", url, "--concurrency",
            str(concurrency), "--duration", str(duration), "--prefix", prefix, "--out", str(out)]
    if record_ids:
        argv.append("--record-ids")
    env = {**os.environ, TOKEN_ENV: token}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    data = json.loads(out.read_text())
    return LoadResult("python-aiohttp", concurrency, data["sent"], data["accepted"], data["other"],
                      data["errors"], data["seconds"], data["p50_ms"], data["p99_ms"], set(data["ids"]))


def run_load(tool: str, url: str, token: str, *, concurrency: int, duration: float, prefix: str,
             workdir: Path, record_ids: bool, threads: int = 1) -> LoadResult:
    if tool == "wrk":
        return run_wrk(url, token, concurrency=concurrency, duration=duration, threads=threads, prefix=prefix,
                       workdir=workdir, record_ids=record_ids)
    return run_python_loadgen(url, token, concurrency=concurrency, duration=duration, prefix=prefix,
                              workdir=workdir, record_ids=record_ids)


def default_tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


async def _loadgen(url: str, token: str, concurrency: int, duration: float, prefix: str,
                   record_ids: bool) -> dict[str, Any]:
    import aiohttp

    template = payload_template()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    counts = {"sent": 0, "accepted": 0, "other": 0, "errors": 0}
    ids: list[str] = []
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + duration

    async def one_connection(session: aiohttp.ClientSession, worker: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            oid = f"{prefix}-{worker}-{n:08d}"
            counts["sent"] += 1
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=template.replace(OBJECT_ID_MARK, oid).encode(),
                                        headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                counts["errors"] += 1
                continue
            latencies.append(time.perf_counter() - t0)
            if status == 202:
                counts["accepted"] += 1
                if record_ids:
                    ids.append(oid)
            else:
                counts["other"] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(one_connection(session, w) for w in range(concurrency)))
    seconds = time.perf_counter() - start
    return {**counts, "seconds": seconds, "ids": ids, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000}


def _serve_bare(port: int) -> None:
    from aiohttp import web

    async def notifications(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "accepted"}, status=202)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/notifications", notifications)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    bare = sub.add_parser("serve-bare", help="the baseline aiohttp server (read body, answer 202)")
    bare.add_argument("--port", type=int, required=True)
    gen = sub.add_parser("loadgen", help="aiohttp load generator (fallback when wrk is missing)")
    gen.add_argument("--url", required=True)
    gen.add_argument("--concurrency", type=int, default=8)
    gen.add_argument("--duration", type=float, default=10.0)
    gen.add_argument("--prefix", default="load")
    gen.add_argument("--out", required=True)
    gen.add_argument("--record-ids", action="store_true")
    facts = sub.add_parser("facts", help="print the machine facts and the journal commit cost")
    facts.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.command == "serve-bare":
        _serve_bare(args.port)
        return 0
    if args.command == "loadgen":
        if not 0 < args.duration <= 600:
            parser.error("--duration must be in (0, 600] seconds")
        result = asyncio.run(_loadgen(args.url, os.environ.get(TOKEN_ENV, ""), args.concurrency, args.duration,
                                      args.prefix, args.record_ids))
        Path(args.out).write_text(json.dumps(result))
        return 0
    print(json.dumps(machine_facts(), indent=2))
    with tempfile.TemporaryDirectory(prefix="bench-facts-") as tmp:
        print(f"sqlite commit (WAL, FULL, one 1.7 KB row): {sqlite_commit_cost(Path(tmp), args.commits) * 1e3:.3f} ms")
        accept = asyncio.run(journal_accept_cost(Path(tmp), min(args.commits, 1000)))
        print(f"SqliteJournal.accept (one intake, sequential): {accept * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
