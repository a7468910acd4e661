"""The Argo CD health check (docs/argocd-health.lua), run in a real Lua VM the way Argo CD runs it.

Argo CD sets the global ``obj`` to the live object and reads the returned table's status and message. The
verdict for each condition reason comes from ``ARGO_CD_HEALTH`` in kube/status.py, and every reason there is run
through the script on a status the operator's own code builds, so the script and the code cannot drift.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from causely_incidentio.incidentio.errors import RateLimitedError, ServerError, ValidationError
from causely_incidentio.kube.status import (
    ARGO_CD_HEALTH,
    FAILING_ATTEMPTS,
    Attempt,
    Trouble,
    assess_deliveries,
    status_fields,
)
from causely_incidentio.sync.worker import Health

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "argocd-health.lua"
PACKAGE = ROOT / "operator" / "causely_incidentio"
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
    status = {"observedGeneration": 1, "conditions": [cond("Ready", "True", "Ready")]}
    state, message = health(destination(generation=2, status=status))
    assert state == "Progressing"
    assert "generation 2" in message


def test_status_without_observed_generation_is_progressing() -> None:
    status = {"conditions": [cond("Ready", "True", "Ready")]}
    assert health(destination(status=status))[0] == "Progressing"


def test_ready_true_is_healthy() -> None:
    status = {"observedGeneration": 2, "conditions": [cond("Ready", "True", "Ready", "3 open incidents")]}
    assert health(destination(status=status)) == ("Healthy", "3 open incidents")


def test_healthy_falls_back_to_the_reason_without_a_message() -> None:
    status = {"observedGeneration": 2, "conditions": [cond("Ready", "True", "Ready")]}
    assert health(destination(status=status)) == ("Healthy", "Ready")


@pytest.mark.parametrize("failing", ["ConfigValid", "Authenticated"])
def test_invalid_config_or_rejected_key_is_degraded_with_the_condition_message(failing: str) -> None:
    status = {
        "observedGeneration": 2,
        "conditions": [
            cond("Ready", "True", "Ready"),  # even a stale Ready=True does not hide it
            cond(failing, "False", "Bad", "the reason a human can act on"),
        ],
    }
    assert health(destination(status=status)) == ("Degraded", f"{failing}: the reason a human can act on")


def test_config_valid_false_wins_over_authenticated_false() -> None:
    status = {
        "observedGeneration": 2,
        "conditions": [cond("Authenticated", "False", "Unauthenticated"), cond("ConfigValid", "False", "Bad", "m")],
    }
    assert health(destination(status=status)) == ("Degraded", "ConfigValid: m")


def test_ready_false_for_another_reason_is_degraded() -> None:
    status = {
        "observedGeneration": 2,
        "conditions": [cond("ConfigValid", "True"), cond("Ready", "False", "DeliveriesFailing", "422s")],
    }
    assert health(destination(status=status)) == ("Degraded", "Ready: 422s")


def test_ready_false_because_incidentio_is_down_is_progressing() -> None:
    """A status without a Degraded condition (written by an older operator) is judged on Ready's reason."""
    status = {
        "observedGeneration": 2,
        "conditions": [cond("ConfigValid", "True"), cond("Ready", "False", "IncidentIOUnreachable", "503s")],
    }
    assert health(destination(status=status)) == ("Progressing", "Ready: 503s")


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
    obj = destination(status={"conditions": [cond("Ready", "True", "Ready")]})
    del obj["metadata"]["generation"]
    assert health(obj)[0] == "Healthy"


def test_the_argocd_cm_snippet_in_the_docs_is_the_script() -> None:
    """Users copy the snippet from docs/kubernetes.md; it must not drift from the tested file."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    snippets = [b for b in blocks if ARGOCD_KEY in b]
    assert len(snippets) == 1
    config_map = yaml.safe_load(snippets[0])
    assert config_map["data"][ARGOCD_KEY] == SCRIPT.read_text()


# -- every reason the operator sets, through the script -----------------------------------------------------

T = 1_800_000_000.0
CREATE = "POST /v2/incidents"


def _keeps_failing(error: str) -> Trouble | None:
    return assess_deliveries([Attempt(error, FAILING_ATTEMPTS, True, T)], now=T)


def _ok(**changes: Any) -> Health:
    health_ = Health(authenticated=True, auth_reason="Authenticated", auth_message="API key 'k' accepted")
    for name, value in changes.items():
        setattr(health_, name, value)
    return health_


def _scenarios() -> dict[str, tuple[Health, Trouble | None]]:
    """One real situation per reason, as the worker's health and the Findings' attempts describe it."""
    refused = str(ValidationError(None, endpoint=CREATE, status=422))
    limited = str(RateLimitedError(None, endpoint=CREATE, status=429))
    return {
        "AsExpected": (_ok(), None),
        "Pending": (Health(), None),
        "InvalidConfig": (Health(config_valid=False, config_reason="InvalidConfig", config_message="spec: bad"),
                          None),
        "UnknownInIncidentIO": (_ok(config_valid=False, config_reason="UnknownInIncidentIO",
                                    config_message="severityMap: no severity 'P9'"), None),
        "Unauthenticated": (Health(authenticated=False, auth_reason="Unauthenticated", auth_message="401"), None),
        "Forbidden": (Health(authenticated=False, auth_reason="Forbidden", auth_message="403"), None),
        "IncidentIOUnreachable": (Health(authenticated=None, auth_reason="IncidentIOUnreachable",
                                         auth_message="cannot check the API key: no response"), None),
        "DeliveriesFailing": (_ok(), _keeps_failing(refused)),
        "RateLimited": (_ok(), _keeps_failing(limited)),
    }


def _status(health_: Health, trouble: Trouble | None) -> dict[str, Any]:
    return status_fields(health_, generation=2, source="IncidentDestination", mode=None, previous_conditions=None,
                         now="2026-11-26T10:00:00Z", trouble=trouble)


def _degraded_reason(status: dict[str, Any]) -> str:
    return str(next(c["reason"] for c in status["conditions"] if c["type"] == "Degraded"))


def test_the_scenarios_cover_every_reason_of_the_code_table() -> None:
    produced = {_degraded_reason(_status(*s)) for s in _scenarios().values()}
    assert produced == set(_scenarios()) == set(ARGO_CD_HEALTH)


@pytest.mark.parametrize("reason", sorted(ARGO_CD_HEALTH))
def test_each_reason_gets_the_health_the_code_table_names(reason: str) -> None:
    status = _status(*_scenarios()[reason])
    assert _degraded_reason(status) == reason
    state, message = health(destination(generation=2, status=status))
    assert state == ARGO_CD_HEALTH[reason], (reason, message)


def test_incidentio_unreachable_while_delivering_is_progressing_not_degraded() -> None:
    status = _status(_ok(), _keeps_failing(str(ServerError(None, endpoint=CREATE, status=503))))
    state, message = health(destination(generation=2, status=status))
    assert (state, message.split(":")[0]) == ("Progressing", "IncidentIOUnreachable")


def test_the_scripts_progressing_reasons_are_the_code_tables() -> None:
    table = re.search(r"^local PASSING = \{(.*?)\}$", SCRIPT.read_text(), flags=re.M)
    assert table is not None
    in_script = set(re.findall(r"(\w+) = true", table.group(1)))
    assert in_script == {r for r, h in ARGO_CD_HEALTH.items() if h == "Progressing"}


def test_every_health_reason_the_worker_sets_has_an_argo_cd_verdict() -> None:
    """A new config/auth reason in sync/ or kube/ must get a line in ARGO_CD_HEALTH (and so in the script)."""
    found: set[str] = set()
    for path in [*(PACKAGE / "sync").glob("*.py"), *(PACKAGE / "kube").glob("*.py")]:
        text = path.read_text()
        found.update(re.findall(r'_reason\s*(?::\s*str\s*)?=\s*"(\w+)"', text))
        for pair in re.findall(r'reason\s*=\s*"(\w+)"\s+if\b[^\n]*\belse\s+"(\w+)"', text):
            found.update(pair)
    assert {"InvalidConfig", "IncidentIOUnreachable", "Forbidden"} <= found  # the patterns still match
    healthy_values = {"Valid", "Authenticated"}  # the True side of ConfigValid and Authenticated
    assert found - healthy_values <= set(ARGO_CD_HEALTH), sorted(found - healthy_values - set(ARGO_CD_HEALTH))
