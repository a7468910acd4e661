"""The incident.io side: an async API client, its typed errors and models, rate limiting, the catalog
cache and the severity rule. Other packages import from here, not from the modules."""

from __future__ import annotations

from .catalog import Catalog, CatalogLookupError
from .client import IncidentIOClient, RetryPolicy, close_pools
from .errors import (
    AuthenticationError,
    BadRequestError,
    ErrorDetail,
    IncidentIOError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetriesExhaustedError,
    ServerError,
    TransportError,
    ValidationError,
    is_auth_failure,
)
from .models import Identity, Incident, IncidentPage, IncidentStatus, IncidentType, Severity
from .ratelimit import TokenBucket, bucket_for
from .severity import CAUSELY_SEVERITY_ORDER, SeverityResolutionError, resolve_severity

__all__ = [
    "CAUSELY_SEVERITY_ORDER",
    "AuthenticationError",
    "BadRequestError",
    "Catalog",
    "CatalogLookupError",
    "ErrorDetail",
    "Identity",
    "Incident",
    "IncidentIOClient",
    "IncidentIOError",
    "IncidentPage",
    "IncidentStatus",
    "IncidentType",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetriesExhaustedError",
    "RetryPolicy",
    "ServerError",
    "Severity",
    "SeverityResolutionError",
    "TokenBucket",
    "TransportError",
    "ValidationError",
    "bucket_for",
    "close_pools",
    "is_auth_failure",
    "resolve_severity",
]
