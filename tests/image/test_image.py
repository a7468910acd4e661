"""The OCI image .ci/image.sh builds, started the way a container runtime starts it: umoci unpacks the layout,
runc runs the process the image config names, as UID 10001, on a read-only root filesystem.

Needs the image (`make image` builds it, about 3 minutes the first time) and root (runc); not part of
`make test` because a warm build plus this test take about 3 minutes on a loaded 2-core machine.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CAUSELY_IMAGE_CACHE", "/var/cache/causely-incidentio/image"))
LAYOUT = Path(os.environ.get("CAUSELY_IMAGE_LAYOUT", str(CACHE / "oci")))
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"{LAYOUT}:causely-incidentio:{VERSION}"


def _blob(digest: str) -> dict[str, Any]:
    algorithm, value = digest.split(":", 1)
    data: dict[str, Any] = json.loads((LAYOUT / "blobs" / algorithm / value).read_text())
    return data


@pytest.fixture(scope="module")
def image_config() -> dict[str, Any]:
    index = LAYOUT / "index.json"
    assert index.exists(), f"no OCI image at {LAYOUT}: build it with `make image` (.ci/image.sh)"
    refs = [m for m in json.loads(index.read_text())["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == f"causely-incidentio:{VERSION}"]
    assert len(refs) == 1, f"the layout has no single causely-incidentio:{VERSION}; rebuild with `make image`"
    manifest = _blob(refs[0]["digest"])
    return _blob(manifest["config"]["digest"])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, image_config: dict[str, Any]) -> Path:
    """The image unpacked into an OCI runtime bundle (rootfs + config.json), once for the module."""
    path = tmp_path_factory.mktemp("bundle")
    subprocess.run(["umoci", "raw", "unpack", "--image", IMAGE, str(path / "rootfs")], check=True,
                   capture_output=True)
    subprocess.run(["umoci", "raw", "runtime-config", "--image", IMAGE, "--rootfs", str(path / "rootfs"),
                    str(path / "base.json")], check=True, capture_output=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def runtime_config(bundle: Path, args: list[str] | None, *, host_network: bool = False) -> None:
    """config.json for runc: the image's process (or ``args`` appended to its entrypoint), read-only root, /tmp."""
    config: dict[str, Any] = copy.deepcopy(json.loads((bundle / "base.json").read_text()))
    process = config["process"]
    process["terminal"] = False
    if args is not None:
        process["args"] = [process["args"][0], *args]  # entrypoint + these arguments, like `docker run IMAGE ...`
    config["root"]["readonly"] = True  # readOnlyRootFilesystem, as manifests/deployment.yaml sets it
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "nodev", "mode=1777"]})
    if host_network:  # so the test reaches the port; the other namespaces stay
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
    (bundle / "config.json").write_text(json.dumps(config))


def run(bundle: Path, args: list[str] | None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    runtime_config(bundle, args)
    return subprocess.run(["runc", "run", "--bundle", str(bundle), f"ci-{uuid.uuid4().hex[:12]}"],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def simulator(bundle: Path) -> Iterator[str]:
    port = free_port()
    runtime_config(bundle, ["simulator", "--host", "127.0.0.1", "--port", str(port), "--token", "image-test"],
                   host_network=True)
    name = f"ci-{uuid.uuid4().hex[:12]}"
    proc = subprocess.Popen(["runc", "run", "--bundle", str(bundle), name],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run(["runc", "kill", name, "KILL"], capture_output=True, check=False)
        try:
            proc.wait(timeout=30)
        finally:
            subprocess.run(["runc", "delete", "--force", name], capture_output=True, check=False)


def test_the_image_config_runs_the_operator_as_uid_10001(image_config: dict[str, Any]) -> None:
    config = image_config["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["causely-incidentio"] and config["Cmd"] == ["run"]
    assert set(config["ExposedPorts"]) == {"8080/tcp", "8081/tcp"}
    assert any(e.startswith("PATH=/opt/venv/bin:") for e in config["Env"])


def test_the_container_starts_and_answers_help(bundle: Path) -> None:
    result = run(bundle, ["--help"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage: causely-incidentio" in result.stdout and "simulator" in result.stdout
    version = run(bundle, ["--version"])
    assert version.stdout.strip() == f"causely-incidentio {VERSION}", version.stdout + version.stderr


def test_the_default_command_is_the_operator_and_fails_clearly_outside_a_cluster(bundle: Path) -> None:
    result = run(bundle, None)  # `causely-incidentio run`, with no cluster, no token
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the receiver needs a token" in output and "Traceback" not in output, output


def test_the_simulator_in_the_container_serves_the_api(simulator: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            identity = httpx.get(simulator + "/v1/identity", headers={"Authorization": "Bearer image-test"},
                                 timeout=2)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    assert identity.status_code == 200, identity.text
    assert "identity" in identity.json()
    refused = httpx.get(simulator + "/v1/identity", headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert refused.status_code == 401


def _distributions(site_packages: Path) -> set[str]:
    names = set()
    for info in site_packages.glob("*.dist-info"):
        name = re.sub(r"-[^-]+\.dist-info$", "", info.name)
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def test_only_runtime_libraries_are_in_the_image(bundle: Path) -> None:
    (site,) = (bundle / "rootfs" / "opt" / "venv" / "lib").glob("python3*/site-packages")
    installed = _distributions(site)
    assert "causely-incidentio" in installed and "kopf" in installed
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    test_only = {re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[ ;]", req, maxsplit=1)[0]).lower()
                 for req in project["optional-dependencies"]["test"]}
    assert test_only and not (installed & test_only), sorted(installed & test_only)
    assert "pip" not in installed  # nothing in the image installs packages at run time
    assert not (site / "tests").exists()
    result = run(bundle, ["--version"])
    assert result.returncode == 0
