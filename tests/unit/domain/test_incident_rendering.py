"""Incident title and summary: contents, links, byte limits, truncation order, UTF-8 safety."""

from __future__ import annotations

from typing import Any

import pytest
from domain_fixtures import VALID_PAYLOAD_NAMES, payload_dict

from causely_incidentio.payload import Notification, parse_notification
from causely_incidentio.render import (
    SUMMARY_LIMIT_BYTES,
    TITLE_LIMIT_CHARS,
    cut_utf8,
    render_summary,
    render_title,
)

ROOT_LINK = "http://causely.localhost:3000/rootCauses/81703742-b81a-43b0-8509-1e9ac718e2e3"
ENTITY_LINK = "http://causely.localhost:3000/topology/030fdbc4-8d3b-58f7-aa51-259b75374174"
OBJECT_ID = "81703742-b81a-43b0-8509-1e9ac718e2e3"


def slo_note(**changes: Any) -> Notification:
    return parse_notification(payload_dict("detected-high-slo") | changes)


def size(text: str) -> int:
    return len(text.encode("utf-8"))


class TestTitle:
    def test_name_on_entity(self) -> None:
        assert render_title(slo_note()) == "Malfunction on istio-system/prometheus-7f467df8b6-zhmqc"

    def test_custom_name_wins(self) -> None:
        assert render_title(slo_note(customName="Prometheus errors")).startswith("Prometheus errors on ")

    def test_without_entity(self) -> None:
        assert render_title(slo_note(entity=None)) == "Malfunction"
        assert render_title(slo_note(entity={"type": "Node"})) == "Malfunction"

    def test_is_one_line(self) -> None:
        assert render_title(slo_note(customName="a\nb\t c", entity={"name": "x\ny"})) == "a b c on x y"

    def test_truncated_to_255_characters_with_ellipsis(self) -> None:
        title = render_title(slo_note(entity={"name": "é" * 400}))
        assert len(title) == TITLE_LIMIT_CHARS
        assert title.endswith("…")

    def test_short_titles_are_not_cut(self) -> None:
        assert "…" not in render_title(slo_note())

    def test_stable_across_updates_of_one_finding(self) -> None:
        a = slo_note(severity="High", description={"summary": "one"}, timestamp="2025-01-01T00:00:00Z")
        b = slo_note(severity="Critical", description={"summary": "two"}, type="ProblemUpdated")
        assert render_title(a) == render_title(b)


class TestSummaryContents:
    def test_sections_and_links(self) -> None:
        text = render_summary(slo_note())
        assert text.startswith("An application is experiencing a high rate of errors")
        entity = f"- **Entity:** [istio-system/prometheus-7f467df8b6-zhmqc]({ENTITY_LINK}) (ApplicationInstance)"
        assert entity in text
        assert "- **Cluster:** dev" in text
        assert "- **Namespace:** istio-system" in text
        assert "- **Severity:** High" in text
        assert "### Impacted SLOs" in text
        assert "**AT_RISK**" in text and "istio-system/prometheus-RequestSuccessRate" in text
        assert "(related: [istio-system/prometheus](" in text
        assert "### Remediation options" in text and "- **Check Logs:** Inspect the container logs" in text
        assert f"[View root cause in Causely]({ROOT_LINK})" in text
        assert f"in Causely]({ENTITY_LINK})" in text
        assert text.endswith(f"Causely objectId: `{OBJECT_ID}`")

    def test_order(self) -> None:
        text = render_summary(parse_notification(payload_dict("updated-low-to-high")))
        positions = [text.index(s) for s in ("The HTTP path", "### Where", "### Remediation options",
                                             "### Details", "View root cause", "Causely objectId")]
        assert positions == sorted(positions)

    def test_service_label(self) -> None:
        assert "- **Service:** causelybot" in render_summary(parse_notification(payload_dict("updated-low-to-high")))

    def test_details_are_markdown_kept_as_is(self) -> None:
        text = render_summary(parse_notification(payload_dict("detected-low-docs")))
        assert "### Details" in text
        assert "- **Invalid image name or tag**:" in text

    def test_without_summary_says_what_was_detected(self) -> None:
        text = render_summary(slo_note(description=None))
        assert text.startswith("Causely detected Malfunction.")

    def test_minimal_notification(self) -> None:
        n = parse_notification({"type": "ProblemDetected", "objectId": "id-1", "name": "N", "severity": "Low"})
        text = render_summary(n)
        assert "View root cause" not in text
        assert text.endswith("Causely objectId: `id-1`")

    def test_single_line_fields_cannot_open_headings(self) -> None:
        text = render_summary(slo_note(labels={"k8s.cluster.name": "dev\n# Injected heading"}))
        assert "\n# Injected" not in text
        assert "- **Cluster:** dev # Injected heading" in text

    def test_link_text_brackets_are_escaped(self) -> None:
        text = render_summary(slo_note(entity={"name": "a]b[c", "link": "https://x.example/e", "type": "T"}))
        assert "[a\\]b\\[c](https://x.example/e)" in text

    def test_only_http_links(self) -> None:
        text = render_summary(slo_note(link="javascript:alert(1)",
                                       entity={"name": "e", "link": "file:///etc", "type": "T"}))
        assert "javascript:" not in text and "file:" not in text
        assert "View root cause" not in text

    def test_link_with_parentheses_is_wrapped(self) -> None:
        text = render_summary(slo_note(link="https://x.example/a(b)"))
        assert "[View root cause in Causely](<https://x.example/a(b)>)" in text

    @pytest.mark.parametrize("name", VALID_PAYLOAD_NAMES)
    def test_every_payload_renders_within_the_limit(self, name: str) -> None:
        n = parse_notification(payload_dict(name))
        text = render_summary(n)
        assert size(text) <= SUMMARY_LIMIT_BYTES
        assert n.object_id in text


class TestSummaryLimit:
    def test_default_limit_is_16_kib(self) -> None:
        assert SUMMARY_LIMIT_BYTES == 16 * 1024

    def test_huge_details_are_cut_first_and_links_survive(self) -> None:
        n = slo_note(description={"summary": "S", "details": "x" * 100_000,
                                  "remediationOptions": [{"title": "Fix", "description": "it"}]})
        text = render_summary(n)
        assert size(text) <= SUMMARY_LIMIT_BYTES
        assert size(text) > SUMMARY_LIMIT_BYTES - 200  # the budget is used, not thrown away
        assert "details truncated" in text
        assert "- **Fix:** it" in text and "### Impacted SLOs" in text
        assert f"[View root cause in Causely]({ROOT_LINK})" in text
        assert text.endswith(f"Causely objectId: `{OBJECT_ID}`")

    def test_multibyte_details_are_cut_on_character_boundaries(self) -> None:
        n = slo_note(description={"summary": "S", "details": "€😀é" * 20_000})
        for limit in (SUMMARY_LIMIT_BYTES, 4001, 4002, 4003):
            text = render_summary(n, limit_bytes=limit)
            assert size(text) <= limit
            text.encode("utf-8").decode("utf-8")  # valid UTF-8
            assert "\ufffd" not in text
            assert text.endswith(f"Causely objectId: `{OBJECT_ID}`")

    def test_open_code_fence_is_closed_after_cut(self) -> None:
        n = slo_note(description={"summary": "S", "details": "intro\n```\n" + "line\n" * 10_000 + "```\n"})
        text = render_summary(n, limit_bytes=3000)
        assert text.count("```") % 2 == 0

    def test_remediation_goes_before_slos(self) -> None:
        options = [{"title": f"Option {i}", "description": "d" * 300} for i in range(20)]
        slos = payload_dict("detected-high-slo")["slos"] * 5
        n = slo_note(description={"summary": "S", "details": "D" * 2000, "remediationOptions": options}, slos=slos)
        text = render_summary(n, limit_bytes=3000)
        assert size(text) <= 3000
        assert "### Details" not in text
        assert "more remediation options in Causely" in text
        assert text.count("**AT_RISK**") == 5
        assert text.endswith(f"Causely objectId: `{OBJECT_ID}`")

    def test_slos_shrink_last_and_say_how_many_are_left_out(self) -> None:
        slos = payload_dict("detected-high-slo")["slos"] * 40
        n = slo_note(slos=slos, description={"summary": "S",
                                             "remediationOptions": [{"title": "T", "description": "x" * 500}]})
        text = render_summary(n, limit_bytes=3000)
        assert size(text) <= 3000
        assert "more impacted SLOs in Causely" in text
        assert "### Remediation options" not in text  # less important than the SLOs that did not fit
        assert f"[View root cause in Causely]({ROOT_LINK})" in text

    def test_huge_summary_is_cut_but_footer_survives(self) -> None:
        n = slo_note(description={"summary": "ü" * 50_000})
        text = render_summary(n, limit_bytes=2048)
        assert size(text) <= 2048
        assert "…" in text
        assert f"[View root cause in Causely]({ROOT_LINK})" in text
        assert text.endswith(f"Causely objectId: `{OBJECT_ID}`")

    @pytest.mark.parametrize("limit", [0, 10, 100, 300, 600, 1000])
    def test_any_limit_is_respected(self, limit: int) -> None:
        n = slo_note(description={"summary": "s" * 5000, "details": "d" * 5000})
        assert size(render_summary(n, limit_bytes=limit)) <= limit

    def test_fits_untouched_when_small(self) -> None:
        n = slo_note()
        assert render_summary(n, limit_bytes=100_000) == render_summary(n)
        assert "truncated" not in render_summary(n)


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("abc", 2, "ab"), ("é", 1, ""), ("aé", 2, "a"), ("aé", 3, "aé"), ("😀", 3, ""), ("x", 0, ""),
])
def test_cut_utf8(text: str, limit: int, expected: str) -> None:
    assert cut_utf8(text, limit) == expected
