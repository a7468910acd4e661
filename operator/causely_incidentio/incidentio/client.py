"""Async client for the parts of the incident.io REST API this project uses.

Why it looks the way it does:

* **Retries are safe.** ``POST /v2/incidents`` carries an ``idempotency_key``: a retried create returns
  the incident the first attempt made instead of a second one, so a create whose response was lost (a
  timeout, a reset, a 502) is simply sent again with the same key. ``POST .../actions/edit`` only sets
  fields (a status, a severity, a name); setting the same value twice is harmless. Reads are reads.
  So every call retries 429, 5xx, timeouts and connection failures, and nothing else.
* **Rate limits are a budget.** Every attempt first takes a token from the API key's bucket (see
  :mod:`.ratelimit`). A 429 waits for ``Retry-After`` (seconds or an HTTP-date), else the body's
  ``rate_limit.retry_after``, else a jittered exponential backoff, and penalises the shared bucket so
  that other destinations using the same key hold off too.
* **Bounded.** A call gives up after ``RetryPolicy.max_attempts`` attempts, or as soon as the next wait
  would take it past ``RetryPolicy.max_total_seconds``, with :class:`RetriesExhaustedError`.
  400/401/403/404/422 are raised at once as their typed errors: repeating them cannot help.
* **Tokens stay secret and fresh.** The token may be a callable, resolved before every attempt, so a
  rotated Secret takes effect on the next request. It goes only into that request's ``Authorization``
  header, never onto the shared connection pool, and is redacted from anything an error message is
  built from.
* **One connection pool per base URL and event loop**, shared by every client; :func:`close_pools`
  closes them at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception

from causely_incidentio import __version__
from causely_incidentio.settings import DEFAULT_API_URL, Settings

from .errors import (
    AuthenticationError,
    IncidentIOError,
    RateLimitedError,
    RetriesExhaustedError,
    TransportError,
    error_from_response,
)
from .models import Identity, Incident, IncidentPage, IncidentStatus, IncidentType, Severity
from .ratelimit import DEFAULT_CAPACITY, DEFAULT_REFILL_PER_SECOND, TokenBucket, bucket_for

log = logging.getLogger(__name__)

USER_AGENT = f"causely-incidentio/{__version__}"
MAX_PAGE_SIZE = 250
"""The list endpoint documents 250 as the largest page it serves."""

TokenSource = str | Callable[[], str]
OnRequest = Callable[[str, int | None], None]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

_M = TypeVar("_M", bound=pydantic.BaseModel)

_REDACTED = "[redacted]"
_TRANSIENT_TRANSPORT = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries: attempts, total time, and the backoff between attempts."""

    max_attempts: int = 8
    max_total_seconds: float = 120.0
    base_backoff: float = 0.5
    max_backoff: float = 30.0

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential, half jittered.

        The ceiling doubles per attempt up to ``max_backoff``; the wait is uniform in [ceiling/2, ceiling],
        so clients that failed together do not retry together, and never retry immediately.
        """
        ceiling = min(self.max_backoff, self.base_backoff * 2.0 ** min(max(attempt - 1, 0), 60))
        return ceiling / 2 + rand() * ceiling / 2


# --- connection pools -------------------------------------------------------------------------------

_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def _pool(base_url: str) -> httpx.AsyncClient:
    """The shared ``httpx.AsyncClient`` for ``base_url`` on the running loop (httpx pools are loop-bound)."""
    loop = asyncio.get_running_loop()
    pools = _POOLS.get(loop)
    if pools is None:
        pools = _POOLS[loop] = {}
    pool = pools.get(base_url)
    if pool is None or pool.is_closed:
        # No credentials here: the pool is shared by clients holding different tokens.
        pool = httpx.AsyncClient(
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )
        pools[base_url] = pool
    return pool


async def close_pools() -> None:
    """Close every pool of the running loop and forget those of loops already closed.

    Pools of other live loops (other threads) are left alone: they can only be closed from their loop.
    """
    current = asyncio.get_running_loop()
    for loop, pools in list(_POOLS.items()):
        if loop is current:
            del _POOLS[loop]
            for pool in pools.values():
                await pool.aclose()
        elif loop.is_closed():
            del _POOLS[loop]


# --- the client -------------------------------------------------------------------------------------


class _CallState:
    """What one logical call remembers across its attempts."""

    def __init__(self) -> None:
        self.bucket: TokenBucket | None = None


class IncidentIOClient:
    """One API key's view of incident.io. Cheap to create: the connection pool is shared.

    ``sleep``, ``clock`` (monotonic, for the retry budget) and ``wall_clock`` (for HTTP-date hints) are
    injectable so tests run retries without really waiting.
    """

    def __init__(
        self,
        token: TokenSource,
        *,
        base_url: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        retry: RetryPolicy | None = None,
        bucket: TokenBucket | None = None,
        on_request: OnRequest | None = None,
        bucket_capacity: int = DEFAULT_CAPACITY,
        bucket_refill_per_second: float = DEFAULT_REFILL_PER_SECOND,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self._token = token
        self.base_url = (base_url or DEFAULT_API_URL).rstrip("/")
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
        )
        self.retry = retry or RetryPolicy()
        self._bucket = bucket
        self._bucket_capacity = bucket_capacity
        self._bucket_refill = bucket_refill_per_second
        self._on_request = on_request
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._closed = False

    @classmethod
    def from_settings(
        cls, settings: Settings, token: TokenSource, *, on_request: OnRequest | None = None
    ) -> IncidentIOClient:
        """A client configured from the process settings (URL, timeouts, retry budget, rate limit)."""
        return cls(
            token,
            base_url=settings.incident_io_api_url,
            connect_timeout=settings.incident_io_connect_timeout,
            read_timeout=settings.incident_io_read_timeout,
            retry=RetryPolicy(max_total_seconds=settings.incident_io_retry_max_seconds),
            bucket_capacity=settings.incident_io_rate_limit_capacity,
            bucket_refill_per_second=settings.incident_io_rate_limit_refill_per_second,
            on_request=on_request,
        )

    def __repr__(self) -> str:
        return f"IncidentIOClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> IncidentIOClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop using this client. The shared pool stays open for others; see :func:`close_pools`."""
        self._closed = True

    # --- the API -------------------------------------------------------------------------------------

    async def identity(self) -> Identity:
        """Who the API key is and which roles it has: the cheapest way to check a key."""
        data = await self._call("GET", "/v1/identity")
        return self._parse(Identity, data, "identity", "GET /v1/identity")

    async def list_severities(self) -> list[Severity]:
        data = await self._call("GET", "/v1/severities")
        return self._parse_list(Severity, data, "severities", "GET /v1/severities")

    async def list_incident_types(self) -> list[IncidentType]:
        data = await self._call("GET", "/v1/incident_types")
        return self._parse_list(IncidentType, data, "incident_types", "GET /v1/incident_types")

    async def list_incident_statuses(self) -> list[IncidentStatus]:
        data = await self._call("GET", "/v1/incident_statuses")
        return self._parse_list(IncidentStatus, data, "incident_statuses", "GET /v1/incident_statuses")

    async def create_incident(
        self,
        *,
        idempotency_key: str,
        visibility: str,
        name: str | None = None,
        summary: str | None = None,
        severity_id: str | None = None,
        incident_type_id: str | None = None,
        incident_status_id: str | None = None,
        mode: str | None = None,
        custom_field_entries: list[dict[str, Any]] | None = None,
    ) -> Incident:
        """Create an incident, or get back the one an earlier call with the same key created."""
        if not idempotency_key:
            raise ValueError(
                "create_incident needs a non-empty idempotency_key (it is what makes retries safe)"
            )
        body = _without_none(
            {
                "idempotency_key": idempotency_key,
                "visibility": visibility,
                "name": name,
                "summary": summary,
                "severity_id": severity_id,
                "incident_type_id": incident_type_id,
                "incident_status_id": incident_status_id,
                "mode": mode,
                "custom_field_entries": custom_field_entries,
            }
        )
        data = await self._call("POST", "/v2/incidents", json=body)
        return self._parse(Incident, data, "incident", "POST /v2/incidents")

    async def show_incident(self, incident_id: str) -> Incident:
        """One incident by id (or by the numeric part of its reference)."""
        data = await self._call("GET", "/v2/incidents/{id}", path={"id": incident_id})
        return self._parse(Incident, data, "incident", "GET /v2/incidents/{id}")

    async def edit_incident(
        self,
        incident_id: str,
        *,
        notify_incident_channel: bool,
        incident_status_id: str | None = None,
        severity_id: str | None = None,
        name: str | None = None,
        summary: str | None = None,
    ) -> Incident:
        """Change the given fields (omitted ones are left alone); resolving is a status change."""
        changes = _without_none(
            {
                "incident_status_id": incident_status_id,
                "severity_id": severity_id,
                "name": name,
                "summary": summary,
            }
        )
        if not changes:
            raise ValueError("edit_incident needs at least one field to change")
        body = {"incident": changes, "notify_incident_channel": notify_incident_channel}
        template = "/v2/incidents/{id}/actions/edit"
        data = await self._call("POST", template, path={"id": incident_id}, json=body)
        return self._parse(Incident, data, "incident", f"POST {template}")

    async def list_incidents_page(
        self,
        *,
        page_size: int = MAX_PAGE_SIZE,
        after: str | None = None,
        status_categories: Sequence[str] = (),
        modes: Sequence[str] = (),
    ) -> IncidentPage:
        """One page of incidents. Without ``modes`` incident.io omits test and tutorial incidents."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        params: list[tuple[str, str]] = [("page_size", str(page_size))]
        if after:
            params.append(("after", after))
        params += [("status_category[one_of]", c) for c in _as_values(status_categories)]
        params += [("mode[one_of]", m) for m in _as_values(modes)]
        data = await self._call("GET", "/v2/incidents", params=params)
        endpoint = "GET /v2/incidents"
        incidents = self._parse_list(Incident, data, "incidents", endpoint)
        meta = data.get("pagination_meta") if isinstance(data, Mapping) else None
        meta = meta if isinstance(meta, Mapping) else {}
        next_after = meta.get("after")
        total = meta.get("total_record_count")
        return IncidentPage(
            incidents=incidents,
            after=str(next_after) if next_after else None,
            total_record_count=total if isinstance(total, int) and not isinstance(total, bool) else None,
        )

    async def list_incidents(
        self,
        *,
        page_size: int = MAX_PAGE_SIZE,
        status_categories: Sequence[str] = (),
        modes: Sequence[str] = (),
    ) -> AsyncIterator[Incident]:
        """Every matching incident, page by page, until a page has no ``after`` cursor or no incidents."""
        after: str | None = None
        seen: set[str] = set()
        while True:
            page = await self.list_incidents_page(
                page_size=page_size, after=after, status_categories=status_categories, modes=modes
            )
            for incident in page.incidents:
                yield incident
            if not page.incidents or not page.after:
                return
            if page.after in seen:
                # A server handing out a cursor twice would otherwise make this loop forever.
                log.warning("incident.io repeated pagination cursor %r; stopping the listing", page.after)
                return
            seen.add(page.after)
            after = page.after

    # --- plumbing ------------------------------------------------------------------------------------

    def _resolve_token(self, endpoint: str) -> str:
        raw = self._token() if callable(self._token) else self._token
        token = (raw or "").strip()
        if not token:
            raise AuthenticationError(
                "no incident.io API token is configured", endpoint=endpoint, type="missing_token"
            )
        if not all(33 <= ord(ch) < 127 for ch in token):
            raise AuthenticationError(
                "the incident.io API token contains characters that cannot go into an HTTP header "
                "(look for stray quotes, spaces or line breaks in the Secret)",
                endpoint=endpoint,
                type="invalid_token",
            )
        return token

    def _report(self, endpoint: str, status: int | None) -> None:
        if self._on_request is None:
            return
        try:
            self._on_request(endpoint, status)
        except Exception:
            log.exception("the on_request hook failed for %s", endpoint)

    async def _call(
        self,
        method: str,
        template: str,
        *,
        path: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
    ) -> Any:
        """Send one logical request with pacing and retries; return the decoded JSON body."""
        if self._closed:
            raise RuntimeError("this IncidentIOClient is closed")
        endpoint = f"{method} {template}"
        url_path = template
        for name, value in (path or {}).items():
            if not value:
                raise ValueError(f"{endpoint}: {name} must not be empty")
            url_path = url_path.replace("{" + name + "}", quote(value, safe=""))
        url = self.base_url + url_path
        policy = self.retry
        state = _CallState()
        start = self._clock()

        def stop(retry_state: RetryCallState) -> bool:
            if retry_state.attempt_number >= policy.max_attempts:
                return True
            return self._clock() - start + retry_state.upcoming_sleep > policy.max_total_seconds

        def wait(retry_state: RetryCallState) -> float:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            if isinstance(error, RateLimitedError):
                delay = error.retry_after
                if delay is None:
                    delay = policy.backoff(retry_state.attempt_number)
                if state.bucket is not None:
                    state.bucket.penalise(delay)
                return delay
            return policy.backoff(retry_state.attempt_number)

        def before_sleep(retry_state: RetryCallState) -> None:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            log.warning(
                "incident.io attempt %d failed, retrying in %.1fs: %s",
                retry_state.attempt_number,
                retry_state.upcoming_sleep,
                error,
            )

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, IncidentIOError) and e.retryable),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=False,
        )
        try:
            return await retrying(self._attempt, state, method, endpoint, url, json, params)
        except RetryError as exhausted:
            last = exhausted.last_attempt.exception()
            if not isinstance(last, IncidentIOError):  # pragma: no cover - only retryable errors retry
                raise
            raise RetriesExhaustedError(
                last, attempts=exhausted.last_attempt.attempt_number, elapsed=self._clock() - start
            ) from None

    async def _attempt(
        self,
        state: _CallState,
        method: str,
        endpoint: str,
        url: str,
        json: Mapping[str, Any] | None,
        params: Sequence[tuple[str, str]] | None,
    ) -> Any:
        token = self._resolve_token(endpoint)
        bucket = self._bucket or bucket_for(token, self._bucket_capacity, self._bucket_refill)
        state.bucket = bucket
        await bucket.acquire()
        try:
            response = await _pool(self.base_url).request(
                method,
                url,
                json=json,
                params=list(params) if params else None,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
        except httpx.RequestError as exc:
            self._report(endpoint, None)
            detail = _redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, token)
            # ``from None``: the httpx exception holds the request, whose headers carry the token.
            raise TransportError(
                detail, endpoint=endpoint, retryable=isinstance(exc, _TRANSIENT_TRANSPORT)
            ) from None
        self._report(endpoint, response.status_code)
        body = _redact(response.text, token)
        if not 200 <= response.status_code < 300:
            raise error_from_response(
                endpoint, response.status_code, body, response.headers, now=self._wall_clock()
            )
        try:
            return response.json() if body else {}
        except ValueError:
            raise IncidentIOError(
                "the response is not JSON",
                endpoint=endpoint,
                status=response.status_code,
                type="invalid_response",
            ) from None

    @staticmethod
    def _parse(model: type[_M], data: Any, key: str, endpoint: str) -> _M:
        try:
            return model.model_validate(data[key])
        except (KeyError, TypeError, pydantic.ValidationError) as exc:
            raise _invalid_response(endpoint, key, exc) from None

    @staticmethod
    def _parse_list(model: type[_M], data: Any, key: str, endpoint: str) -> list[_M]:
        try:
            items = data[key]
            if not isinstance(items, list):
                raise TypeError(f"{key} is not a list")
            return [model.model_validate(item) for item in items]
        except (KeyError, TypeError, pydantic.ValidationError) as exc:
            raise _invalid_response(endpoint, key, exc) from None


def _invalid_response(endpoint: str, key: str, exc: Exception) -> IncidentIOError:
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = f"{where}: {first['msg']}" if where else str(first["msg"])
    elif isinstance(exc, KeyError):
        reason = "missing"
    else:
        reason = str(exc)
    return IncidentIOError(
        f"unexpected response shape at {key!r} ({reason})",
        endpoint=endpoint,
        status=200,
        type="invalid_response",
    )


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _as_values(values: Sequence[str] | str) -> list[str]:
    """A bare string is one value, not a sequence of one-letter values."""
    return [values] if isinstance(values, str) else [v for v in values if v]


def _redact(text: str, token: str) -> str:
    return text.replace(token, _REDACTED) if token else text


__all__ = [
    "MAX_PAGE_SIZE",
    "USER_AGENT",
    "IncidentIOClient",
    "RetryPolicy",
    "close_pools",
]
