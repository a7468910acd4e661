"""The HTTP receiver Causely posts notifications to.

It answers 202 only once the notification is durable in the journal for every destination it routes to, so
an acknowledged finding is never lost; 503 (with Retry-After) when the journal cannot be written, so the
sender retries. Bad input always gets a 4xx that says what is wrong and where — never a 5xx, never a
traceback in the log.

What a client can make it hold is bounded (docs/metrics.md): a connection must send its request headers
within :data:`HEADER_TIMEOUT_SECONDS` (and is closed after as long idle), a body must arrive within
:data:`BODY_TIMEOUT_SECONDS`, and the bodies being read, parsed and journaled at once stay under
:data:`MAX_BUFFERED_BYTES` — beyond it a request waits briefly, then gets 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from causely_incidentio.metrics import CONTENT_TYPE_LATEST
from causely_incidentio.payload import PayloadSyntaxError, parse_notification
from causely_incidentio.problems import InvalidInput
from causely_incidentio.sync.journal import JournalUnavailable
from causely_incidentio.sync.pipeline import Pipeline

log = logging.getLogger(__name__)
http_log = logging.getLogger(__name__ + ".http")
"""aiohttp's own server log for this receiver (see :class:`_ClientFaultsAreDebug`)."""

MAX_BODY_BYTES = 1024 * 1024
MAX_BUFFERED_BYTES = 32 * MAX_BODY_BYTES
"""Bodies held at once (read, parsed, being journaled); a body counts its Content-Length, or the maximum."""
BUFFER_WAIT_SECONDS = 2.0
"""How long a request waits for room in :data:`MAX_BUFFERED_BYTES` before it gets 503."""
BODY_TIMEOUT_SECONDS = 30.0
"""Time to receive a whole body once its headers are in (408 after), so a trickle cannot hold a slot."""
HEADER_TIMEOUT_SECONDS = 15.0
"""A new connection must complete its request headers in this time, and an idle keep-alive connection is
closed after it (aiohttp's keep-alive timer, which starts when the connection opens; default 3,630 s)."""
PARSE_INLINE_BYTES = 64 * 1024
"""Bodies up to this size are parsed on the event loop; larger ones in a thread."""
PIPELINE_KEY = web.AppKey("pipeline", Pipeline)
ReadyCheck = Callable[[], tuple[bool, str]]
NO_TOKEN_MESSAGE = (
    "the receiver needs a token (CAUSELY_RECEIVER_TOKEN or --receiver-token-file); "
    "pass --allow-unauthenticated to run without one"
)


class _ClientFaultsAreDebug(logging.Filter):
    """aiohttp logs a request it cannot parse (a duplicate header, a bad chunk, a body that is not the gzip
    it claims) at ERROR with a traceback: anyone could flood the log that way. Such a request is the client's
    fault and got its 4xx, so the record becomes one DEBUG line naming the error's type (its text may quote
    header values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError | web.RequestPayloadError):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.msg, record.args = "bad HTTP request from a client (%s)", (type(exc).__name__,)
            record.exc_info, record.exc_text = None, None
        return True


http_log.addFilter(_ClientFaultsAreDebug())


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def _presented_token(request: web.Request) -> bytes | None:
    """Causely sends ``Bearer <token>`` or, in some setups, the bare token.

    As the bytes sent: aiohttp decodes header bytes that are not UTF-8 as surrogates, which ``encode()``
    refuses; ``surrogateescape`` gives the original bytes back, so such a header is simply a wrong token.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value.encode("utf-8", "surrogateescape")


class BufferFull(Exception):
    """No room for another body within :data:`BUFFER_WAIT_SECONDS`."""


class ByteBudget:
    """Bytes of request bodies held at once; ``hold`` waits for room, up to ``wait`` seconds.

    Released without awaiting, so a cancelled handler can never leak its share.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: list[asyncio.Future[None]] = []

    @asynccontextmanager
    async def hold(self, size: int, wait: float) -> AsyncIterator[None]:
        size = min(size, self.limit)
        try:
            async with asyncio.timeout(wait):
                while self.used + size > self.limit:
                    room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    self._waiters.append(room)
                    await room
        except TimeoutError:
            raise BufferFull from None
        self.used += size
        try:
            yield
        finally:
            self.used -= size
            waiters, self._waiters = self._waiters, []
            for room in waiters:
                if not room.done():
                    room.set_result(None)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


class Receiver:
    def __init__(
        self,
        pipeline: Pipeline,
        *,
        token: str | None,
        allow_unauthenticated: bool = False,
        ready_check: ReadyCheck | None = None,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
        buffer_wait: float = BUFFER_WAIT_SECONDS,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        if not token and not allow_unauthenticated:
            raise ValueError(NO_TOKEN_MESSAGE)
        self.pipeline = pipeline
        self._token = token.encode() if token else None
        self.ready_check = ready_check
        self.buffered = ByteBudget(max_buffered_bytes)
        self.buffer_wait = buffer_wait
        self.body_timeout = body_timeout

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app[PIPELINE_KEY] = self.pipeline
        app.router.add_post("/notifications", self.notifications)
        app.router.add_post("/webhook", self.notifications)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        return app

    def _count(self, ntype: str, outcome: str) -> None:
        self.pipeline.metrics.notifications.labels(type=ntype, outcome=outcome).inc()

    async def notifications(self, request: web.Request) -> web.Response:
        if self._token is not None:
            presented = _presented_token(request)
            if presented is None or not hmac.compare_digest(presented, self._token):
                self._count("unknown", "unauthorized")
                return _error(401, "unauthorized", "missing or wrong token in the Authorization header")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            self._count("unknown", "too_large")
            return _error(413, "too_large", f"body is over the {MAX_BODY_BYTES} byte limit")
        if not _is_json(request.content_type):
            self._count("unknown", "unsupported_media_type")
            return _error(415, "unsupported_media_type",
                          f"Content-Type must be application/json, got {request.content_type!r}")
        try:
            async with self.buffered.hold(request.content_length or MAX_BODY_BYTES, self.buffer_wait):
                return await self._intake(request)
        except BufferFull:
            self._count("unknown", "busy")
            return web.json_response(
                {"error": "busy", "message": "too many notifications being received at once; retry"},
                status=503, headers={"Retry-After": "1"},
            )

    async def _intake(self, request: web.Request) -> web.Response:
        """Read, parse and journal one body (within the byte budget held by the caller)."""
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._count("unknown", "too_large")
            return _error(413, "too_large", f"body is over the {MAX_BODY_BYTES} byte limit")
        except web.RequestPayloadError as exc:  # a broken chunk or Content-Encoding (say, invalid gzip)
            self._count("unknown", "malformed")
            return _error(400, "unreadable_body", f"the body could not be decoded ({type(exc.__cause__).__name__})"
                          if exc.__cause__ else "the body could not be decoded")
        except TimeoutError:
            self._count("unknown", "timeout")
            return _error(408, "timeout", f"the body did not arrive within {self.body_timeout:g} s")
        try:
            # A large body is parsed in a thread (~100 ms for 1 MiB): /healthz and other intake never wait on it.
            n = parse_notification(body) if len(body) <= PARSE_INLINE_BYTES else await asyncio.to_thread(
                parse_notification, body)
        except PayloadSyntaxError as exc:
            self._count("unknown", "malformed")
            return _error(400, "malformed_json", str(exc))
        except InvalidInput as exc:
            self._count(_type_of(body), "invalid")
            return _error(
                422, "invalid_notification", exc.message,
                problems=[{"field": p.where, "message": p.what, "expected": p.expected} for p in exc.problems],
            )
        except Exception as exc:  # a parser bug must not become a 500 and a traceback per request
            log.error("could not read a notification (%s); answered 400", type(exc).__name__)
            self._count("unknown", "malformed")
            return _error(400, "unreadable", "the notification could not be read")
        try:
            result = await self.pipeline.accept(n, body)
        except JournalUnavailable as exc:
            log.error("journal unavailable: %s", exc)
            self._count(n.type.value, "unavailable")
            return web.json_response(
                {"error": "unavailable", "message": "cannot record the notification now; retry"},
                status=503, headers={"Retry-After": "5"},
            )
        self._count(n.type.value, "accepted")
        answer: dict[str, Any] = {"status": "accepted", "type": n.type.value, "objectId": n.object_id,
                                  "destinations": result.destinations}
        if result.refused:
            answer["refused"] = result.refused
        return web.json_response(answer, status=202)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        ok, message = self.ready_check() if self.ready_check else self.pipeline.readiness()
        if not self.pipeline.loaded:
            ok, message = False, "destinations not loaded yet"
        # Work waiting (stuck work included) is shown, not made a reason to be unready: intake still works, and
        # an unready receiver would only stop Causely from handing over more.
        return web.json_response({"ready": ok, "message": message, "backlog": self.pipeline.backlog()},
                                 status=200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.pipeline.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _type_of(body: bytes) -> str:
    try:
        value = json.loads(body).get("type")
    except (ValueError, AttributeError, RecursionError):
        return "unknown"
    return value if value in ("ProblemDetected", "ProblemUpdated", "ProblemCleared") else "unknown"


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout: float = HEADER_TIMEOUT_SECONDS,
    shutdown_timeout: float = 60.0,
) -> tuple[web.AppRunner, int]:
    """Start ``app``; returns the runner and the bound port (``port`` may be 0).

    ``header_timeout`` closes a connection that has not sent complete request headers that long after it
    opened, or that sat idle that long between requests: half-open connections cannot pile up.
    ``runner.cleanup()`` stops listening at once (new connections are refused, so a sender fails over) and
    gives requests in flight up to ``shutdown_timeout`` seconds to finish.
    """
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=header_timeout, logger=http_log,
                           shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    return runner, bound


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → (host, port), with a clear error."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen expects HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)
