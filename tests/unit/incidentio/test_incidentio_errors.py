"""Error parsing: status decides the class, the documented body adds type, request id and details."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest

from causely_incidentio.incidentio.errors import (
    AuthenticationError,
    BadRequestError,
    ErrorDetail,
    IncidentIOError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetriesExhaustedError,
    ServerError,
    TransportError,
    ValidationError,
    error_from_response,
    is_auth_failure,
    parse_retry_after,
    parse_retry_timestamp,
)

NOW = 1_744_888_630.0  # 2025-04-17T11:17:10Z


def validation_body() -> str:
    return json.dumps(
        {
            "type": "validation_error",
            "status": 422,
            "request_id": "631766c4-4afd-4803-997c-cd700928fa4b",
            "errors": [
                {
                    "code": "is_required",
                    "message": "A severity is required to open an incident",
                    "source": {"field": "severity_id"},
                },
                {"code": "invalid_value", "message": "Bad mode"},
            ],
        }
    )


def test_validation_error_carries_every_documented_field() -> None:
    error = error_from_response("POST /v2/incidents", 422, validation_body(), {}, now=NOW)

    assert isinstance(error, ValidationError)
    assert error.status == 422
    assert error.type == "validation_error"
    assert error.request_id == "631766c4-4afd-4803-997c-cd700928fa4b"
    assert error.endpoint == "POST /v2/incidents"
    assert error.errors == [
        ErrorDetail("is_required", "A severity is required to open an incident", "severity_id"),
        ErrorDetail("invalid_value", "Bad mode", None),
    ]
    assert str(error) == (
        "POST /v2/incidents: HTTP 422 validation_error: is_required (field severity_id); invalid_value "
        "[request_id 631766c4-4afd-4803-997c-cd700928fa4b]"
    )  # codes only: the body's free text is never reflected into status, Events or logs (issue 8.11)
    assert not error.retryable


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (400, BadRequestError, False),
        (401, AuthenticationError, False),
        (403, PermissionDeniedError, False),
        (404, NotFoundError, False),
        (422, ValidationError, False),
        (429, RateLimitedError, True),
        (500, ServerError, True),
        (502, ServerError, True),
        (503, ServerError, True),
        (409, IncidentIOError, False),
    ],
)
def test_status_decides_the_class(status: int, cls: type[IncidentIOError], retryable: bool) -> None:
    body = json.dumps({"type": "whatever", "status": status, "errors": [{"code": "x", "message": "m"}]})
    error = error_from_response("GET /v1/severities", status, body, {}, now=NOW)
    assert type(error) is cls
    assert error.retryable is retryable


def test_non_json_body_is_tolerated_and_never_quoted() -> None:
    html = "<html>\n<body>502 Bad Gateway</body>\n</html>" + "x" * 500
    error = error_from_response("GET /v2/incidents", 502, html, {}, now=NOW)
    assert isinstance(error, ServerError)
    assert error.type is None and error.errors == []
    assert "non-JSON response body" in str(error)
    assert "Bad Gateway" not in str(error) and "xxx" not in str(error)
    assert "\n" not in str(error)
    assert len(str(error)) < 300


def test_free_text_in_a_json_error_body_is_never_reflected() -> None:
    """A server chosen by a destination's author must not get its words into status, Events or logs."""
    body = json.dumps({
        "type": "evil text with spaces", "request_id": "x" * 500,
        "errors": [{"code": "see http://evil.example/?q=1 now", "message": "db password is hunter2",
                    "source": {"field": "a b"}}],
    })
    text = str(error_from_response("GET /v1/identity", 401, body, {}, now=NOW))
    assert text == "GET /v1/identity: HTTP 401: error"


def test_empty_body_and_odd_shapes_do_not_crash() -> None:
    assert str(error_from_response("GET /x", 500, "", {}, now=NOW)) == "GET /x: HTTP 500"
    odd = json.dumps({"errors": [{"code": "not_found"}, "junk", {"source": "nope"}], "type": None})
    error = error_from_response("GET /x", 404, odd, {}, now=NOW)
    assert [d.message for d in error.errors] == ["not_found", "unspecified error"]
    assert error_from_response("GET /x", 404, "[1, 2]", {}, now=NOW).errors == []


def test_auth_failures_are_recognised() -> None:
    assert is_auth_failure(AuthenticationError(status=401))
    assert is_auth_failure(PermissionDeniedError(status=403))
    assert not is_auth_failure(NotFoundError(status=404))
    assert not is_auth_failure(ValueError("x"))


def test_transport_error_has_no_status_and_is_retryable_unless_told() -> None:
    error = TransportError("ReadTimeout: timed out", endpoint="GET /v1/identity")
    assert error.status is None and error.retryable
    assert str(error) == "GET /v1/identity: no response: ReadTimeout: timed out"
    assert not TransportError("bad url", retryable=False).retryable


def test_retries_exhausted_describes_the_last_error_once() -> None:
    last = error_from_response("POST /v2/incidents", 503, json.dumps({"request_id": "r1"}), {}, now=NOW)
    error = RetriesExhaustedError(last, attempts=3, elapsed=7.25)
    assert error.last_error is last
    assert error.status == 503 and error.request_id == "r1" and error.endpoint == "POST /v2/incidents"
    assert not error.retryable
    assert str(error) == (
        "POST /v2/incidents: gave up after 3 attempt(s) in 7.2s; "
        "last error: POST /v2/incidents: HTTP 503 [request_id r1]"
    )


class TestRetryAfter:
    def test_integer_and_decimal_seconds(self) -> None:
        assert parse_retry_after("2", NOW) == 2.0
        assert parse_retry_after(" 1.5 ", NOW) == 1.5
        assert parse_retry_after("-3", NOW) == 0.0

    def test_http_date(self) -> None:
        assert parse_retry_after(formatdate(NOW + 7, usegmt=True), NOW) == 7.0
        assert parse_retry_after(formatdate(NOW - 7, usegmt=True), NOW) == 0.0

    @pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf"])
    def test_no_usable_hint(self, value: str | None) -> None:
        assert parse_retry_after(value, NOW) is None

    def test_body_timestamp_rfc3339_and_rfc1123(self) -> None:
        assert parse_retry_timestamp("2025-04-17T11:17:18Z", NOW) == 8.0
        assert parse_retry_timestamp("Thu, 17 Apr 2025 11:17:18 UTC", NOW) == 8.0
        assert parse_retry_timestamp("2025-04-17T11:17:18", NOW) == 8.0  # naive means UTC
        assert parse_retry_timestamp("2025-04-17T11:00:00Z", NOW) == 0.0
        assert parse_retry_timestamp("garbage", NOW) is None
        assert parse_retry_timestamp(42, NOW) is None

    def test_header_wins_over_body(self) -> None:
        body = json.dumps(
            {"type": "too_many_requests", "rate_limit": {"retry_after": "2025-04-17T11:17:18Z"}}
        )
        error = error_from_response("GET /x", 429, body, {"retry-after": "2"}, now=NOW)
        assert isinstance(error, RateLimitedError) and error.retry_after == 2.0

    def test_body_used_without_header_and_none_without_either(self) -> None:
        body = json.dumps(
            {"type": "too_many_requests", "rate_limit": {"retry_after": "2025-04-17T11:17:18Z"}}
        )
        error = error_from_response("GET /x", 429, body, {}, now=NOW)
        assert isinstance(error, RateLimitedError) and error.retry_after == 8.0
        bare = error_from_response("GET /x", 429, "{}", {}, now=NOW)
        assert isinstance(bare, RateLimitedError) and bare.retry_after is None
