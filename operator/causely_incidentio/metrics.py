"""Prometheus metrics, on a registry per pipeline so several pipelines can live in one process (tests).

Labels carry destination ids, endpoints and codes only, never tokens or payload text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.notifications = Counter(
            "causely_notifications_received_total",
            "Notifications received by the receiver, by type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.incidents = Counter(
            "causely_incidents_total",
            "Incident actions carried out in incident.io, by destination and action "
            "(created, updated, resolved, skipped, failed, ignored).",
            ["destination", "action"],
            registry=r,
        )
        self.requests = Counter(
            "causely_incidentio_requests_total",
            "HTTP requests sent to incident.io, by endpoint and status code ('error' when no response).",
            ["endpoint", "code"],
            registry=r,
        )
        self.pending = Gauge(
            "causely_journal_pending_actions",
            "Accepted notifications not yet carried out, by destination.",
            ["destination"],
            registry=r,
        )
        self.ready = Gauge(
            "causely_destination_ready", "1 when the destination is Ready, else 0.", ["destination"], registry=r
        )
        self.leader = Gauge(
            "causely_incidentio_leader", "1 while this replica holds the reconciler lease.", registry=r
        )
        self.create_latency = Histogram(
            "causely_notification_to_incident_seconds",
            "Time from a notification being accepted to its incident being created.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )

    def observe_request(self, endpoint: str, status: int | None) -> None:
        self.requests.labels(endpoint=endpoint, code=str(status) if status is not None else "error").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
