"""docs/troubleshooting.md explains every condition reason and Event reason the operator can set.

The reasons are read from the source, so a new reason without a line in the page fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "causely_incidentio"
DOC = ROOT / "docs" / "troubleshooting.md"
SOURCES = [*sorted((PACKAGE / "sync").glob("*.py")), *sorted((PACKAGE / "kube").glob("*.py"))]
NAME = r"([A-Z][A-Za-z]+)"
PATTERNS = [
    rf'\bevents?\([^,()]+,\s*"{NAME}"',  # self.events(dest, "Reason", ...) / self.event(...)
    rf'_post_event_about_secret\([^,()]+,\s*"{NAME}"',
    rf'\(\s*"{NAME}",\s*f"',  # Outcome(..., ("Reason", f"message", warning))
    rf'_reason\s*(?::\s*str\s*)?=\s*"{NAME}"',  # health.config_reason = "Reason" / auth_reason: str = "Pending"
    rf'reason\s*=\s*"{NAME}"\s+if\b[^\n]*\belse\s+"{NAME}"',  # reason = "A" if ... else "B"
    rf'auth\s*=\s*\("[A-Za-z]+",\s*"{NAME}"',  # the Authenticated condition while the config is invalid
    rf'return\s+"{NAME}"\s*$',  # Health.reason's own value
    rf'reason\s+or\s+"{NAME}"',  # the condition writer's fallback
]
KNOWN = {  # a floor, so a pattern that stops matching cannot make the test pass vacuously
    "IncidentCreated", "IncidentUpdated", "IncidentResolved", "IncidentCleared", "IncidentClosedOutside",
    "ConfigInvalid", "DeliveryFailed", "RateLimited", "NotificationRejected",
    "Valid", "InvalidConfig", "UnknownInIncidentIO", "Pending", "Authenticated", "Unreachable", "Unauthenticated",
    "Forbidden", "Ready", "Unknown",
}


def reasons_in_code() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        text = path.read_text()
        for pattern in PATTERNS:
            for match in re.finditer(pattern, text, flags=re.M):
                found.update(g for g in match.groups() if g)
    return found


def test_every_reason_the_code_sets_is_explained() -> None:
    found = reasons_in_code()
    assert found >= KNOWN, f"reasons not found in the code any more: {sorted(KNOWN - found)}"
    doc = DOC.read_text()
    missing = sorted(r for r in found if f"`{r}`" not in doc)
    assert not missing, f"docs/troubleshooting.md does not explain: {missing}"
