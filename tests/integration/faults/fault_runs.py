"""Carry a fault schedule out against the real pipeline and the simulator, then judge it.

Three runners, one per mode:

- ``inproc``: the standalone product in this process (SQLite journal, pipeline, receiver on a loopback port,
  config reloaded by the SIGHUP handler's own function). Crashes stop everything without a drain and reopen the
  same state file; journal write failures are injected where SQLite raises them (the journal thread).
- ``process``: ``causely-incidentio standalone`` as a real process: ``kill -9`` at random moments, real SIGHUPs
  with a broken then fixed config file, its stdout/stderr checked for tokens.
- ``kube``: the Kubernetes journal (one Finding per finding, ``kube/findingstore.py``) over an in-memory API
  with the server's resourceVersion rules, two receiving replicas, injected API failures (conflicts, 5xx,
  timeouts) and leader changes where the deposed leader keeps working for a moment.

The simulator is always in this process. Everything talks to 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from causely_docs import causely_secret
from fault_check import API_TOKEN, RECEIVER_TOKEN, Observed, check, incidents_from, record_view, text_of
from fault_schedule import Schedule, Step, generate

from causely_incidentio.destinations import from_secret
from causely_incidentio.incidentio import close_pools
from causely_incidentio.payload import parse_notification
from causely_incidentio.receiver import Receiver, serve
from causely_incidentio.settings import Settings
from causely_incidentio.simulator import Simulator
from causely_incidentio.standalone import load_config
from causely_incidentio.sync.journal import JournalUnavailable, SqliteJournal
from causely_incidentio.sync.pipeline import Pipeline

DEST = "secret/causely/primary"
KUBE_DEST = "secret/ns/primary"
DRAIN_TIMEOUT = {"inproc": 20.0, "process": 45.0, "kube": 20.0}
WORKER_OPTIONS = {"retry_delay": 0.05, "max_retry_delay": 0.2}
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # state files in memory: fsyncs cost nothing there
REPLAY = ".venv/bin/python bench/soak.py --mode {mode} --seed {seed}"


@dataclass
class Result:
    seed: int
    mode: str
    schedule: Schedule
    problems: list[str]
    seconds: float
    seen: Observed = field(repr=False, default_factory=Observed)
    faults: Counter[str] = field(default_factory=Counter)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def replay(self) -> str:
        return REPLAY.format(mode=self.mode, seed=self.seed)

    def report(self) -> str:
        lines = [f"seed {self.seed} ({self.mode}) broke {len(self.problems)} invariant(s); replay: {self.replay}",
                 f"  schedule: {self.schedule.describe()}",
                 *("  notes: " + ", ".join(f"#{n.index} {n.type[7:]} {n.object_id[-4:]} {n.severity} "
                                           f"{n.at:%H:%M:%S} occ{n.occurrence}" for n in self.schedule.notes),),
                 *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


def config_text(variant: str) -> str:
    """The destinations file: the good config, a YAML syntax error, or a destination that is invalid."""
    doc = causely_secret("primary", API_TOKEN, namespace="causely", notif_config_min_severity="Low")
    if variant == "yaml-error":
        return "apiVersion: v1\nkind: Secret\nmetadata: {name: primary\n  stringData: [\n"
    if variant == "invalid-destination":
        doc["stringData"]["notif_config_filters"] = "[{not json"
    return yaml.safe_dump(doc)


def settings_for(sim: Simulator) -> Settings:
    return Settings(incident_io_api_url=sim.base_url, incident_io_allowed_api_urls=sim.base_url,
                    incident_io_read_timeout=0.25, incident_io_connect_timeout=0.25,
                    incident_io_retry_max_seconds=1.5)


class LogCapture(logging.Handler):
    """Every log line of the run (DEBUG and up, with tracebacks), to search for tokens."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


@contextlib.contextmanager
def captured_logs() -> Iterator[LogCapture]:
    root = logging.getLogger()
    handler, level = LogCapture(), root.level
    others = list(root.handlers)  # pytest's capture would print every DEBUG line of a failing schedule
    for h in others:
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet = [logging.getLogger(n) for n in ("httpcore", "asyncio", "aiosqlite")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for h in others:
            root.addHandler(h)
        root.setLevel(level)
        for q, lvl in zip(quiet, levels, strict=True):
            q.setLevel(lvl)


class FlakyDisk:
    """Journal writes that fail as a full or broken disk makes SQLite fail, on the journal's own thread."""

    def __init__(self) -> None:
        self.remaining = {"accept": 0, "outcome": 0}
        self.injected = {"accept": 0, "outcome": 0}

    def install(self, journal: SqliteJournal) -> None:
        for where, name in (("accept", "_insert_pending"), ("outcome", "_write_outcome")):
            real = getattr(journal, name)
            setattr(journal, name, self._wrap(where, real))

    def _wrap(self, where: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def write(*args: Any) -> Any:
            if self.remaining[where] > 0:
                self.remaining[where] -= 1
                self.injected[where] += 1
                raise sqlite3.OperationalError("disk I/O error")
            return real(*args)

        return write

    def clear(self) -> None:
        self.remaining = {"accept": 0, "outcome": 0}


class Sender:
    """Causely: posts each notification, retries a few times on 5xx or a dead receiver, remembers the 202s."""

    def __init__(self, schedule: Schedule, seen: Observed, url: Callable[[], str]) -> None:
        self.notes = schedule.notes
        self.seen = seen
        self.url = url
        self.http = httpx.AsyncClient(timeout=10)
        self.bodies: list[str] = []

    async def send(self, index: int, attempts: int = 3, pause: float = 0.05) -> bool:
        body = json.dumps(self.notes[index].doc()).encode()
        headers = {"Authorization": f"Bearer {RECEIVER_TOKEN}", "Content-Type": "application/json"}
        for _ in range(attempts):
            try:
                r = await self.http.post(self.url(), content=body, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(pause)
                continue
            self.bodies.append(r.text)
            if r.status_code == 202:
                self.accepted(index, r.json().get("destinations", []))
                return True
            if r.status_code < 500:
                raise AssertionError(f"note #{index} got {r.status_code}: {r.text}")
            await asyncio.sleep(pause)
        return False

    def accepted(self, index: int, destinations: list[str]) -> None:
        self.seen.accepted.add(index)
        if not destinations:
            self.seen.routed_nowhere.add(index)

    async def aclose(self) -> None:
        await self.http.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sim_incidents(sim: Simulator) -> list[dict[str, Any]]:
    def category(rec: Any) -> str:
        status = sim.organisation.status(rec.status_id)
        return str(status["category"]) if status else "?"

    return incidents_from(sim.store, sim.requests, category)


def sim_outputs(sim: Simulator) -> dict[str, str]:
    """What the simulator saw besides the auth header: paths, queries and bodies of every request."""
    return {"simulator request bodies": "\n".join(f"{r.path}?{r.query} {text_of(r.body)}" for r in sim.requests)}


def file_texts(*paths: Path) -> dict[str, str]:
    out = {}
    for p in paths:
        for f in (p, Path(f"{p}-wal"), Path(f"{p}-journal")):
            if f.exists():
                out[f"file {f.name}"] = f.read_bytes().decode("latin-1")
    return out


# -- the runner every mode shares --------------------------------------------------------------------------------


class Run:
    mode = ""

    def __init__(self, schedule: Schedule, sim: Simulator, tmp: Path) -> None:
        self.schedule = schedule
        self.sim = sim
        self.tmp = tmp
        self.seen = Observed()
        self.background: list[asyncio.Task[None]] = []
        self.sender = Sender(schedule, self.seen, self.url)
        self.broken = False
        self.rng = random.Random(f"run:{schedule.mode}:{schedule.seed}")
        self.phases: dict[str, float] = {}
        self.restarts = asyncio.Lock()  # one crash and restart at a time

    def url(self) -> str:
        raise NotImplementedError

    async def send(self, index: int, attempts: int = 3, pause: float = 0.05) -> bool:
        return await self.sender.send(index, attempts, pause)

    async def start(self) -> None:
        raise NotImplementedError

    async def step(self, step: Step) -> None:
        if step.kind == "send":
            await asyncio.gather(*(self.send(i) for i in step.notes))
        elif step.kind == "sleep":
            await asyncio.sleep(step.arg("seconds"))
        elif step.kind == "api_fault":
            self.sim.fail_next(step.arg("count"), step.arg("kind"), method=step.arg("method"),
                               path_prefix=step.arg("path_prefix"), after_processing=step.arg("after_processing"))
        elif step.kind == "crash":
            self.sim.latency_ms = float(step.arg("latency_ms"))
            self.background.append(asyncio.create_task(self.crash(step.arg("after"))))
        elif step.kind == "reload":
            self.broken = step.arg("config") != "fixed"
            await self.reload(step.arg("config"))
        else:
            await self.other_step(step)

    async def other_step(self, step: Step) -> None:
        raise ValueError(f"{self.mode} cannot run {step.describe()}")

    async def crash(self, after: float) -> None:
        raise NotImplementedError

    async def reload(self, variant: str) -> None:
        raise NotImplementedError

    async def stop_faults(self) -> None:
        """The faults stop: no more injected failures, the config is good, every crash has restarted."""
        for task in self.background:
            await task
        self.sim.faults.clear()
        self.sim.latency_ms = 0.0
        if self.broken:
            self.broken = False
            await self.reload("fixed")

    async def pending(self) -> list[str]:
        raise NotImplementedError

    async def collect(self) -> None:
        raise NotImplementedError

    async def shutdown(self) -> None:
        raise NotImplementedError

    async def execute(self) -> None:
        mark = time.monotonic()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            self.phases[name] = self.phases.get(name, 0.0) + now - mark
            mark = now

        await self.start()
        phase("start")
        try:
            for step in self.schedule.steps:
                await self.step(step)
            phase("steps")
            await self.stop_faults()
            sent = {i for s in self.schedule.steps for i in s.notes}
            for i in sorted(sent - self.seen.accepted):  # Causely retries what was never acknowledged
                if not await self.send(i, attempts=40, pause=0.1):
                    raise AssertionError(f"note #{i} was never accepted after the faults stopped")
            phase("resend")
            deadline = time.monotonic() + DRAIN_TIMEOUT[self.mode]
            left = await self.pending()
            while left and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                left = await self.pending()
            self.seen.pending = left
            phase("drain")
            await asyncio.sleep(0.05)  # anything still running would show up now
            await self.collect()
        finally:
            for task in self.background:
                task.cancel()
            await self.sender.aclose()
            await self.shutdown()
            phase("shutdown")
        self.seen.outputs["receiver answers"] = "\n".join(self.sender.bodies)
        self.seen.outputs.update(sim_outputs(self.sim))
        self.seen.incidents = sim_incidents(self.sim)


# -- inproc ----------------------------------------------------------------------------------------------------


class InprocRun(Run):
    mode = "inproc"

    def __init__(self, schedule: Schedule, sim: Simulator, tmp: Path) -> None:
        super().__init__(schedule, sim, tmp)
        self.settings = settings_for(sim)
        self.config = tmp / "destinations.yaml"
        self.state = tmp / "state.sqlite"
        self.disk = FlakyDisk()
        self.events: list[str] = []
        self.port = 0
        self.journal: SqliteJournal | None = None
        self.pipeline: Pipeline | None = None
        self.runner: Any = None

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notifications"

    def record_event(self, destination_id: str, reason: str, message: str, *, warning: bool = False,
                     object_id: str | None = None) -> None:
        self.events.append(f"{destination_id} {reason} {message}")

    async def start(self) -> None:
        if not self.config.exists():
            self.config.write_text(config_text("fixed"))
        self.journal = await SqliteJournal.open(self.state)
        self.disk.install(self.journal)
        self.pipeline = Pipeline(self.journal, self.settings, events=self.record_event, worker_options=WORKER_OPTIONS)
        load_config(str(self.config), self.settings, self.pipeline)
        self.runner, self.port = await serve(Receiver(self.pipeline, token=RECEIVER_TOKEN).app(), "127.0.0.1",
                                             self.port, shutdown_timeout=1.0)

    async def _stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.pipeline is not None:
            await self.pipeline.stop()
            self.pipeline = None
        if self.journal is not None:
            await self.journal.close()
            self.journal = None

    async def crash(self, after: float) -> None:
        """Stop in the middle of whatever is running (workers cancelled mid-call, no drain), then restart."""
        await asyncio.sleep(after)
        async with self.restarts:
            await self._stop()
            await self.start()

    async def reload(self, variant: str) -> None:
        self.config.write_text(config_text(variant))
        if self.pipeline is not None:
            load_config(str(self.config), self.settings, self.pipeline)

    async def other_step(self, step: Step) -> None:
        if step.kind != "disk_fault":
            await super().other_step(step)
        self.disk.remaining[step.arg("where")] += step.arg("count")

    async def stop_faults(self) -> None:
        await super().stop_faults()
        self.disk.clear()

    async def pending(self) -> list[str]:
        assert self.journal is not None
        ready = [f"{a.object_id} seq {a.seq} attempts {a.attempts} {a.last_error}"
                 for a in await self.journal.pending(DEST)]
        waiting = (await self.journal.backlog(DEST))[0] - len(ready)  # pending() leaves out findings backing off
        return ready + ([f"{waiting} action(s) of findings backing off"] if waiting > 0 else [])

    async def collect(self) -> None:
        assert self.journal is not None and self.pipeline is not None
        self.seen.records = record_view(await self.journal.records(DEST))
        self.seen.outputs["events"] = "\n".join(self.events)
        self.seen.outputs["metrics"] = self.pipeline.metrics.render().decode()
        health = self.pipeline.health(DEST)
        self.seen.outputs["health"] = repr(health)

    async def shutdown(self) -> None:
        await self._stop()
        await close_pools()
        self.seen.outputs.update(file_texts(self.state))


# -- process ---------------------------------------------------------------------------------------------------


class ProcessRun(Run):
    mode = "process"

    def __init__(self, schedule: Schedule, sim: Simulator, tmp: Path) -> None:
        super().__init__(schedule, sim, tmp)
        self.config = tmp / "destinations.yaml"
        self.state = tmp / "state.sqlite"
        self.log = tmp / "standalone.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarting = asyncio.Event()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notifications"

    async def start(self) -> None:
        if not self.config.exists():
            self.config.write_text(config_text("fixed"))
        env = {**os.environ, "INCIDENT_IO_API_URL": self.sim.base_url,
               "INCIDENT_IO_ALLOWED_API_URLS": self.sim.base_url, "CAUSELY_RECEIVER_TOKEN": RECEIVER_TOKEN,
               "INCIDENT_IO_READ_TIMEOUT": "0.25", "INCIDENT_IO_CONNECT_TIMEOUT": "0.25",
               "INCIDENT_IO_RETRY_MAX_SECONDS": "1.5"}
        env.pop("INCIDENT_IO_API_TOKEN", None)
        self.proc = self.spawn(env)
        async with httpx.AsyncClient() as http:
            for _ in range(400):
                if self.proc.poll() is not None:
                    raise AssertionError(f"standalone exited with {self.proc.returncode}: {self.log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    # serving: /readyz is 503 while the config file cannot be read (its notifications get 503)
                    if (await http.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.025)
        raise TimeoutError("standalone did not start serving")

    def spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "causely_incidentio.cli", "standalone", "--config", str(self.config),
                 "--state", str(self.state), "--listen", f"127.0.0.1:{self.port}", "--log-level", "DEBUG"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )

    async def crash(self, after: float) -> None:
        await asyncio.sleep(after)
        async with self.restarts:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            await self.start()

    async def reload(self, variant: str) -> None:
        for task in self.background:  # a SIGHUP during a restart would kill the process before its handler
            await task
        self.background.clear()
        self.config.write_text(config_text(variant))
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.05)

    async def pending(self) -> list[str]:
        with contextlib.closing(sqlite3.connect(f"file:{self.state}?mode=ro", uri=True, timeout=5)) as conn:
            rows = conn.execute("SELECT object_id, seq, attempts, last_error FROM pending").fetchall()
        return [f"{oid} seq {seq} attempts {att} {err}" for oid, seq, att, err in rows]

    async def collect(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
            if code != 0:
                self.seen.pending.append(f"standalone exited with {code} on SIGTERM")
        journal = await SqliteJournal.open(self.state)
        try:
            self.seen.records = record_view(await journal.records(DEST))
        finally:
            await journal.close()
        self.seen.outputs["standalone stdout/stderr"] = self.log.read_text(errors="replace")
        self.seen.outputs.update(file_texts(self.state))


# -- kube ------------------------------------------------------------------------------------------------------


class FlakyFindingApi:
    """Failures for the next calls of each Finding API method: 409 conflicts, 5xx, timeouts."""

    @staticmethod
    def error(kind: str) -> BaseException:
        from kube_fakes import PatchFailed

        if kind == "conflict":
            return PatchFailed(409, "Conflict")
        if kind == "timeout":
            return TimeoutError()
        return PatchFailed(int(kind), "Internal Server Error" if kind == "500" else "Service Unavailable")


@dataclass
class Replica:
    store: Any
    pipeline: Pipeline


class KubeRun(Run):
    mode = "kube"

    def __init__(self, schedule: Schedule, sim: Simulator, tmp: Path) -> None:
        super().__init__(schedule, sim, tmp)
        from finding_fakes import FakeFindingApi

        self.settings = settings_for(sim)
        self.api = FakeFindingApi()
        self.replicas: list[Replica] = []
        self.leader: Replica | None = None
        self.dest = from_secret(causely_secret("primary", API_TOKEN, namespace="ns", notif_config_min_severity="Low"),
                                self.settings)
        self.watching: asyncio.Task[None] | None = None
        self.kinds: dict[str, list[str]] = {}  # method → the kinds of the failures queued for it, in order
        self.unused: Counter[str] = Counter()

    def url(self) -> str:
        return ""

    def replica(self, active: bool) -> Replica:
        from causely_incidentio.kube.findingstore import FindingStore

        store = FindingStore(self.api, retry_delay=0.05, max_retry_delay=0.2)
        for obj in list(self.api.objects.values()):
            store.observe(None, obj)
        pipeline = Pipeline(store, self.settings, worker_options=WORKER_OPTIONS, active=active)
        store.on_work = lambda d: pipeline.workers[d].wake() if d in pipeline.workers else None
        pipeline.set_destinations([self.dest])
        r = Replica(store, pipeline)
        self.replicas.append(r)
        return r

    def relay(self) -> None:
        """The watch: every replica sees every write, a little late."""
        for obj in list(self.api.objects.values()):
            for r in self.replicas:
                r.store.observe(None, obj)

    async def watch(self) -> None:
        while True:
            self.relay()
            await asyncio.sleep(0.01)

    async def start(self) -> None:
        self.leader = self.replica(active=True)
        self.replica(active=False)
        self.watching = asyncio.create_task(self.watch())

    async def post(self, index: int, attempts: int, pause: float) -> bool:
        raw = json.dumps(self.schedule.notes[index].doc()).encode()
        for _ in range(attempts):
            target = self.rng.choice(self.replicas)  # the Service picks either replica's receiver
            try:
                result = await target.pipeline.accept(parse_notification(raw), raw)
            except JournalUnavailable:  # 503: Causely retries
                await asyncio.sleep(pause)
                continue
            self.sender.accepted(index, result.destinations)
            return True
        return False

    async def send(self, index: int, attempts: int = 3, pause: float = 0.05) -> bool:
        return await self.post(index, attempts, pause)

    async def other_step(self, step: Step) -> None:
        if step.kind == "kube_fault":
            errors = self.api.fail.setdefault(step.arg("method"), [])
            errors.extend(FlakyFindingApi.error(step.arg("kind")) for _ in range(step.arg("count")))
            self.kinds.setdefault(step.arg("method"), []).extend([step.arg("kind")] * step.arg("count"))
        elif step.kind == "leader_change":
            old = self.leader
            assert old is not None
            self.leader = next(r for r in self.replicas if r is not old)
            self.leader.pipeline.activate()  # the standby won the Lease (runtime._start_leading)
            self.background.append(asyncio.create_task(self.depose(old, step.arg("overlap"))))
        else:
            await super().other_step(step)

    async def depose(self, old: Replica, overlap: float) -> None:
        """The old leader keeps reconciling for ``overlap`` seconds (it has not noticed it lost the Lease), then
        stops (runtime._stop_leading); its receiver goes on."""
        await asyncio.sleep(overlap)
        if old is not self.leader:  # unless it has won the Lease back meanwhile
            await old.pipeline.deactivate()

    async def stop_faults(self) -> None:
        await super().stop_faults()
        for method, errors in self.api.fail.items():
            if errors:
                self.unused.update(f"kube-{k}" for k in self.kinds[method][-len(errors):])
        self.api.fail.clear()

    async def pending(self) -> list[str]:
        assert self.leader is not None
        self.relay()
        return [f"{e.object_id} generation {e.generation} observed {e.observed}"
                for e in self.leader.store.entries(KUBE_DEST) if e.has_work]

    async def collect(self) -> None:
        assert self.leader is not None
        self.relay()
        self.seen.records = record_view(e.record for e in self.leader.store.entries(KUBE_DEST) if e.record)
        self.seen.outputs["Finding objects"] = json.dumps(list(self.api.objects.values()), default=str)

    async def shutdown(self) -> None:
        if self.watching is not None:
            self.watching.cancel()
        for r in self.replicas:
            await r.pipeline.stop()
        await close_pools()


RUNNERS: dict[str, type[Run]] = {"inproc": InprocRun, "process": ProcessRun, "kube": KubeRun}


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[Simulator]:
    async with Simulator(tokens=[API_TOKEN], timeout_seconds=1.0) as sim:
        yield sim


async def run_schedule(seed: int, mode: str, sim: Simulator | None = None, tmp: Path | None = None) -> Result:
    """Generate the schedule for ``seed``, run it against ``sim`` (reset first), and judge it."""
    schedule = generate(seed, mode)
    started = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        if sim is None:
            sim = await stack.enter_async_context(simulator())
        if tmp is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"faults-{mode}-{seed}-", dir=SHM)))
        sim.reset()
        logs = stack.enter_context(captured_logs())
        run = RUNNERS[mode](schedule, sim, tmp)
        await run.execute()
        run.seen.outputs["logs"] = "\n".join(logs.lines)
    problems = check(schedule.notes, run.seen)
    return Result(seed, mode, schedule, problems, time.monotonic() - started, run.seen, injected(run), run.phases)


def injected(run: Run) -> Counter[str]:
    """The faults that really hit: API faults as the simulator applied them, journal and Finding API failures as
    raised; the rest (crashes, reloads, duplicates, reordering, delays, leader changes) as scheduled."""
    counts = Counter({k: v for k, v in run.schedule.faults.items()
                      if not k.startswith(("api-", "journal-write-"))})
    counts.update(f"api-{r.fault}" for r in run.sim.requests if r.fault)
    if isinstance(run, InprocRun):
        counts.update({f"journal-write-{k}": v for k, v in run.disk.injected.items()})
    if isinstance(run, KubeRun):
        counts.subtract(run.unused)
    return +counts
