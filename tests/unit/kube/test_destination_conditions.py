"""The IncidentDestination's Degraded condition: deliveries that keep failing, told apart from incident.io being
unreachable and from a wrong configuration, with full metav1.Condition fields and no response body in a message.
"""

from __future__ import annotations

from typing import Any

import pytest

from causely_incidentio.incidentio.errors import (
    BadRequestError,
    ErrorDetail,
    NotFoundError,
    RateLimitedError,
    RetriesExhaustedError,
    ServerError,
    TransportError,
    ValidationError,
)
from causely_incidentio.kube.status import (
    ARGO_CD_HEALTH,
    CONDITION_TYPES,
    FAILING_ATTEMPTS,
    FAILURE_WINDOW,
    REASON_PATTERN,
    Attempt,
    Trouble,
    assess_deliveries,
    build_conditions,
    classify,
    status_fields,
)
from causely_incidentio.sync.worker import Health

NOW = "2026-11-26T10:00:00Z"
LATER = "2026-11-26T11:00:00Z"
T = 1_800_000_000.0
BODY = "body-text-from-the-server-9f3e"  # what a hostile apiURL could answer; never in a condition
CREATE = "POST /v2/incidents"


def refused(code: int = 422) -> str:
    cls = {400: BadRequestError, 404: NotFoundError, 422: ValidationError}[code]
    return str(cls(BODY, endpoint=CREATE, status=code, type="validation_error", request_id="req-1",
                   errors=[ErrorDetail("invalid_value", BODY, "incident.severity_id")]))


def unavailable() -> str:
    return str(ServerError(BODY, endpoint=CREATE, status=503))


def no_response() -> str:
    return str(TransportError("ConnectTimeout", endpoint=CREATE))


def gave_up(last: Any) -> str:
    return str(RetriesExhaustedError(last, attempts=4, elapsed=3.2))


def retrying(error: str, attempts: int = FAILING_ATTEMPTS) -> Attempt:
    return Attempt(error, attempts, True, T - 5)


def failed_for_good(error: str, ago: float = 60.0) -> Attempt:
    return Attempt(error, 1, False, T - ago)


def healthy() -> Health:
    return Health(authenticated=True, auth_reason="Authenticated", auth_message="API key 'k' accepted")


def conditions(health: Health, trouble: Trouble | None = None, previous: Any = None,
               now: str = NOW) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in build_conditions(health, generation=7, previous=previous, now=now,
                                                   trouble=trouble)}


# -- classifying the errors the worker records --------------------------------------------------------------

@pytest.mark.parametrize(("error", "kind", "what"), [
    (refused(422), "refused", f"{CREATE}: HTTP 422"),
    (refused(400), "refused", f"{CREATE}: HTTP 400"),
    (refused(404), "refused", f"{CREATE}: HTTP 404"),
    (unavailable(), "unreachable", f"{CREATE}: HTTP 503"),
    (str(ServerError(None, endpoint=CREATE, status=500)), "unreachable", f"{CREATE}: HTTP 500"),
    (no_response(), "unreachable", f"{CREATE}: no response"),
    (gave_up(ServerError(BODY, endpoint=CREATE, status=502)), "unreachable", f"{CREATE}: HTTP 502"),
    (gave_up(TransportError("ReadTimeout", endpoint=CREATE)), "unreachable", f"{CREATE}: no response"),
    (gave_up(RateLimitedError(BODY, endpoint=CREATE, status=429, retry_after=3)), "rate_limited",
     f"{CREATE}: HTTP 429"),
    ("internal error: KeyError", "failed", "an error without an answer from incident.io (see the Findings)"),
    ("unreadable notification: bad JSON", "failed", "an error without an answer from incident.io (see the Findings)"),
])
def test_recorded_errors_are_classified_from_the_real_error_texts(error: str, kind: str, what: str) -> None:
    assert classify(error) == (kind, what)
    assert BODY not in what


# -- which findings count ------------------------------------------------------------------------------------

def test_nothing_failing_is_no_trouble() -> None:
    assert assess_deliveries([], now=T) is None
    assert assess_deliveries([Attempt(None, 0, False, T)], now=T) is None


def test_a_few_transient_failures_are_not_trouble_yet() -> None:
    assert assess_deliveries([retrying(unavailable(), FAILING_ATTEMPTS - 1)], now=T) is None


def test_repeated_5xx_and_timeouts_mean_incidentio_is_unreachable() -> None:
    trouble = assess_deliveries([retrying(unavailable()), retrying(gave_up(TransportError("x", endpoint=CREATE)))],
                                now=T)
    assert trouble is not None and trouble.reason == "IncidentIOUnreachable"
    assert "2 finding(s)" in trouble.message and "HTTP 503" in trouble.message and "no response" in trouble.message


def test_repeated_rate_limits_are_their_own_reason() -> None:
    trouble = assess_deliveries([retrying(gave_up(RateLimitedError(None, endpoint=CREATE, status=429)))], now=T)
    assert trouble is not None and trouble.reason == "RateLimited"


def test_refusals_are_deliveries_failing_and_outrank_unreachability() -> None:
    trouble = assess_deliveries([retrying(unavailable()), failed_for_good(refused(422)),
                                 failed_for_good(refused(422)), retrying("internal error: OSError")], now=T)
    assert trouble is not None and trouble.reason == "DeliveriesFailing"
    assert trouble.message.count("finding(s)") == 1 and "3 finding(s)" in trouble.message
    assert f"{CREATE}: HTTP 422 (2)" in trouble.message
    assert BODY not in trouble.message and "req-1" not in trouble.message


def test_a_failure_for_good_counts_only_within_the_window() -> None:
    assert assess_deliveries([failed_for_good(refused(), ago=FAILURE_WINDOW - 1)], now=T) is not None
    assert assess_deliveries([failed_for_good(refused(), ago=FAILURE_WINDOW + 1)], now=T) is None


# -- the conditions --------------------------------------------------------------------------------------------

def test_delivering_destination_is_ready_and_not_degraded() -> None:
    conds = conditions(healthy())
    assert list(conds) == list(CONDITION_TYPES)
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("False", "AsExpected")
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("True", "Ready")


def test_deliveries_failing_turn_ready_false_and_degraded_true() -> None:
    trouble = assess_deliveries([failed_for_good(refused())], now=T)
    conds = conditions(healthy(), trouble)
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", "DeliveriesFailing")
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "DeliveriesFailing")
    assert trouble is not None and conds["Degraded"]["message"] == conds["Ready"]["message"] == trouble.message
    assert conds["Authenticated"]["status"] == "True" and conds["ConfigValid"]["status"] == "True"
    fields = status_fields(healthy(), generation=7, source="Secret", mode=None, previous_conditions=None, now=NOW,
                           trouble=trouble)
    assert fields["message"].startswith("DeliveriesFailing: ")


def test_unreachable_during_the_key_check_is_degraded_and_ready_unknown() -> None:
    down = gave_up(ServerError(BODY, endpoint="GET /v1/identity", status=503))
    health = Health(authenticated=None, auth_reason="IncidentIOUnreachable",
                    auth_message=f"cannot check the API key: {down}")
    conds = conditions(health)
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", "IncidentIOUnreachable")
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("Unknown", "IncidentIOUnreachable")
    assert conds["Authenticated"]["status"] == "Unknown"


def test_not_checked_yet_is_neither_degraded_nor_ready() -> None:
    conds = conditions(Health())
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("Unknown", "Pending")
    assert conds["Ready"]["status"] == "Unknown"


@pytest.mark.parametrize(("health", "reason"), [
    (Health(config_valid=False, config_reason="InvalidConfig", config_message="spec.filters[0]: bad"),
     "InvalidConfig"),
    (Health(authenticated=True, auth_reason="Authenticated", config_valid=False,
            config_reason="UnknownInIncidentIO", config_message="severityMap: no severity 'P9'"),
     "UnknownInIncidentIO"),
    (Health(authenticated=False, auth_reason="Unauthenticated", auth_message="401"), "Unauthenticated"),
    (Health(authenticated=False, auth_reason="Forbidden", auth_message="403"), "Forbidden"),
])
def test_configuration_and_key_problems_outrank_delivery_trouble(health: Health, reason: str) -> None:
    conds = conditions(health, assess_deliveries([retrying(unavailable())], now=T))
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", reason)
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", reason)


def test_invalid_config_uses_one_reason_name_on_every_condition() -> None:
    health = Health(config_valid=False, config_reason="InvalidConfig", config_message="bad")
    assert {c["reason"] for c in conditions(health).values()} == {"InvalidConfig"}


def test_every_condition_has_the_full_metav1_condition_fields() -> None:
    scenarios = [healthy(), Health(), Health(config_valid=False, config_reason="InvalidConfig"),
                 Health(authenticated=False, auth_reason="Forbidden", auth_message="403")]
    for health in scenarios:
        for cond in conditions(health, assess_deliveries([failed_for_good(refused())], now=T)).values():
            assert set(cond) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
            assert cond["status"] in ("True", "False", "Unknown")
            assert REASON_PATTERN.match(cond["reason"]), cond
            assert cond["observedGeneration"] == 7


def test_every_degraded_reason_is_a_valid_condition_reason() -> None:
    assert all(REASON_PATTERN.match(r) for r in ARGO_CD_HEALTH)


def test_a_reason_kubernetes_would_reject_is_written_as_unknown() -> None:
    health = Health(config_valid=False, config_reason="not a reason!", config_message="m")
    assert conditions(health)["ConfigValid"]["reason"] == "Unknown"


def test_last_transition_time_follows_the_status_not_the_reason() -> None:
    unreachable = assess_deliveries([retrying(unavailable())], now=T)
    failing = assess_deliveries([failed_for_good(refused())], now=T)
    first = build_conditions(healthy(), generation=1, previous=None, now=NOW, trouble=unreachable)
    second = {c["type"]: c for c in build_conditions(healthy(), generation=2, previous=first, now=LATER,
                                                     trouble=failing)}
    assert second["Degraded"]["reason"] == "DeliveriesFailing"
    assert second["Degraded"]["lastTransitionTime"] == NOW  # still True: the reason changed, the status did not
    assert second["Degraded"]["observedGeneration"] == 2
    recovered = conditions(healthy(), None, previous=list(second.values()), now=LATER)
    assert recovered["Degraded"]["status"] == "False" and recovered["Degraded"]["lastTransitionTime"] == LATER
    assert recovered["Ready"]["lastTransitionTime"] == LATER


def test_no_response_body_reaches_any_condition() -> None:
    key_refused = str(ValidationError(BODY, endpoint="GET /v1/identity", status=401, errors=[ErrorDetail(None, BODY)]))
    healths = [
        Health(authenticated=False, auth_reason="Unauthenticated",
               auth_message=f"incident.io answered 401 to this destination's API key: {key_refused}"),
        Health(authenticated=None, auth_reason="IncidentIOUnreachable",
               auth_message=f"cannot check the API key: {unavailable()}"),
        healthy(),
    ]
    trouble = assess_deliveries([failed_for_good(refused()), retrying(unavailable())], now=T)
    for health in healths:
        fields = status_fields(health, generation=1, source="Secret", mode=None, previous_conditions=None,
                               now=NOW, trouble=trouble)
        assert BODY not in str(fields), fields
    kept = conditions(healths[0])["Authenticated"]["message"]
    assert kept == "incident.io answered 401 to this destination's API key: GET /v1/identity: HTTP 401"
