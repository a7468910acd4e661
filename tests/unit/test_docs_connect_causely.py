"""docs/connect-causely.md: its CauselyBot Secret points at the receiver's real Service and path, the operator
does not mistake it for an incident.io destination, and the files and routes it names exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from causely_incidentio.destinations import is_incidentio_secret
from causely_incidentio.receiver import Receiver
from causely_incidentio.settings import Settings
from causely_incidentio.sync.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "connect-causely.md"
SERVICE = ROOT / "manifests" / "service.yaml"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def causelybot_secrets() -> list[dict[str, Any]]:
    yaml_blocks = [yaml.safe_load(b) for b in blocks("yaml") if "CauselyBot" in b]
    heredocs = [re.search(r"<<EOF\n(.*?)\nEOF", b, flags=re.S) for b in blocks("sh")]
    yaml_blocks += [yaml.safe_load(m.group(1)) for m in heredocs if m and "CauselyBot" in m.group(1)]
    return yaml_blocks


def test_the_causelybot_secret_points_at_the_receivers_webhook() -> None:
    secrets = causelybot_secrets()
    assert len(secrets) == 2  # the kubectl heredoc and the file form
    service = yaml.safe_load(SERVICE.read_text())
    port = service["spec"]["ports"][0]["port"]
    for secret in secrets:
        assert secret["kind"] == "Secret"
        assert secret["metadata"]["labels"] == {"causely.ai/notif-config": "CauselyBot"}
        data = secret["stringData"]
        assert data["notif_config_type"] == "CauselyBot"
        assert all(isinstance(v, str) for v in data.values()), data
        assert data["notif_config_url"] == (
            f"http://{service['metadata']['name']}.{secret['metadata']['namespace']}.svc.cluster.local:{port}/webhook"
        )
        assert data["notif_config_token"]
        assert not is_incidentio_secret(secret), "the operator must not read Causely's CauselyBot Secret"
    first, second = secrets
    assert set(first["stringData"]) == set(second["stringData"])
    assert {k: v for k, v in first["stringData"].items() if k != "notif_config_token"} == {
        k: v for k, v in second["stringData"].items() if k != "notif_config_token"
    }


def test_the_receiver_serves_both_paths_the_doc_names() -> None:
    no_journal: Any = object()  # routing needs none
    app = Receiver(Pipeline(no_journal, Settings()), token="t").app()
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    assert {("POST", "/webhook"), ("POST", "/notifications")} <= routes


def test_the_fixtures_the_doc_sends_exist() -> None:
    for path in re.findall(r"tests/fixtures/payloads/[\w.-]+\.json", DOC.read_text()):
        assert (ROOT / path).is_file(), path
