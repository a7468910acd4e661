"""The environment destination, fingerprints, token secrecy, loading files and building whole sets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from domain_fixtures import SECRET_TOKEN, SECRETS, secret_with_token
from pydantic import SecretStr

from causely_incidentio.destinations import (
    API_VERSION,
    BuildResult,
    DestinationConfig,
    DestinationSource,
    build_destinations,
    from_env,
    from_secret,
    load_documents,
)
from causely_incidentio.problems import InvalidInput
from causely_incidentio.settings import Settings
from causely_incidentio.severities import CauselySeverity


def destination(**kwargs: Any) -> DestinationConfig:
    values: dict[str, Any] = {"id": "env", "name": "env", "source": DestinationSource.ENVIRONMENT,
                              "token": SecretStr(SECRET_TOKEN)}
    values.update(kwargs)
    return DestinationConfig(**values)


def resource(name: str = "prod", token_secret: str = "incidentio-token", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "IncidentDestination",
            "metadata": {"name": name, "namespace": "causely"},
            "spec": {"tokenSecretRef": {"name": token_secret}, **spec}}


def token_secret(name: str = "incidentio-token", value: str = SECRET_TOKEN) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "causely",
                         "labels": {"notifications.causely.ai/incident-io-token": "true"}},  # opted in
            "data": {"token": base64.b64encode(value.encode()).decode()}}


class TestFromEnv:
    def test_none_without_token(self) -> None:
        assert from_env(Settings()) is None
        assert from_env(Settings(incident_io_api_token="  ")) is None

    def test_seed_variables(self) -> None:
        settings = Settings.from_env({
            "INCIDENT_IO_API_TOKEN": SECRET_TOKEN,
            "INCIDENT_IO_INCIDENT_TYPE_ID": "01TYPE",
            "INCIDENT_IO_SEVERITY_ID": "01SEV",
            "INCIDENT_IO_RESOLVED_STATUS_NAME": "Fixed",
            "INCIDENT_IO_NOTIFY_CHANNEL": "true",
        })
        config = from_env(settings)
        assert config is not None
        assert config.id == "env" and config.name == "env" and config.source is DestinationSource.ENVIRONMENT
        assert config.namespace is None and config.api_url is None
        assert config.token.get_secret_value() == SECRET_TOKEN
        assert config.incident_type_id == "01TYPE" and config.severity_id == "01SEV"
        assert config.resolved_status_name == "Fixed" and config.notify_channel is True
        assert config.min_severity is CauselySeverity.HIGH
        assert not config.filters.active


class TestFingerprint:
    def test_stable(self) -> None:
        assert destination().fingerprint == destination().fingerprint

    def test_changes_when_the_token_changes(self) -> None:
        assert destination().fingerprint != destination(token=SecretStr(SECRET_TOKEN + "x")).fingerprint

    @pytest.mark.parametrize("change", [
        {"incident_type_id": "T"}, {"severity_id": "S"}, {"severity_map": {"High": "Major"}},
        {"min_severity": CauselySeverity.LOW}, {"resolved_status_name": "Fixed"}, {"notify_channel": True},
        {"mode": "test"}, {"visibility": "private"}, {"global": True}, {"api_url": "http://127.0.0.1:1"},
        {"name": "other"}, {"id": "secret/a/b"},
    ])
    def test_changes_with_every_setting(self, change: dict[str, Any]) -> None:
        assert destination(**change).fingerprint != destination().fingerprint

    def test_filters_change_it(self, base_secret: dict[str, Any]) -> None:
        a = from_secret(base_secret, Settings())
        base_secret["stringData"]["notif_config_filters"] = '[{"field": "name", "operator": "equals", "value": "x"}]'
        assert from_secret(base_secret, Settings()).fingerprint != a.fingerprint

    def test_generation_does_not(self) -> None:
        assert destination(generation=1).fingerprint == destination(generation=2).fingerprint

    def test_cannot_be_forged_and_follows_evolve(self) -> None:
        assert destination(fingerprint="forged").fingerprint == destination().fingerprint
        evolved = destination().evolve(mode="test")
        assert evolved.mode == "test" and evolved.fingerprint == destination(mode="test").fingerprint

    def test_does_not_contain_the_token(self) -> None:
        assert SECRET_TOKEN not in destination().fingerprint

    def test_token_digest(self) -> None:
        assert destination().token_digest == destination(id="secret/x/y").token_digest
        assert SECRET_TOKEN not in destination().token_digest


class TestTokenSecrecy:
    def test_repr_str_json_dump(self) -> None:
        config = destination()
        texts = [repr(config), str(config), config.model_dump_json(), config.model_dump_json(by_alias=True),
                 json.dumps(config.model_dump(mode="json")), repr(config.model_dump()), f"{config}"]
        for text in texts:
            assert SECRET_TOKEN not in text

    def test_invalid_input_messages(self, base_secret: dict[str, Any]) -> None:
        base_secret["stringData"]["notif_config_global"] = SECRET_TOKEN
        base_secret["stringData"]["notif_config_unknown"] = SECRET_TOKEN
        base_secret["data"] = {"notif_config_mode": SECRET_TOKEN}  # not base64
        with pytest.raises(InvalidInput) as info:
            from_secret(base_secret, Settings())
        for text in (str(info.value), repr(info.value), info.value.message, repr(info.value.problems)):
            assert SECRET_TOKEN not in text

    def test_build_result(self) -> None:
        docs = [resource(token_secret="wrong"), token_secret()]
        result = build_destinations(docs, Settings(incident_io_api_token=SECRET_TOKEN))
        assert SECRET_TOKEN not in repr(result)


class TestLoadDocuments:
    def test_folder_is_sorted_and_skips_other_files(self, tmp_path: Path) -> None:
        (tmp_path / "b.yaml").write_text("kind: B\n---\nkind: C\n")
        (tmp_path / "a.yml").write_text("kind: A\n")
        (tmp_path / "c.json").write_text('{"kind": "D"}')
        (tmp_path / "notes.txt").write_text("kind: nope")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "x.yaml").write_text("kind: nested")
        assert [d["kind"] for d in load_documents(tmp_path)] == ["A", "B", "C", "D"]

    def test_published_secrets(self) -> None:
        docs = load_documents(SECRETS)
        assert [d["metadata"]["name"] for d in docs] == ["devops-agent-notification-config",
                                                         "incidentio-notification-config"]

    def test_single_file_with_empty_documents(self, tmp_path: Path) -> None:
        path = tmp_path / "all.yaml"
        path.write_text("---\nkind: A\n---\n---\nkind: B\n")
        assert [d["kind"] for d in load_documents(str(path))] == ["A", "B"]

    def test_list_kind_is_expanded(self, tmp_path: Path) -> None:
        path = tmp_path / "list.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List",
                                        "items": [{"kind": "A"}, {"kind": "B"}]}))
        assert [d["kind"] for d in load_documents(path)] == ["A", "B"]

    def test_json_array(self, tmp_path: Path) -> None:
        (tmp_path / "x.json").write_text('[{"kind": "A"}, {"kind": "B"}]')
        assert len(load_documents(tmp_path)) == 2

    def test_yaml_error_names_file_and_line_without_quoting_it(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text(f"kind: Secret\nstringData:\n  notif_config_token: \"{SECRET_TOKEN}\n  x: [\n")
        with pytest.raises(InvalidInput) as info:
            load_documents(path)
        problem = info.value.problems[0]
        assert problem.where.startswith(f"{path}:")
        assert int(problem.where.split(":")[1]) >= 3
        assert "invalid YAML" in problem.what
        assert SECRET_TOKEN not in str(info.value)

    def test_json_error_names_file_and_line(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text('{\n  "kind": \n}')
        with pytest.raises(InvalidInput) as info:
            load_documents(path)
        assert info.value.problems[0].where == f"{path}:3:1"

    def test_non_object_document(self, tmp_path: Path) -> None:
        path = tmp_path / "x.yaml"
        path.write_text("kind: A\n---\n- just\n- a list\n")
        with pytest.raises(InvalidInput) as info:
            load_documents(path)
        assert info.value.problems[0].where == f"{path} (document 2)"

    def test_every_bad_file_is_reported(self, tmp_path: Path) -> None:
        (tmp_path / "a.yaml").write_text("a: [\n")
        (tmp_path / "b.yaml").write_text("b: {\n")
        with pytest.raises(InvalidInput) as info:
            load_documents(tmp_path)
        assert len(info.value.problems) == 2

    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput, match="does not exist"):
            load_documents(tmp_path / "nope")


class TestBuildDestinations:
    def test_published_secrets(self) -> None:
        docs = load_documents(SECRETS)
        docs[1]["stringData"]["notif_config_token"] = SECRET_TOKEN
        result = build_destinations(docs, Settings())
        assert isinstance(result, BuildResult)
        assert [c.id for c in result.valid] == ["secret/causely/incidentio-notification-config"]
        assert result.invalid == []  # the Generic Secret is not ours

    def test_resource_token_found_among_the_documents(self) -> None:
        result = build_destinations([resource(), token_secret()], Settings())
        assert [c.token.get_secret_value() for c in result.valid] == [SECRET_TOKEN]
        assert result.invalid == []

    def test_missing_token_secret_is_precise(self) -> None:
        result = build_destinations([resource(token_secret="absent")], Settings())
        assert result.valid == []
        assert str(result.invalid[0]) == (
            "IncidentDestination causely/prod: spec.tokenSecretRef: Secret causely/absent not found"
        )

    def test_missing_key_is_precise(self) -> None:
        doc = resource()
        doc["spec"]["tokenSecretRef"]["key"] = "api-key"
        result = build_destinations([doc, token_secret()], Settings())
        assert "Secret causely/incidentio-token has no key 'api-key'" in str(result.invalid[0])

    def test_given_lookup_is_used(self) -> None:
        result = build_destinations([resource()], Settings(), secret_lookup=lambda ns, n, k: "from-lookup")
        assert result.valid[0].token.get_secret_value() == "from-lookup"

    def test_one_invalid_never_blocks_the_others(self) -> None:
        bad = secret_with_token()
        bad["metadata"]["name"] = "broken"
        bad["stringData"]["notif_config_global"] = "perhaps"
        docs = [bad, secret_with_token(), resource(mode="nope"), resource(name="ok"), token_secret()]
        result = build_destinations(docs, Settings(incident_io_api_token="env-token"))
        assert [c.id for c in result.valid] == ["secret/causely/incidentio-notification-config",
                                                "incidentdestination/causely/ok", "env"]
        assert [e.subject for e in result.invalid] == ["Secret causely/broken", "IncidentDestination causely/prod"]

    def test_environment_destination_is_added(self) -> None:
        result = build_destinations([], Settings(incident_io_api_token="env-token"))
        assert [c.id for c in result.valid] == ["env"]

    def test_bad_environment_is_reported(self) -> None:
        class MoreSettings(Settings):
            incident_io_mode: str | None = "retrospective"

        result = build_destinations([], MoreSettings(incident_io_api_token="t"))
        assert result.valid == [] and result.invalid[0].subject == "environment"

    def test_duplicate_ids_reject_the_second(self) -> None:
        result = build_destinations([secret_with_token(), secret_with_token()], Settings())
        assert len(result.valid) == 1
        assert "a second time" in str(result.invalid[0])

    def test_token_secret_without_the_opt_in_label_is_refused(self) -> None:
        unlabelled = token_secret()
        del unlabelled["metadata"]["labels"]
        result = build_destinations([resource(), unlabelled], Settings())
        assert result.valid == [] and "has not opted in" in str(result.invalid[0])

    def test_mirror_and_its_secret_are_one_destination(self) -> None:
        name = "incidentio-notification-config"
        mirror = resource(name=name)
        mirror["metadata"]["labels"] = {"notifications.causely.ai/source": "Secret"}
        mirror["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Secret", "name": name,
                                                  "uid": "u", "controller": True}]
        mirror["spec"] = {}
        result = build_destinations([secret_with_token(), mirror], Settings())
        assert [c.id for c in result.valid] == ["secret/causely/incidentio-notification-config"]
        assert len(result.invalid) == 1

    def test_unrelated_documents_are_ignored(self) -> None:
        docs = [{"kind": "ConfigMap", "metadata": {"name": "x"}}, token_secret(),
                {"apiVersion": "apps/v1", "kind": "Deployment"}]
        assert build_destinations(docs, Settings()) == BuildResult()

    def test_unlabelled_incidentio_secret_is_reported(self) -> None:
        secret = secret_with_token()
        del secret["metadata"]["labels"]
        result = build_destinations([secret], Settings())
        assert result.valid == []
        assert "causely.ai/notif-config" in str(result.invalid[0])
