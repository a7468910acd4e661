"""The Argo CD health check (docs/argocd-health.lua), run in a real Lua VM the way Argo CD runs it.

Argo CD sets the global ``obj`` to the live object and reads the returned table's status and message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "argocd-health.lua"
DOC = ROOT / "docs" / "kubernetes.md"
ARGOCD_KEY = "resource.customizations.health.notifications.causely.ai_IncidentDestination"


def health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT.read_text())
    return str(result["status"]), str(result["message"])


def destination(generation: int = 2, status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "notifications.causely.ai/v1alpha1",
        "kind": "IncidentDestination",
        "metadata": {"name": "prod", "namespace": "causely", "generation": generation},
        "spec": {"tokenSecretRef": {"name": "key"}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def test_no_status_yet_is_progressing() -> None:
    assert health(destination()) == ("Progressing", "Waiting for the operator to report status")


def test_status_for_an_older_generation_is_progressing_even_if_ready() -> None:
    status = {"observedGeneration": 1, "conditions": [cond("Ready", "True", "Synced")]}
    state, message = health(destination(generation=2, status=status))
    assert state == "Progressing"
    assert "generation 2" in message


def test_status_without_observed_generation_is_progressing() -> None:
    status = {"conditions": [cond("Ready", "True", "Synced")]}
    assert health(destination(status=status))[0] == "Progressing"


def test_ready_true_is_healthy() -> None:
    status = {"observedGeneration": 2, "conditions": [cond("Ready", "True", "Synced", "3 open incidents")]}
    assert health(destination(status=status)) == ("Healthy", "3 open incidents")


def test_healthy_falls_back_to_the_reason_without_a_message() -> None:
    status = {"observedGeneration": 2, "conditions": [cond("Ready", "True", "Synced")]}
    assert health(destination(status=status)) == ("Healthy", "Synced")


@pytest.mark.parametrize("failing", ["ConfigValid", "Authenticated"])
def test_invalid_config_or_rejected_key_is_degraded_with_the_condition_message(failing: str) -> None:
    status = {
        "observedGeneration": 2,
        "conditions": [
            cond("Ready", "True", "Synced"),  # even a stale Ready=True does not hide it
            cond(failing, "False", "Bad", "the reason a human can act on"),
        ],
    }
    assert health(destination(status=status)) == ("Degraded", f"{failing}: the reason a human can act on")


def test_config_valid_false_wins_over_authenticated_false() -> None:
    status = {
        "observedGeneration": 2,
        "conditions": [cond("Authenticated", "False", "Unauthorized"), cond("ConfigValid", "False", "Bad", "m")],
    }
    assert health(destination(status=status)) == ("Degraded", "ConfigValid: m")


def test_ready_false_for_another_reason_is_degraded() -> None:
    status = {
        "observedGeneration": 2,
        "conditions": [cond("ConfigValid", "True"), cond("Ready", "False", "SyncFailing", "5xx from incident.io")],
    }
    assert health(destination(status=status)) == ("Degraded", "Ready: 5xx from incident.io")


@pytest.mark.parametrize(
    "status",
    [
        {"observedGeneration": 2},
        {"observedGeneration": 2, "conditions": []},
        {"observedGeneration": 2, "conditions": [cond("Ready", "Unknown", "Starting")]},
    ],
)
def test_no_verdict_yet_is_progressing(status: dict[str, Any]) -> None:
    assert health(destination(status=status)) == ("Progressing", "Waiting for the Ready condition")


def test_object_without_generation_is_judged_on_its_conditions() -> None:
    obj = destination(status={"conditions": [cond("Ready", "True", "Synced")]})
    del obj["metadata"]["generation"]
    assert health(obj)[0] == "Healthy"


def test_the_argocd_cm_snippet_in_the_docs_is_the_script() -> None:
    """Users copy the snippet from docs/kubernetes.md; it must not drift from the tested file."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    snippets = [b for b in blocks if ARGOCD_KEY in b]
    assert len(snippets) == 1
    config_map = yaml.safe_load(snippets[0])
    assert config_map["data"][ARGOCD_KEY] == SCRIPT.read_text()
