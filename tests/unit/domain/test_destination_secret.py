"""Destinations from Causely-format Secrets: every key, stringData vs data, env fallbacks, precise problems."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from domain_fixtures import SECRET_TOKEN, payload_dict

from causely_incidentio.destinations import (
    DestinationConfig,
    DestinationSource,
    decode_secret_data,
    from_secret,
)
from causely_incidentio.payload import parse_notification
from causely_incidentio.problems import InvalidInput
from causely_incidentio.settings import Settings
from causely_incidentio.severities import CauselySeverity


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def with_keys(secret: dict[str, Any], **keys: Any) -> dict[str, Any]:
    secret["stringData"].update(keys)
    return secret


def problems(secret: dict[str, Any], settings: Settings | None = None) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        from_secret(secret, settings or Settings())
    assert info.value.subject.startswith("Secret ")
    assert SECRET_TOKEN not in str(info.value)
    return {p.where: str(p) for p in info.value.problems}


def test_published_secret(base_secret: dict[str, Any]) -> None:
    config = from_secret(base_secret, Settings())
    assert config.id == "secret/causely/incidentio-notification-config"
    assert config.name == "incidentIO"
    assert config.source is DestinationSource.SECRET
    assert config.namespace == "causely"
    assert config.token.get_secret_value() == SECRET_TOKEN
    assert config.api_url is None  # notif_config_url "" is ignored
    assert config.global_ is False
    assert config.filters.enabled and config.filters.rules == ()
    assert config.min_severity is CauselySeverity.HIGH
    assert config.mode == "standard" and config.visibility == "public"
    assert config.notify_channel is False
    assert config.incident_type_id is None and config.severity_id is None
    assert config.resolved_status_name is None and config.severity_map == {}
    assert config.generation is None
    assert len(config.fingerprint) == 64


def test_every_optional_key(base_secret: dict[str, Any]) -> None:
    secret = with_keys(
        base_secret,
        notif_config_url="https://incident.example.test/api",
        notif_config_global="TRUE",
        notif_config_filters='[{"field": "severity", "operator": "in", "value": ["Critical"]}]',
        notif_config_filters_enabled="true",
        notif_config_incident_type_id="01TYPE",
        notif_config_severity_id="01SEV",
        notif_config_severity_map='{"critical": "Major", "Low": "01MINOR"}',
        notif_config_severity_rule="mapped",
        notif_config_min_severity="medium",
        notif_config_resolved_status_name="Fixed",
        notif_config_notify_channel="true",
        notif_config_mode="test",
        notif_config_visibility="Private",
    )
    config = from_secret(secret, Settings(incident_io_allowed_api_urls="https://incident.example.test/api"))
    assert config.api_url == "https://incident.example.test/api"
    assert config.global_ is True
    assert config.filters.rules[0].value == ["Critical"]
    assert config.incident_type_id == "01TYPE" and config.severity_id == "01SEV"
    assert config.severity_map == {"Critical": "Major", "Low": "01MINOR"} and config.severity_rule == "Mapped"
    assert config.min_severity is CauselySeverity.MEDIUM
    assert config.resolved_status_name == "Fixed"
    assert config.notify_channel is True
    assert config.mode == "test" and config.visibility == "private"


def test_optional_keys_fall_back_to_the_environment(base_secret: dict[str, Any]) -> None:
    settings = Settings(incident_io_incident_type_id="ENVTYPE", incident_io_severity_id="ENVSEV",
                        incident_io_resolved_status_name="Resolved", incident_io_notify_channel=True)
    config = from_secret(base_secret, settings)
    assert config.incident_type_id == "ENVTYPE"
    assert config.severity_id == "ENVSEV"
    assert config.resolved_status_name == "Resolved"
    assert config.notify_channel is True


def test_secret_keys_win_over_the_environment(base_secret: dict[str, Any]) -> None:
    settings = Settings(incident_io_incident_type_id="ENVTYPE", incident_io_notify_channel=True)
    secret = with_keys(base_secret, notif_config_incident_type_id="MINE", notif_config_notify_channel="false")
    config = from_secret(secret, settings)
    assert config.incident_type_id == "MINE" and config.notify_channel is False


def test_empty_optional_keys_mean_absent(base_secret: dict[str, Any]) -> None:
    secret = with_keys(base_secret, notif_config_incident_type_id="", notif_config_severity_id=" ",
                       notif_config_min_severity="", notif_config_mode="", notif_config_notify_channel="")
    config = from_secret(secret, Settings(incident_io_severity_id="ENVSEV"))
    assert config.incident_type_id is None and config.severity_id == "ENVSEV"
    assert config.min_severity is CauselySeverity.HIGH and config.mode == "standard"


def test_settings_for_min_severity_mode_visibility_are_used_when_defined(base_secret: dict[str, Any]) -> None:
    """Settings may grow INCIDENT_IO_MIN_SEVERITY / _MODE / _VISIBILITY; the builders already honour them."""

    class MoreSettings(Settings):
        incident_io_min_severity: str | None = "Low"
        incident_io_mode: str | None = "test"
        incident_io_visibility: str | None = "private"

    config = from_secret(base_secret, MoreSettings())
    assert config.min_severity is CauselySeverity.LOW and config.mode == "test" and config.visibility == "private"
    bad = MoreSettings(incident_io_min_severity="Huge")
    assert "Critical, High" in problems(base_secret, bad)["INCIDENT_IO_MIN_SEVERITY"]


def test_filters_disabled_by_default_for_secrets(base_secret: dict[str, Any]) -> None:
    del base_secret["stringData"]["notif_config_filters_enabled"]
    secret = with_keys(base_secret, notif_config_filters='[{"field": "name", "operator": "equals", "value": "x"}]')
    config = from_secret(secret, Settings())
    assert not config.filters.enabled
    assert config.accepts(parse_notification(payload_dict("cleared")))


def test_accepts_uses_filters(base_secret: dict[str, Any]) -> None:
    secret = with_keys(base_secret,
                       notif_config_filters='[{"field": "severity", "operator": "in", "value": ["Critical"]}]')
    config = from_secret(secret, Settings())
    assert config.accepts(parse_notification(payload_dict("ui-test-notification")))
    assert not config.accepts(parse_notification(payload_dict("cleared")))


def test_accepts_ignores_the_severity_threshold(base_secret: dict[str, Any]) -> None:
    config = from_secret(base_secret, Settings())
    assert config.accepts(parse_notification(payload_dict("detected-low-docs")))  # Low < High


class TestEncoding:
    def test_base64_data(self, base_secret: dict[str, Any]) -> None:
        string_data = base_secret.pop("stringData")
        base_secret["data"] = {k: b64(v) for k, v in string_data.items()}
        config = from_secret(base_secret, Settings())
        assert config.token.get_secret_value() == SECRET_TOKEN
        assert config.name == "incidentIO"

    def test_string_data_wins_over_data(self, base_secret: dict[str, Any]) -> None:
        base_secret["data"] = {"notif_config_name": b64("from-data"), "notif_config_token": b64("data-token")}
        config = from_secret(base_secret, Settings())
        assert config.name == "incidentIO"
        assert config.token.get_secret_value() == SECRET_TOKEN

    def test_data_fills_keys_missing_from_string_data(self, base_secret: dict[str, Any]) -> None:
        del base_secret["stringData"]["notif_config_token"]
        base_secret["data"] = {"notif_config_token": b64(SECRET_TOKEN)}
        assert from_secret(base_secret, Settings()).token.get_secret_value() == SECRET_TOKEN

    def test_bad_base64_names_the_key_not_the_value(self, base_secret: dict[str, Any]) -> None:
        del base_secret["stringData"]["notif_config_token"]
        base_secret["data"] = {"notif_config_token": SECRET_TOKEN + "!!"}
        p = problems(base_secret)
        assert "base64" in p["data.notif_config_token"]

    def test_non_utf8_data(self, base_secret: dict[str, Any]) -> None:
        base_secret["data"] = {"notif_config_global": base64.b64encode(b"\xff\xfe").decode()}
        assert "data.notif_config_global" in problems(base_secret)

    def test_unrelated_binary_keys_are_ignored(self, base_secret: dict[str, Any]) -> None:
        base_secret["data"] = {"ca.crt": "%%% not base64 %%%"}
        assert from_secret(base_secret, Settings()).name == "incidentIO"

    def test_token_whitespace_is_stripped(self, base_secret: dict[str, Any]) -> None:
        base_secret["stringData"]["notif_config_token"] = f"  {SECRET_TOKEN}\n"
        assert from_secret(base_secret, Settings()).token.get_secret_value() == SECRET_TOKEN

    def test_unquoted_yaml_boolean_is_a_problem(self, base_secret: dict[str, Any]) -> None:
        base_secret["stringData"]["notif_config_global"] = False
        assert "quote it" in problems(base_secret)["stringData.notif_config_global"]

    def test_decode_secret_data_helper(self) -> None:
        values, found = decode_secret_data({"data": {"a": b64("x")}, "stringData": {"b": "y"}})
        assert values == {"a": "x", "b": "y"} and found == []
        values, found = decode_secret_data({"data": {"a": b64("x"), "b": "!!"}}, keys=["a"])
        assert values == {"a": "x"} and found == []


class TestProblems:
    def test_missing_label(self, base_secret: dict[str, Any]) -> None:
        del base_secret["metadata"]["labels"]
        assert "causely.ai/notif-config: IncidentIO" in problems(base_secret)["metadata.labels.causely.ai/notif-config"]

    def test_other_label_value(self, base_secret: dict[str, Any]) -> None:
        base_secret["metadata"]["labels"]["causely.ai/notif-config"] = "Generic"
        assert "metadata.labels.causely.ai/notif-config" in problems(base_secret)

    def test_wrong_type(self, base_secret: dict[str, Any]) -> None:
        assert "another integration" in problems(with_keys(base_secret, notif_config_type="Slack"))["notif_config_type"]

    def test_missing_type(self, base_secret: dict[str, Any]) -> None:
        del base_secret["stringData"]["notif_config_type"]
        assert "missing" in problems(base_secret)["notif_config_type"]

    @pytest.mark.parametrize("key", ["notif_config_name", "notif_config_token"])
    @pytest.mark.parametrize("value", [None, "", "   "])
    def test_required_keys(self, base_secret: dict[str, Any], key: str, value: str | None) -> None:
        if value is None:
            del base_secret["stringData"][key]
        else:
            base_secret["stringData"][key] = value
        assert "missing or empty" in problems(base_secret)[key]

    @pytest.mark.parametrize("key", ["notif_config_global", "notif_config_filters_enabled",
                                     "notif_config_notify_channel"])
    @pytest.mark.parametrize("value", ["yes", "1", "maybe", "truee"])
    def test_booleans_are_true_or_false_only(self, base_secret: dict[str, Any], key: str, value: str) -> None:
        p = problems(with_keys(base_secret, **{key: value}))
        assert p[key] == f'{key}: is not a boolean (expected "true" or "false")'

    def test_bad_url(self, base_secret: dict[str, Any]) -> None:
        assert "http(s) URL" in problems(with_keys(base_secret, notif_config_url="ftp://x"))["notif_config_url"]

    def test_bad_filters(self, base_secret: dict[str, Any]) -> None:
        rules = '[{"field": "severity", "operator": "like", "value": "x"}]'
        secret = with_keys(base_secret, notif_config_filters=rules)
        p = problems(secret)
        assert "unknown operator" in p["notif_config_filters[0].operator"]
        assert "unknown severity" in p["notif_config_filters[0].value"]

    def test_bad_filter_json(self, base_secret: dict[str, Any]) -> None:
        assert "line 1 column" in problems(with_keys(base_secret, notif_config_filters="[{"))["notif_config_filters"]

    def test_bad_min_severity(self, base_secret: dict[str, Any]) -> None:
        p = problems(with_keys(base_secret, notif_config_min_severity="urgent"))
        assert "Critical, High, Medium, Low" in p["notif_config_min_severity"]

    def test_bad_mode_and_visibility(self, base_secret: dict[str, Any]) -> None:
        p = problems(with_keys(base_secret, notif_config_mode="retrospective", notif_config_visibility="secret"))
        assert "standard, test" in p["notif_config_mode"]
        assert "public, private" in p["notif_config_visibility"]

    def test_bad_severity_map(self, base_secret: dict[str, Any]) -> None:
        p = problems(with_keys(base_secret, notif_config_severity_map='{"Urgent": "x", "High": "", "high": "y"}'))
        assert "not a Causely severity" in p["notif_config_severity_map.Urgent"]
        assert "non-empty" in p["notif_config_severity_map.High"]
        assert "second time" in p["notif_config_severity_map.high"]

    def test_severity_map_not_json(self, base_secret: dict[str, Any]) -> None:
        assert "not valid JSON" in problems(with_keys(base_secret, notif_config_severity_map="{x"))[
            "notif_config_severity_map"]

    def test_severity_map_not_an_object(self, base_secret: dict[str, Any]) -> None:
        assert "not an object" in problems(with_keys(base_secret, notif_config_severity_map="[]"))[
            "notif_config_severity_map"]

    def test_unknown_notif_config_key(self, base_secret: dict[str, Any]) -> None:
        p = problems(with_keys(base_secret, notif_config_resolved_status="Fixed"))
        assert "unknown key" in p["notif_config_resolved_status"]
        assert "notif_config_resolved_status_name" in p["notif_config_resolved_status"]

    def test_unknown_key_in_data_too(self, base_secret: dict[str, Any]) -> None:
        base_secret["data"] = {"notif_config_tokn": b64("x")}
        assert "notif_config_tokn" in problems(base_secret)

    def test_other_keys_are_ignored(self, base_secret: dict[str, Any]) -> None:
        assert from_secret(with_keys(base_secret, README="hello", other_key="x"), Settings()).name == "incidentIO"

    def test_missing_name(self, base_secret: dict[str, Any]) -> None:
        del base_secret["metadata"]["name"]
        assert "metadata.name" in problems(base_secret)

    def test_every_problem_at_once(self, base_secret: dict[str, Any]) -> None:
        secret = with_keys(base_secret, notif_config_global="no", notif_config_mode="x", notif_config_typo="1",
                           notif_config_token="")
        assert {"notif_config_global", "notif_config_mode", "notif_config_typo", "notif_config_token"} <= set(
            problems(secret))

    def test_values_are_never_echoed(self, base_secret: dict[str, Any]) -> None:
        """A token pasted into the wrong key must not reach a message."""
        secret = with_keys(base_secret, notif_config_global=SECRET_TOKEN, notif_config_mode=SECRET_TOKEN,
                           notif_config_min_severity=SECRET_TOKEN, notif_config_url=SECRET_TOKEN,
                           notif_config_type=SECRET_TOKEN, notif_config_severity_map=SECRET_TOKEN)
        problems(secret)  # asserts the token is absent

    def test_namespace_defaults_for_documents_without_one(self, base_secret: dict[str, Any]) -> None:
        del base_secret["metadata"]["namespace"]
        assert from_secret(base_secret, Settings()).id == "secret/default/incidentio-notification-config"


def test_config_model_json_has_no_token(base_secret: dict[str, Any]) -> None:
    config = from_secret(base_secret, Settings())
    for text in (repr(config), str(config), config.model_dump_json(), json.dumps(config.model_dump(mode="json"))):
        assert SECRET_TOKEN not in text
    assert isinstance(config, DestinationConfig)


def test_url_not_on_the_allow_list_is_refused_without_quoting_it(base_secret: dict[str, Any]) -> None:
    """A Secret's value is never quoted, but the allowed list (the installer's setting) is shown."""
    secret = with_keys(base_secret, notif_config_url="https://collector.attacker.example")
    with pytest.raises(InvalidInput) as info:
        from_secret(secret, Settings())
    message = str(info.value)
    assert "notif_config_url: is not an allowed incident.io API URL" in message
    assert "attacker" not in message and "https://api.incident.io" in message


def test_severity_rule_key_and_default(base_secret: dict[str, Any]) -> None:
    assert from_secret(base_secret, Settings()).severity_rule == "Critical"
    assert from_secret(base_secret, Settings(incident_io_severity_rule="MAPPED")).severity_rule == "Mapped"
    with pytest.raises(InvalidInput, match="notif_config_severity_rule"):
        from_secret(with_keys(base_secret, notif_config_severity_rule="ranked"), Settings())
