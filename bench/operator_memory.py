"""Operator memory with N destinations, against a real kube-apiserver and the simulator.

Starts the project's test control plane (tests/e2e/kubeapi.py), the simulator CLI, and
`causely-incidentio run` watching one namespace; creates N Causely-format Secrets (each mirrored into an
IncidentDestination), waits until every one is Ready, reads the operator's RSS, then sends M notifications
per destination and reads it again.

    .venv/bin/python bench/operator_memory.py --destinations 50 --notifications 20
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from causely_docs import detected  # noqa: E402
from kubeapi import KubeAPIServer  # noqa: E402
from operator_harness import (  # noqa: E402
    API_TOKEN,
    OperatorProcess,
    SimulatorProcess,
    causely_secret,
    wait_for,
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--destinations", type=int, default=50)
    parser.add_argument("--notifications", type=int, default=20, help="per destination")
    args = parser.parse_args()
    work = Path(__import__("tempfile").mkdtemp(prefix="bench-memory-"))
    with KubeAPIServer() as kube:
        kube.kubectl("apply", "-f", str(ROOT / "crds" / "incidentdestinations.yaml"))
        kube.kubectl("wait", "--for=condition=established", "--timeout=60s",
                     "crd/incidentdestinations.notifications.causely.ai")
        kube.kubectl("create", "namespace", "bench")
        sim = SimulatorProcess(work, [API_TOKEN])
        op = OperatorProcess(kube, "bench", sim.base_url, work).start()
        assert op.proc is not None
        try:
            rss_empty = rss_mib(op.proc.pid)
            docs = [causely_secret(f"dest-{i:03d}") for i in range(args.destinations)]
            kube.kubectl("apply", "-n", "bench", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                              "items": docs}))
            start = time.monotonic()

            def all_ready() -> bool:
                out = kube.kubectl("get", "incidentdestinations", "-n", "bench", "-o", "json").stdout
                items = json.loads(out)["items"]
                ready = [i for i in items for c in (i.get("status") or {}).get("conditions") or []
                         if c["type"] == "Ready" and c["status"] == "True"]
                return len(ready) == args.destinations

            wait_for(all_ready, "every destination Ready", timeout=300, interval=1.0)
            ready_after = time.monotonic() - start
            time.sleep(2)
            rss_ready = rss_mib(op.proc.pid)
            total = args.destinations * args.notifications
            for _ in range(args.notifications):
                assert op.post(detected(str(uuid.uuid4()), "Critical")).status_code == 202
            wait_for(lambda: len(sim.incidents()) >= total, f"{total} incidents", timeout=600, interval=1.0)
            time.sleep(2)
            rss_busy = rss_mib(op.proc.pid)
        finally:
            op.stop()
            sim.stop()
    print(f"destinations: {args.destinations}; all Ready after {ready_after:.1f}s")
    print(f"operator RSS: {rss_empty:.0f} MiB with none, {rss_ready:.0f} MiB with {args.destinations} Ready, "
          f"{rss_busy:.0f} MiB after {total} incidents ({args.notifications} notifications x every destination)")
    print(f"reproduce: .venv/bin/python bench/operator_memory.py --destinations {args.destinations} "
          f"--notifications {args.notifications}")


if __name__ == "__main__":
    main()
