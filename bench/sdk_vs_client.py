"""Benchmark: the product's incident.io client against incident.io's official SDK (PyPI ``incident-io``).

The question (issue 9, item 8): should ``causely_incidentio.incidentio`` build its requests and parse its
responses with the SDK's generated models instead of its hand-written pydantic ones? This measures what
each costs on the client side, and what adopting the SDK would bring in.

Method:

* **CPU per call, client side only.** Both clients talk to the same ``httpx.MockTransport``, which answers
  with bytes prepared once from the simulator's own rendering of an incident (so the bodies are the real
  shape, live-schema fields included, and the "server" costs nothing and the same for both). Per run,
  ``--ops`` calls of one kind one after another on one event loop; ``time.process_time()`` around the
  loop divided by the count is the CPU per call. ``--runs`` runs, median reported (and min–max).
* Variants per operation (create, show, edit, list of a 25-incident page):
  ``httpx`` — the bare request + ``response.json()``: the floor all share;
  ``wrapper`` — our client's plumbing without models (token, bucket, tenacity, redaction, JSON);
  ``ours`` — ``IncidentIOClient`` as the product uses it (the wrapper plus pydantic models);
  ``sdk`` — the SDK's ``asyncio_detailed`` with its attrs payload and result models, *without* retries or
  rate limiting; ``sdk+wrapper`` = sdk + (wrapper − httpx) estimates a client built on the SDK that keeps
  the behaviour the product needs.
* Model cost alone: building the create body and parsing one ``IncidentV2`` body, with our code and with
  the SDK's (no I/O).
* Footprint: import time and peak RSS of a fresh interpreter importing each client (the SDK's ``models``
  package imports all of its ~1,660 modules whichever endpoint is used).
* Code: lines of the product's client modules, split by what the SDK could replace and what it could not
  (counted with ``ast`` from the current source, so the figures follow the code).

Run from the repository root::

    .venv/bin/python bench/sdk_vs_client.py --runs 5 --ops 2000
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from incident_io import AuthenticatedClient
from incident_io.api.incidents_v2 import incidents_v2_create, incidents_v2_edit, incidents_v2_list, incidents_v2_show
from incident_io.models import (
    IncidentEditPayloadV2,
    IncidentsCreatePayloadV2,
    IncidentsCreatePayloadV2Visibility,
    IncidentsEditPayloadV2,
    IncidentV2,
)

from causely_incidentio.incidentio import client as client_module
from causely_incidentio.incidentio.client import IncidentIOClient, RetryPolicy
from causely_incidentio.incidentio.models import Incident
from causely_incidentio.incidentio.ratelimit import TokenBucket
from causely_incidentio.simulator.organisation import Organisation
from causely_incidentio.simulator.state import IncidentStore

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "http://incidentio.bench"
TOKEN = "bench-sdk-token-4c1d"
PAGE = 25


# ---------------------------------------------------------------------------------------------- the bodies


def _bodies() -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
    """A realistic incident (the simulator's rendering), the canned responses, and catalog ids."""
    store = IncidentStore(Organisation(), public_url="https://app.incident.io/simulated-org", id_seed=1)
    org = store.organisation
    ids = {"severity": org.severities[0]["id"], "status": org.statuses[4]["id"],
           "type": org.incident_types[1]["id"], "field": org.custom_fields[0]["id"]}
    records = []
    for n in range(PAGE):
        record, _ = store.create({
            "idempotency_key": f"bench-{n}", "visibility": "public", "name": f"High error rate on checkout {n}",
            "summary": "Causely found the root cause: a saturated database connection pool.",
            "severity_id": ids["severity"], "incident_type_id": ids["type"],
            "custom_field_entries": [{"custom_field_id": ids["field"],
                                      "values": [{"value_text": "connection pool saturation"}]}],
        }, {"api_key": {"id": "01BENCH0000000000000000000", "name": "bench"}})
        records.append(record)
    one = store.to_json(records[0])
    responses = {
        "one": json.dumps({"incident": one}).encode(),
        "page": json.dumps({"incidents": [store.to_json(r) for r in records],
                            "pagination_meta": {"page_size": PAGE, "total_record_count": PAGE}}).encode(),
    }
    return one, responses, ids


def _transport(responses: dict[str, bytes]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        body = responses["page"] if request.method == "GET" and request.url.path == "/v2/incidents" \
            else responses["one"]
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    return httpx.MockTransport(handle)


# ----------------------------------------------------------------------------------------------- the clients


Op = Callable[[int], Awaitable[Any]]


def _ours(transport: httpx.MockTransport, ids: dict[str, str]) -> dict[str, Op]:
    loop = asyncio.get_running_loop()
    # The product's shared pool for BASE_URL, on the mock transport (same headers the product sets).
    client_module._POOLS[loop] = {BASE_URL: httpx.AsyncClient(
        transport=transport, headers={"User-Agent": client_module.USER_AGENT, "Accept": "application/json"})}
    # A bucket that never makes a call wait: its bookkeeping is measured, not a rate.
    bucket = TokenBucket(capacity=10**9, refill_per_second=10**9)
    ours = IncidentIOClient(TOKEN, base_url=BASE_URL, retry=RetryPolicy(), bucket=bucket)
    entries = [{"custom_field_id": ids["field"], "values": [{"value_text": "connection pool saturation"}]}]

    async def create(n: int) -> Any:
        return await ours.create_incident(
            idempotency_key=f"k-{n}", visibility="public", name="High error rate on checkout",
            summary="Causely found the root cause.", severity_id=ids["severity"], incident_type_id=ids["type"],
            custom_field_entries=entries)

    async def show(n: int) -> Any:
        return await ours.show_incident("01HBENCH00000000000000000")

    async def edit(n: int) -> Any:
        return await ours.edit_incident("01HBENCH00000000000000000", notify_incident_channel=False,
                                        incident_status_id=ids["status"])

    async def list_page(n: int) -> Any:
        return await ours.list_incidents_page(page_size=PAGE, status_categories=["live"])

    return {"create": create, "show": show, "edit": edit, "list": list_page}


def _wrapper(transport: httpx.MockTransport, ids: dict[str, str]) -> dict[str, Op]:
    """Our client's plumbing alone (token, bucket, tenacity, redaction, JSON), without building or parsing
    models: what a client built on the SDK would still have to wrap around every SDK call."""
    bucket = TokenBucket(capacity=10**9, refill_per_second=10**9)
    ours = IncidentIOClient(TOKEN, base_url=BASE_URL, retry=RetryPolicy(), bucket=bucket)
    body = {"idempotency_key": "k", "visibility": "public"}
    edit_body = {"incident": {"incident_status_id": ids["status"]}, "notify_incident_channel": False}
    one = {"id": "01HBENCH00000000000000000"}

    async def create(n: int) -> Any:
        return await ours._call("POST", "/v2/incidents", json=body)

    async def show(n: int) -> Any:
        return await ours._call("GET", "/v2/incidents/{id}", path=one)

    async def edit(n: int) -> Any:
        return await ours._call("POST", "/v2/incidents/{id}/actions/edit", path=one, json=edit_body)

    async def list_page(n: int) -> Any:
        return await ours._call("GET", "/v2/incidents", params=[("page_size", str(PAGE))])

    return {"create": create, "show": show, "edit": edit, "list": list_page}


def _sdk(transport: httpx.MockTransport, ids: dict[str, str]) -> dict[str, Op]:
    from incident_io.models import CustomFieldEntryPayloadV2, CustomFieldValuePayloadV2, IncidentsV2ListStatusCategory

    sdk = AuthenticatedClient(base_url=BASE_URL, token=TOKEN, httpx_args={"transport": transport})

    async def create(n: int) -> Any:
        body = IncidentsCreatePayloadV2(
            idempotency_key=f"k-{n}", visibility=IncidentsCreatePayloadV2Visibility.PUBLIC,
            name="High error rate on checkout", summary="Causely found the root cause.",
            severity_id=ids["severity"], incident_type_id=ids["type"],
            custom_field_entries=[CustomFieldEntryPayloadV2(
                custom_field_id=ids["field"],
                values=[CustomFieldValuePayloadV2(value_text="connection pool saturation")])])
        return (await incidents_v2_create.asyncio_detailed(client=sdk, body=body)).parsed

    async def show(n: int) -> Any:
        return (await incidents_v2_show.asyncio_detailed("01HBENCH00000000000000000", client=sdk)).parsed

    async def edit(n: int) -> Any:
        body = IncidentsEditPayloadV2(incident=IncidentEditPayloadV2(incident_status_id=ids["status"]),
                                      notify_incident_channel=False)
        return (await incidents_v2_edit.asyncio_detailed("01HBENCH00000000000000000", client=sdk,
                                                         body=body)).parsed

    async def list_page(n: int) -> Any:
        return (await incidents_v2_list.asyncio_detailed(
            client=sdk, page_size=PAGE,
            status_category=IncidentsV2ListStatusCategory.from_dict({"one_of": ["live"]}))).parsed

    return {"create": create, "show": show, "edit": edit, "list": list_page}


def _bare(transport: httpx.MockTransport, ids: dict[str, str]) -> dict[str, Op]:
    http = httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers={"Authorization": f"Bearer {TOKEN}"})

    async def create(n: int) -> Any:
        return (await http.post("/v2/incidents", json={"idempotency_key": f"k-{n}", "visibility": "public"})).json()

    async def show(n: int) -> Any:
        return (await http.get("/v2/incidents/01HBENCH00000000000000000")).json()

    async def edit(n: int) -> Any:
        return (await http.post("/v2/incidents/01HBENCH00000000000000000/actions/edit",
                                json={"incident": {"incident_status_id": ids["status"]},
                                      "notify_incident_channel": False})).json()

    async def list_page(n: int) -> Any:
        return (await http.get("/v2/incidents", params={"page_size": PAGE})).json()

    return {"create": create, "show": show, "edit": edit, "list": list_page}


# ---------------------------------------------------------------------------------------------- measuring


async def _cpu_per_call(op: Op, ops: int) -> float:
    for n in range(50):  # warm caches, pools, lazily built validators
        await op(n)
    start = time.process_time()
    for n in range(ops):
        await op(n)
    return (time.process_time() - start) / ops


async def measure_calls(ops: int, runs: int) -> dict[tuple[str, str], list[float]]:
    _, responses, ids = _bodies()
    transport = _transport(responses)
    clients = {"httpx": _bare(transport, ids), "ours": _ours(transport, ids), "sdk": _sdk(transport, ids),
               "wrapper": _wrapper(transport, ids)}
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(runs):
        for operation in ("create", "show", "edit", "list"):
            n = max(1, ops // PAGE * 4) if operation == "list" else ops
            for name, table in clients.items():
                results.setdefault((operation, name), []).append(await _cpu_per_call(table[operation], n))
    return results


def measure_models(ops: int, runs: int) -> dict[str, list[float]]:
    one, _, ids = _bodies()
    raw = json.dumps(one)

    def ours_parse() -> None:
        Incident.model_validate(json.loads(raw))

    def sdk_parse() -> None:
        IncidentV2.from_dict(json.loads(raw))

    def ours_body() -> None:
        json.dumps(client_module._without_none({
            "idempotency_key": "k", "visibility": "public", "name": "n", "summary": None,
            "severity_id": ids["severity"], "incident_type_id": ids["type"], "incident_status_id": None,
            "mode": None, "custom_field_entries": None}))

    def sdk_body() -> None:
        json.dumps(IncidentsCreatePayloadV2(
            idempotency_key="k", visibility=IncidentsCreatePayloadV2Visibility.PUBLIC, name="n",
            severity_id=ids["severity"], incident_type_id=ids["type"]).to_dict())

    cases = {"parse IncidentV2: ours (pydantic)": ours_parse, "parse IncidentV2: sdk (attrs)": sdk_parse,
             "build create body: ours (dict)": ours_body, "build create body: sdk (attrs)": sdk_body}
    out: dict[str, list[float]] = {}
    for _ in range(runs):
        for label, fn in cases.items():
            for _ in range(100):
                fn()
            start = time.process_time()
            for _ in range(ops):
                fn()
            out.setdefault(label, []).append((time.process_time() - start) / ops)
    return out


# VmHWM, not ru_maxrss: the latter survives exec and would report the forking parent's peak.
_FOOTPRINT = """
import sys, time
t = time.perf_counter()
import {module}
took = time.perf_counter() - t
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(took, hwm, len(sys.modules))
"""


def measure_footprint(runs: int) -> dict[str, list[tuple[float, int, int]]]:
    modules = {"baseline (python + httpx + pydantic)": "httpx, pydantic",
               "ours (causely_incidentio.incidentio)": "causely_incidentio.incidentio",
               "sdk (incident_io create endpoint)": "incident_io.api.incidents_v2.incidents_v2_create"}
    out: dict[str, list[tuple[float, int, int]]] = {}
    for _ in range(runs):
        for label, module in modules.items():
            proc = subprocess.run([sys.executable, "-c", _FOOTPRINT.format(module=module)], capture_output=True,
                                  text=True, check=True, timeout=120)
            took, rss, count = proc.stdout.split()
            out.setdefault(label, []).append((float(took), int(rss), int(count)))
    return out


# -------------------------------------------------------------------------------------------------- code


# What a client built on the SDK would no longer need: request bodies, response models and their parsing.
REPLACEABLE = {
    "client.py": {"identity", "list_severities", "list_incident_types", "list_incident_statuses",
                  "create_incident", "show_incident", "edit_incident", "list_incidents_page", "_parse",
                  "_parse_list", "_invalid_response", "_without_none", "_as_values"},
    "models.py": {"*"},
}


def _spans(path: Path) -> dict[str, int]:
    """Lines of every top-level function/class and every method, by name (methods by their own name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    spans: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    spans[item.name] = (item.end_lineno or item.lineno) - item.lineno + 1
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            spans[node.name] = (node.end_lineno or node.lineno) - node.lineno + 1
    return spans


def measure_code() -> list[tuple[str, int, int]]:
    """(module, total lines, lines an SDK-based client would drop)."""
    rows: list[tuple[str, int, int]] = []
    base = ROOT / "operator" / "causely_incidentio" / "incidentio"
    for name in ("client.py", "models.py", "errors.py", "ratelimit.py"):
        path = base / name
        total = len(path.read_text(encoding="utf-8").splitlines())
        wanted = REPLACEABLE.get(name, set())
        dropped = total if "*" in wanted else sum(lines for fn, lines in _spans(path).items() if fn in wanted)
        rows.append((name, total, dropped))
    return rows


# ------------------------------------------------------------------------------------------------ report


def _us(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e6:8.1f} µs  ({min(values) * 1e6:.1f}–{max(values) * 1e6:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; medians are reported")
    parser.add_argument("--ops", type=int, default=2000, help="calls per run (list: ops/25*4 pages)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 50 or not 10 <= args.ops <= 100_000:
        parser.error("--runs must be in 1..50 and --ops in 10..100000")
    from importlib.metadata import version

    print(f"incident-io {version('incident-io')}, httpx {httpx.__version__}, python {sys.version.split()[0]}, "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"\nCPU per call, client side (mock transport), median of {args.runs} runs (min–max):")
    calls = asyncio.run(measure_calls(args.ops, args.runs))
    for operation in ("create", "show", "edit", "list"):
        med = {name: statistics.median(calls[(operation, name)]) for name in ("httpx", "ours", "sdk", "wrapper")}
        for name in ("httpx", "wrapper", "ours", "sdk"):
            values = calls[(operation, name)]
            extra = "" if name == "httpx" else f"   above httpx: {(med[name] - med['httpx']) * 1e6:7.1f} µs"
            print(f"  {operation:6} {name:7} {_us(values)}{extra}")
        # A client on the SDK keeps our plumbing around each SDK call: sdk + (wrapper - httpx).
        estimate = med["sdk"] + med["wrapper"] - med["httpx"]
        print(f"  {operation:6} {'sdk+wrapper (derived)':22} {estimate * 1e6:8.1f} µs   vs ours "
              f"{(estimate / med['ours'] - 1) * 100:+.0f}%")
    print(f"\nModel work alone, median of {args.runs} runs:")
    for label, values in measure_models(args.ops, args.runs).items():
        print(f"  {label:36} {_us(values)}")
    print(f"\nFootprint of a fresh interpreter importing the client, median of {args.runs} runs:")
    for label, samples in measure_footprint(args.runs).items():
        took = statistics.median(s[0] for s in samples)
        rss = statistics.median(s[1] for s in samples)
        print(f"  {label:40} import {took * 1e3:7.0f} ms   peak RSS {rss / 1024:6.1f} MiB   "
              f"modules {samples[0][2]}")
    print("\nCode of causely_incidentio/incidentio (lines; 'SDK replaces' = request/response shaping):")
    for module, total, dropped in measure_code():
        print(f"  {module:14} {total:5} lines   SDK replaces {dropped:4}")
    print("\nReproduce: " + shlex.join([".venv/bin/python", "bench/sdk_vs_client.py", "--runs", str(args.runs),
                                        "--ops", str(args.ops)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
