"""Typed errors for the incident.io API, parsed from its documented error body.

The sync engine decides what to do from the *class* of an error (retry later, mark the destination
unauthenticated, record a permanent failure), so every HTTP outcome maps to exactly one class here.
Messages are built only from the HTTP status and the response body's *codes* (``type``, ``errors[].code``,
``errors[].source.field``, ``request_id``, each reduced to a short identifier), never from request headers
nor from free text in the body: whatever server a destination points at, ``str(error)`` (which reaches
status conditions, Events and logs) cannot carry a token or reflect text that server chose. The body's
human messages stay available on :attr:`ErrorDetail.message` for code that wants them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of the body's ``errors[]``: what was wrong, and which request field it was about."""

    code: str | None
    message: str
    field: str | None = None

    def __str__(self) -> str:
        code = safe_code(self.code) or "error"
        field = safe_code(self.field)
        return f"{code} (field {field})" if field else code


_CODE = re.compile(r"[A-Za-z0-9_.:\[\]/-]{1,80}")


def safe_code(value: object) -> str | None:
    """``value`` when it is a short identifier (a code, a field path, a request id), else None."""
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


class IncidentIOError(Exception):
    """Base class: a call to incident.io did not succeed.

    ``status`` is the HTTP status (None when no response arrived), ``type`` the body's ``type``
    (e.g. ``validation_error``), ``endpoint`` the templated route (``"POST /v2/incidents"``).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        endpoint: str = "",
        status: int | None = None,
        type: str | None = None,
        request_id: str | None = None,
        errors: Iterable[ErrorDetail] = (),
    ) -> None:
        self.detail = message
        self.endpoint = endpoint
        self.status = status
        self.type = type
        self.request_id = request_id
        self.errors: list[ErrorDetail] = list(errors)
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts: list[str] = []
        if self.endpoint:
            parts.append(f"{self.endpoint}:")
        parts.append(f"HTTP {self.status}" if self.status is not None else "no response")
        if safe_code(self.type):
            parts.append(str(self.type))
        text = " ".join(parts)
        messages = "; ".join(str(e) for e in self.errors)
        detail = "; ".join(m for m in (self.detail, messages) if m)
        if detail:
            text += f": {detail}"
        if safe_code(self.request_id):
            text += f" [request_id {self.request_id}]"
        return " ".join(text.split())  # one line, whatever the body contained

    def __str__(self) -> str:
        return self._describe()

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed (the client retries these itself)."""
        return False


class BadRequestError(IncidentIOError):
    """HTTP 400: the request was malformed; sending it again will not help."""


class AuthenticationError(IncidentIOError):
    """HTTP 401 (or no usable token at all): the API key is missing, wrong or revoked."""


class PermissionDeniedError(IncidentIOError):
    """HTTP 403: the API key lacks a role this call needs (e.g. ``incident_editor``)."""


class NotFoundError(IncidentIOError):
    """HTTP 404: the incident (or catalog entry) does not exist, or this key cannot see it."""


class ValidationError(IncidentIOError):
    """HTTP 422: the body was understood but refused (unknown id, illegal status transition, ...)."""


class RateLimitedError(IncidentIOError):
    """HTTP 429: too many requests for this key; ``retry_after`` is the server's hint in seconds."""

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    @property
    def retryable(self) -> bool:
        return True


class ServerError(IncidentIOError):
    """HTTP 5xx: incident.io failed; the same request may well succeed later."""

    @property
    def retryable(self) -> bool:
        return True


class TransportError(IncidentIOError):
    """No HTTP response: timeout, refused or reset connection, protocol failure.

    Most are transient (``retryable``); errors that would repeat identically (an invalid URL, a
    request httpx refuses to send) are constructed with ``retryable=False``.
    """

    def __init__(self, message: str | None = None, *, retryable: bool = True, **kwargs: Any) -> None:
        self._retryable = retryable
        super().__init__(message, **kwargs)

    @property
    def retryable(self) -> bool:
        return self._retryable


class RetriesExhaustedError(IncidentIOError):
    """Every allowed attempt failed with a retryable error; ``last_error`` says how the last one failed."""

    def __init__(self, last_error: IncidentIOError, *, attempts: int, elapsed: float) -> None:
        self.last_error = last_error
        self.attempts = attempts
        self.elapsed = elapsed
        super().__init__(
            f"gave up after {attempts} attempt(s) in {elapsed:.1f}s; last error: {last_error}",
            endpoint=last_error.endpoint,
            status=last_error.status,
            type=last_error.type,
            request_id=last_error.request_id,
            errors=last_error.errors,
        )

    def _describe(self) -> str:
        # The last error already carries its status, type and messages: say them once.
        return f"{self.endpoint}: {self.detail}" if self.endpoint else str(self.detail)


def is_auth_failure(error: BaseException) -> bool:
    """True for 401/403 (and a missing token): the key, not the request, needs fixing."""
    return isinstance(error, AuthenticationError | PermissionDeniedError)


_BY_STATUS: dict[int, type[IncidentIOError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: ValidationError,
    429: RateLimitedError,
}


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: integer (or decimal) seconds, or an HTTP-date.

    ``now`` is the wall-clock time (``time.time()``) that a date is measured against. Dates in the past
    mean "now" (0.0); anything unparseable means "no hint" (None).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, _as_utc(moment).timestamp() - now)


def parse_retry_timestamp(value: object, now: float) -> float | None:
    """Seconds until the body's ``rate_limit.retry_after``: RFC 3339 (current docs) or RFC 1123 (older)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, _as_utc(moment).timestamp() - now)


def _details(raw: object) -> list[ErrorDetail]:
    if not isinstance(raw, list):
        return []
    details: list[ErrorDetail] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        code = item.get("code")
        message = item.get("message")
        source = item.get("source")
        field = source.get("field") if isinstance(source, Mapping) else None
        code_text = str(code) if code is not None else None
        details.append(
            ErrorDetail(
                code=code_text,
                message=str(message) if message else (code_text or "unspecified error"),
                field=str(field) if field else None,
            )
        )
    return details


def error_from_response(
    endpoint: str,
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    now: float,
) -> IncidentIOError:
    """Build the typed error for a non-2xx response.

    The HTTP status decides the class (the body may be missing or come from a proxy); the body adds
    ``type``, ``request_id`` and ``errors[]`` when it is the documented JSON. ``body`` must already be
    free of secrets (the client redacts the token before calling this).
    """
    try:
        parsed: object = json.loads(body) if body else None
    except ValueError:
        parsed = None
    data: Mapping[str, Any] = parsed if isinstance(parsed, Mapping) else {}
    error_type = data.get("type")
    request_id = data.get("request_id")
    details = _details(data.get("errors"))
    message: str | None = None
    if not details and parsed is None and body.strip():
        message = f"non-JSON response body ({len(body.encode('utf-8', 'replace'))} bytes, not shown)"
    kwargs: dict[str, Any] = {
        "endpoint": endpoint,
        "status": status,
        "type": str(error_type) if error_type else None,
        "request_id": str(request_id) if request_id else None,
        "errors": details,
    }
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"), now)
        if retry_after is None:
            rate_limit = data.get("rate_limit")
            if isinstance(rate_limit, Mapping):
                retry_after = parse_retry_timestamp(rate_limit.get("retry_after"), now)
        return RateLimitedError(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    cls = _BY_STATUS.get(status, IncidentIOError)
    return cls(message, **kwargs)
