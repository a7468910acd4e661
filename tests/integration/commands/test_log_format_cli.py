"""``--log-format json`` end to end: a real ``standalone`` process writes only JSON lines to stderr, and neither
the receiver token nor the incident.io API key shows up in them while incident.io cannot be reached."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

API_TOKEN = "inc_live_SECRET_logfmt_5d1c9e"
RECEIVER_TOKEN = "r3ceiver-SECRET-logfmt-77"
SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: incidentio-notification-config
  namespace: causely
  labels:
    causely.ai/notif-config: IncidentIO
stringData:
  notif_config_type: IncidentIO
  notif_config_name: incidentIO
  notif_config_token: {API_TOKEN}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def standalone(tmp_path: Path, *extra: str, env: dict[str, str], stderr: object = subprocess.PIPE
               ) -> subprocess.Popen[str]:
    (tmp_path / "dest.yaml").write_text(SECRET)
    return subprocess.Popen(
        [sys.executable, "-m", "causely_incidentio.cli", "standalone", "--config", str(tmp_path / "dest.yaml"),
         "--state", str(tmp_path / "journal.sqlite"), "--listen", "127.0.0.1:0", "--log-format", "json", *extra],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=stderr, text=True,  # type: ignore[arg-type]
    )


def json_lines(stderr: str) -> list[dict[str, object]]:
    parsed = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert parsed, "no log lines"
    for line in parsed:
        assert {"time", "level", "logger", "message"} <= set(line), line
    return parsed


def test_a_startup_error_is_one_json_line(tmp_path: Path) -> None:
    proc = standalone(tmp_path, env={"CAUSELY_RECEIVER_TOKEN": ""})
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    [line] = json_lines(stderr)
    assert line["level"] == "ERROR" and "needs a token" in str(line["message"])


def test_a_running_process_logs_json_and_no_token(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with log.open("w") as sink:
        closed = f"http://127.0.0.1:{closed_port()}"
        proc = standalone(tmp_path, env={"CAUSELY_RECEIVER_TOKEN": RECEIVER_TOKEN, "INCIDENT_IO_API_URL": closed,
                                         "INCIDENT_IO_ALLOWED_API_URLS": closed}, stderr=sink)
        try:  # until it serves and has failed to reach incident.io (a busy machine may take a while to start)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                text = log.read_text()
                if "receiver listening on" in text and '"WARNING"' in text and "incident.io" in text:
                    break
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    stderr = log.read_text()
    lines = json_lines(stderr)
    messages = " ".join(str(line["message"]) for line in lines)
    assert "receiver listening on" in messages
    assert any(line["level"] == "WARNING" and "incident.io" in str(line["message"]) for line in lines), messages
    assert API_TOKEN not in stderr and RECEIVER_TOKEN not in stderr
