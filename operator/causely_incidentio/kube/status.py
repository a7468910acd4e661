"""Pure builders for an IncidentDestination's status: KEP-1623 conditions and the printer-column fields.

Four conditions: ``ConfigValid`` (is the configuration right), ``Authenticated`` (does incident.io accept the
key), ``Degraded`` (is something keeping notifications from incident.io, and what) and ``Ready`` (True only
when the first two are True and ``Degraded`` is not). ``Degraded`` tells apart what a person must fix
(``InvalidConfig``, ``Forbidden``, ``DeliveriesFailing``: incident.io answers, but refuses our requests) from
what passes by itself (``IncidentIOUnreachable``: no answer, timeouts, 5xx; ``RateLimited``), so Argo CD and
alerts can treat them differently (``ARGO_CD_HEALTH``, tested against docs/argocd-health.lua).

``lastTransitionTime`` changes only when a condition's status changes, as the Kubernetes API conventions ask,
so repeated status writes do not churn it. Messages are built from counts, HTTP status codes and templated
endpoints only: an error's text (which can quote incident.io's response body) never reaches a condition.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from causely_incidentio.sync.worker import Health

CONDITION_TYPES = ("ConfigValid", "Authenticated", "Degraded", "Ready")
REASON_PATTERN = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")  # metav1.Condition's reason
MESSAGE_LIMIT = 1024

FAILING_ATTEMPTS = 3  # a finding's action failed this often in a row: deliveries keep failing
FAILURE_WINDOW = 900.0  # seconds a finding that failed for good keeps the destination Degraded

# Every reason the Degraded condition (and Ready, which takes it over) can carry, and the Argo CD health it
# means: Degraded when a person must act, Progressing while it recovers by itself. docs/argocd-health.lua
# lists the Progressing ones; tests/unit/test_argocd_health.py keeps the two equal.
ARGO_CD_HEALTH: dict[str, str] = {
    "AsExpected": "Healthy",  # Degraded=False
    "Pending": "Progressing",  # the key was not checked yet
    "InvalidConfig": "Degraded",
    "UnknownInIncidentIO": "Degraded",
    "Unauthenticated": "Degraded",
    "Forbidden": "Degraded",
    "DeliveriesFailing": "Degraded",
    "IncidentIOUnreachable": "Progressing",
    "RateLimited": "Progressing",
}

# What str(IncidentIOError) looks like (incidentio/errors.py): "<METHOD> <route>: HTTP <code> ..." or
# "<METHOD> <route>: no response ...", possibly wrapped as "...: gave up after N attempt(s) in Ts; last error: ...".
_ERROR = re.compile(
    r"^(?P<endpoint>[A-Z]+ /\S*): (?:gave up after \d+ attempt\(s\) in [\d.]+s; last error: (?P=endpoint): )?"
    r"(?:HTTP (?P<code>\d{3})\b|(?P<none>no response))"
)

_BODY_AFTER_STATUS = re.compile(r"(?P<head>[A-Z]+ /\S*: HTTP \d{3})\b.*", re.S)


@dataclass(frozen=True)
class Attempt:
    """What one finding's latest delivery attempt left behind (from its Finding, or the standalone journal)."""

    error: str | None  # the recorded error; None when the last attempt succeeded
    attempts: int  # consecutive failed attempts
    retrying: bool  # the action is still pending (it will be tried again)
    at: float  # when it was recorded (seconds since the epoch)


@dataclass(frozen=True)
class Trouble:
    """Why deliveries are not going through: a Degraded reason and a body-free message."""

    reason: str
    message: str


def classify(error: str) -> tuple[str, str]:
    """(kind, what) for a recorded error; kind is ``unreachable``, ``rate_limited``, ``refused`` or ``failed``.

    ``what`` names only the endpoint and the HTTP status, never the error's text.
    """
    match = _ERROR.match(error)
    if match is None:
        return "failed", "an error without an answer from incident.io (see the Findings)"
    endpoint = match["endpoint"]
    if match["none"]:
        return "unreachable", f"{endpoint}: no response"
    code = int(match["code"])
    if code >= 500:
        return "unreachable", f"{endpoint}: HTTP {code}"
    if code == 429:
        return "rate_limited", f"{endpoint}: HTTP 429"
    return "refused", f"{endpoint}: HTTP {code}"


def assess_deliveries(attempts: Iterable[Attempt], *, now: float) -> Trouble | None:
    """The delivery trouble the findings show, if any.

    Counted: findings still retrying after ``FAILING_ATTEMPTS`` failures in a row, and findings whose action
    failed for good within ``FAILURE_WINDOW``. A refusal (an HTTP 4xx other than 429) or any other error
    outranks unreachability, which outranks rate limiting: the worst news is reported.
    """
    by_kind: dict[str, dict[str, int]] = {}
    for a in attempts:
        if a.error is None:
            continue
        if a.retrying and a.attempts < FAILING_ATTEMPTS:
            continue
        if not a.retrying and now - a.at > FAILURE_WINDOW:
            continue
        kind, what = classify(a.error)
        seen = by_kind.setdefault(kind, {})
        seen[what] = seen.get(what, 0) + 1
    for kinds, reason, headline in (
        (("refused", "failed"), "DeliveriesFailing", "incident.io refuses or fails this destination's requests"),
        (("unreachable",), "IncidentIOUnreachable", "incident.io does not answer (timeouts, resets, 5xx)"),
        (("rate_limited",), "RateLimited", "incident.io keeps rate-limiting this destination's key"),
    ):
        found: dict[str, int] = {}
        for kind in kinds:
            for what, n in by_kind.get(kind, {}).items():
                found[what] = found.get(what, 0) + n
        if found:
            total = sum(found.values())
            detail = "; ".join(f"{what} ({n})" for what, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))
            return Trouble(reason, f"{headline}: {total} finding(s) failing — {detail}. "
                                   "kubectl get findings and the DeliveryFailed Events name them")
    return None


def now_iso(clock_seconds: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(clock_seconds, dt.UTC) if clock_seconds else dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _word(value: bool | None) -> str:
    return "Unknown" if value is None else ("True" if value else "False")


def _from_worker(health: Health) -> Health:
    """The worker's health with its messages cut before anything incident.io's response body said."""
    return dataclasses.replace(health, auth_message=safe_message(health.auth_message),
                               config_message=safe_message(health.config_message or ""))


def degraded(health: Health, trouble: Trouble | None) -> tuple[str, str, str]:
    """(status, reason, message) of the Degraded condition: the configuration and key first, then deliveries."""
    health = _from_worker(health)
    if not health.config_valid:
        return "True", health.config_reason, health.config_message or ""
    if health.authenticated is False:
        return "True", health.auth_reason, health.auth_message
    if health.authenticated is None:
        if health.auth_reason == "Pending":
            return "Unknown", "Pending", health.auth_message
        return "True", health.auth_reason, health.auth_message  # IncidentIOUnreachable: the key check got no answer
    if trouble is not None:
        return "True", trouble.reason, trouble.message
    return "False", "AsExpected", "notifications are being delivered"


def desired_conditions(health: Health, trouble: Trouble | None = None) -> list[tuple[str, str, str, str]]:
    """(type, status, reason, message) for each condition, from the worker's health and the findings' trouble."""
    health = _from_worker(health)
    if not health.config_valid:
        auth = ("Unknown", "InvalidConfig", "not checked: the configuration is invalid")
    else:
        auth = (_word(health.authenticated), health.auth_reason, health.auth_message)
    deg = degraded(health, trouble)
    if deg[0] == "True":
        unchecked = health.config_valid and health.authenticated is None  # the key check got no answer
        ready = ("Unknown" if unchecked else "False", *deg[1:])
    elif deg[0] == "Unknown":  # not checked yet
        ready = ("Unknown", *deg[1:])
    else:
        ready = ("True", "Ready", health.message)
    return [
        ("ConfigValid", _word(health.config_valid), health.config_reason, health.config_message or ""),
        ("Authenticated", *auth),
        ("Degraded", *deg),
        ("Ready", *ready),
    ]


def safe_message(message: str) -> str:
    """Cut what follows an HTTP status in an incident.io error: its type, messages and request id come from
    the response body, which a condition never repeats (an ``apiURL`` may point at anyone's server)."""
    return _BODY_AFTER_STATUS.sub(r"\g<head>", message)[:MESSAGE_LIMIT]


def _reason(value: str) -> str:
    return value if value and REASON_PATTERN.match(value) else "Unknown"


def build_conditions(
    health: Health,
    *,
    generation: int | None,
    previous: Sequence[Mapping[str, Any]] | None,
    now: str,
    trouble: Trouble | None = None,
) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous or []}
    out: list[dict[str, Any]] = []
    for ctype, status, reason, message in desired_conditions(health, trouble):
        old = before.get(ctype)
        transition = (old.get("lastTransitionTime") or now) if old and old.get("status") == status else now
        cond: dict[str, Any] = {
            "type": ctype, "status": status, "reason": _reason(reason), "message": message[:MESSAGE_LIMIT],
            "lastTransitionTime": transition,
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        out.append(cond)
    return out


def status_fields(
    health: Health,
    *,
    generation: int | None,
    source: str,
    mode: str | None,
    previous_conditions: Sequence[Mapping[str, Any]] | None,
    now: str,
    trouble: Trouble | None = None,
) -> dict[str, Any]:
    """Every non-journal status field the operator owns (the journal adds incidents, pending, counters)."""
    conditions = build_conditions(health, generation=generation, previous=previous_conditions, now=now,
                                  trouble=trouble)
    ready = next(c for c in conditions if c["type"] == "Ready")
    fields: dict[str, Any] = {
        "conditions": conditions,
        "source": source,
        "message": ready["message"] if ready["status"] == "True" else f"{ready['reason']}: {ready['message']}",
    }
    if generation is not None:
        fields["observedGeneration"] = generation
    if mode:
        fields["mode"] = mode
    if health.last_sync:
        fields["lastSyncTime"] = now_iso(health.last_sync)
    return fields
