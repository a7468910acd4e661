"""``Simulator``: a local incident.io, started in-process by tests and the demo, or by the CLI.

It owns the state (organisation, incidents, token buckets, pending faults, request log) and the aiohttp
server. Tokens are kept only as SHA-256 digests, so nothing the simulator stores or logs can leak one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from aiohttp import web

from causely_incidentio.simulator import app as api
from causely_incidentio.simulator import control
from causely_incidentio.simulator.app import RequestRecord
from causely_incidentio.simulator.faults import FaultPlan
from causely_incidentio.simulator.organisation import Organisation
from causely_incidentio.simulator.ratelimit import RateLimiter
from causely_incidentio.simulator.state import HIDDEN_MODES, IncidentStore

log = logging.getLogger("causely_incidentio.simulator")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Simulator:
    """A local incident.io API that follows the published spec (see ``docs/simulator.md``)."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] | None = None,
        forbidden_tokens: Iterable[str] = (),
        latency_ms: float = 0.0,
        rate_limit_capacity: int = 1200,
        rate_limit_refill: float = 20.0,
        organisation: Organisation | None = None,
        validate_responses: bool = True,
        public_url: str | None = None,
        strict_requests: bool = True,
        timeout_seconds: float = 60.0,
        request_log_size: int = 10_000,
    ) -> None:
        digests = {_digest(t) for t in tokens or () if t}
        self._forbidden = frozenset(_digest(t) for t in forbidden_tokens if t)
        # None: any non-empty bearer is accepted. A forbidden token is a valid key without roles.
        self._accepted: frozenset[str] | None = frozenset(digests | self._forbidden) if digests else None
        self._initial_latency_ms = latency_ms
        self.latency_ms = latency_ms
        self.organisation = organisation if organisation is not None else Organisation()
        self.validate_responses = validate_responses
        self.strict_requests = strict_requests
        self.timeout_seconds = timeout_seconds
        self.limiter = RateLimiter(rate_limit_capacity, rate_limit_refill)
        self.faults = FaultPlan()
        self.store = IncidentStore(self.organisation)
        self.response_problems: list[str] = []
        self._public_url = public_url.rstrip("/") if public_url else None
        self._log: deque[RequestRecord] = deque(maxlen=request_log_size)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.base_url = ""

    # -------------------------------------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port) and return the base URL, e.g. ``http://127.0.0.1:43123``."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        api.warm_up(self.strict_requests)
        self._stopping = asyncio.Event()
        application = web.Application()
        application[api.SIMULATOR_KEY] = self
        application.middlewares.append(api.api_middleware)
        api.add_api_routes(application)
        control.add_control_routes(application)
        runner = web.AppRunner(application, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown}:{bound_port}"
        self.store.public_url = self.public_url
        log.info("incident.io simulator listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; held ``timeout`` requests are released first so shutdown is quick."""
        self._stopping.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def public_url(self) -> str:
        """Where permalinks point: ``public_url`` if given, else the address the server listens on."""
        return self._public_url or self.base_url or "http://127.0.0.1"

    # --------------------------------------------------------------------------------- used by the app

    def accepts(self, digest: str) -> bool:
        return self._accepted is None or digest in self._accepted

    def is_forbidden(self, digest: str) -> bool:
        return digest in self._forbidden

    def record(self, entry: RequestRecord) -> None:
        self._log.append(entry)

    def report_response_problem(self, problem: str) -> None:
        log.error("simulator response does not match the incident.io spec: %s", problem)
        self.response_problems.append(problem)

    async def delay(self, seconds: float) -> None:
        """Added latency; cut short by stop() so a slow simulator still shuts down at once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def hold(self, request: web.Request) -> None:
        """The ``timeout`` fault: keep the request open until the client gives up, stop(), or the limit."""
        deadline = time.monotonic() + self.timeout_seconds
        while time.monotonic() < deadline and not self._stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=0.05)
            except TimeoutError:
                continue

    # ------------------------------------------------------------------------------------- Python API

    def fail_next(
        self,
        count: int,
        kind: str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Fail the next ``count`` matching API requests with ``kind`` (500, 503, 429, timeout, reset)."""
        self.faults.add(count, kind, method=method, path_prefix=path_prefix,
                        after_processing=after_processing)

    def incidents(self, *, include_all_modes: bool = True) -> list[dict[str, Any]]:
        """Every incident as an IncidentV2 dict, oldest first (test/tutorial ones only if asked for)."""
        return [
            self.store.to_json(r) for r in self.store
            if include_all_modes or r.mode not in HIDDEN_MODES
        ]

    def incident(self, id_or_ref: str) -> dict[str, Any]:
        """One incident by id, ``"12"`` or ``"INC-12"``; KeyError if there is none."""
        record = self.store.find(id_or_ref)
        if record is None:
            raise KeyError(f"no incident {id_or_ref!r}")
        return self.store.to_json(record)

    def close_incident(self, id_or_ref: str, status_name: str = "Closed") -> dict[str, Any]:
        """Move an incident as a person in the dashboard would (any status, no transition rules)."""
        return self.store.to_json(self.store.close(id_or_ref, status_name))

    @property
    def requests(self) -> list[RequestRecord]:
        """The API requests seen so far (a copy; oldest first; bounded by ``request_log_size``)."""
        return list(self._log)

    def reset(self) -> None:
        """Forget incidents, keys, faults, buckets, logged requests and problems; restore the latency."""
        self.store.reset()
        self.faults.clear()
        self.limiter.reset()
        self._log.clear()
        self.response_problems.clear()
        self.latency_ms = self._initial_latency_ms
