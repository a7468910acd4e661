"""kill -9 the standalone process after its 202s; restarting on the same state file finishes the job once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml
from pipeline_harness import API_TOKEN, RECEIVER_TOKEN, detected, secret

from causely_incidentio.simulator import Simulator

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_standalone(config: Path, state: Path, port: int, api_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INCIDENT_IO_API_URL": api_url, "INCIDENT_IO_ALLOWED_API_URLS": api_url,
           "CAUSELY_RECEIVER_TOKEN": RECEIVER_TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "causely_incidentio.cli", "standalone", "--config", str(config),
         "--state", str(state), "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            assert proc.poll() is None, "standalone exited early"
            try:
                if (await http.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError("standalone did not become ready")


async def test_kill_9_after_202_then_restart_gives_every_incident_exactly_once(tmp_path: Path) -> None:
    config = tmp_path / "destinations.yaml"
    config.write_text(yaml.safe_dump(secret("primary")))
    state = tmp_path / "state.sqlite"
    log = tmp_path / "standalone.log"
    ids = [str(uuid.UUID(int=i + 1)) for i in range(40)]
    async with Simulator(tokens=[API_TOKEN], latency_ms=150) as sim:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_standalone(config, state, port, sim.base_url, log)
        try:
            await wait_ready(base, proc)
            async with httpx.AsyncClient(timeout=30) as http:
                responses = await asyncio.gather(*(
                    http.post(base + "/notifications", json=detected(oid, "Critical"),
                              headers={"Authorization": f"Bearer {RECEIVER_TOKEN}"})
                    for oid in ids
                ))
            assert [r.status_code for r in responses] == [202] * len(ids)
            await asyncio.sleep(0.4)  # some creates are in flight (150 ms each), most are not done
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        done_before = len(sim.incidents())
        assert done_before < len(ids), "the kill came too late to test anything"

        proc = start_standalone(config, state, port, sim.base_url, log)
        try:
            await wait_ready(base, proc)
            for _ in range(600):
                if len({oid for i in sim.incidents() for oid in ids if oid in i["summary"]}) == len(ids):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # anything still running would show up as a duplicate now
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    incidents = sim.incidents()
    per_finding = Counter(next(oid for oid in ids if oid in i["summary"]) for i in incidents)
    assert set(per_finding) == set(ids)
    assert max(per_finding.values()) == 1, per_finding.most_common(3)
    status = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "causely_incidentio.cli", "status", "--state", str(state), "-o", "json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await status.communicate()
    assert status.returncode == 0
    (dest,) = json.loads(out)["destinations"]
    assert dest["pending"] == 0 and dest["openIncidents"] == len(ids)
    assert dest["counters"]["created"] == len(ids)
