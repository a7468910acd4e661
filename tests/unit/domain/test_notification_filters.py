"""Filters: parsing with precise problems, every operator and field, pooling and AND semantics."""

from __future__ import annotations

import json
from typing import Any

import pytest
from domain_fixtures import payload_dict

from causely_incidentio.filters import FilterRule, FilterSet, field_value, parse_filters
from causely_incidentio.payload import Notification, parse_notification
from causely_incidentio.problems import InvalidInput

W = "notif_config_filters"


def note(**changes: Any) -> Notification:
    """The SLO example (High, Malfunction, ApplicationInstance, namespace istio-system, cluster dev)."""
    return parse_notification(payload_dict("detected-high-slo") | changes)


def fs(rules: list[dict[str, Any]], *, enabled: bool = True) -> FilterSet:
    return parse_filters(json.dumps(rules), enabled=enabled, where=W)


def problems(raw: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_filters(raw, enabled=True, where=W)
    return {p.where: str(p) for p in info.value.problems}


class TestParsing:
    def test_published_generic_example(self) -> None:
        f = fs([{"field": "severity", "operator": "in", "value": ["Critical", "High"]}])
        assert f.rules == (FilterRule(field="severity", operator="in", value=["Critical", "High"]),)
        assert f.enabled

    def test_list_from_a_resource_with_values(self) -> None:
        f = parse_filters([{"field": "name", "operator": "not_in", "values": ["A", "B"]}], enabled=True,
                          where="spec.filters")
        assert f.rules[0].value == ["A", "B"]

    @pytest.mark.parametrize("raw", [None, "", "  ", "[]", []])
    def test_empty_means_no_rules(self, raw: Any) -> None:
        f = parse_filters(raw, enabled=True, where=W)
        assert f.rules == () and f.matches(note())

    def test_bad_json_gives_line_and_column(self) -> None:
        p = problems('[{"field": "severity",\n "operator" "in"}]')
        assert "line 2 column" in p[W] and "not valid JSON" in p[W]

    @pytest.mark.parametrize("raw", ['{"field": "severity"}', '"severity"', "3"])
    def test_not_a_list(self, raw: str) -> None:
        assert "not a list" in problems(raw)[W]

    def test_rule_not_an_object(self) -> None:
        p = problems('[{"field": "name", "operator": "equals", "value": "x"}, "severity"]')
        assert list(p) == [f"{W}[1]"] and "not an object" in p[f"{W}[1]"]

    def test_unknown_field(self) -> None:
        p = problems('[{}, {}, {"field": "sevrity", "operator": "equals", "value": "High"}]')
        assert "unknown field 'sevrity'" in p[f"{W}[2].field"]
        assert "labels.<label key>" in p[f"{W}[2].field"]

    def test_bare_labels_prefix_is_unknown(self) -> None:
        assert f"{W}[0].field" in problems('[{"field": "labels.", "operator": "equals", "value": "x"}]')

    def test_unknown_operator(self) -> None:
        p = problems('[{"field": "name", "operator": "contains", "value": "x"}]')
        assert "unknown operator 'contains'" in p[f"{W}[0].operator"]
        assert "equals, not_equals, in, not_in" in p[f"{W}[0].operator"]

    def test_missing_keys(self) -> None:
        p = problems("[{}]")
        assert {f"{W}[0].field", f"{W}[0].operator", f"{W}[0].value"} <= set(p)

    def test_unknown_rule_key(self) -> None:
        p = problems('[{"field": "name", "operator": "equals", "value": "x", "vaule": "y"}]')
        assert "unknown key" in p[f"{W}[0].vaule"]

    @pytest.mark.parametrize("op", ["in", "not_in"])
    def test_list_operator_without_a_list(self, op: str) -> None:
        p = problems(f'[{{"field": "name", "operator": "{op}", "value": "x"}}]')
        assert f"{op} needs a list" in p[f"{W}[0].value"]

    @pytest.mark.parametrize("op", ["equals", "not_equals"])
    def test_scalar_operator_with_a_list(self, op: str) -> None:
        p = problems(f'[{{"field": "name", "operator": "{op}", "value": ["x"]}}]')
        assert "single value" in p[f"{W}[0].value"]

    def test_scalar_operator_with_values(self) -> None:
        p = problems([{"field": "name", "operator": "equals", "values": ["x"]}])
        assert "single value" in p[f"{W}[0].values"]

    def test_value_and_values_together(self) -> None:
        p = problems([{"field": "name", "operator": "in", "value": ["x"], "values": ["y"]}])
        assert "together" in p[f"{W}[0].values"]

    def test_empty_list(self) -> None:
        assert "empty list" in problems('[{"field": "name", "operator": "in", "value": []}]')[f"{W}[0].value"]

    def test_non_string_elements(self) -> None:
        p = problems('[{"field": "name", "operator": "in", "value": ["a", 3, {}]}]')
        assert "number" in p[f"{W}[0].value[1]"] and "object" in p[f"{W}[0].value[2]"]

    def test_non_string_value(self) -> None:
        assert "number" in problems('[{"field": "name", "operator": "equals", "value": 3}]')[f"{W}[0].value"]

    def test_unknown_severity_value(self) -> None:
        p = problems('[{"field": "severity", "operator": "in", "value": ["High", "Hihg"]}]')
        assert "unknown severity 'Hihg'" in p[f"{W}[0].value"]

    def test_impacts_slo_needs_a_boolean(self) -> None:
        p = problems('[{"field": "impactsSLO", "operator": "equals", "value": "yes"}]')
        assert "not a boolean" in p[f"{W}[0].value"]

    def test_boolean_for_a_text_field(self) -> None:
        p = problems('[{"field": "labels.team", "operator": "equals", "value": true}]')
        assert "boolean" in p[f"{W}[0].value"]

    def test_every_rule_is_reported(self) -> None:
        p = problems('[{"field": "x", "operator": "equals", "value": "a"}, {"field": "name", "operator": "eq",'
                     ' "value": "a"}]')
        assert {f"{W}[0].field", f"{W}[1].operator"} <= set(p)

    def test_where_prefix_is_used(self) -> None:
        with pytest.raises(InvalidInput) as info:
            parse_filters([{"field": "x", "operator": "equals", "value": "a"}], enabled=True, where="spec.filters")
        assert info.value.problems[0].where == "spec.filters[0].field"

    def test_disabled_filters_are_still_validated(self) -> None:
        with pytest.raises(InvalidInput):
            parse_filters('[{"field": "x"}]', enabled=False, where=W)


class TestOperators:
    def test_equals(self) -> None:
        assert fs([{"field": "name", "operator": "equals", "value": "Malfunction"}]).matches(note())
        assert not fs([{"field": "name", "operator": "equals", "value": "Congested"}]).matches(note())

    def test_not_equals(self) -> None:
        assert fs([{"field": "name", "operator": "not_equals", "value": "Congested"}]).matches(note())
        assert not fs([{"field": "name", "operator": "not_equals", "value": "Malfunction"}]).matches(note())

    def test_in(self) -> None:
        assert fs([{"field": "name", "operator": "in", "value": ["X", "Malfunction"]}]).matches(note())
        assert not fs([{"field": "name", "operator": "in", "value": ["X", "Y"]}]).matches(note())

    def test_not_in(self) -> None:
        assert fs([{"field": "name", "operator": "not_in", "value": ["X", "Y"]}]).matches(note())
        assert not fs([{"field": "name", "operator": "not_in", "value": ["X", "Malfunction"]}]).matches(note())

    def test_text_fields_compare_exactly(self) -> None:
        assert not fs([{"field": "name", "operator": "equals", "value": "malfunction"}]).matches(note())


class TestFields:
    def test_severity_is_case_insensitive(self) -> None:
        assert fs([{"field": "severity", "operator": "equals", "value": "high"}]).matches(note())
        assert fs([{"field": "severity", "operator": "in", "value": ["CRITICAL", "HIGH"]}]).matches(note())
        assert not fs([{"field": "severity", "operator": "in", "value": ["Critical"]}]).matches(note())

    def test_entity_type(self) -> None:
        assert fs([{"field": "entity.type", "operator": "equals", "value": "ApplicationInstance"}]).matches(note())
        assert not fs([{"field": "entity.type", "operator": "equals", "value": "Node"}]).matches(note())

    def test_labels_with_dots_in_the_key(self) -> None:
        f = fs([{"field": "labels.k8s.cluster.name", "operator": "equals", "value": "dev"}])
        assert f.matches(note())
        assert not f.matches(note(labels={"k8s.cluster.name": "prod"}))

    def test_any_label(self) -> None:
        f = fs([{"field": "labels.causely.ai/service-name", "operator": "in", "value": ["causelybot"]}])
        assert f.matches(parse_notification(payload_dict("updated-low-to-high")))

    def test_namespace_reads_causely_label_first(self) -> None:
        f = fs([{"field": "labels.k8s.namespace.name", "operator": "equals", "value": "prod"}])
        assert f.matches(note(labels={"causely.ai/namespace": "prod", "k8s.namespace.name": "other"}))
        assert not f.matches(note(labels={"causely.ai/namespace": "other", "k8s.namespace.name": "prod"}))

    def test_namespace_falls_back_to_k8s_label(self) -> None:
        f = fs([{"field": "labels.k8s.namespace.name", "operator": "equals", "value": "istio-system"}])
        assert f.matches(note())

    @pytest.mark.parametrize("value", [True, "true", "True"])
    def test_impacts_slo_true(self, value: Any) -> None:
        f = fs([{"field": "impactsSLO", "operator": "equals", "value": value}])
        assert f.matches(note())
        assert not f.matches(note(slos=[]))
        assert not f.matches(parse_notification(payload_dict("cleared")))

    @pytest.mark.parametrize("value", [False, "false"])
    def test_impacts_slo_false(self, value: Any) -> None:
        f = fs([{"field": "impactsSLO", "operator": "equals", "value": value}])
        assert not f.matches(note())
        assert f.matches(note(slos=None))

    def test_impacts_slo_in_list(self) -> None:
        assert fs([{"field": "impactsSLO", "operator": "in", "value": [True]}]).matches(note())

    def test_field_value_helper(self) -> None:
        n = note()
        assert field_value(n, "severity") == "high"
        assert field_value(n, "impactsSLO") == "true"
        assert field_value(n, "labels.nope") is None


class TestMissingFields:
    def test_missing_label_fails_equals(self) -> None:
        f = fs([{"field": "labels.team", "operator": "equals", "value": "a"}])
        assert not f.matches(note())

    def test_missing_label_fails_not_equals_too(self) -> None:
        f = fs([{"field": "labels.team", "operator": "not_equals", "value": "a"}])
        assert not f.matches(note())
        assert f.matches(note(labels={"team": "b"}))

    def test_missing_label_fails_not_in(self) -> None:
        assert not fs([{"field": "labels.team", "operator": "not_in", "value": ["a"]}]).matches(note())

    def test_missing_entity_fails_entity_type(self) -> None:
        f = fs([{"field": "entity.type", "operator": "not_equals", "value": "Node"}])
        assert not f.matches(note(entity=None))
        assert not f.matches(note(entity={"name": "x"}))

    def test_missing_namespace(self) -> None:
        f = fs([{"field": "labels.k8s.namespace.name", "operator": "equals", "value": "x"}])
        assert not f.matches(note(labels={}))


class TestCombination:
    def test_equals_and_in_on_one_field_pool_into_one_or_set(self) -> None:
        f = fs([
            {"field": "severity", "operator": "equals", "value": "Critical"},
            {"field": "severity", "operator": "in", "value": ["High"]},
            {"field": "severity", "operator": "equals", "value": "Medium"},
        ])
        assert f.matches(note(severity="Critical"))
        assert f.matches(note(severity="High"))
        assert f.matches(note(severity="Medium"))
        assert not f.matches(note(severity="Low"))

    def test_negative_rules_on_one_field_are_each_anded(self) -> None:
        f = fs([
            {"field": "name", "operator": "not_equals", "value": "A"},
            {"field": "name", "operator": "not_in", "value": ["B"]},
        ])
        assert f.matches(note(name="C"))
        assert not f.matches(note(name="A"))
        assert not f.matches(note(name="B"))

    def test_positive_and_negative_on_one_field(self) -> None:
        f = fs([
            {"field": "name", "operator": "in", "value": ["A", "B"]},
            {"field": "name", "operator": "not_equals", "value": "B"},
        ])
        assert f.matches(note(name="A"))
        assert not f.matches(note(name="B"))

    def test_different_fields_are_anded(self) -> None:
        f = fs([
            {"field": "severity", "operator": "in", "value": ["Critical", "High"]},
            {"field": "labels.k8s.cluster.name", "operator": "equals", "value": "dev"},
            {"field": "impactsSLO", "operator": "equals", "value": True},
        ])
        assert f.matches(note())
        assert not f.matches(note(severity="Low"))
        assert not f.matches(note(labels={"k8s.cluster.name": "prod"}))
        assert not f.matches(note(slos=[]))


class TestEnabled:
    def test_disabled_passes_everything(self) -> None:
        f = fs([{"field": "name", "operator": "equals", "value": "nothing"}], enabled=False)
        assert f.matches(note())
        assert not f.active

    def test_enabled_applies(self) -> None:
        assert not fs([{"field": "name", "operator": "equals", "value": "nothing"}]).matches(note())

    def test_default_filter_set_passes(self) -> None:
        assert FilterSet().matches(note())


class TestDescribe:
    def test_disabled(self) -> None:
        assert "disabled" in fs([{"field": "name", "operator": "equals", "value": "x"}], enabled=False).describe()

    def test_empty(self) -> None:
        assert "no filters" in fs([]).describe()

    def test_rules(self) -> None:
        f = fs([
            {"field": "severity", "operator": "in", "value": ["Critical", "High"]},
            {"field": "labels.team", "operator": "equals", "value": "core"},
            {"field": "name", "operator": "not_in", "value": ["A", "B"]},
            {"field": "entity.type", "operator": "not_equals", "value": "Node"},
            {"field": "impactsSLO", "operator": "equals", "value": True},
        ])
        assert f.describe() == (
            "severity in (Critical, High) AND labels.team = core AND name not in (A, B) AND entity.type != Node"
            " AND impactsSLO = true"
        )
