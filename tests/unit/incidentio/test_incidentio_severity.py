"""The severity rule, one test per step, plus the clamp, case-insensitivity and every error."""

from __future__ import annotations

import pytest

from causely_incidentio.incidentio import (
    CAUSELY_SEVERITY_ORDER,
    Severity,
    SeverityResolutionError,
    resolve_severity,
)

MINOR = Severity(id="sev-minor", name="Minor", rank=1)
MAJOR = Severity(id="sev-major", name="Major", rank=2)
CRITICAL = Severity(id="sev-critical", name="Critical", rank=3)
THREE = [MINOR, CRITICAL, MAJOR]  # deliberately not in rank order


def test_causely_order() -> None:
    assert CAUSELY_SEVERITY_ORDER == ("Critical", "High", "Medium", "Low")


def test_rule_1_an_explicit_id_wins_over_everything() -> None:
    chosen = resolve_severity(THREE, "Critical", severity_id="sev-minor", severity_map={"Critical": "Major"})
    assert chosen is MINOR


def test_rule_1_the_id_must_exist() -> None:
    with pytest.raises(SeverityResolutionError, match="severity id 'nope' does not exist") as caught:
        resolve_severity(THREE, "High", severity_id="nope")
    assert "'Critical' (id sev-critical, rank 3)" in str(caught.value)


def test_rule_2_map_by_id_then_by_name_with_case_insensitive_keys() -> None:
    assert resolve_severity(THREE, "high", severity_map={"HIGH": "sev-critical"}) is CRITICAL
    assert resolve_severity(THREE, "High", severity_map={"high": "mInOr"}) is MINOR


def test_rule_2_a_mapped_value_must_exist() -> None:
    with pytest.raises(SeverityResolutionError, match="severity map sends Causely severity 'High' to 'SEV0'"):
        resolve_severity(THREE, "High", severity_map={"High": "SEV0"})


def test_rule_2_an_unmapped_severity_falls_through() -> None:
    assert resolve_severity(THREE, "Critical", severity_map={"Low": "Minor"}) is CRITICAL


def test_rule_3_same_name_case_insensitively_beats_rank() -> None:
    odd = [Severity(id="a", name="High", rank=1), Severity(id="b", name="Top", rank=9)]
    assert resolve_severity(odd, "HIGH", rule="Mapped").id == "a"
    assert resolve_severity(THREE, "critical", rule="Mapped") is CRITICAL


def test_rule_4_rank_order_with_four_or_more_severities() -> None:
    sevs = [Severity(id=f"s{r}", name=f"SEV{5 - r}", rank=r) for r in range(1, 6)]  # SEV0 (rank 5) .. SEV4
    picked = {c: resolve_severity(sevs, c, rule="Mapped").name for c in CAUSELY_SEVERITY_ORDER}
    assert picked == {"Critical": "SEV0", "High": "SEV1", "Medium": "SEV2", "Low": "SEV3"}


def test_rule_4_clamps_at_the_lowest_rank() -> None:
    two = [Severity(id="lo", name="Low-ish", rank=10), Severity(id="hi", name="Urgent", rank=20)]
    assert [resolve_severity(two, c, rule="Mapped").id for c in ("High", "Medium", "low")] == ["lo", "lo", "lo"]
    assert [resolve_severity(THREE, c, rule="Mapped").id for c in ("High", "Medium")] == ["sev-major", "sev-minor"]


def test_rule_4_equal_ranks_keep_the_listed_order() -> None:
    tied = [Severity(id="x", name="X", rank=1), Severity(id="y", name="Y", rank=1)]
    assert resolve_severity(tied, "Critical", rule="Mapped").id == "x"


def test_no_severities_at_all() -> None:
    with pytest.raises(SeverityResolutionError, match="no severities configured"):
        resolve_severity([], "High", severity_id="sev-major")


def test_unknown_causely_severity_lists_what_exists() -> None:
    with pytest.raises(SeverityResolutionError) as caught:
        resolve_severity(THREE, "Catastrophic", rule="Mapped")
    message = str(caught.value)
    assert "unknown Causely severity 'Catastrophic'" in message
    assert "Critical, High, Medium, Low" in message
    assert "'Minor' (id sev-minor, rank 1)" in message
    assert isinstance(caught.value, ValueError)


def test_default_rule_is_critical_as_causely_documents() -> None:
    """Causely: with no severity_id, the severity "defaults to Critical" — for every Causely severity."""
    for causely in CAUSELY_SEVERITY_ORDER:
        assert resolve_severity(THREE, causely) is CRITICAL
    lower = Severity(id="c", name="cRiTiCaL", rank=1)
    assert resolve_severity([MAJOR, lower], "Low").id == "c"  # by name, any case, whatever its rank


def test_critical_rule_without_a_critical_takes_the_highest_ranked() -> None:
    sev1 = Severity(id="s1", name="SEV1", rank=9)
    assert resolve_severity([MINOR, sev1, MAJOR], "Low", rule="Critical") is sev1


def test_critical_rule_yields_to_an_explicit_id_or_map_entry() -> None:
    assert resolve_severity(THREE, "High", severity_id="sev-minor") is MINOR
    assert resolve_severity(THREE, "High", severity_map={"High": "Major"}) is MAJOR
    assert resolve_severity(THREE, "Medium", severity_map={"High": "Major"}) is CRITICAL
