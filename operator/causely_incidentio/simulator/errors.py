"""incident.io's error bodies: the live schema's ``ErrorResponse`` (see ``data/incidentio-live-overlay.json``).

Every error the simulator sends has the same envelope: ``type`` (one of the live schema's error types),
``status`` (mirrors HTTP), ``request_id`` and ``errors[]`` of ``{code, message, source?: {field,
pointer}}``; a 429 adds ``rate_limit``. Handlers raise :class:`ApiError` and the app turns it into that
body, so no handler builds error JSON by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One entry of ``errors[]``; ``field`` is a dotted JSON path such as ``incident.severity_id``."""

    code: str
    message: str
    field: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            # The live schema requires both: the field as written, and a JSON pointer to it.
            body["source"] = {"field": self.field, "pointer": json_pointer(self.field)}
        return body


def json_pointer(field_path: str) -> str:
    """``incident.custom_field_entries[0].values`` -> ``/incident/custom_field_entries/0/values``.

    Query parameters (``status_category[one_of]``) map the same way: ``/status_category/one_of``.
    """
    parts = [p for p in re.split(r"[.\[\]]", field_path) if p]
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(eq=False)
class ApiError(Exception):
    """An error response: HTTP ``status``, body ``type``, the ``errors``, extra body keys and headers."""

    status: int
    type: str
    errors: list[FieldError]
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.type}: " + "; ".join(e.message for e in self.errors)

    def body(self, request_id: str) -> dict[str, Any]:
        return error_body(self.status, self.type, request_id, self.errors, self.extra)


def error_body(
    status: int,
    type_: str,
    request_id: str,
    errors: Iterable[FieldError],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The documented envelope; ``extra`` keys (``rate_limit``) go between ``request_id`` and ``errors``."""
    body: dict[str, Any] = {"type": type_, "status": status, "request_id": request_id}
    if extra:
        body.update(extra)
    body["errors"] = [e.to_json() for e in errors]
    return body


def validation_error(errors: Iterable[FieldError]) -> ApiError:
    return ApiError(422, "validation_error", list(errors))


def invalid_field(field_path: str, message: str, code: str = "invalid_value") -> ApiError:
    return validation_error([FieldError(code, message, field_path)])


def not_found(message: str = "Resource not found") -> ApiError:
    return ApiError(404, "not_found", [FieldError("not_found", message)])


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", [FieldError("bad_request", message)])
