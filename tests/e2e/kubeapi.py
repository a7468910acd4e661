"""A real Kubernetes 1.20 control plane (etcd + kube-apiserver + kube-controller-manager) on loopback.

Why a real server rather than a fake: the operator depends on behaviour fakes get wrong — resourceVersion
conflicts, status-subresource rules, RBAC, CRD defaulting and pruning, garbage collection. The binaries are
built once by ``.ci/k8s-apiserver.sh`` (``make k8s``) into a cache outside the repository; this module only
finds and runs them, each in its own process group so that nothing outlives :meth:`KubeAPIServer.stop`.

Usable from tests (``tests/e2e/conftest.py``) and from benchmarks::

    with KubeAPIServer() as kube:
        kube.kubectl("get", "namespaces")
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

CACHE_ENV = "CAUSELY_K8S_CACHE"
DEFAULT_CACHE = "/var/cache/causely-incidentio"
BINARIES = ("kube-apiserver", "kube-controller-manager")
CONTROLLERS = "namespace,garbagecollector,serviceaccount-token,serviceaccount"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc"

ADMIN_USER = "admin"
TESTER_USER = "tester"


class KubeAPIUnavailable(RuntimeError):
    """The binaries are missing or the control plane did not come up; the message says what to do."""


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl call whose message carries kubectl's stderr (kubeconfigs hold the tokens, not argv)."""

    def __str__(self) -> str:
        args = " ".join(str(a) for a in self.cmd[3:])  # drop the binary, --kubeconfig and --cache-dir
        return f"kubectl {args} exited {self.returncode}: {(self.stderr or '').strip()}"


def cache_root() -> Path:
    """The cache root ``.ci/k8s-apiserver.sh`` builds into (same variable, same default)."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def find_k8s_bin_dir(root: Path | None = None) -> Path:
    """The newest ``k8s-<debian version>/bin`` holding every binary; :class:`KubeAPIUnavailable` if none."""
    root = cache_root() if root is None else root
    complete = [
        d
        for d in root.glob("k8s-*/bin")
        if all(os.access(d / name, os.X_OK) for name in BINARIES)
    ]
    if not complete:
        raise KubeAPIUnavailable(
            f"no kube-apiserver/kube-controller-manager under {root}/k8s-*/bin: run `make k8s` "
            f"(builds them once from Debian's kubernetes source package; {CACHE_ENV} moves the cache)"
        )
    return max(complete, key=lambda d: d.stat().st_mtime)


def _require_on_path(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise KubeAPIUnavailable(f"`{name}` is not on PATH: run `make k8s` (it installs it with apt)")
    return found


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open at once so they differ)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class KubeAPIServer:
    """etcd + kube-apiserver (RBAC, static tokens) + kube-controller-manager in a throwaway directory.

    Users: ``admin`` (group system:masters, :attr:`admin_token`) and ``tester`` (no groups, no bindings,
    :attr:`tester_token`). :attr:`kubeconfig_admin` is a kubeconfig for admin; :meth:`kubeconfig_for_token`
    writes one for any bearer token (ServiceAccount tokens included).
    """

    def __init__(self, *, startup_timeout: float = 90.0) -> None:
        self.bin_dir = find_k8s_bin_dir()
        self._etcd = _require_on_path("etcd")
        self._kubectl = _require_on_path("kubectl")
        self.startup_timeout = startup_timeout
        self.admin_token = secrets.token_hex(24)
        self.tester_token = secrets.token_hex(24)
        self.workdir = Path(tempfile.mkdtemp(prefix="causely-kubeapi-"))
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopped = False
        etcd_client, etcd_peer, api = _free_ports(3)
        self.etcd_url = f"http://127.0.0.1:{etcd_client}"
        self._etcd_peer_url = f"http://127.0.0.1:{etcd_peer}"
        self.server_url = f"https://127.0.0.1:{api}"
        self.ca_file = self.workdir / "certs" / "apiserver.crt"
        self.kubeconfig_admin = self.workdir / "kubeconfig-admin.json"
        self.kubeconfig_tester = self.workdir / "kubeconfig-tester.json"
        self._kubectl_cache = self.workdir / "kubectl-cache"

    def __repr__(self) -> str:
        return f"KubeAPIServer(server_url={self.server_url!r}, workdir={str(self.workdir)!r})"

    # ---- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> KubeAPIServer:
        """Start all three and return once ``/readyz`` answers ok; everything is stopped on failure."""
        atexit.register(self.stop)  # a safety net for interpreters that exit without calling stop()
        try:
            self._write_auth_files()
            self._spawn("etcd", self._etcd_command())
            self._spawn("kube-apiserver", self._apiserver_command())
            self._wait_ready()
            self.kubeconfig_for_token(self.admin_token, self.kubeconfig_admin)
            self.kubeconfig_for_token(self.tester_token, self.kubeconfig_tester)
            self._spawn("kube-controller-manager", self._controller_manager_command())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate every process group (newest first), then delete the directory. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for _name, proc in reversed(self._procs):
            self._terminate(proc)
        self._procs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.stop)

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes]) -> None:
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # the group: whatever the process started goes too
            try:
                proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue

    # ---- set-up ---------------------------------------------------------------------------------------

    def _write_auth_files(self) -> None:
        (self.workdir / "certs").mkdir(mode=0o700)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(
            f'{self.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
            f"{self.tester_token},{TESTER_USER},{TESTER_USER}\n"
        )
        tokens.chmod(0o600)
        key = self.workdir / "sa.key"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True, timeout=60
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(self.workdir / "sa.pub")],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def _etcd_command(self) -> list[str]:
        return [
            self._etcd,
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={self._etcd_peer_url}",
            f"--initial-advertise-peer-urls={self._etcd_peer_url}",
            f"--initial-cluster=default={self._etcd_peer_url}",
        ]

    def _apiserver_command(self) -> list[str]:
        port = self.server_url.rsplit(":", 1)[1]
        return [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            "--insecure-port=0",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={self.workdir / 'sa.pub'}",
            f"--service-account-signing-key-file={self.workdir / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/24",
            "--profiling=false",
        ]

    def _controller_manager_command(self) -> list[str]:
        return [
            str(self.bin_dir / "kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig_admin}",
            "--bind-address=127.0.0.1",
            "--port=0",
            "--secure-port=0",  # serve nothing: parallel sessions would fight over the default port
            f"--controllers={CONTROLLERS}",
            f"--service-account-private-key-file={self.workdir / 'sa.key'}",
            f"--root-ca-file={self.ca_file}",
            "--leader-elect=false",
        ]

    def _spawn(self, name: str, command: Sequence[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # own process group, so stop() can kill the whole tree
            )
        finally:
            log.close()
        self._procs.append((name, proc))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.1
        last = "no answer yet"
        while time.monotonic() < deadline:
            for name, proc in self._procs:
                if proc.poll() is not None:
                    raise KubeAPIUnavailable(
                        f"{name} exited with {proc.returncode} while starting; its log ends with:\n"
                        + _tail(self.workdir / f"{name}.log")
                    )
            if self.ca_file.exists():
                try:
                    if self._get("/readyz") == "ok":
                        return
                    last = "readyz not ok"
                except (OSError, ssl.SSLError) as exc:
                    last = type(exc).__name__
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise KubeAPIUnavailable(
            f"kube-apiserver not ready after {self.startup_timeout:.0f}s ({last}); its log ends with:\n"
            + _tail(self.workdir / "kube-apiserver.log")
        )

    def _get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            self.server_url + path, headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                body: bytes = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
        return body.decode(errors="replace")

    # ---- helpers for tests ----------------------------------------------------------------------------

    def kubeconfig_for_token(self, token: str, path: Path | str) -> Path:
        """Write a kubeconfig that talks to this server with ``token`` (mode 0600) and return its path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": self.server_url, "certificate-authority": str(self.ca_file)}}
            ],
            "users": [{"name": "e2e", "user": {"token": token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
            "current-context": "e2e",
        }
        target = Path(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(config, out)
        return target

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | str | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server (admin unless ``kubeconfig``); raise :class:`KubectlError`."""
        command = [
            self._kubectl,
            f"--kubeconfig={kubeconfig or self.kubeconfig_admin}",
            f"--cache-dir={self._kubectl_cache}",
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        result = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, command, result.stdout, result.stderr)
        return result
