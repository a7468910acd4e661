"""The receiver's HTTP contract: 202 only once journaled, clear 4xx for bad input, 503 when it cannot persist."""

from __future__ import annotations

import json

import httpx
import pytest
from causely_docs import payload
from pipeline_harness import RECEIVER_TOKEN, Harness, detected

from causely_incidentio.receiver import Receiver
from causely_incidentio.sync.journal import JournalUnavailable

pytestmark = pytest.mark.integration

A = "55555555-5555-4555-8555-555555555555"


async def test_202_lists_destinations_and_the_action_is_already_durable(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    worker = harness.pipeline.workers["secret/causely/primary"]
    await worker.stop()  # nothing drains: what the 202 promised must be in the journal
    r = await harness.post(detected(A))
    assert r.status_code == 202
    assert r.json() == {"status": "accepted", "type": "ProblemDetected", "objectId": A,
                        "destinations": ["secret/causely/primary"]}
    (pending,) = await harness.journal.pending("secret/causely/primary")
    assert pending.object_id == A and json.loads(pending.payload)["objectId"] == A


async def test_bare_token_and_webhook_alias_are_accepted(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    r = await harness.http.post(harness.url.replace("/notifications", "/webhook"), json=detected(A),
                                headers={"Authorization": RECEIVER_TOKEN})
    assert r.status_code == 202


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "wrong", "Basic " + RECEIVER_TOKEN])
async def test_401_without_the_right_token(harness: Harness, auth: str | None) -> None:
    await harness.start([harness.dest("primary")])
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    r = await harness.http.post(harness.url, content=json.dumps(detected(A)), headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert await harness.journal.pending_count() == 0


async def test_400_for_malformed_json(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    r = await harness.post(b'{"type": "ProblemDetected",')
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"


async def test_415_for_a_non_json_content_type(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    r = await harness.post(json.dumps(detected(A)).encode(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


async def test_413_over_one_mebibyte(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    big = detected(A)
    big["description"]["details"] = "x" * (1024 * 1024)
    r = await harness.post(big)
    assert r.status_code == 413 and r.json()["error"] == "too_large"


async def test_422_names_the_missing_field_for_the_legacy_payload(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    r = await harness.post(payload("legacy-string-description.json"))
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_notification"
    assert [p["field"] for p in body["problems"]] == ["severity"]


async def test_422_for_an_unknown_type_and_bad_severity(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    r = await harness.post(detected(A, type="ProblemExploded", severity="Catastrophic"))
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["problems"]} == {"type", "severity"}


async def test_503_when_the_journal_cannot_be_written_and_nothing_is_lost(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.pipeline.workers["secret/causely/primary"].stop()
    assert (await harness.post(detected(A))).status_code == 202

    async def broken(intakes: object) -> None:
        raise JournalUnavailable("disk full")

    original = harness.journal.accept
    harness.journal.accept = broken  # type: ignore[method-assign]
    r = await harness.post(detected("66666666-6666-4666-8666-666666666666"))
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    harness.journal.accept = original  # type: ignore[method-assign]
    assert [p.object_id for p in await harness.journal.pending("secret/causely/primary")] == [A]


async def test_health_ready_and_metrics(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A))
    await harness.post(b"{")
    await harness.idle()
    base = harness.url.rsplit("/", 1)[0]
    assert (await harness.http.get(base + "/healthz")).status_code == 200
    assert (await harness.http.get(base + "/readyz")).json()["ready"] is True
    text = (await harness.http.get(base + "/metrics")).text
    assert 'causely_incidentio_notifications_received_total{outcome="accepted",type="ProblemDetected"} 1.0' in text
    assert 'causely_incidentio_notifications_received_total{outcome="malformed",type="unknown"} 1.0' in text
    assert ('causely_incidentio_incident_actions_total{action="created",destination="secret/causely/primary"} 1.0'
            in text)
    assert 'causely_incidentio_api_requests_total{code="200",endpoint="POST /v2/incidents"} 1.0' in text
    assert "sim-api-token" not in text and RECEIVER_TOKEN not in text


async def test_readyz_is_503_before_destinations_are_loaded(harness: Harness) -> None:
    await harness.start([])
    harness.pipeline.loaded = False
    base = harness.url.rsplit("/", 1)[0]
    r = await harness.http.get(base + "/readyz")
    assert r.status_code == 503


async def test_refuses_to_start_without_a_token(harness: Harness) -> None:
    await harness.start([])
    with pytest.raises(ValueError, match="needs a token"):
        Receiver(harness.pipeline, token=None)


async def test_allow_unauthenticated_serves_without_a_token(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    from causely_incidentio.receiver import serve

    runner, port = await serve(Receiver(harness.pipeline, token=None, allow_unauthenticated=True).app(),
                               "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient() as http:
            r = await http.post(f"http://127.0.0.1:{port}/notifications", json=detected(A))
        assert r.status_code == 202
    finally:
        await runner.cleanup()
