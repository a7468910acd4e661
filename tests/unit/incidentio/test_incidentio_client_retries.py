"""Every retry path of the client, and the errors that must not be retried (respx, fake time)."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest
import respx
from incidentio_fakes import BASE, TOKEN, FakeTime, error_body, incident_json

from causely_incidentio.incidentio import (
    AuthenticationError,
    BadRequestError,
    IncidentIOClient,
    IncidentIOError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetriesExhaustedError,
    RetryPolicy,
    ServerError,
    TokenBucket,
    TransportError,
    ValidationError,
)

MakeClient = Callable[..., IncidentIOClient]
OK = httpx.Response(200, json={"incident": incident_json()})


class SpyBucket(TokenBucket):
    """A bucket that remembers its penalties."""

    def __init__(self, fake: FakeTime) -> None:
        super().__init__(clock=fake.clock, sleep=fake.sleep)
        self.penalties: list[float] = []

    def penalise(self, seconds: float) -> None:
        self.penalties.append(seconds)
        super().penalise(seconds)


def too_many(
    headers: dict[str, str] | None = None, rate_limit: dict[str, object] | None = None
) -> httpx.Response:
    body = error_body(429, "too_many_requests", "Too many requests hit the API too quickly.")
    if rate_limit is not None:
        body["rate_limit"] = rate_limit
    return httpx.Response(429, headers=headers or {}, json=body)


async def show(client: IncidentIOClient) -> str:
    return (await client.show_incident("01INC")).id


class TestRateLimited:
    async def test_retry_after_seconds_is_waited_and_penalises_the_bucket(
        self, make_client: MakeClient, fake_time: FakeTime
    ) -> None:
        bucket = SpyBucket(fake_time)
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents/01INC").mock(side_effect=[too_many({"Retry-After": "2"}), OK])
            assert await show(make_client(bucket=bucket)) == "01INC"
        assert route.call_count == 2
        assert fake_time.sleeps == [2.0]
        assert bucket.penalties == [2.0]

    async def test_retry_after_http_date(self, make_client: MakeClient, fake_time: FakeTime) -> None:
        when = formatdate(fake_time.wall() + 3, usegmt=True)
        with respx.mock(base_url=BASE) as api:
            api.get("/v2/incidents/01INC").mock(side_effect=[too_many({"Retry-After": when}), OK])
            assert await show(make_client()) == "01INC"
        assert fake_time.sleeps == [3.0]

    @pytest.mark.parametrize(
        "offset_to_text",
        [
            lambda wall: formatdate(wall + 4, usegmt=True).replace("GMT", "UTC"),  # older RFC 1123 variant
            lambda wall: (
                __import__("datetime")
                .datetime.fromtimestamp(wall + 4, tz=__import__("datetime").UTC)
                .isoformat()
                .replace("+00:00", "Z")
            ),  # current RFC 3339 variant
        ],
        ids=["rfc1123", "rfc3339"],
    )
    async def test_body_retry_after_without_header(
        self, make_client: MakeClient, fake_time: FakeTime, offset_to_text: Callable[[float], str]
    ) -> None:
        limited = too_many(
            rate_limit={
                "name": "k",
                "limit": 1200,
                "remaining": 0,
                "retry_after": offset_to_text(fake_time.wall()),
            }
        )
        with respx.mock(base_url=BASE) as api:
            api.get("/v2/incidents/01INC").mock(side_effect=[limited, OK])
            assert await show(make_client()) == "01INC"
        assert fake_time.sleeps == [4.0]

    async def test_no_hint_means_jittered_backoff_and_a_penalty(
        self, make_client: MakeClient, fake_time: FakeTime
    ) -> None:
        bucket = SpyBucket(fake_time)
        with respx.mock(base_url=BASE) as api:
            api.get("/v2/incidents/01INC").mock(side_effect=[too_many(), too_many(), OK])
            assert await show(make_client(bucket=bucket)) == "01INC"
        first, second = fake_time.sleeps
        assert 0.5 <= first <= 1.0  # base_backoff 1.0: uniform in [ceiling/2, ceiling]
        assert 1.0 <= second <= 2.0
        assert bucket.penalties == fake_time.sleeps

    async def test_penalty_holds_back_other_clients_of_the_same_bucket(
        self, make_client: MakeClient, fake_time: FakeTime
    ) -> None:
        bucket = TokenBucket(clock=fake_time.clock, sleep=fake_time.sleep)
        with respx.mock(base_url=BASE) as api:
            api.get("/v2/incidents/01INC").mock(side_effect=[too_many({"Retry-After": "5"})])
            api.get("/v1/identity").mock(return_value=httpx.Response(200, json={"identity": {"name": "k"}}))
            limited = make_client(bucket=bucket, retry=RetryPolicy(max_attempts=1))
            with pytest.raises(RetriesExhaustedError):
                await show(limited)
            start = fake_time.now
            await make_client(bucket=bucket).identity()
        assert fake_time.now - start == 5.0


class TestTransient:
    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    async def test_server_errors_are_retried(
        self, make_client: MakeClient, fake_time: FakeTime, status: int
    ) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents/01INC").mock(
                side_effect=[httpx.Response(status, text="upstream sad"), OK]
            )
            assert await show(make_client()) == "01INC"
        assert route.call_count == 2
        assert len(fake_time.sleeps) == 1 and 0.5 <= fake_time.sleeps[0] <= 1.0

    @pytest.mark.parametrize(
        "failure",
        [
            httpx.ReadTimeout("timed out"),
            httpx.ConnectTimeout("timed out"),
            httpx.ConnectError("[Errno 111] Connection refused"),
            httpx.ReadError("[Errno 104] Connection reset by peer"),
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
        ],
        ids=lambda e: type(e).__name__,
    )
    async def test_transport_failures_are_retried(
        self, make_client: MakeClient, fake_time: FakeTime, failure: Exception
    ) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.post("/v2/incidents").mock(side_effect=[failure, OK])
            incident = await make_client().create_incident(idempotency_key="k1", visibility="public")
        assert incident.id == "01INC"
        assert route.call_count == 2
        # The retry resends the same idempotency key: that is what makes it safe.
        keys = [json.loads(call.request.content)["idempotency_key"] for call in route.calls]
        assert keys == ["k1", "k1"]

    async def test_backoff_grows_exponentially_up_to_the_cap(
        self, make_client: MakeClient, fake_time: FakeTime
    ) -> None:
        policy = RetryPolicy(max_attempts=6, max_total_seconds=1000.0, base_backoff=1.0, max_backoff=4.0)
        with respx.mock(base_url=BASE) as api:
            api.get("/v2/incidents/01INC").mock(side_effect=[httpx.Response(503)] * 5 + [OK])
            await show(make_client(retry=policy))
        ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
        assert len(fake_time.sleeps) == 5
        for slept, ceiling in zip(fake_time.sleeps, ceilings, strict=True):
            assert ceiling / 2 <= slept <= ceiling

    async def test_a_request_httpx_refuses_to_send_is_not_retried(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents/01INC").mock(side_effect=httpx.UnsupportedProtocol("no"))
            with pytest.raises(TransportError) as caught:
                await show(make_client())
        assert route.call_count == 1
        assert not caught.value.retryable


class TestExhausted:
    async def test_attempts_are_bounded(self, make_client: MakeClient, fake_time: FakeTime) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents/01INC").mock(
                return_value=httpx.Response(503, json=error_body(503, "server_error", "down"))
            )
            with pytest.raises(RetriesExhaustedError) as caught:
                await show(make_client(retry=RetryPolicy(max_attempts=3, base_backoff=1.0)))
        assert route.call_count == 3
        assert len(fake_time.sleeps) == 2
        error = caught.value
        assert isinstance(error.last_error, ServerError)
        assert error.attempts == 3 and error.status == 503 and error.request_id == "req-503"
        assert error.elapsed == pytest.approx(sum(fake_time.sleeps))

    async def test_a_wait_beyond_the_time_budget_gives_up_without_sleeping(
        self, make_client: MakeClient, fake_time: FakeTime
    ) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents/01INC").mock(return_value=too_many({"Retry-After": "10"}))
            with pytest.raises(RetriesExhaustedError) as caught:
                await show(make_client(retry=RetryPolicy(max_attempts=8, max_total_seconds=5.0)))
        assert route.call_count == 1
        assert fake_time.sleeps == []
        assert isinstance(caught.value.last_error, RateLimitedError)
        assert caught.value.last_error.retry_after == 10.0

    async def test_time_budget_counts_all_waits(self, make_client: MakeClient, fake_time: FakeTime) -> None:
        with respx.mock(base_url=BASE) as api:
            route = api.get("/v2/incidents/01INC").mock(return_value=too_many({"Retry-After": "3"}))
            with pytest.raises(RetriesExhaustedError):
                await show(make_client(retry=RetryPolicy(max_attempts=8, max_total_seconds=7.0)))
        assert route.call_count == 3  # waits 3 + 3 fit in 7 seconds, a third wait would not
        assert fake_time.sleeps == [3.0, 3.0]

    async def test_transport_failures_exhaust_too(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            api.get("/v2/incidents/01INC").mock(side_effect=httpx.ConnectError("refused"))
            with pytest.raises(RetriesExhaustedError) as caught:
                await show(make_client(retry=RetryPolicy(max_attempts=2)))
        assert isinstance(caught.value.last_error, TransportError)
        assert caught.value.status is None
        assert "ConnectError: refused" in str(caught.value)


class TestPermanent:
    @pytest.mark.parametrize(
        ("status", "kind", "cls"),
        [
            (400, "bad_request", BadRequestError),
            (401, "authentication_error", AuthenticationError),
            (403, "authorization_error", PermissionDeniedError),
            (404, "not_found", NotFoundError),
            (422, "validation_error", ValidationError),
        ],
    )
    async def test_not_retried_and_typed(
        self, make_client: MakeClient, fake_time: FakeTime, status: int, kind: str, cls: type[IncidentIOError]
    ) -> None:
        body = error_body(status, kind, "it went wrong")
        body["errors"][0]["source"] = {"field": "incident_status_id"}
        with respx.mock(base_url=BASE) as api:
            route = api.post("/v2/incidents/01INC/actions/edit").mock(
                return_value=httpx.Response(status, json=body)
            )
            with pytest.raises(cls) as caught:
                await make_client().edit_incident(
                    "01INC", notify_incident_channel=False, incident_status_id="s"
                )
        assert route.call_count == 1
        assert fake_time.sleeps == []
        error = caught.value
        assert error.status == status
        assert error.type == kind
        assert error.request_id == f"req-{status}"
        assert error.endpoint == "POST /v2/incidents/{id}/actions/edit"
        assert [(e.code, e.message, e.field) for e in error.errors] == [
            (kind, "it went wrong", "incident_status_id")
        ]
        assert not error.retryable


class TestTokenNeverLeaks:
    async def test_not_in_errors_built_from_a_body_that_echoes_it(self, make_client: MakeClient) -> None:
        body = error_body(401, "authentication_error", f"key Bearer {TOKEN} is revoked")
        with respx.mock(base_url=BASE) as api:
            api.get("/v1/identity").mock(return_value=httpx.Response(401, json=body))
            with pytest.raises(AuthenticationError) as caught:
                await make_client().identity()
        error = caught.value
        for text in (str(error), repr(error), *(e.message for e in error.errors)):
            assert TOKEN not in text
        assert "[redacted]" in error.errors[0].message  # the client redacts the body it keeps
        assert "revoked" not in str(error)  # and str() never reflects the body's text (issue 8.11)

    async def test_not_in_transport_errors_or_exhaustion(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            api.get("/v1/identity").mock(side_effect=httpx.ConnectError(f"proxy said no to {TOKEN}"))
            with pytest.raises(RetriesExhaustedError) as caught:
                await make_client(retry=RetryPolicy(max_attempts=2)).identity()
        error = caught.value
        for text in (str(error), repr(error), str(error.last_error), repr(error.last_error)):
            assert TOKEN not in text
        # No chained httpx exception: it would hold the request and its Authorization header.
        assert error.last_error.__cause__ is None and error.last_error.__suppress_context__

    async def test_not_in_non_json_bodies(self, make_client: MakeClient) -> None:
        with respx.mock(base_url=BASE) as api:
            api.get("/v1/identity").mock(
                return_value=httpx.Response(400, text=f"bad header Authorization: Bearer {TOKEN}")
            )
            with pytest.raises(BadRequestError) as caught:
                await make_client().identity()
        assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)

    def test_not_in_the_client_repr(self, make_client: MakeClient) -> None:
        client = make_client()
        assert TOKEN not in repr(client)
