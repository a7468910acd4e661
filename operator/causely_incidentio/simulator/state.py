"""The simulator's incidents: create (idempotent), edit (with the spec's status rules), look-up, close.

Pure and synchronous: no I/O and no ``await`` anywhere, so in the single-threaded server a create is
atomic — twenty concurrent creates with one ``idempotency_key`` cannot make two incidents. Input arrives
already validated against the spec's schema; this module checks what a schema cannot (ids that must exist,
required severities, allowed transitions) and raises :class:`ApiError` with the field it is about.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from causely_incidentio.simulator.errors import ApiError, FieldError, validation_error
from causely_incidentio.simulator.ids import UlidFactory
from causely_incidentio.simulator.organisation import RESOLVED_CATEGORIES, Organisation, transition_allowed

CREATE_CATEGORIES = frozenset({"triage", "live"})
RETROSPECTIVE_CREATE_CATEGORIES = frozenset({"live", "learning", "closed"})
HIDDEN_MODES = frozenset({"test", "tutorial"})

_REFERENCE = re.compile(r"^(?:INC-)?(\d+)$", re.IGNORECASE)


def rfc3339(epoch: float) -> str:
    """The API's timestamp style: ``2021-08-17T13:28:57.801578Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unknown(what: str, value: object, where: str) -> FieldError:
    return FieldError("not_found", f"No {what} with id {value!r}", where)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class IncidentRecord:
    """What the simulator remembers about one incident; :func:`incident_json` renders it as IncidentV2."""

    id: str
    number: int
    idempotency_key: str
    name: str
    mode: str
    visibility: str
    status_id: str
    creator: dict[str, Any]
    created_at: str
    updated_at: str
    last_activity_at: str
    slack_team_id: str
    slack_channel_name: str
    summary: str | None = None
    severity_id: str | None = None
    type_id: str | None = None
    call_url: str | None = None
    postmortem_document_url: str | None = None
    custom_fields: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    timestamps: dict[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"


def _embedded(obj: Mapping[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in drop}


def incident_json(record: IncidentRecord, org: Organisation, public_url: str) -> dict[str, Any]:
    """Render ``record`` as an ``IncidentV2`` dict (every required field, plus the useful optional ones)."""
    status = org.status(record.status_id)
    if status is None:  # pragma: no cover - statuses cannot be removed while running
        raise RuntimeError(f"incident {record.id} has unknown status {record.status_id}")
    body: dict[str, Any] = {
        "id": record.id,
        "reference": record.reference,
        "name": record.name,
        "mode": record.mode,
        "visibility": record.visibility,
        "permalink": f"{public_url}/incidents/{record.number}",
        "incident_status": dict(status),
        "creator": record.creator,
        "custom_field_entries": [
            {"custom_field": org.custom_field(fid), "values": values}
            for fid, values in record.custom_fields.items()
        ],
        "incident_role_assignments": [],
        "incident_timestamp_values": [
            {"incident_timestamp": ts, "value": {"value": record.timestamps[ts["id"]]}}
            if ts["id"] in record.timestamps
            else {"incident_timestamp": ts}
            for ts in org.timestamps
        ],
        "slack_channel_id": "",
        "slack_channel_name": record.slack_channel_name,
        "slack_team_id": record.slack_team_id,
        "has_debrief": False,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        # Required by the live schema since the spec was vendored (see data/incidentio-live-overlay.json).
        # Activity here is what the API can do (create, edit, a dashboard status change), so it moves with
        # updated_at; the simulated organisation has no teams.
        "last_activity_at": record.last_activity_at,
        "team_ids": [],
    }
    if record.summary is not None:
        body["summary"] = record.summary
    if record.severity_id is not None and (sev := org.severity(record.severity_id)) is not None:
        body["severity"] = dict(sev)
    if record.type_id is not None and (itype := org.incident_type(record.type_id)) is not None:
        body["incident_type"] = _embedded(itype, drop=("owning_team_ids",))
    if record.call_url is not None:
        body["call_url"] = record.call_url
    if record.postmortem_document_url is not None:
        body["postmortem_document_url"] = record.postmortem_document_url
    return body


class IncidentStore:
    """All incidents of one organisation, with the idempotency-key index (one organisation, one index)."""

    def __init__(
        self,
        organisation: Organisation,
        *,
        public_url: str = "http://127.0.0.1",
        clock: Callable[[], float] = time.time,
        id_seed: int | None = None,
    ) -> None:
        self.organisation = organisation
        self.public_url = public_url
        self._clock = clock
        self._id_seed = id_seed
        self.reset()

    def reset(self) -> None:
        self._ids = UlidFactory(self._clock, self._id_seed)
        self._records: dict[str, IncidentRecord] = {}
        self._by_number: dict[int, IncidentRecord] = {}
        self._by_key: dict[str, IncidentRecord] = {}
        self._next_number = 1

    # ------------------------------------------------------------------------------------------- reading

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[IncidentRecord]:
        """Oldest first; ids increase with creation time."""
        return iter(self._records.values())

    def find(self, id_or_ref: str, *, allow_prefix: bool = True) -> IncidentRecord | None:
        """By id, by numeric reference (``"12"``) or, unless ``allow_prefix`` is off, ``"INC-12"``."""
        record = self._records.get(id_or_ref)
        if record is not None:
            return record
        match = _REFERENCE.match(id_or_ref)
        if match is None or (not allow_prefix and not id_or_ref.isdigit()):
            return None
        return self._by_number.get(int(match[1]))

    def to_json(self, record: IncidentRecord) -> dict[str, Any]:
        return incident_json(record, self.organisation, self.public_url)

    # ------------------------------------------------------------------------------------------ creating

    def create(self, payload: Mapping[str, Any], actor: dict[str, Any]) -> tuple[IncidentRecord, bool]:
        """Create from an ``IncidentsCreatePayloadV2``; a known key returns the original (created=False)."""
        existing = self._by_key.get(payload["idempotency_key"])
        if existing is not None:
            return existing, False
        org = self.organisation
        errors: list[FieldError] = []
        mode = payload.get("mode", "standard")

        itype = None
        if "incident_type_id" in payload:
            itype = org.incident_type(payload["incident_type_id"])
            if itype is None:
                errors.append(_unknown("incident type", payload["incident_type_id"], "incident_type_id"))
        else:
            itype = org.default_incident_type()
        if itype is not None and itype["private_incidents_only"] and payload["visibility"] != "private":
            errors.append(FieldError("invalid_value", f"Incidents of type {itype['name']!r} must be private",
                                     "visibility"))

        status = None
        if "incident_status_id" in payload:
            status = org.status(payload["incident_status_id"])
            allowed = RETROSPECTIVE_CREATE_CATEGORIES if mode == "retrospective" else CREATE_CATEGORIES
            if status is None:
                errors.append(_unknown("incident status", payload["incident_status_id"],
                                       "incident_status_id"))
            elif status["category"] not in allowed:
                errors.append(FieldError(
                    "invalid_value",
                    f"A {mode} incident cannot be created in a {status['category']} status "
                    f"(allowed: {', '.join(sorted(allowed))})",
                    "incident_status_id",
                ))
        else:
            triage = itype is not None and itype["create_in_triage"] == "always"
            status = (org.first_status("triage") if triage else None) or org.first_status("live")

        severity_id = payload.get("severity_id")
        if severity_id is not None and org.severity(severity_id) is None:
            errors.append(_unknown("severity", severity_id, "severity_id"))
        if severity_id is None and status is not None and status["category"] != "triage":
            message = "A severity is required to open an incident"
            errors.append(FieldError("is_required", message, "severity_id"))

        custom, stamps = self._entries(payload, "", errors)
        if errors or status is None:
            raise validation_error(errors)

        now = rfc3339(self._clock())
        number = self._next_number
        name = payload.get("name") or "Untitled incident"
        retro = payload.get("retrospective_incident_options", {})
        record = IncidentRecord(
            id=self._ids.new(),
            number=number,
            idempotency_key=payload["idempotency_key"],
            name=name,
            summary=payload.get("summary"),
            mode=mode,
            visibility=payload["visibility"],
            status_id=status["id"],
            severity_id=severity_id,
            type_id=itype["id"] if itype is not None else None,
            creator=actor,
            created_at=now,
            updated_at=now,
            last_activity_at=now,
            slack_team_id=payload.get("slack_team_id", org.slack_team_id),
            slack_channel_name=payload.get("slack_channel_name_override")
            or f"inc-{number}-{_slug(name)}"[:80].rstrip("-"),
            postmortem_document_url=retro.get("postmortem_document_url"),
            custom_fields=custom,
        )
        reported = org.timestamp_by_name("Reported at")
        if reported is not None:
            record.timestamps[reported["id"]] = now
        self._enter_status(record, status, now)
        record.timestamps.update(stamps)
        self._next_number += 1
        self._records[record.id] = record
        self._by_number[number] = record
        self._by_key[record.idempotency_key] = record
        return record, True

    # ------------------------------------------------------------------------------------------- editing

    def edit(self, id_or_ref: str, payload: Mapping[str, Any]) -> IncidentRecord:
        """Apply an ``IncidentsEditPayloadV2``: only the fields given change; status moves follow the spec."""
        record = self.find(id_or_ref, allow_prefix=False)
        if record is None:
            raise ApiError(404, "not_found", [FieldError("not_found", f"No incident with id {id_or_ref!r}")])
        org = self.organisation
        changes: Mapping[str, Any] = payload["incident"]
        errors: list[FieldError] = []

        new_status = None
        if "incident_status_id" in changes:
            new_status = org.status(changes["incident_status_id"])
            current = org.status(record.status_id)
            if new_status is None:
                errors.append(_unknown("incident status", changes["incident_status_id"],
                                       "incident.incident_status_id"))
            elif current is not None and not transition_allowed(current["category"], new_status["category"]):
                errors.append(FieldError(
                    "invalid_transition",
                    f"Cannot move an incident from {current['name']} ({current['category']}) to "
                    f"{new_status['name']} ({new_status['category']})",
                    "incident.incident_status_id",
                ))
        if "severity_id" in changes and org.severity(changes["severity_id"]) is None:
            errors.append(_unknown("severity", changes["severity_id"], "incident.severity_id"))
        custom, stamps = self._entries(changes, "incident.", errors)
        if errors:
            raise validation_error(errors)

        now = rfc3339(self._clock())
        for key in ("name", "summary", "call_url"):
            if key in changes:
                setattr(record, key, changes[key])
        if "severity_id" in changes:
            record.severity_id = changes["severity_id"]
        if "slack_channel_name_override" in changes:
            record.slack_channel_name = changes["slack_channel_name_override"]
        for fid, values in custom.items():
            if values:
                record.custom_fields[fid] = values
            else:
                record.custom_fields.pop(fid, None)
        if new_status is not None and new_status["id"] != record.status_id:
            self._enter_status(record, new_status, now)
        record.timestamps.update(stamps)
        record.updated_at = record.last_activity_at = now
        return record

    def close(self, id_or_ref: str, status_name: str = "Closed") -> IncidentRecord:
        """What a person does in the dashboard: move to any status by name, no transition rules."""
        record = self.find(id_or_ref)
        if record is None:
            raise KeyError(f"no incident {id_or_ref!r}")
        status = self.organisation.status_by_name(status_name)
        if status is None:
            names = ", ".join(s["name"] for s in self.organisation.statuses)
            raise ValueError(f"no incident status named {status_name!r} (have: {names})")
        now = rfc3339(self._clock())
        if status["id"] != record.status_id:
            self._enter_status(record, status, now)
        record.updated_at = record.last_activity_at = now
        return record

    # ------------------------------------------------------------------------------------------- helpers

    def _enter_status(self, record: IncidentRecord, status: Mapping[str, Any], now: str) -> None:
        record.status_id = status["id"]
        org = self.organisation
        if status["category"] in RESOLVED_CATEGORIES and (ts := org.timestamp_by_name("Resolved at")):
            record.timestamps.setdefault(ts["id"], now)
        if status["category"] == "closed" and (ts := org.timestamp_by_name("Closed at")):
            record.timestamps.setdefault(ts["id"], now)

    def _entries(
        self, source: Mapping[str, Any], prefix: str, errors: list[FieldError]
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        """Custom field values, timestamp values and role assignments, shared by create and edit."""
        custom = self._custom_fields(source.get("custom_field_entries", []), f"{prefix}custom_field_entries",
                                     errors)
        stamps = self._timestamps(source.get("incident_timestamp_values", []),
                                  f"{prefix}incident_timestamp_values", errors)
        for i, assignment in enumerate(source.get("incident_role_assignments", [])):
            error = _unknown("incident role", assignment["incident_role_id"],
                             f"{prefix}incident_role_assignments[{i}].incident_role_id")
            errors.append(FieldError(error.code, f"{error.message} (the simulated organisation has no roles)",
                                     error.field))
        return custom, stamps

    def _custom_fields(
        self, entries: list[dict[str, Any]], where: str, errors: list[FieldError]
    ) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = {}
        for i, entry in enumerate(entries):
            cf = self.organisation.custom_field(entry["custom_field_id"])
            if cf is None:
                errors.append(_unknown("custom field", entry["custom_field_id"],
                                       f"{where}[{i}].custom_field_id"))
                continue
            key = {"text": "value_text", "link": "value_link", "numeric": "value_numeric"}[cf["field_type"]]
            values = []
            for j, value in enumerate(entry["values"]):
                if key not in value:
                    errors.append(FieldError("is_required", f"{cf['name']} is a {cf['field_type']} field: "
                                             f"{key} is required", f"{where}[{i}].values[{j}].{key}"))
                    continue
                if key == "value_numeric" and not re.fullmatch(r"-?\d+(\.\d+)?", value[key]):
                    errors.append(FieldError("invalid_value", f"{cf['name']} needs a number",
                                             f"{where}[{i}].values[{j}].{key}"))
                    continue
                values.append({key: value[key]})
            result[cf["id"]] = values
        return result

    def _timestamps(
        self, values: list[dict[str, Any]], where: str, errors: list[FieldError]
    ) -> dict[str, str]:
        result: dict[str, str] = {}
        for i, value in enumerate(values):
            ts = self.organisation.timestamp(value["incident_timestamp_id"])
            if ts is None:
                errors.append(_unknown("incident timestamp", value["incident_timestamp_id"],
                                       f"{where}[{i}].incident_timestamp_id"))
            elif "value" in value:
                result[ts["id"]] = value["value"]
        return result
