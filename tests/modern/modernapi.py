"""A current Kubernetes CRD API server (apiextensions 1.36 + etcd) on loopback, for the ``modern`` tier.

Why a second server: the e2e tier's kube-apiserver is 1.20, the newest whose full source Debian ships; it
cannot tell whether the CRDs are valid on a current cluster (CEL, structural-schema rules and warnings
added since). ``.ci/crd-apiserver/main.go``, built by ``.ci/modern-apiserver.sh`` (``make modern``) from
Debian sid's 1.36 libraries, serves ``apiextensions.k8s.io/v1`` only: CRDs and custom resources, the status
subresource, server-side apply, OpenAPI v2/v3. No core/v1 (namespaces, Secrets, Events), no RBAC — those
tests stay in the e2e tier. This module only finds and runs the cached binaries, each in its own process
group, in a temporary directory deleted on :meth:`ModernAPIServer.stop`.
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
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

CACHE_ENV = "CAUSELY_K8S_CACHE"
DEFAULT_CACHE = "/var/cache/causely-incidentio"
CURRENT = "modern-current"  # the symlink .ci/modern-apiserver.sh points at the build it chose
BINARIES = ("crd-apiserver", "etcd", "kubectl")
ADMIN_USER = "admin"


@dataclass(frozen=True)
class ModernCRDs:
    """What ``modern_crds`` installed: the CRD names and kubectl's stderr while applying them (warnings)."""

    names: tuple[str, ...]
    apply_stderr: str


class ModernAPIUnavailable(RuntimeError):
    """The binaries are missing or the server did not come up; the message says what to do."""


class ModernKubectlError(subprocess.CalledProcessError):
    """A failed kubectl call whose message carries kubectl's stderr (the kubeconfig holds the token)."""

    def __str__(self) -> str:
        args = " ".join(str(a) for a in self.cmd[3:])  # drop the binary, --kubeconfig and --cache-dir
        return f"kubectl {args} exited {self.returncode}: {(self.stderr or '').strip()}"


def find_modern_bin_dir() -> Path:
    """``<cache>/modern-current/bin`` when it holds every binary, else :class:`ModernAPIUnavailable`."""
    root = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    bin_dir = root / CURRENT / "bin"
    missing = [name for name in BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        raise ModernAPIUnavailable(
            f"{', '.join(missing)} not found in {bin_dir}: run `make modern` (builds the Kubernetes 1.36 CRD "
            f"API server once from Debian sid's packages; {CACHE_ENV} moves the cache)"
        )
    return bin_dir


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


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise ModernAPIUnavailable(f"openssl {args[0]} failed: {result.stderr.strip()}")


class ModernAPIServer:
    """etcd + crd-apiserver with TLS (a throwaway CA) and a static bearer token for ``admin``.

    Test interface: :meth:`kubectl`, :attr:`kubeconfig`, :attr:`url`, :attr:`version` (the server's
    gitVersion, e.g. ``v1.36.4``, known once started).
    """

    def __init__(self, *, startup_timeout: float = 60.0) -> None:
        self.bin_dir = find_modern_bin_dir()
        if shutil.which("openssl") is None:
            raise ModernAPIUnavailable("`openssl` is not on PATH (Debian package openssl)")
        self.startup_timeout = startup_timeout
        self._token = secrets.token_hex(24)
        self.workdir = Path(tempfile.mkdtemp(prefix="causely-modernapi-"))
        self._pki = self.workdir / "pki"
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopped = False
        etcd_client, etcd_peer, etcd_metrics, api = _free_ports(4)
        self._etcd_url = f"http://127.0.0.1:{etcd_client}"
        self._etcd_peer_url = f"http://127.0.0.1:{etcd_peer}"
        self._etcd_metrics_url = f"http://127.0.0.1:{etcd_metrics}"
        self.url = f"https://127.0.0.1:{api}"
        self.kubeconfig = self.workdir / "kubeconfig.json"
        self.version = ""
        self.started_in = 0.0  # seconds from spawning etcd to /readyz ok
        self._kubectl_cache = self.workdir / "kubectl-cache"

    def __repr__(self) -> str:
        return f"ModernAPIServer(url={self.url!r}, workdir={str(self.workdir)!r})"

    def __enter__(self) -> ModernAPIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> ModernAPIServer:
        """Start etcd and the server; return once ``/readyz`` answers ok. Everything is stopped on failure."""
        atexit.register(self.stop)
        try:
            self._write_pki()
            began = time.monotonic()
            self._spawn("etcd", self._etcd_command())
            self._spawn("crd-apiserver", self._apiserver_command())
            self._wait_ready()
            self.started_in = time.monotonic() - began
            self.version = str(json.loads(self._get("/version"))["gitVersion"])
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate both process groups (server first), then delete the directory. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for _name, proc in reversed(self._procs):
            for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._procs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
        atexit.unregister(self.stop)

    def logs(self, lines: int = 30) -> str:
        """The last lines of each process's log (for failure reports; the logs hold no token)."""
        return "\n".join(
            f"--- {name}.log (last {lines} lines) ---\n{_tail(self.workdir / f'{name}.log', lines)}"
            for name, _proc in self._procs
        )

    # ---- set-up ---------------------------------------------------------------------------------------

    def _write_pki(self) -> None:
        """A CA, a server certificate for 127.0.0.1/localhost signed by it, and the token file."""
        self._pki.mkdir(mode=0o700)
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", "/CN=causely-modern-test-ca", cwd=self._pki)
        _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
                 cwd=self._pki)
        (self._pki / "server.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        )
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", "server.ext", "-out", "server.crt", cwd=self._pki)
        tokens = self._pki / "tokens.csv"
        fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f'{self._token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')

    def _etcd_command(self) -> list[str]:
        return [
            str(self.bin_dir / "etcd"),
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self._etcd_url}",
            f"--advertise-client-urls={self._etcd_url}",
            f"--listen-peer-urls={self._etcd_peer_url}",
            f"--initial-advertise-peer-urls={self._etcd_peer_url}",
            f"--initial-cluster=default={self._etcd_peer_url}",
            f"--listen-metrics-urls={self._etcd_metrics_url}",
            "--log-level=warn",
        ]

    def _apiserver_command(self) -> list[str]:
        return [
            str(self.bin_dir / "crd-apiserver"),
            f"--etcd-servers={self._etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.url.rsplit(':', 1)[1]}",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--tls-cert-file={self._pki / 'server.crt'}",
            f"--tls-private-key-file={self._pki / 'server.key'}",
            f"--client-ca-file={self._pki / 'ca.crt'}",
            f"--token-auth-file={self._pki / 'tokens.csv'}",
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
        delay = 0.05
        last = "no answer yet"
        while time.monotonic() < deadline:
            for name, proc in self._procs:
                if proc.poll() is not None:
                    raise ModernAPIUnavailable(
                        f"{name} exited with {proc.returncode} while starting:\n{self.logs()}"
                    )
            try:
                if self._get("/readyz") == "ok":
                    return
                last = "readyz not ok"
            except (OSError, ssl.SSLError) as exc:
                last = type(exc).__name__
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise ModernAPIUnavailable(
            f"crd-apiserver not ready after {self.startup_timeout:.0f}s ({last}):\n{self.logs()}"
        )

    def _get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self._pki / "ca.crt"))
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self._token}"})
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                body: bytes = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
        return body.decode(errors="replace")

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "modern", "cluster": {"server": self.url, "certificate-authority": str(self._pki / "ca.crt")}}
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self._token}}],
            "contexts": [{"name": "modern", "context": {"cluster": "modern", "user": ADMIN_USER}}],
            "current-context": "modern",
        }
        fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(config, out)

    # ---- for tests ------------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the cached kubectl against this server as admin; :class:`ModernKubectlError` when ``check``."""
        command = [
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self._kubectl_cache}",
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        result = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        if check and result.returncode != 0:
            raise ModernKubectlError(result.returncode, command, result.stdout, result.stderr)
        return result
