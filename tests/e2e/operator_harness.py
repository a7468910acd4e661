"""The operator and the simulator as real processes, the way they run in a cluster, for the e2e tier."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import causely_docs
import httpx
from kubeapi import KubeAPIServer

RECEIVER_TOKEN = "e2e-receiver-token-4a1f"
# Short leases so failover tests finish quickly; no shutdown delay (no Service to drain from in a test).
LEASE_SECONDS = 6.0
FAST_TIMING = ["--lease-duration", str(LEASE_SECONDS), "--renew-deadline", "4", "--retry-period", "1",
               "--shutdown-delay", "0", "--token-refresh", "2"]
API_TOKEN = "e2e-incidentio-key-AAAA1111"
ROTATED_TOKEN = "e2e-incidentio-key-BBBB2222"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}; last value: {last!r}")


class SimulatorProcess:
    """``causely-incidentio simulator`` on a free port, inspected through its control API."""

    def __init__(self, workdir: Path, tokens: list[str]) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "simulator.log"
        args = [sys.executable, "-m", "causely_incidentio.cli", "simulator", "--port", str(self.port)]
        for t in tokens:
            args += ["--token", t]
        self.proc = subprocess.Popen(args, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_for(self._up, "the simulator")

    def _up(self) -> bool:
        try:
            return httpx.get(self.base_url + "/_simulator/incidents", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def incidents(self) -> list[dict[str, Any]]:
        data = httpx.get(self.base_url + "/_simulator/incidents", timeout=10).json()
        return list(data["incidents"] if isinstance(data, dict) else data)

    def requests(self) -> list[dict[str, Any]]:
        data = httpx.get(self.base_url + "/_simulator/requests", timeout=10).json()
        return list(data["requests"] if isinstance(data, dict) else data)

    def control(self, path: str, body: dict[str, Any]) -> None:
        httpx.post(self.base_url + "/_simulator/" + path, json=body, timeout=10).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class OperatorProcess:
    """``causely-incidentio run`` against the test API server, watching one namespace."""

    def __init__(self, kube: KubeAPIServer, namespace: str, sim_url: str, workdir: Path,
                 kubeconfig: Path | None = None, extra_env: dict[str, str] | None = None,
                 all_namespaces: bool = False, identity: str | None = None,
                 extra_args: list[str] | None = None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.sim_url = sim_url
        self.workdir = workdir
        self.kubeconfig = kubeconfig or kube.kubeconfig_admin
        self.extra_env = extra_env or {}
        self.all_namespaces = all_namespaces
        self.identity = identity or f"operator-{namespace}-{free_port()}"
        self.extra_args = extra_args or []
        self.port = free_port()
        self.health_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{self.identity}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_IO_", "CAUSELY_"))}
        env.update(KUBECONFIG=str(self.kubeconfig), INCIDENT_IO_API_URL=self.sim_url,
                   INCIDENT_IO_ALLOWED_API_URLS=self.sim_url,
                   CAUSELY_RECEIVER_TOKEN=RECEIVER_TOKEN, POD_NAME=self.identity, **self.extra_env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "causely_incidentio.cli", "run",
             *(["--all-namespaces"] if self.all_namespaces else ["--namespace", self.namespace]),
             "--listen", f"127.0.0.1:{self.port}", "--health-listen", f"127.0.0.1:{self.health_port}",
             "--log-level", "DEBUG", *FAST_TIMING, *self.extra_args],
            env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, f"the operator's /readyz ({self.log})", timeout=90)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def post(self, payload: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.url + "/notifications", json=payload, timeout=30,
                          headers={"Authorization": f"Bearer {RECEIVER_TOKEN}"})

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # -- reading the cluster --------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        r = self.kube.kubectl("get", kind, name, "-n", self.namespace, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def condition(self, name: str, ctype: str) -> dict[str, Any] | None:
        obj = self.get("incidentdestination", name) or {}
        for c in (obj.get("status") or {}).get("conditions") or []:
            if c.get("type") == ctype:
                return dict(c)
        return None

    def wait_condition(self, name: str, ctype: str, status: str, timeout: float = 60) -> dict[str, Any]:
        result: dict[str, Any] = wait_for(
            lambda: (c := self.condition(name, ctype)) and c.get("status") == status and c,
            f"{name} {ctype}={status} (operator log {self.log})", timeout=timeout,
        )
        return result

    def apply(self, manifest: dict[str, Any] | str) -> None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        self.kube.kubectl("apply", "-n", self.namespace, "-f", "-", input=text)

    def events(self) -> list[dict[str, Any]]:
        r = self.kube.kubectl("get", "events", "-n", self.namespace, "-o", "json")
        return list(json.loads(r.stdout)["items"])


def causely_secret(name: str, token: str = API_TOKEN, **keys: str) -> dict[str, Any]:
    return causely_docs.causely_secret(name, token, **keys)
