"""The lifecycle end to end: HTTP in through the receiver, incidents out in the simulator."""

from __future__ import annotations

import pytest
from pipeline_harness import Harness, cleared, detected, updated

from causely_incidentio.sync.records import State

pytestmark = pytest.mark.integration

A = "11111111-1111-4111-8111-111111111111"
B = "22222222-2222-4222-8222-222222222222"
DEST = "secret/causely/primary"


async def test_default_severity_is_critical_as_causely_documents(harness: Harness) -> None:
    """Issue 8.13: with no severity id or map entry, every incident gets the severity named Critical."""
    await harness.start([harness.dest("primary", notif_config_min_severity="Low")])
    for oid, severity in ((A, "High"), (B, "Medium")):
        await harness.post(detected(oid, severity, "2026-11-26T10:00:00Z"))
    await harness.idle()
    assert sorted(i["severity"]["name"] for i in harness.incidents()) == ["Critical", "Critical"]
    creates = [r for r in harness.sim.requests if r.method == "POST" and r.path == "/v2/incidents"]
    critical = next(s for s in harness.sim.organisation.severities if s["name"] == "Critical")
    assert {r.body["severity_id"] for r in creates} == {critical["id"]}  # the value the worker sends


async def test_mapped_severity_rule_reaches_the_worker_on_create_and_update(harness: Harness) -> None:
    """severityRule Mapped (notif_config_severity_rule): High gets the second-ranked severity, not Critical."""
    await harness.start([harness.dest("primary", notif_config_severity_rule="Mapped",
                                      notif_config_min_severity="Low")])
    await harness.post(detected(A, "High", "2026-11-26T10:00:00Z"))
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["severity"]["name"] == "Major"
    await harness.post(updated(A, "Medium", "2026-11-26T10:05:00Z"))
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["severity"]["name"] == "Minor"


async def test_detect_update_resolve(harness: Harness) -> None:
    # High is mapped (the org has no "High"); Critical is not, so the default rule gives it "Critical".
    await harness.start([harness.dest("primary", notif_config_severity_map='{"High": "Major"}')])
    r = await harness.post(detected(A, "High", "2026-11-26T10:00:00Z"))
    assert r.status_code == 202 and r.json()["destinations"] == [DEST]
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["severity"]["name"] == "Major"
    assert inc["incident_status"]["category"] == "live"
    assert A in inc["summary"] and inc["mode"] == "standard"

    await harness.post(updated(A, "Critical", "2026-11-26T10:05:00Z"))
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["severity"]["name"] == "Critical"

    await harness.post(cleared(A, "2026-11-26T10:30:00Z", severity="Low"))
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["incident_status"]["name"] == "Resolved"
    rec = await harness.record(DEST, A)
    assert rec.state is State.RESOLVED and rec.reference == inc["reference"]
    counters = await harness.journal.counters(DEST)
    assert (counters.created, counters.updated, counters.resolved) == (1, 1, 1)
    reasons = [e[1] for e in harness.events]
    assert reasons.count("IncidentCreated") == 1 and "IncidentUpdated" in reasons and "IncidentResolved" in reasons


async def test_duplicates_create_one_incident(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    for _ in range(3):
        assert (await harness.post(detected(A))).status_code == 202
    await harness.idle()
    assert len(harness.incidents()) == 1
    assert (await harness.journal.counters(DEST)).ignored == 2
    creates = [r for r in harness.sim.requests if r.method == "POST" and r.path == "/v2/incidents"]
    assert len(creates) == 1


async def test_stale_detected_after_its_clear_opens_nothing(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    await harness.post(detected(A, "Critical", "2026-11-26T10:00:00Z"))
    await harness.idle()
    assert harness.incidents() == []
    assert (await harness.record(DEST, A)).state is State.CLEARED_UNKNOWN


async def test_reordered_updates_converge_to_the_newest(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A, "High", "2026-11-26T10:00:00Z"))
    await harness.post(updated(A, "Critical", "2026-11-26T10:10:00Z"))
    await harness.post(updated(A, "High", "2026-11-26T10:05:00Z", old="Critical"))  # arrives late
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["severity"]["name"] == "Critical"


async def test_low_severity_is_skipped_and_a_raise_creates(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.post(detected(B, "Low", "2026-11-26T10:00:00Z"))
    await harness.idle()
    assert harness.incidents() == []
    assert (await harness.record(DEST, B)).state is State.SKIPPED
    await harness.post(updated(B, "High", "2026-11-26T10:01:00Z", old="Low"))
    await harness.idle()
    assert len(harness.incidents()) == 1


async def test_clear_at_lower_severity_still_reaches_a_filtered_destination(harness: Harness) -> None:
    strict = harness.dest("strict", notif_config_filters='[{"field":"severity","operator":"in","value":["High"]}]')
    await harness.start([strict])
    await harness.post(detected(A, "High"))
    await harness.idle()
    r = await harness.post(cleared(A, "2026-11-26T11:00:00Z", severity="Low"))
    assert r.json()["destinations"] == ["secret/causely/strict"]  # filters say no; the open incident says yes
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["incident_status"]["category"] == "closed"


async def test_filters_route_between_destinations(harness: Harness) -> None:
    dev = harness.dest("dev-only", notif_config_filters=(
        '[{"field":"labels.k8s.cluster.name","operator":"equals","value":"dev"}]'))
    prod = harness.dest("prod-only", notif_config_filters=(
        '[{"field":"labels.k8s.cluster.name","operator":"equals","value":"prod"}]'))
    await harness.start([dev, prod])
    r = await harness.post(detected(A))  # the sample finding is in cluster "dev"
    assert r.json()["destinations"] == ["secret/causely/dev-only"]
    await harness.idle()
    assert len(harness.incidents()) == 1


async def test_human_closed_incident_is_recorded_not_reopened_and_redetection_opens_new(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A, "High", "2026-11-26T10:00:00Z"))
    await harness.idle()
    (inc,) = harness.incidents()
    harness.sim.close_incident(inc["reference"], "Closed")
    r = await harness.post(updated(A, "Critical", "2026-11-26T10:05:00Z"))
    assert r.status_code == 202 and r.json()["destinations"] == [DEST], r.text
    await harness.idle()
    rec = await harness.record(DEST, A)
    assert rec.state is State.CLOSED_OUTSIDE
    assert harness.sim.incident(inc["id"])["incident_status"]["name"] == "Closed"  # not fought
    await harness.post(cleared(A, "2026-11-26T10:06:00Z"))
    await harness.idle()
    assert len(harness.incidents()) == 1  # a clear after a human close changes nothing
    await harness.post(detected(A, "High", "2026-11-26T12:00:00Z"))
    await harness.idle()
    incidents = harness.incidents()
    assert len(incidents) == 2
    rec = await harness.record(DEST, A)
    assert rec.state is State.OPEN and rec.occurrence == 2 and rec.incident_id != inc["id"]


async def test_periodic_recheck_finds_human_closed_incidents(harness: Harness) -> None:
    harness.worker_options["recheck_interval"] = 0.2
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A))
    await harness.idle()
    (inc,) = harness.incidents()
    harness.sim.close_incident(inc["reference"], "Declined")
    worker = harness.pipeline.workers[DEST]
    assert await worker.recheck_open_incidents() == 1
    assert (await harness.record(DEST, A)).state is State.CLOSED_OUTSIDE


async def test_redetection_after_resolve_opens_a_new_incident(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A, "High", "2026-11-26T10:00:00Z"))
    await harness.post(cleared(A, "2026-11-26T10:10:00Z"))
    await harness.post(detected(A, "High", "2026-11-26T11:00:00Z"))
    await harness.idle()
    incidents = sorted(harness.incidents(), key=lambda i: i["created_at"])
    assert len(incidents) == 2
    assert incidents[0]["incident_status"]["category"] == "closed"
    assert incidents[1]["incident_status"]["category"] == "live"


async def test_clear_without_resolved_status_leaves_the_incident_open(harness: Harness) -> None:
    await harness.start([harness.dest("primary", notif_config_resolved_status_name="")])
    await harness.post(detected(A))
    await harness.post(cleared(A, "2026-11-26T11:00:00Z"))
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["incident_status"]["category"] == "live"
    assert (await harness.record(DEST, A)).state is State.CLEARED_LEFT_OPEN


async def test_test_mode_and_private_visibility_and_fixed_severity(harness: Harness) -> None:
    sev_id = harness.sim.organisation.severities[0]["id"]
    await harness.start([harness.dest("primary", notif_config_mode="test", notif_config_visibility="private",
                                      notif_config_severity_id=sev_id)])
    await harness.post(detected(A, "Critical"))
    await harness.idle()
    (inc,) = harness.incidents()
    assert (inc["mode"], inc["visibility"], inc["severity"]["id"]) == ("test", "private", sev_id)
    assert harness.sim.incidents(include_all_modes=False) == []  # hidden from a default listing, as in the real API
