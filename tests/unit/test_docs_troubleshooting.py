"""docs/troubleshooting.md explains every condition reason and Event reason the operator can set, and no page
names a reason the operator never sets.

The reasons are read from the source (and kube/status.py's table of Degraded reasons), so a new reason without
a line in the page fails here, and so does a page showing a reason the code does not have (once `Synced`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from causely_incidentio.kube.status import ARGO_CD_HEALTH

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
    rf'reason\s+or\s+"{NAME}"',  # a fallback reason
    rf'REASON_PATTERN\.match\(value\)\s+else\s+"{NAME}"',  # the condition writer's fallback (kube/status.py)
]
KNOWN = {  # a floor, so a pattern that stops matching cannot make the test pass vacuously
    "IncidentCreated", "IncidentUpdated", "IncidentResolved", "IncidentCleared", "IncidentClosedOutside",
    "DeliveryFailed", "RateLimited", "NotificationRejected",
    "Valid", "InvalidConfig", "UnknownInIncidentIO", "Pending", "Authenticated", "IncidentIOUnreachable",
    "Unauthenticated", "Forbidden", "Ready", "Unknown", "AsExpected", "DeliveriesFailing",
}
# Pages a user reads for reasons, checked in the other direction: every reason they name exists in the code.
REASON_PAGES = ["docs/troubleshooting.md", "docs/kubernetes.md", "docs/runbooks.md", "README.md"]


def reasons_in_code() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        text = path.read_text()
        for pattern in PATTERNS:
            for match in re.finditer(pattern, text, flags=re.M):
                found.update(g for g in match.groups() if g)
    return found | set(ARGO_CD_HEALTH)


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def reasons_in_doc(text: str) -> set[str]:
    """Reasons a page names: a table's `reason` column, a REASON column of sample output, "reason `X`" phrases,
    and `reason=X` field selectors."""
    named: set[str] = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: "):
            header = [h.lower() for h in _cells(line)]
            if "reason" in header:
                col = header.index("reason")
                for row in lines[i + 2:]:
                    if not row.startswith("|"):
                        break
                    cells = _cells(row)
                    if col < len(cells):
                        named.update(re.findall(r"`([A-Z][A-Za-z]+)`", cells[col]))
        if re.match(r"^NAME\s.*\sREASON\s", line):
            start = line.index("REASON")
            for row in lines[i + 1:]:
                if not row.strip() or row.startswith("```"):
                    break
                value = row[start:].split()
                named.update(value[:1])
    for phrase in re.finditer(r"reasons?\s+((?:`[A-Z][A-Za-z]+`(?:,\s*|\s+or\s+|\s+and\s+)?)+)", text):
        named.update(re.findall(r"`([A-Z][A-Za-z]+)`", phrase.group(1)))
    named.update(re.findall(r"\breason=([A-Z][A-Za-z]+)", text))
    named.update(re.findall(r"`([A-Z][A-Za-z]+)`\s+Events?\b", text))
    return named


def test_every_reason_the_code_sets_is_explained() -> None:
    found = reasons_in_code()
    assert found >= KNOWN, f"reasons not found in the code any more: {sorted(KNOWN - found)}"
    doc = DOC.read_text()
    missing = sorted(r for r in found if f"`{r}`" not in doc)
    assert not missing, f"docs/troubleshooting.md does not explain: {missing}"


@pytest.mark.parametrize("page", REASON_PAGES)
def test_every_reason_a_page_names_is_one_the_code_sets(page: str) -> None:
    named = reasons_in_doc((ROOT / page).read_text())
    unknown = sorted(named - reasons_in_code())
    assert not unknown, f"{page} names reasons the operator never sets: {unknown}"


def test_the_page_parser_sees_the_reasons_it_should() -> None:
    """So the check above cannot pass by reading nothing."""
    assert {"InvalidConfig", "DeliveriesFailing", "IncidentCreated"} <= reasons_in_doc(DOC.read_text())
    sample = ("```\nNAME   READY   REASON   OPEN\nprod   True    Synced   3\n```\n"
              "the reason `Bogus` and reason=Other, a `Stale` Event\n")
    assert reasons_in_doc(sample) == {"Synced", "Bogus", "Other", "Stale"}


def test_one_name_per_reason() -> None:
    """Events once said `ConfigInvalid` where conditions said `InvalidConfig`: the same words in another order."""
    by_words: dict[tuple[str, ...], set[str]] = {}
    for reason in reasons_in_code():
        by_words.setdefault(tuple(sorted(re.findall(r"[A-Z][a-z]*|[A-Z]+(?![a-z])", reason))), set()).add(reason)
    assert not [names for names in by_words.values() if len(names) > 1]
