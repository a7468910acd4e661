"""The alerting rules in monitoring/: valid for promtool, their promtool unit tests pass, the PrometheusRule
wraps the very same groups, every alert has a runbook section, and every series they use exists.

promtool comes from Debian's `prometheus` package (`.ci/promtool.sh`, run by `make test`). Without it these
tests fail rather than skip: rules nobody evaluated must not pass as tested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from causely_incidentio.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "prometheus-rules.yaml"
PROMETHEUS_RULE = ROOT / "monitoring" / "prometheusrule.yaml"
RULE_TESTS = ROOT / "monitoring" / "tests" / "rules-test.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RECEIVER = ROOT / "operator" / "causely_incidentio" / "receiver.py"
EXPECTED_ALERTS = {
    "CauselyIncidentioReceiverDown",
    "CauselyIncidentioNotificationsRefused",
    "CauselyIncidentioNotificationsUnavailable",
    "CauselyIncidentioDeliveriesFailing",
    "CauselyIncidentioOldestPendingActionTooOld",
    "CauselyIncidentioNoLeader",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH, so the alerting rules cannot be checked. It comes with Debian's prometheus "
            "package: run `sudo bash .ci/promtool.sh` (what `make test` does), or "
            "`sudo apt-get install -y --no-install-recommends prometheus`.",
            pytrace=False,
        )
    return path


def run_promtool(*args: str) -> str:
    proc = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def test_promtool_checks_the_rules() -> None:
    output = run_promtool("check", "rules", str(RULES))
    assert f"SUCCESS: {len(rules())} rules found" in output


def test_promtool_rule_unit_tests_pass() -> None:
    run_promtool("test", "rules", str(RULE_TESTS))


def test_the_rule_tests_cover_every_alert_firing_and_quiet() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    assert doc["rule_files"] == ["../prometheus-rules.yaml"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == set(alerts()), f"alerts never seen firing in {RULE_TESTS.name}: {set(alerts()) - firing}"
    assert quiet == set(alerts()), f"alerts never seen quiet in {RULE_TESTS.name}: {set(alerts()) - quiet}"


def test_the_prometheusrule_wraps_exactly_the_same_groups() -> None:
    plain = yaml.safe_load(RULES.read_text())
    wrapped = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert wrapped["apiVersion"] == "monitoring.coreos.com/v1"
    assert wrapped["kind"] == "PrometheusRule"
    assert wrapped["metadata"]["name"] == "causely-incidentio"
    assert set(wrapped) == {"apiVersion", "kind", "metadata", "spec"}
    assert wrapped["spec"] == {"groups": plain["groups"]}, (
        f"{PROMETHEUS_RULE.name} spec.groups differ from {RULES.name}: copy the groups over"
    )


def test_every_expected_alert_is_there_with_labels_annotations_and_a_delay() -> None:
    found = alerts()
    assert set(found) == EXPECTED_ALERTS
    for name, rule in found.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert re.fullmatch(r"\d+m", rule["for"]), f"{name}: alert only after a delay ('for')"
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_sections() -> dict[str, str]:
    sections: dict[str, str] = {}
    current: str | None = None
    for line in RUNBOOKS.read_text().splitlines():
        if line.startswith("## "):
            current = github_anchor(line[3:])
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def test_every_alert_links_to_its_own_runbook_section() -> None:
    sections = runbook_sections()
    for name, rule in alerts().items():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbooks.md", f"{name}: runbook_url {url!r}"
        assert anchor == name.lower(), f"{name}: runbook_url {url!r} should point at the section named after it"
        assert anchor in sections, f"{name}: docs/runbooks.md has no section '## {name}'"
        body = sections[anchor]
        for part in ("Meaning", "Check", "Fix"):
            assert f"**{part}" in body, f"docs/runbooks.md section {name} lacks its **{part}** part"
        assert "kubectl" in body, f"docs/runbooks.md section {name} shows no kubectl command"


def test_every_series_the_rules_use_exists() -> None:
    exposed = set()
    for metric in vars(Metrics(runtime_metrics=False)).values():
        name, mtype = getattr(metric, "_name", None), getattr(metric, "_type", None)
        if isinstance(name, str):
            exposed.add(f"{name}_total" if mtype == "counter" else name)
    assert "causely_incidentio_leader" in exposed and "causely_incidentio_incident_actions_total" in exposed
    for name, rule in alerts().items():
        for series in re.findall(r"\bcausely_incidentio_[a-z_]+", rule["expr"]):
            assert series in exposed, f"{name} uses {series}, which /metrics does not expose"


def test_the_outcomes_the_rules_match_are_outcomes_the_receiver_counts() -> None:
    source = RECEIVER.read_text()
    counted = set(re.findall(r'self\._count\([^,]+, "([a-z_]+)"\)', source))
    assert {"accepted", "unauthorized", "unavailable"} <= counted
    for name, rule in alerts().items():
        for values in re.findall(r'outcome=~?"([^"]+)"', rule["expr"]):
            for outcome in values.split("|"):
                assert outcome in counted, f"{name} matches outcome {outcome!r}, which the receiver never counts"
