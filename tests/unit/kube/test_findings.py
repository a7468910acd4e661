"""The pure Finding rules: names, labels, the receivers' spec rule, and status ⇄ record."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml
from causely_docs import detected, payload

from causely_incidentio.kube import findings as F
from causely_incidentio.payload import parse_notification
from causely_incidentio.sync.records import FindingRecord, State

DEST = "secret/causely/incidentio-notification-config"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def n(doc: dict) -> tuple:
    import json

    raw = json.dumps(doc).encode()
    return parse_notification(raw), raw


def test_names_are_deterministic_valid_and_distinct() -> None:
    a = F.finding_name(DEST, "7f3c-ABC/def")
    assert a == F.finding_name(DEST, "7f3c-ABC/def")
    assert NAME_RE.match(a) and len(a) <= 253
    assert a != F.finding_name(DEST, "7f3c-abc/def")  # case matters in objectIds
    assert a != F.finding_name("incidentdestination/causely/incidentio-notification-config", "7f3c-ABC/def")
    weird = F.finding_name(DEST, "///" + "é" * 500)
    assert NAME_RE.match(weird) and len(weird) <= 253


def test_labels_are_valid_and_select_one_destination() -> None:
    labels = F.destination_labels("incidentdestination/ns/" + "x" * 200)
    assert all(len(v) <= 63 and re.match(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$", v) for v in labels.values())
    assert F.destination_labels(DEST) == {F.LABEL_DESTINATION: "incidentio-notification-config",
                                          F.LABEL_SOURCE: "secret"}
    assert F.label_selector(DEST) == (
        "notifications.causely.ai/destination=incidentio-notification-config,notifications.causely.ai/source=secret"
    )


def test_payload_round_trips_and_a_large_one_compresses() -> None:
    raw = b'{"x": "' + b"a" * 1_000_000 + b'"}'
    text = F.encode_payload(raw)
    assert F.decode_payload(text) == raw and len(text) < 20_000
    with pytest.raises(ValueError, match="zlib"):
        F.decode_payload("not base64!")


def test_first_notification_creates_occurrence_one() -> None:
    note, raw = n(detected("A"))
    d = F.next_spec(None, DEST, note, raw, 1.0)
    assert d.reason == "new" and d.spec is not None
    assert d.spec["occurrence"] == 1 and d.spec["notification"]["type"] == "ProblemDetected"
    assert d.spec["notification"]["timestamp"] == str(note.timestamp_ns)
    assert F.decode_payload(d.spec["payload"]) == raw


@pytest.mark.parametrize(("first", "second", "reason"), [
    (("ProblemDetected", "2026-11-26T10:00:00Z"), ("ProblemUpdated", "2026-11-26T10:00:01Z"), "newer"),
    (("ProblemDetected", "2026-11-26T10:00:01Z"), ("ProblemUpdated", "2026-11-26T10:00:00Z"), "stale"),
    (("ProblemDetected", "2026-11-26T10:00:00Z"), ("ProblemDetected", "2026-11-26T10:00:00Z"), "duplicate"),
    # equal timestamps of different types: a clear wins over an update, an update over a detection
    (("ProblemDetected", "2026-11-26T10:00:00Z"), ("ProblemCleared", "2026-11-26T10:00:00Z"), "newer"),
    (("ProblemCleared", "2026-11-26T10:00:00Z"), ("ProblemDetected", "2026-11-26T10:00:00Z"), "stale"),
])
def test_newer_wins_equal_is_duplicate_older_is_stale(first: tuple, second: tuple, reason: str) -> None:
    a, raw_a = n(detected("A", ts=first[1], type=first[0]))
    b, raw_b = n(detected("A", ts=second[1], type=second[0]))
    spec = F.next_spec(None, DEST, a, raw_a, 1.0).spec
    d = F.next_spec(spec, DEST, b, raw_b, 2.0)
    assert d.reason == reason
    assert (d.spec is None) == (reason != "newer")


def test_a_detection_or_an_update_after_a_clear_starts_a_new_occurrence() -> None:
    det, raw = n(detected("A", ts="2026-11-26T10:00:00Z"))
    clr, raw_c = n(payload("cleared.json", objectId="A", timestamp="2026-11-26T10:01:00Z"))
    upd, raw_u = n(detected("A", ts="2026-11-26T10:02:00Z", type="ProblemUpdated"))
    again, raw_a = n(detected("A", ts="2026-11-26T10:03:00Z"))
    late, raw_l = n(detected("A", ts="2026-11-26T10:01:30Z"))
    spec = F.next_spec(None, DEST, det, raw, 1.0).spec
    spec = F.next_spec(spec, DEST, clr, raw_c, 2.0).spec
    assert spec is not None and spec["occurrence"] == 1
    # Causely updates only a live problem: an Updated after the clear means it was detected again, and the
    # ProblemDetected (stamped between the two) is late — when it comes it is stale, not a third occurrence.
    after_update = F.next_spec(spec, DEST, upd, raw_u, 3.0).spec
    assert after_update is not None and after_update["occurrence"] == 2
    assert F.next_spec(after_update, DEST, late, raw_l, 3.5).reason == "stale"
    assert F.next_spec(after_update, DEST, again, raw_a, 4.0).spec["occurrence"] == 2  # type: ignore[index]
    spec = F.next_spec(spec, DEST, again, raw_a, 4.0).spec
    assert spec is not None and spec["occurrence"] == 2
    updated_again, raw_u2 = n(detected("A", ts="2026-11-26T10:04:00Z", type="ProblemUpdated"))
    assert F.next_spec(spec, DEST, updated_again, raw_u2, 5.0).spec["occurrence"] == 2  # type: ignore[index]


def test_no_timestamp_counts_as_newest() -> None:
    a, raw_a = n(detected("A"))
    doc = detected("A", type="ProblemUpdated")
    del doc["timestamp"]
    b, raw_b = n(doc)
    spec = F.next_spec(None, DEST, a, raw_a, 1.0).spec
    d = F.next_spec(spec, DEST, b, raw_b, 2.0)
    assert d.reason == "newer" and d.spec is not None and d.spec["notification"]["timestamp"] == ""


def test_status_round_trips_a_record() -> None:
    rec = FindingRecord(DEST, "A", state=State.OPEN, occurrence=3, incident_id="01H", reference="INC-7",
                        permalink="https://x/7", severity="High", title="t", last_ts_ns=1_764_151_200_000_000_123,
                        attempts=1, last_error=None, incident_severity="Major")
    status = F.status_from_record(rec, observed_generation=4, now=1000.0)
    assert status["observedGeneration"] == 4 and status["lastTimestamp"] == "1764151200000000123"
    assert status["conditions"][0]["type"] == "Synced" and status["conditions"][0]["status"] == "True"
    back = F.record_from_status(DEST, "A", status)
    assert back is not None
    assert back.copy(updated_at=0.0) == rec


def test_failed_and_retrying_show_in_the_condition_and_errors_are_capped() -> None:
    failed = FindingRecord(DEST, "A", state=State.FAILED, last_error="x" * 5000)
    status = F.status_from_record(failed, observed_generation=1, now=0.0)
    assert status["conditions"][0]["reason"] == "Failed" and len(status["lastError"]) <= F.ERROR_LIMIT
    retrying = FindingRecord(DEST, "A", state=State.OPEN, last_error="HTTP 503")
    assert F.status_from_record(retrying, observed_generation=1, now=0.0)["conditions"][0]["reason"] == "Retrying"


def test_resource_versions_compare_as_revisions() -> None:
    assert F.resource_version_newer("10", "9") and not F.resource_version_newer("9", "10")
    assert not F.resource_version_newer("9", "9") and F.resource_version_newer("9", None)


def test_an_incompressible_megabyte_still_fits_etcd_and_renders() -> None:
    import base64
    import json
    import os

    doc = {**detected("huge"), "name": base64.b64encode(os.urandom(650_000)).decode()}
    raw = json.dumps(doc).encode()
    note, _ = n(doc)
    spec = F.next_spec(None, DEST, note, raw, 1.0).spec
    assert spec is not None
    assert len(json.dumps(spec)) < 300 * 1024  # far below etcd's limit
    kept = parse_notification(F.decode_payload(spec["payload"]))
    assert kept.object_id == "huge" and kept.title.startswith(doc["name"][:100])
    assert len(spec["notification"]["title"]) <= F.TEXT_LIMIT
    small = json.dumps(detected("small")).encode()
    assert F.decode_payload(F.stored_payload(small)) == small  # normal payloads are kept byte for byte


def test_a_resend_without_timestamp_is_a_duplicate_and_a_different_body_is_newer() -> None:
    doc = detected("A", type="ProblemUpdated")
    del doc["timestamp"]
    first, raw = n(doc)
    spec = F.next_spec(None, DEST, first, raw, 1.0).spec
    assert F.next_spec(spec, DEST, first, raw, 2.0).reason == "duplicate"
    other, raw2 = n({**doc, "severity": "Critical"})
    assert F.next_spec(spec, DEST, other, raw2, 3.0).reason == "newer"


def test_every_status_field_the_store_writes_is_in_the_crd_schema() -> None:
    """A status field the schema lacks is pruned by the API server: the fake would keep it, a cluster would not."""
    crd = yaml.safe_load((pathlib.Path(__file__).parents[3] / "crds" / "findings.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    rec = FindingRecord(DEST, "A", state=State.OPEN, occurrence=2, incident_id="01H", create_attempted=2,
                        resolve_attempted=2, last_error="x")
    status = F.status_from_record(rec, observed_generation=1, now=0.0)
    assert set(status) - set(schema) == set()
    condition = schema["conditions"]["items"]["properties"]
    assert set(status["conditions"][0]) - set(condition) == set()
