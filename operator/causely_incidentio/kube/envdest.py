"""The seed's ``INCIDENT_IO_*`` environment variables as a destination in Kubernetes mode.

In a cluster every destination needs an object whose status is its journal, so the environment's default
destination is materialised as an IncidentDestination named ``incidentio-env`` in the operator's namespace.
Its API key is not copied anywhere: the resource points at the Secret the Deployment reads the variables from
(``causely-incidentio-env``, key ``api_token``), so rotation works as for any other destination.
"""

from __future__ import annotations

from typing import Any

from causely_incidentio.kube.api import API_VERSION, GROUP, KIND, MANAGED_BY
from causely_incidentio.settings import Settings

ENV_DESTINATION_NAME = "incidentio-env"
ENV_SECRET_NAME = "causely-incidentio-env"
ENV_SECRET_KEY = "api_token"
OPTIONAL_FIELDS = ("incidentTypeId", "severityId", "resolvedStatusName", "minSeverity", "mode", "visibility")


def env_destination(settings: Settings, namespace: str) -> dict[str, Any] | None:
    """The IncidentDestination for the environment's default destination, or None when no token is set."""
    if not settings.incident_io_api_token:
        return None
    spec: dict[str, Any] = {"tokenSecretRef": {"name": ENV_SECRET_NAME, "key": ENV_SECRET_KEY}}
    optional = {
        "incidentTypeId": settings.incident_io_incident_type_id,
        "severityId": settings.incident_io_severity_id,
        "resolvedStatusName": settings.incident_io_resolved_status_name,
        "minSeverity": settings.incident_io_min_severity,
        "mode": settings.incident_io_mode,
        "visibility": settings.incident_io_visibility,
    }
    spec.update({k: v for k, v in optional.items() if v})
    spec["notifyChannel"] = settings.incident_io_notify_channel
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": ENV_DESTINATION_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, f"{GROUP}/source": "Environment"},
        },
        "spec": spec,
    }
