"""Hostile input on the real receiver: a clean 4xx (or a deliberate 503), never a 5xx, never a traceback.

Every case here answered 500 with a traceback in the log, or was accepted and then could never be
delivered, or held the server's memory or a connection without bound, before its fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from pipeline_harness import RECEIVER_TOKEN, Harness, detected

from causely_incidentio.payload import parse_notification
from causely_incidentio.receiver import HEADER_TIMEOUT_SECONDS, MAX_BODY_BYTES, MAX_BUFFERED_BYTES, Receiver, serve

pytestmark = pytest.mark.integration

A = "99999999-9999-4999-8999-999999999999"
DEST = "secret/causely/primary"


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()]
    assert not bad, [r.getMessage() for r in bad]


async def raw_request(port: int, request: bytes, timeout: float = 30.0) -> bytes:
    """Send bytes as they are (headers httpx would refuse to send) and read the answer's head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    finally:
        writer.close()
        await writer.wait_closed()


def port_of(harness: Harness) -> int:
    return int(harness.url.split(":")[2].split("/")[0])


def body_of(data: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps(data | changes).encode()


@pytest.mark.parametrize(("name", "body", "status"), [
    ("deep nesting", b'{"type": "ProblemDetected", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", 400),
    ("5,000-digit integer", b'{"type": "ProblemDetected", "objectId": ' + b"9" * 5000 + b"}", 400),
    ("extreme UTC offset", body_of(detected(A, ts="9999-12-31T23:59:59-23:59")), 422),
    ("after 2262", body_of(detected(A, ts="2263-01-01T00:00:00Z")), 422),
    ("before 1677", body_of(detected(A, ts="1677-01-01T00:00:00Z")), 422),
    ("lone surrogate in the title", body_of(detected(A), name="evil \ud800"), 422),
    ("lone surrogate in the objectId", body_of(detected("\udfff" + A)), 422),
    ("900 levels in a label", body_of(detected(A, labels={"x": json.loads("[" * 900 + "]" * 900)})), 422),
])
async def test_bad_bodies_get_a_4xx_and_no_traceback(harness: Harness, caplog: pytest.LogCaptureFixture,
                                                     name: str, body: bytes, status: int) -> None:
    await harness.start([harness.dest("primary")])
    r = await harness.post(body)
    assert r.status_code == status, (name, r.text)
    assert await harness.journal.pending_count() == 0
    no_tracebacks(caplog)


async def test_422_names_timestamp_and_the_surrogate_field(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    r = await harness.post(detected(A, ts="2300-01-01T00:00:00Z"))
    assert [p["field"] for p in r.json()["problems"]] == ["timestamp"]
    r = await harness.post(body_of(detected(A, customName="x\ud800")))
    assert [p["field"] for p in r.json()["problems"]] == ["customName"]


async def test_a_sender_cannot_set_timestamp_ns(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.pipeline.workers[DEST].stop()
    data = detected(A, ts="2026-11-26T10:00:00Z")
    data["timestamp_ns"] = 2**62  # would make every later notification of the finding look stale
    assert (await harness.post(data)).status_code == 202
    (pending,) = await harness.journal.pending(DEST)
    assert parse_notification(pending.payload).timestamp_ns == 1_795_687_200_000_000_000


@pytest.mark.parametrize("auth", [b"Bearer \xff\xfe\x80", b"\xc3\x28", b"Bearer " + RECEIVER_TOKEN.encode() + b"\xff"])
async def test_non_utf8_authorization_is_a_clean_401(harness: Harness, caplog: pytest.LogCaptureFixture,
                                                     auth: bytes) -> None:
    await harness.start([harness.dest("primary")])
    body = body_of(detected(A))
    answer = await raw_request(port_of(harness), b"POST /notifications HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               b"Content-Type: application/json\r\nConnection: close\r\n"
                               b"Authorization: " + auth + b"\r\nContent-Length: " + str(len(body)).encode()
                               + b"\r\n\r\n" + body)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert await harness.journal.pending_count() == 0
    no_tracebacks(caplog)
    assert RECEIVER_TOKEN not in caplog.text


async def test_a_half_open_connection_is_closed(harness: Harness) -> None:
    """Headers never completed: the server closes the connection (before: held for 3,630 s)."""
    await harness.start([])
    runner, port = await serve(Receiver(harness.pipeline, token=RECEIVER_TOKEN).app(), "127.0.0.1", 0,
                               header_timeout=0.5)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /notifications HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 30) == b""  # closed by the server, nothing answered
        writer.close()
    finally:
        await runner.cleanup()
    assert HEADER_TIMEOUT_SECONDS <= 60


async def test_a_trickling_body_gets_408(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    await harness.start([])
    receiver = Receiver(harness.pipeline, token=RECEIVER_TOKEN, body_timeout=0.3)
    runner, port = await serve(receiver.app(), "127.0.0.1", 0)
    try:
        answer = await raw_request(port, b"POST /notifications HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Content-Type: application/json\r\nAuthorization: Bearer "
                                   + RECEIVER_TOKEN.encode() + b"\r\nContent-Length: 1000\r\n\r\n{\"type\"")
    finally:
        await runner.cleanup()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert receiver.buffered.used == 0
    no_tracebacks(caplog)


async def test_bodies_held_at_once_are_bounded(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """Past the byte budget a request waits briefly, then gets 503 + Retry-After; room comes back."""
    await harness.start([harness.dest("primary")])
    await harness.pipeline.workers[DEST].stop()
    receiver = Receiver(harness.pipeline, token=RECEIVER_TOKEN, max_buffered_bytes=1024 * 1024, buffer_wait=0.05)
    runner, port = await serve(receiver.app(), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/notifications"
    release = asyncio.Event()
    entered = 0
    original = harness.journal.accept

    async def slow(intakes: Any) -> None:
        nonlocal entered
        entered += 1
        await release.wait()
        await original(intakes)

    harness.journal.accept = slow  # type: ignore[method-assign]

    def big(object_id: str) -> dict[str, Any]:
        data = detected(object_id)
        data["description"]["details"] = "x" * 400_000
        return data

    headers = {"Authorization": f"Bearer {RECEIVER_TOKEN}"}
    try:
        held = [asyncio.create_task(harness.http.post(url, json=big(f"{A[:-1]}{i}"), headers=headers))
                for i in range(2)]
        for _ in range(1000):
            if entered == 2:
                break
            await asyncio.sleep(0.01)
        assert entered == 2 and 800_000 < receiver.buffered.used <= 1024 * 1024
        refused = await harness.http.post(url, json=big(f"{A[:-1]}7"), headers=headers)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.json()["error"] == "busy"
        release.set()
        assert [(await t).status_code for t in held] == [202, 202]
        assert receiver.buffered.used == 0
        again = await harness.http.post(url, json=big(f"{A[:-1]}7"), headers=headers)
        assert again.status_code == 202
    finally:
        harness.journal.accept = original  # type: ignore[method-assign]
        await runner.cleanup()
    no_tracebacks(caplog)
    assert MAX_BUFFERED_BYTES <= 32 * MAX_BODY_BYTES


def http_request(head: bytes, body: bytes) -> bytes:
    return (b"POST /notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + head
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


AUTH = b"Authorization: Bearer " + RECEIVER_TOKEN.encode() + b"\r\n"
JSON = b"Content-Type: application/json\r\n"


@pytest.mark.parametrize(("name", "head", "body", "status"), [
    ("duplicate Content-Type", AUTH + JSON + b"Content-Type: text/plain\r\n", body_of(detected(A)), 400),
    ("gzip that is not gzip", AUTH + JSON + b"Content-Encoding: gzip\r\n", body_of(detected(A)), 400),
    ("gzip that is not gzip, unauthenticated", JSON + b"Content-Encoding: gzip\r\n", body_of(detected(A)), 401),
    ("request line garbage", b"X-\xff: \x00\r\n", b"", 400),
])
async def test_requests_aiohttp_cannot_parse_leave_no_traceback(harness: Harness, caplog: pytest.LogCaptureFixture,
                                                                name: str, head: bytes, body: bytes,
                                                                status: int) -> None:
    """aiohttp logged each of these at ERROR with a traceback: a log flood anyone could cause."""
    await harness.start([harness.dest("primary")])
    answer = await raw_request(port_of(harness), http_request(head, body))
    assert answer.split(b" ")[1] == b"%d" % status, (name, answer[:200])  # aiohttp's own 400 says HTTP/1.0
    await asyncio.sleep(0.05)  # aiohttp logs a lingering body's error after the answer is written
    no_tracebacks(caplog)
    assert await harness.journal.pending_count() == 0
