"""The user-facing commands: validate, send, status, demo and the CLI's own behaviour."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from causely_incidentio import cli, validate
from causely_incidentio.demo import run_demo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PAYLOADS = ROOT / "tests" / "fixtures" / "payloads"
SECRETS = ROOT / "tests" / "fixtures" / "secrets"
EXAMPLES = ROOT / "manifests" / "examples"


def run_validate(*files: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = validate.run(argparse.Namespace(files=[str(f) for f in files]), out)
    return code, out.getvalue()


def test_validate_accepts_the_published_payloads_and_examples() -> None:
    code, out = run_validate(PAYLOADS / "detected-high-slo.json", PAYLOADS / "cleared.json",
                             EXAMPLES / "incidentdestination.yaml", EXAMPLES / "incidentio-notification-config.yaml")
    assert code == 0, out
    assert "valid ProblemDetected notification" in out and "valid destination" in out


def test_validate_names_the_field_of_an_invalid_payload() -> None:
    code, out = run_validate(PAYLOADS / "legacy-string-description.json")
    assert code == 1 and "severity" in out


def test_validate_reports_every_problem_of_a_bad_secret_without_its_token(tmp_path: Path) -> None:
    doc = yaml.safe_load((SECRETS / "incidentio-notification-config.yaml").read_text())
    doc["stringData"].update(notif_config_token="tok-do-not-print-9f8e", notif_config_filters="[{",
                             notif_config_filters_enabled="maybe")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    code, out = run_validate(bad)
    assert code == 1
    assert "notif_config_filters" in out and "notif_config_filters_enabled" in out
    assert "tok-do-not-print-9f8e" not in out


def test_validate_missing_file_and_unrelated_yaml(tmp_path: Path) -> None:
    other = tmp_path / "cm.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, out = run_validate(tmp_path / "nope.yaml", other)
    assert code == 1 and "no such file" in out and "no Causely IncidentIO Secret" in out


def test_status_and_send_against_a_running_standalone(tmp_path: Path) -> None:
    """send posts like Causely's test button; status shows the journal (table and JSON)."""
    import os
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sim_port_sock = socket.socket()
    sim_port_sock.bind(("127.0.0.1", 0))
    sim_port = sim_port_sock.getsockname()[1]
    sim_port_sock.close()
    sim = subprocess.Popen([sys.executable, "-m", "causely_incidentio.cli", "simulator", "--port", str(sim_port),
                            "--token", "cmd-token"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    doc = yaml.safe_load((SECRETS / "incidentio-notification-config.yaml").read_text())
    doc["stringData"]["notif_config_token"] = "cmd-token"
    config = tmp_path / "d.yaml"
    config.write_text(yaml.safe_dump(doc))
    state = tmp_path / "j.sqlite"
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = {**os.environ, "INCIDENT_IO_API_URL": sim_url, "INCIDENT_IO_ALLOWED_API_URLS": sim_url,
           "CAUSELY_RECEIVER_TOKEN": "rt"}
    sa = subprocess.Popen([sys.executable, "-m", "causely_incidentio.cli", "standalone", "--config", str(config),
                           "--state", str(state), "--listen", f"127.0.0.1:{port}"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        out = io.StringIO()
        from causely_incidentio import send

        code = send.run(argparse.Namespace(file=str(PAYLOADS / "detected-high-slo.json"),
                                           url=f"http://127.0.0.1:{port}/notifications", token="rt"), out)
        assert code == 0 and out.getvalue().startswith("202")
        wrong = io.StringIO()
        assert send.run(argparse.Namespace(file=str(PAYLOADS / "detected-high-slo.json"),
                                           url=f"http://127.0.0.1:{port}/notifications", token="bad"), wrong) == 1
        assert wrong.getvalue().startswith("401")
        for _ in range(200):
            result = subprocess.run([sys.executable, "-m", "causely_incidentio.cli", "status", "--state", str(state),
                                     "-o", "json"], capture_output=True, text=True, check=True)
            data = json.loads(result.stdout)
            if data["destinations"] and data["destinations"][0]["openIncidents"] == 1:
                break
            time.sleep(0.05)
        (dest,) = data["destinations"]
        assert dest["counters"]["created"] == 1 and dest["findings"][0]["reference"] == "INC-1"
        table = subprocess.run([sys.executable, "-m", "causely_incidentio.cli", "status", "--state", str(state)],
                               capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"})
        assert "INC-1" in table.stdout and "open" in table.stdout
    finally:
        sa.terminate()
        sim.terminate()
        assert sa.wait(timeout=30) == 0
        sim.wait(timeout=30)


def test_status_of_a_missing_journal_is_an_error(tmp_path: Path) -> None:
    from causely_incidentio import statuscmd

    out = io.StringIO()
    assert statuscmd.run(argparse.Namespace(state=str(tmp_path / "none.sqlite"), output="table"), out) == 2


async def test_demo_shows_the_whole_lifecycle() -> None:
    buf = io.StringIO()
    assert await run_demo(0.0, Console(file=buf, width=160)) == 0
    out = buf.getvalue()
    for text in ("create (detected)", "ignore (duplicate)", "update (updated)", "skip (below-threshold)",
                 "create (raised)", "resolve (cleared)", "Resolved", "Demo complete"):
        assert text in out, text


def test_standalone_refuses_to_start_without_a_receiver_token(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "CAUSELY_RECEIVER_TOKEN"}
    config = tmp_path / "d.yaml"
    config.write_text((SECRETS / "incidentio-notification-config.yaml").read_text())
    result = subprocess.run([sys.executable, "-m", "causely_incidentio.cli", "standalone", "--config", str(config),
                             "--state", str(tmp_path / "j.sqlite")], capture_output=True, text=True, env=env,
                            timeout=60, check=False)
    assert result.returncode == 2 and "needs a token" in result.stderr


def test_cli_help_lists_every_command() -> None:
    help_text = cli.build_parser().format_help()
    for command in cli.COMMANDS:
        assert command in help_text
