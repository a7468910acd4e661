"""The control-plane fixture itself: clear failures, no orphans, tokens kept out of sight."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from kubeapi import KubeAPIServer, KubeAPIUnavailable, KubectlError, find_k8s_bin_dir


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once its parent reaped it.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_missing_binaries_say_run_make_k8s(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAUSELY_K8S_CACHE", str(tmp_path))
    with pytest.raises(KubeAPIUnavailable, match=r"run `make k8s`"):
        find_k8s_bin_dir()
    with pytest.raises(KubeAPIUnavailable, match=r"run `make k8s`"):
        KubeAPIServer()


def test_cache_lookup_needs_every_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    half = tmp_path / "k8s-1.0-1" / "bin"
    half.mkdir(parents=True)
    (half / "kube-apiserver").touch(mode=0o755)
    with pytest.raises(KubeAPIUnavailable):
        find_k8s_bin_dir(tmp_path)
    (half / "kube-controller-manager").touch(mode=0o755)
    assert find_k8s_bin_dir(tmp_path) == half


def test_stop_ends_every_process_and_removes_the_directory() -> None:
    with KubeAPIServer() as kube:
        pids = [proc.pid for _, proc in kube._procs]
        workdir = kube.workdir
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        assert kube.admin_token not in repr(kube) and kube.tester_token not in repr(kube)
        assert stat.S_IMODE(kube.kubeconfig_admin.stat().st_mode) == 0o600
        assert kube.kubectl("get", "--raw", "/readyz").stdout == "ok"
    assert not any(alive(pid) for pid in pids)
    assert not workdir.exists()
    kube.stop()  # idempotent


def test_a_failed_start_cleans_up_and_shows_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    original = KubeAPIServer._apiserver_command
    monkeypatch.setattr(KubeAPIServer, "_apiserver_command", lambda self: [*original(self), "--no-such-flag"])
    kube = KubeAPIServer()
    with pytest.raises(KubeAPIUnavailable, match=r"(?s)kube-apiserver exited .*no-such-flag"):
        kube.start()
    assert kube._procs == []
    assert not kube.workdir.exists()
    assert processes_mentioning(str(kube.workdir)) == []  # etcd, started first, is gone too


def processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes() and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def test_kubectl_errors_carry_stderr_but_not_the_kubeconfig(kube_api: KubeAPIServer) -> None:
    with pytest.raises(KubectlError) as failure:
        kube_api.kubectl("get", "configmap", "no-such-thing", "-n", "default")
    message = str(failure.value)
    assert "NotFound" in message or "not found" in message
    assert "kubeconfig" not in message and kube_api.admin_token not in message
    assert kube_api.kubectl("get", "configmap", "no-such-thing", check=False).returncode != 0


def test_the_tester_user_has_no_rights(kube_api: KubeAPIServer) -> None:
    result = kube_api.kubectl("get", "secrets", "-n", "default", kubeconfig=kube_api.kubeconfig_tester, check=False)
    assert result.returncode != 0 and 'User "tester" cannot list' in result.stderr
