"""README.md warns, before the install steps, that the operator replaces the Mediator's incident.io delivery,
and its links lead to sections that exist (a renamed heading must not leave the warning pointing nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _section(title_start: str) -> str:
    match = re.search(rf"^## {re.escape(title_start)}.*?(?=^## )", README, flags=re.M | re.S)
    assert match is not None, title_start
    return match.group(0)


def test_the_warning_comes_before_any_install_step() -> None:
    assert README.index("## Warning: one incident.io delivery") < README.index("## Try it")
    assert README.index("## Warning: one incident.io delivery") < README.index("## Install on a cluster")


def test_the_warning_says_what_happens_and_what_to_do() -> None:
    warning = " ".join(_section("Warning").split())
    assert "This operator does the Causely Mediator's incident.io delivery" in warning
    assert "two incidents" in warning and "double delivery" in warning
    assert "causely.ai/notif-config: IncidentIO" in warning  # the Secret both would read
    assert "notifications.incident_io.enabled: false" in warning and "CauselyBot" in warning


def test_the_readme_links_to_sections_that_exist() -> None:
    links = re.findall(r"\]\(((?:docs/)?[\w.-]*\.md)?#([\w-]+)\)", README)
    assert ("docs/connect-causely.md", "do-not-deliver-to-incidentio-twice") in links
    assert ("", "warning-one-incidentio-delivery-not-two") in links
    for target, anchor in links:
        text = (ROOT / target).read_text() if target else README
        assert anchor in _anchors(text), f"README.md links to {target or 'README.md'}#{anchor}, which does not exist"
