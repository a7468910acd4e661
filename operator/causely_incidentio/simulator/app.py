"""The incident.io API routes, and the middleware every API request passes through.

Order of a request, as a client sees it from the real API: added latency; authentication (401);
the key's token bucket (429, and ``X-RateLimit-*`` headers from here on); permission (403); injected
faults; then the endpoint, which validates the body / query against the spec (400 / 422), does the work,
and — with ``validate_responses`` — checks its own response against the spec's response schema.
Control routes under ``/_simulator/`` skip all of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import struct
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from causely_incidentio.simulator import spec
from causely_incidentio.simulator.errors import (
    ApiError,
    FieldError,
    bad_request,
    error_body,
    not_found,
    validation_error,
)
from causely_incidentio.simulator.ids import stable_id
from causely_incidentio.simulator.listing import parse_list_query, select

if TYPE_CHECKING:
    from causely_incidentio.simulator.server import Simulator

log = logging.getLogger("causely_incidentio.simulator")

SIMULATOR_KEY: web.AppKey[Simulator] = web.AppKey("simulator")
BODY_KEY: web.RequestKey[Any] = web.RequestKey("body", object)
FINGERPRINT_KEY: web.RequestKey[str] = web.RequestKey("fingerprint", str)
FORBIDDEN_KEY: web.RequestKey[bool] = web.RequestKey("forbidden", bool)
CONTROL_PREFIX = "/_simulator/"
_NO_BODY = object()

FULL_ROLES = ["viewer", "incident_creator", "incident_editor", "post_incident_flow_opt_out"]


def fingerprint(token: str) -> str:
    """A short, one-way name for a token: what logs and the request log show instead of the token."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the simulator saw it (never the token, only its fingerprint)."""

    method: str
    path: str
    query: str
    status: int  # 0 when the connection was dropped (timeout / reset faults)
    token_fingerprint: str | None
    body: Any  # the parsed JSON body of a POST, else None
    time: float
    request_id: str
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "path": self.path, "query": self.query, "status": self.status,
            "token_fingerprint": self.token_fingerprint, "body": self.body, "time": self.time,
            "request_id": self.request_id, "fault": self.fault,
        }


@dataclass
class Call:
    """What an endpoint function gets: the simulator, path parameters, validated body and query."""

    sim: Simulator
    match_info: dict[str, str]
    fingerprint: str
    forbidden: bool
    body: Any = None
    query: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> dict[str, Any]:
        return {"api_key": {"id": stable_id(f"api_key:{self.fingerprint}"), "name": self.key_name}}

    @property
    def key_name(self) -> str:
        return f"Simulator API key {self.fingerprint.removeprefix('sha256:')[:8]}"


Endpoint = Callable[[Call], dict[str, Any]]


# ------------------------------------------------------------------------------------------------ endpoints


def identity(call: Call) -> dict[str, Any]:
    org = call.sim.organisation
    return {"identity": {
        "name": call.key_name,
        "roles": [] if call.forbidden else list(FULL_ROLES),
        "dashboard_url": call.sim.public_url + org.dashboard_path,
        "team_roles": [],
        "teams": [],
    }}


def _catalog(key: str, items_key: str, one_key: str, lookup: str) -> tuple[Endpoint, Endpoint]:
    def list_all(call: Call) -> dict[str, Any]:
        return {items_key: list(getattr(call.sim.organisation, key))}

    def show(call: Call) -> dict[str, Any]:
        item = getattr(call.sim.organisation, lookup)(call.match_info["id"])
        if item is None:
            what = one_key.replace("_", " ")
            raise not_found(f"No {what} with id {call.match_info['id']!r}")
        return {one_key: item}

    return list_all, show


list_severities, show_severity = _catalog("severities", "severities", "severity", "severity")
list_incident_types, show_incident_type = _catalog("incident_types", "incident_types", "incident_type",
                                                   "incident_type")
list_statuses, show_status = _catalog("statuses", "incident_statuses", "incident_status", "status")


def create_incident(call: Call) -> dict[str, Any]:
    record, created = call.sim.store.create(call.body, call.actor)
    log.debug("%s incident %s (%s)", "created" if created else "replayed", record.reference, record.id)
    return {"incident": call.sim.store.to_json(record)}


def list_incidents(call: Call) -> dict[str, Any]:
    store = call.sim.store
    query = parse_list_query(call.query, store)
    page = select(list(store), query)
    meta: dict[str, Any] = {"page_size": query.page_size, "total_record_count": page.total}
    if page.after is not None:
        meta["after"] = page.after
    return {"incidents": [store.to_json(r) for r in page.incidents], "pagination_meta": meta}


def show_incident(call: Call) -> dict[str, Any]:
    record = call.sim.store.find(call.match_info["id"], allow_prefix=False)
    if record is None:
        raise ApiError(404, "not_found", [FieldError("not_found", f"No incident with id or reference "
                                                     f"{call.match_info['id']!r}")])
    return {"incident": call.sim.store.to_json(record)}


def edit_incident(call: Call) -> dict[str, Any]:
    record = call.sim.store.edit(call.match_info["id"], call.body)
    return {"incident": call.sim.store.to_json(record)}


ROUTES: tuple[tuple[str, str, Endpoint], ...] = (
    ("GET", "/v1/identity", identity),
    ("GET", "/v1/severities", list_severities),
    ("GET", "/v1/severities/{id}", show_severity),
    ("GET", "/v1/incident_types", list_incident_types),
    ("GET", "/v1/incident_types/{id}", show_incident_type),
    ("GET", "/v1/incident_statuses", list_statuses),
    ("GET", "/v1/incident_statuses/{id}", show_status),
    ("POST", "/v2/incidents", create_incident),
    ("GET", "/v2/incidents", list_incidents),
    ("GET", "/v2/incidents/{id}", show_incident),
    ("POST", "/v2/incidents/{id}/actions/edit", edit_incident),
)

# Endpoints a key without roles (Simulator(forbidden_tokens=...)) may still call.
NO_ROLE_NEEDED = frozenset({("GET", "/v1/identity")})


def warm_up(strict: bool) -> None:
    """Load the spec and compile every validator now, so the first request is not the slow one."""
    spec.validator(ERROR_SCHEMA)
    for method, path, _ in ROUTES:
        op = spec.operation(method, path)
        spec.validator(op.response_schema)
        if op.request_schema:
            spec.validator(op.request_schema, strict)
        if op.parameters:
            spec.query_validator(method, path, strict)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _endpoint(method: str, path: str, func: Endpoint) -> Handler:
    op = spec.operation(method, path)

    async def handle(request: web.Request) -> web.StreamResponse:
        sim = request.app[SIMULATOR_KEY]
        call = Call(sim, dict(request.match_info), request[FINGERPRINT_KEY], request[FORBIDDEN_KEY])
        if op.request_schema is not None:
            body = request[BODY_KEY]
            if body is _NO_BODY:
                raise bad_request("The request body must be JSON")
            if isinstance(body, _BadJson):
                raise bad_request(body.message)
            if errors := spec.validator(op.request_schema, sim.strict_requests).errors(body):
                raise validation_error(errors)
            call.body = body
        if op.parameters:
            query = spec.query_validator(method, path, sim.strict_requests)
            parsed, errors = query.parse(request.query.items())
            if errors:
                raise validation_error(errors)
            call.query = parsed
        payload = func(call)
        if sim.validate_responses and (problems := spec.validator(op.response_schema).errors(payload)):
            text = "; ".join(f"{p.field or 'body'}: {p.message}" for p in problems)
            sim.report_response_problem(f"{method} {path} -> {op.response_schema}: {text}")
            raise ApiError(500, "api_error", [FieldError(
                "simulator_response_invalid",
                f"Simulator bug: its response does not match {op.response_schema}: {text}",
            )])
        return web.json_response(payload, status=op.response_status)

    handle.__name__ = op.operation_id or func.__name__
    return handle


# ----------------------------------------------------------------------------------------------- middleware


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if not header.strip() or (scheme.lower() == "bearer" and not token):
        raise ApiError(401, "authentication_error", [FieldError(
            "missing_authorization_material", "No authorization material provided in request")])
    if scheme.lower() != "bearer":
        raise ApiError(401, "authentication_error", [FieldError(
            "invalid_authorization_material", "Authorization must use the Bearer scheme with an API key")])
    return token


@dataclass(frozen=True)
class _BadJson:
    message: str


async def _read_json(request: web.Request) -> Any:
    """The parsed body, ``_NO_BODY``, or ``_BadJson``: a 400 is raised later, after authentication."""
    raw = await request.read()
    if not raw.strip():
        return _NO_BODY
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _BadJson(f"The request body is not valid JSON: {exc}")


def _drop_connection(request: web.Request, *, rst: bool) -> web.Response:
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if rst and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)  # never reaches the client


def _fault_error(kind: str) -> ApiError:
    if kind == "500":
        return ApiError(500, "api_error", [FieldError("internal_server_error",
                                                                  "Simulated internal server error")])
    return ApiError(503, "api_error", [FieldError("service_unavailable",
                                                            "Simulated service unavailable")])


async def _apply_fault(request: web.Request, sim: Simulator, kind: str, fp: str) -> web.StreamResponse:
    if kind == "reset":
        return _drop_connection(request, rst=True)
    if kind == "timeout":
        await sim.hold(request)
        return _drop_connection(request, rst=False)
    if kind == "429":
        decision = sim.limiter.exhausted(fp)
        raise ApiError(429, "too_many_requests", [FieldError("too_many_requests", TOO_MANY)],
                       extra=decision.body_extra(), headers=decision.headers())
    raise _fault_error(kind)


TOO_MANY = "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."


@web.middleware
async def api_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX) or request.path.startswith("/incidents/"):
        return await handler(request)
    sim = request.app[SIMULATOR_KEY]
    request_id = str(uuid.uuid4())
    started = time.time()
    fp: str | None = None
    body: Any = None
    fault: str | None = None
    headers: dict[str, str] = {}
    response: web.StreamResponse
    try:
        request[BODY_KEY] = _NO_BODY
        if request.method == "POST":
            request[BODY_KEY] = parsed_body = await _read_json(request)
            body = None if parsed_body is _NO_BODY or isinstance(parsed_body, _BadJson) else parsed_body
        if sim.latency_ms > 0:
            await sim.delay(sim.latency_ms / 1000.0)
        token = _bearer(request)
        full = hashlib.sha256(token.encode()).hexdigest()
        fp = "sha256:" + full[:12]
        if not sim.accepts(full):
            raise ApiError(401, "authentication_error", [FieldError(
                "invalid_authorization_material", "The API key provided is not valid")])
        decision = sim.limiter.take(fp)
        if decision is not None:
            headers = decision.headers()
            if not decision.allowed:
                raise ApiError(429, "too_many_requests", [FieldError("too_many_requests", TOO_MANY)],
                               extra=decision.body_extra())
        forbidden = sim.is_forbidden(full)
        route = request.match_info.route.resource
        template = route.canonical if route is not None else request.path
        if forbidden and (request.method, template) not in NO_ROLE_NEEDED:
            raise ApiError(403, "resource_forbidden", [FieldError(
                "forbidden", "The API key does not have the role needed for this request")])
        request[FINGERPRINT_KEY], request[FORBIDDEN_KEY] = fp, forbidden
        rule = sim.faults.take(request.method, request.path)
        if rule is not None:
            fault = rule.kind
            if rule.after_processing:
                with contextlib.suppress(ApiError, web.HTTPException):
                    await handler(request)
            response = await _apply_fault(request, sim, rule.kind, fp)
        else:
            response = await handler(request)
    except ApiError as exc:
        headers.update(exc.headers)
        response = _error_response(sim, exc.body(request_id), exc.status)
    except web.HTTPException as exc:
        response = _http_exception(sim, exc, request_id)
    response.headers.update(headers)
    response.headers["X-Request-Id"] = request_id
    dropped = fault in ("timeout", "reset")
    status = 0 if dropped else response.status
    sim.record(RequestRecord(
        method=request.method, path=request.path, query=request.query_string, status=status,
        token_fingerprint=fp, body=body, time=started, request_id=request_id, fault=fault,
    ))
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s -> %s key=%s%s", request.method, request.path, status or "dropped", fp,
                  f" fault={fault}" if fault else "")
    return response


ERROR_SCHEMA = "ErrorResponse"
"""The live schema's body of every error status (the vendored spec documents none; see the overlay)."""


def _error_response(sim: Simulator, body: dict[str, Any], status: int) -> web.Response:
    """An error body, checked like any response: a mismatch is a simulator bug, reported but still sent."""
    if sim.validate_responses and (problems := spec.validator(ERROR_SCHEMA).errors(body)):
        text = "; ".join(f"{p.field or 'body'}: {p.message}" for p in problems)
        sim.report_response_problem(f"{status} error -> {ERROR_SCHEMA}: {text}")
    return web.json_response(body, status=status)


def _http_exception(sim: Simulator, exc: web.HTTPException, request_id: str) -> web.Response:
    """Router errors (unknown path, wrong method, body too large) in the API's error envelope."""
    names = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    type_ = names.get(exc.status, "invalid_request_error" if exc.status < 500 else "api_error")
    message = "Resource not found" if exc.status == 404 else exc.reason
    code = {413: "request_entity_too_large"}.get(exc.status, type_)
    body = error_body(exc.status, type_, request_id, [FieldError(code, message)])
    response = _error_response(sim, body, exc.status)
    if exc.status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def add_api_routes(app: web.Application) -> None:
    for method, path, func in ROUTES:
        app.router.add_route(method, path, _endpoint(method, path, func))
