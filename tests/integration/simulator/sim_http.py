"""Helpers shared by the simulator's HTTP tests."""

from __future__ import annotations

from typing import Any

import httpx

from causely_incidentio.simulator import fingerprint, spec


async def catalog(client: httpx.AsyncClient) -> dict[str, str]:
    """Name -> id for every severity, incident type and status."""
    names: dict[str, str] = {}
    for path, key in (("/v1/severities", "severities"), ("/v1/incident_types", "incident_types"),
                      ("/v1/incident_statuses", "incident_statuses")):
        response = await client.get(path)
        response.raise_for_status()
        names.update({item["name"]: item["id"] for item in response.json()[key]})
    return names


async def create(client: httpx.AsyncClient, key: str, **extra: Any) -> httpx.Response:
    ids = await catalog(client)
    body = {"idempotency_key": key, "visibility": "public", "name": f"incident {key}",
            "severity_id": ids["Minor"], **extra}
    return await client.post("/v2/incidents", json=body)


async def edit(client: httpx.AsyncClient, ref: str, notify: bool = False, **changes: Any) -> httpx.Response:
    return await client.post(f"/v2/incidents/{ref}/actions/edit",
                             json={"incident": changes, "notify_incident_channel": notify})


def error_fields(response: httpx.Response) -> dict[str | None, str]:
    return {e.get("source", {}).get("field"): e["code"] for e in response.json()["errors"]}


def assert_error_envelope(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert response.status_code == status
    assert body["type"] == type_ and body["status"] == status
    assert len(body["request_id"]) == 36 and body["request_id"] == response.headers["X-Request-Id"]
    assert body["errors"] and all({"code", "message"} <= set(e) for e in body["errors"])
    return body


def assert_matches(schema: str, body: Any) -> None:
    assert spec.validator(schema).errors(body) == []


TOKEN_FINGERPRINT = fingerprint("sim-test-token-5f1c")
