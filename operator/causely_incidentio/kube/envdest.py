"""The seed's ``INCIDENT_IO_*`` environment variables as a destination in Kubernetes mode.

In a cluster every destination needs an object whose status is its journal, so the environment's default
destination is materialised as an IncidentDestination named ``incidentio-env`` in the operator's namespace.
Its API key is not copied anywhere: the resource points at the Secret the Deployment reads the variables from
(``causely-incidentio-env``, key ``api_token``; that Secret opts in with the label
``notifications.causely.ai/incident-io-token: "true"``), so rotation works as for any other destination. Every
other setting is left unset in the spec, so it falls back to the same ``INCIDENT_IO_*`` variables: one source.
"""

from __future__ import annotations

from typing import Any

from causely_incidentio.destinations import SOURCE_LABEL
from causely_incidentio.kube.api import API_VERSION, KIND, MANAGED_BY
from causely_incidentio.settings import Settings

ENV_DESTINATION_NAME = "incidentio-env"
ENV_SECRET_NAME = "causely-incidentio-env"
ENV_SECRET_KEY = "api_token"
OPTIONAL_FIELDS = (
    "incidentTypeID", "severityID", "severityRule", "resolvedStatusName", "minSeverity", "mode", "visibility",
    "notifyChannel",
    # names before v1alpha1's review: removed from an object an older version wrote
    "incidentTypeId", "severityId",
)
"""Fields removed from an existing ``incidentio-env`` object: they would shadow the environment."""


def env_destination(settings: Settings, namespace: str) -> dict[str, Any] | None:
    """The IncidentDestination for the environment's default destination, or None when no token is set."""
    if not settings.incident_io_api_token:
        return None
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": ENV_DESTINATION_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, SOURCE_LABEL: "Environment"},
        },
        "spec": {"tokenSecretRef": {"name": ENV_SECRET_NAME, "key": ENV_SECRET_KEY}},
    }
