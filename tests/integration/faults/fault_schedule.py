"""Seeded fault schedules: what Causely sends, in which (disturbed) order, and which faults hit meanwhile.

Pure and deterministic: ``generate(seed, mode)`` always returns the same schedule, so a failing seed replays the
same notifications and the same faults (asyncio timing still varies between runs). The runners in
``fault_runs.py`` carry a schedule out; ``fault_check.py`` judges the outcome.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from causely_docs import detected

MODES = ("inproc", "process", "kube")
RANK = {"ProblemDetected": 0, "ProblemUpdated": 1, "ProblemCleared": 2}
"""Causely's order of notifications with the same timestamp: Detected < Updated < Cleared."""
SEVERITIES = ("Low", "Medium", "High", "Critical")
BASE_TIME = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
API_FAULT_KINDS = ("500", "503", "429", "timeout", "reset")
KUBE_FAULT_KINDS = ("conflict", "500", "503", "timeout")


@dataclass(frozen=True)
class Note:
    """One notification as Causely sends it, with the occurrence of the problem it belongs to."""

    index: int
    object_id: str
    type: str
    severity: str
    at: datetime
    occurrence: int
    old_severity: str | None = None

    @property
    def order(self) -> tuple[datetime, int]:
        """Causely's ordering: timestamp, then Detected < Updated < Cleared."""
        return (self.at, RANK[self.type])

    @property
    def active(self) -> bool:
        return self.type != "ProblemCleared"

    def doc(self) -> dict[str, Any]:
        ts = self.at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        extra: dict[str, Any] = {"type": self.type}
        if self.old_severity is not None:
            extra["old_severity"] = self.old_severity
        doc = detected(self.object_id, self.severity, ts, **extra)
        doc["description"] = {
            "summary": f"fault-suite {self.object_id} occurrence-{self.occurrence} note-{self.index}",
            "remediationOptions": [],
        }
        return doc


@dataclass(frozen=True)
class Step:
    """One thing the runner does: ``send`` notes (several at once when more than one), or inject a fault."""

    kind: str
    notes: tuple[int, ...] = ()
    args: tuple[tuple[str, Any], ...] = ()

    def arg(self, name: str, default: Any = None) -> Any:
        return dict(self.args).get(name, default)

    def describe(self) -> str:
        if self.kind == "send":
            return "send " + ",".join(map(str, self.notes))
        return self.kind + "(" + ", ".join(f"{k}={v}" for k, v in self.args) + ")"


@dataclass
class Schedule:
    seed: int
    mode: str
    notes: list[Note]
    steps: list[Step]
    faults: Counter[str] = field(default_factory=Counter)  # fault kind → injections planned

    def describe(self) -> str:
        return "; ".join(s.describe() for s in self.steps)


def _step(step_kind: str, notes: tuple[int, ...] = (), **args: Any) -> Step:
    return Step(step_kind, notes, tuple(sorted(args.items())))


def _timeline(rng: random.Random, seed: int) -> list[Note]:
    """Each finding's true history: one to three occurrences of Detected, maybe Updated, Cleared (the last one
    may stay active). Timestamps increase per finding; sometimes a re-detection carries the timestamp of the
    clear before it, and Causely's ordering then puts that Detected *before* the Cleared (so it does not start a
    new occurrence). Occurrences are counted in Causely's order: a Detected that follows a Cleared."""
    notes: list[Note] = []
    for f in range(rng.randint(1, 4)):
        oid = str(uuid.UUID(int=(seed << 16) + f + 1, version=4))
        at = BASE_TIME + timedelta(seconds=rng.randint(0, 600), microseconds=rng.randint(0, 999_999))
        severity = rng.choice(SEVERITIES)
        occurrences = rng.choice((1, 1, 2, 2, 3))
        tied = False
        for occ in range(1, occurrences + 1):
            notes.append(Note(0, oid, "ProblemDetected", severity, at, occ))
            for _ in range(0 if tied else rng.choice((0, 0, 1, 2))):
                at += timedelta(seconds=rng.randint(1, 120))
                new = rng.choice([s for s in SEVERITIES if s != severity])
                notes.append(Note(0, oid, "ProblemUpdated", new, at, occ, old_severity=severity))
                severity = new
            if occ < occurrences or rng.random() < 0.6:
                at += timedelta(seconds=rng.randint(1, 300))
                notes.append(Note(0, oid, "ProblemCleared", severity, at, occ))
                tied = rng.random() < 0.1  # else the re-detection comes later than the clear
                if not tied:
                    at += timedelta(seconds=rng.randint(1, 300))
    notes.sort(key=lambda n: (n.object_id, n.order))
    counted: list[Note] = []
    occurrence: dict[str, int] = {}
    cleared: dict[str, bool] = {}
    for n in notes:  # count occurrences in Causely's order
        if n.type == "ProblemDetected" and cleared.get(n.object_id, True):
            occurrence[n.object_id] = occurrence.get(n.object_id, 0) + 1
        cleared[n.object_id] = n.type == "ProblemCleared"
        counted.append(Note(0, n.object_id, n.type, n.severity, n.at, max(1, occurrence.get(n.object_id, 1)),
                            n.old_severity))
    counted.sort(key=lambda n: (n.order, n.object_id))  # the order Causely sends in, across findings
    return [Note(i, n.object_id, n.type, n.severity, n.at, n.occurrence, n.old_severity)
            for i, n in enumerate(counted)]


def _disturbed(rng: random.Random, notes: list[Note]) -> list[int]:
    """The order notes arrive in: some duplicated, some swapped with a near neighbour, some held back."""
    order = [n.index for n in notes]
    for n in notes:
        if rng.random() < 0.15:  # duplicated: the copy arrives a little later
            order.insert(min(len(order), order.index(n.index) + rng.randint(1, 4)), n.index)
    for i in range(len(order) - 1):
        if rng.random() < 0.2:  # reordered with a neighbour
            j = min(len(order) - 1, i + rng.randint(1, 2))
            order[i], order[j] = order[j], order[i]
    if order and rng.random() < 0.2:  # one delayed to the very end
        order.append(order.pop(rng.randrange(len(order))))
    return order


def _api_fault(rng: random.Random) -> tuple[str, dict[str, Any]]:
    kind = rng.choice(API_FAULT_KINDS)
    after = kind != "429" and rng.random() < 0.4  # the work is done, only the answer is lost
    method, prefix = rng.choice((("POST", "/v2/incidents"), ("POST", "/v2/incidents/"), (None, "/v2/incidents"),
                                 ("GET", None), (None, None)))
    count = 1 if kind == "429" else rng.randint(1, 3)  # each 429 costs its Retry-After (at least 1 s)
    label = f"api-{kind}" + ("-after-processing" if after else "")
    return label, {"kind": kind, "count": count, "method": method, "path_prefix": prefix, "after_processing": after}


def generate(seed: int, mode: str) -> Schedule:
    """The schedule for ``seed`` in ``mode`` (``inproc``, ``process`` or ``kube``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    rng = random.Random(f"{mode}:{seed}")
    notes = _timeline(rng, seed)
    arrival = _disturbed(rng, notes)
    steps: list[Step] = []
    faults: Counter[str] = Counter()
    crashes = 0
    broken = False
    fault_rate = {"inproc": 0.45, "process": 0.35, "kube": 0.5}[mode]
    i = 0
    while i < len(arrival):
        if rng.random() < fault_rate:
            roll = rng.random()
            if mode == "kube":
                if roll < 0.65:
                    kind = rng.choice(KUBE_FAULT_KINDS)
                    method = rng.choice(("create", "patch", "status", "get"))
                    count = rng.randint(1, 3)
                    steps.append(_step("kube_fault", kind=kind, method=method, count=count))
                    faults[f"kube-{kind}"] += count
                elif roll < 0.85:
                    label, args = _api_fault(rng)
                    steps.append(_step("api_fault", **args))
                    faults[label] += args["count"]
                else:
                    steps.append(_step("leader_change", overlap=round(rng.uniform(0.0, 0.15), 3)))
                    faults["leader-change"] += 1
            elif roll < 0.5:
                label, args = _api_fault(rng)
                steps.append(_step("api_fault", **args))
                faults[label] += args["count"]
            elif roll < 0.65 and mode == "inproc":
                where = rng.choice(("accept", "outcome"))
                count = rng.randint(1, 2)
                steps.append(_step("disk_fault", where=where, count=count))
                faults[f"journal-write-{where}"] += count
            elif roll < 0.8 and crashes < (3 if mode == "process" else 2):
                crashes += 1
                steps.append(_step("crash", after=round(rng.uniform(0.0, 0.25), 3),
                                   latency_ms=rng.choice((0, 20, 60))))
                faults["kill-9" if mode == "process" else "crash"] += 1
            elif not broken:
                broken = True
                variant = rng.choice(("yaml-error", "invalid-destination"))
                steps.append(_step("reload", config=variant))
                faults[f"sighup-{variant}"] += 1
            else:
                broken = False
                steps.append(_step("reload", config="fixed"))
        if rng.random() < 0.1:
            steps.append(_step("sleep", seconds=round(rng.uniform(0.01, 0.2), 3)))
            faults["delay"] += 1
        burst = 1 if rng.random() < 0.6 else rng.randint(2, 4)
        steps.append(_step("send", tuple(arrival[i:i + burst])))
        i += burst
    if broken and rng.random() < 0.5:
        steps.append(_step("reload", config="fixed"))  # else the runner fixes it when the faults stop
    dup = len(arrival) - len(notes)
    if dup:
        faults["duplicate"] += dup
    reordered = sum(1 for a, b in itertools.pairwise(arrival) if notes[a].order > notes[b].order)
    if reordered:
        faults["reorder"] += reordered
    return Schedule(seed, mode, notes, steps, faults)
