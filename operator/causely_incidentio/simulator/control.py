"""The control API under ``/_simulator/`` (a prefix incident.io never uses), for out-of-process tests.

It mirrors the Python API: inspect incidents and logged requests, inject faults and latency, close an
incident as a person would, reset. No authentication: the simulator is a local tool. ``/incidents/{n}`` is
where permalinks point; it shows a small page so links in the demo lead somewhere.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from causely_incidentio.simulator.app import SIMULATOR_KEY
from causely_incidentio.simulator.errors import ApiError, bad_request, invalid_field, not_found

PREFIX = "/_simulator"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status)


def _error(exc: ApiError) -> web.Response:
    request_id = str(uuid.uuid4())
    response = _json(exc.body(request_id), exc.status)
    response.headers["X-Request-Id"] = request_id
    return response


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


async def list_incidents(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    return _json({"incidents": sim.incidents(include_all_modes=True)})


async def show_incident(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    try:
        return _json({"incident": sim.incident(request.match_info["id"])})
    except KeyError:
        return _error(not_found(f"No incident {request.match_info['id']!r}"))


async def list_requests(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    return _json({"requests": [r.to_json() for r in sim.requests]})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _typed(body: dict[str, Any], key: str, check: Callable[[Any], bool], what: str) -> Any:
    value = body.get(key)
    if value is not None and not check(value):
        raise invalid_field(key, f"{key} must be {what}")
    return value


async def faults(request: web.Request) -> web.Response:
    """``{"count": N, "kind": "503", "method"?, "path_prefix"?, "after_processing"?, "latency_ms"?}``."""
    sim = request.app[SIMULATOR_KEY]
    try:
        body = await _body(request)
        latency = _typed(body, "latency_ms", _is_number, "a number of milliseconds")
        count = _typed(body, "count", _is_int, "an integer")
        kinds = "one of 500, 503, 429, timeout, reset"
        kind = _typed(body, "kind", lambda v: _is_str(v) or _is_int(v), kinds)
        method = _typed(body, "method", _is_str, "an HTTP method")
        prefix = _typed(body, "path_prefix", _is_str, "a path prefix")
        after = _typed(body, "after_processing", _is_bool, "a boolean")
        if latency is not None and latency < 0:
            raise invalid_field("latency_ms", "latency_ms must not be negative")
        if kind is not None or count is not None:
            if kind is None:
                raise invalid_field("kind", "kind is required with count", "is_required")
            try:
                sim.fail_next(1 if count is None else count, str(kind), method=method, path_prefix=prefix,
                              after_processing=bool(after))
            except ValueError as exc:
                raise invalid_field("kind", str(exc)) from None
        if latency is not None:
            sim.latency_ms = float(latency)
    except ApiError as exc:
        return _error(exc)
    return _json({"faults": [r.to_json() for r in sim.faults.pending], "latency_ms": sim.latency_ms})


async def pending_faults(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    return _json({"faults": [r.to_json() for r in sim.faults.pending], "latency_ms": sim.latency_ms})


async def reset(request: web.Request) -> web.Response:
    request.app[SIMULATOR_KEY].reset()
    return _json({"reset": True})


async def close_incident(request: web.Request) -> web.Response:
    """``{"status_name": "Closed"}``: move an incident as a person would (no transition rules)."""
    sim = request.app[SIMULATOR_KEY]
    try:
        body = await _body(request)
        name = _typed(body, "status_name", _is_str, "a status name") or "Closed"
        try:
            incident = sim.close_incident(request.match_info["id"], name)
        except KeyError:
            raise not_found(f"No incident {request.match_info['id']!r}") from None
        except ValueError as exc:
            raise invalid_field("status_name", str(exc), "not_found") from None
    except ApiError as exc:
        return _error(exc)
    return _json({"incident": incident})


async def incident_page(request: web.Request) -> web.Response:
    """The permalink target: a plain page with the incident's state."""
    sim = request.app[SIMULATOR_KEY]
    try:
        inc = sim.incident(request.match_info["number"])
    except KeyError:
        return web.Response(status=404, text="No such incident in this simulator.\n")
    rows = [
        ("Reference", inc["reference"]),
        ("Status", f"{inc['incident_status']['name']} ({inc['incident_status']['category']})"),
        ("Severity", inc.get("severity", {}).get("name", "-")),
        ("Mode", inc["mode"]),
        ("Created", inc["created_at"]),
        ("Updated", inc["updated_at"]),
    ]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    page = (
        f"<!doctype html><title>{html.escape(inc['reference'])}</title>"
        f"<h1>{html.escape(inc['reference'])}: {html.escape(inc['name'])}</h1><table>{cells}</table>"
        f"<pre>{html.escape(inc.get('summary', ''))}</pre>"
        "<p>Served by the causely-incidentio incident.io simulator.</p>"
    )
    return web.Response(text=page, content_type="text/html")


def add_control_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/incidents", list_incidents)
    app.router.add_get(f"{PREFIX}/incidents/{{id}}", show_incident)
    app.router.add_post(f"{PREFIX}/incidents/{{id}}/close", close_incident)
    app.router.add_get(f"{PREFIX}/requests", list_requests)
    app.router.add_get(f"{PREFIX}/faults", pending_faults)
    app.router.add_post(f"{PREFIX}/faults", faults)
    app.router.add_post(f"{PREFIX}/reset", reset)
    app.router.add_get("/incidents/{number:\\d+}", incident_page)
