"""Prometheus metrics, on a registry per pipeline so several pipelines can live in one process (tests).

Names follow Prometheus' conventions: one ``causely_incidentio_`` prefix, base units in the name
(``_seconds``), ``_total`` on counters only (prometheus_client appends it to a counter's base name). The
process (``process_*``) and Python (``python_*``) metrics are registered on the same registry, so they come
out of the same ``/metrics`` endpoint. docs/metrics.md lists every series.

Labels carry destination ids, endpoints, codes and states only, never tokens or payload text.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from causely_incidentio import __version__

__all__ = ["CONTENT_TYPE_LATEST", "PREFIX", "Metrics"]

PREFIX = "causely_incidentio_"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, runtime_metrics: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        if runtime_metrics:
            _register_runtime_collectors(r)
        self.notifications = Counter(
            PREFIX + "notifications_received",
            "Notifications received by the receiver, by type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.incidents = Counter(
            PREFIX + "incident_actions",
            "Incident actions carried out in incident.io, by destination and action "
            "(created, updated, resolved, skipped, failed, ignored).",
            ["destination", "action"],
            registry=r,
        )
        self.abandoned = Counter(
            PREFIX + "actions_abandoned",
            "Actions given up after their attempt budget (reason: unexpected errors, or failures of this action "
            "alone while incident.io answered others); each ends as failed with a Warning Event.",
            ["destination", "reason"],
            registry=r,
        )
        self.requests = Counter(
            PREFIX + "api_requests",
            "HTTP requests sent to incident.io's API, by endpoint and status code ('error' when no response).",
            ["endpoint", "code"],
            registry=r,
        )
        self.pending = Gauge(
            PREFIX + "pending_actions",
            "Accepted notifications not yet carried out, by destination.",
            ["destination"],
            registry=r,
        )
        self.oldest_pending_age = Gauge(
            PREFIX + "oldest_pending_action_age_seconds",
            "Age of the oldest accepted notification not yet carried out, by destination (0 when none).",
            ["destination"],
            registry=r,
        )
        self.ready = Gauge(
            PREFIX + "destination_ready", "1 when the destination is Ready, else 0.", ["destination"], registry=r
        )
        self.deliveries_failing = Gauge(
            PREFIX + "destination_deliveries_failing",
            "1 while recent deliveries to the destination keep failing, else 0.",
            ["destination"],
            registry=r,
        )
        self.findings = Gauge(
            PREFIX + "findings",
            "Findings tracked for the destination, by state.",
            ["destination", "state"],
            registry=r,
        )
        self.leader = Gauge(PREFIX + "leader", "1 while this replica holds the reconciler lease.", registry=r)
        self.create_latency = Histogram(
            PREFIX + "notification_to_incident_seconds",
            "Time from a notification being accepted to its incident being created.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.build = Info(PREFIX + "build", "The running version of causely-incidentio.", registry=r)
        self.build.info({"version": __version__})
        # Every metric labelled by destination: forget_destination() removes a deleted one's series from each.
        self._by_destination: tuple[Counter | Gauge, ...] = (
            self.incidents, self.abandoned, self.pending, self.oldest_pending_age, self.ready, self.deliveries_failing,
            self.findings,
        )

    def observe_request(self, endpoint: str, status: int | None) -> None:
        self.requests.labels(endpoint=endpoint, code=str(status) if status is not None else "error").inc()

    def forget_destination(self, dest_id: str) -> None:
        """Remove every series of ``dest_id``, so a deleted destination leaves no stale series behind."""
        for metric in self._by_destination:
            metric.remove_by_labels({"destination": dest_id})

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _register_runtime_collectors(registry: CollectorRegistry) -> None:
    """process_* (CPU, memory, file descriptors, start time), python_info and python_gc_* on ``registry``.

    Each collector registers itself on the registry it is given, so every per-pipeline registry gets its own.
    Registering one twice on a registry is a duplicate-name error, so what a registry already has (the global
    ``REGISTRY`` has all three from import) is left as it is.
    """
    names = {sample.name for family in registry.collect() for sample in family.samples}
    if "process_cpu_seconds_total" not in names:
        ProcessCollector(registry=registry)
    if "python_info" not in names:
        PlatformCollector(registry=registry)
    if "python_gc_objects_collected_total" not in names:
        GCCollector(registry=registry)

