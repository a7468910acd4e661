"""Incident name and summary (markdown) from a Causely notification.

The title must be stable for one finding (it is compared on updates), so it uses only the problem's name
and entity. The summary is bounded in bytes: incident.io accepts far larger text (its request body limit is
64 KiB), but an incident summary is read by humans on a phone, and the journal stores it too. When the
text must shrink, the least essential parts go first — details, then remediation options, then the SLO
list — and the links back to Causely and the ``objectId`` footer always survive.

Payload text is not escaped as markdown (Causely writes markdown in ``details``), but single-line fields
(names, labels) are collapsed to one line so they cannot open headings or lists of their own, link texts
have their brackets escaped, and only ``http(s)`` links are emitted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from causely_incidentio.payload import Entity, Notification

TITLE_LIMIT_CHARS = 255
SUMMARY_LIMIT_BYTES = 16 * 1024
"""Default summary budget: 16 KiB of UTF-8, well under incident.io's 64 KiB request limit."""

ELLIPSIS = "…"
_WHITESPACE = re.compile(r"\s+")


def one_line(text: str | None) -> str:
    """Collapse whitespace so a payload value cannot break out of the line it is placed on."""
    return _WHITESPACE.sub(" ", text or "").strip()


def render_title(n: Notification) -> str:
    """``<title> on <entity name>``, one line, at most 255 characters (cut with "…")."""
    title = one_line(n.title)
    entity_name = one_line(n.entity.name if n.entity else None)
    if entity_name:
        title = f"{title} on {entity_name}"
    if len(title) > TITLE_LIMIT_CHARS:
        title = title[: TITLE_LIMIT_CHARS - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return title


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_utf8(text: str, limit_bytes: int) -> str:
    """The longest prefix of ``text`` that fits ``limit_bytes`` of UTF-8, never splitting a character."""
    if limit_bytes <= 0:
        return ""
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    return data[:limit_bytes].decode("utf-8", errors="ignore")


def _link_text(text: str) -> str:
    return one_line(text).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _url(url: str | None) -> str | None:
    """Only http(s) URLs become links; angle brackets keep spaces or parentheses from ending the link."""
    if not url:
        return None
    url = url.strip()
    if not re.match(r"(?i)^https?://", url) or any(c in url for c in "<>\n\r"):
        return None
    return f"<{url}>" if any(c in url for c in " ()") else url


def _link(text: str, url: str | None) -> str:
    target = _url(url)
    return f"[{_link_text(text)}]({target})" if target else one_line(text)


def _entity(e: Entity | None) -> str | None:
    if e is None or not (e.name or e.type):
        return None
    name = one_line(e.name) or "(unnamed)"
    shown = _link(name, e.link) if e.link else f"`{name.replace('`', '')}`"
    return f"{shown} ({one_line(e.type)})" if e.type else shown


@dataclass
class _Section:
    """A part of the summary that can shrink to fit the budget (``shrink(budget) -> text``)."""

    text: str
    shrink: Callable[[int], str]


def _fixed(text: str) -> _Section:
    def shrink(budget: int) -> str:
        if _size(text) <= budget:
            return text
        if budget <= _size(ELLIPSIS):
            return ""
        return cut_utf8(text, budget - _size(ELLIPSIS)).rstrip() + ELLIPSIS

    return _Section(text, shrink)


def _list_section(heading: str, items: list[str], noun: str, omitted: int = 0) -> _Section:
    """A heading and bullet list; shrinking keeps the first items and says how many were left out.

    ``omitted`` counts items already cut at parse time (payload.MAX_LIST_ITEMS), so the "more" line stays
    true. Shrinking is linear: each candidate's size comes from running sums, and only the chosen one is
    built (rebuilding the list per dropped item made a large notification take seconds).
    """
    total = len(items) + omitted

    def more(kept: int) -> str:
        dropped = total - kept
        return f"- … {dropped} more {noun}{'s' if dropped > 1 else ''} in Causely" if dropped else ""

    def build(kept: int) -> str:
        if kept == 0 and not items and not omitted:
            return ""
        lines = [heading, "", *items[:kept]]
        if total - kept:
            lines.append(more(kept))
        return "\n".join(lines)

    def shrink(budget: int) -> str:
        if not items and not omitted:
            return ""
        head = _size(heading) + 1  # the heading, then "\n" + "" for the blank line
        prefix = [0]  # prefix[k]: bytes of the first k items, each with its leading "\n"
        for item in items:
            prefix.append(prefix[-1] + 1 + _size(item))
        for kept in range(len(items), -1, -1):
            tail = more(kept)
            size = head + prefix[kept] + (1 + _size(tail) if tail else 0)
            if size <= budget:
                return build(kept)
        return ""

    return _Section(build(len(items)), shrink)


def _text_section(heading: str, body: str, note: str) -> _Section:
    """A heading and free markdown; shrinking cuts the body (closing an open code fence) or drops it."""

    def build(text: str) -> str:
        return f"{heading}\n\n{text}"

    def shrink(budget: int) -> str:
        full = build(body)
        if _size(full) <= budget:
            return full
        suffix = f"\n\n{ELLIPSIS} {note}"
        room = budget - _size(build("")) - _size(suffix) - len("\n```")
        if room < 64:  # a few words of details help nobody; leave the room to the other sections
            return ""
        cut = cut_utf8(body, room).rstrip()
        if cut.count("```") % 2:
            cut += "\n```"
        return build(cut) + suffix

    return _Section(build(body), shrink)


def _join(parts: list[str]) -> str:
    return "\n\n".join(p for p in parts if p)


def render_summary(n: Notification, *, limit_bytes: int = SUMMARY_LIMIT_BYTES) -> str:
    """Markdown summary: what, where, impacted SLOs, remediation, details, then links and the objectId.

    The result is always at most ``limit_bytes`` of UTF-8.
    """
    what = (n.description.summary or "").strip() or f"Causely detected {one_line(n.title)}."
    where: list[str] = []
    entity = _entity(n.entity)
    if entity:
        where.append(f"- **Entity:** {entity}")
    for label, value in (("Cluster", n.cluster), ("Namespace", n.namespace), ("Service", n.service)):
        if value:
            where.append(f"- **{label}:** {one_line(value)}")
    where.append(f"- **Severity:** {n.severity.value}")

    slo_items: list[str] = []
    for slo in n.slos:
        name = _entity(slo.slo_entity) or "an SLO"
        line = f"- **{one_line(slo.status) or 'UNKNOWN'}**: {name}"
        related = _entity(slo.related_entity)
        if related:
            line += f" (related: {related})"
        slo_items.append(line)

    remediation_items: list[str] = []
    for option in n.description.remediation_options:
        title, text = one_line(option.title), one_line(option.description)
        if title and text:
            remediation_items.append(f"- **{title}:** {text}")
        elif title or text:
            remediation_items.append(f"- {title or text}")

    links: list[str] = []
    if _url(n.link):
        links.append(_link("View root cause in Causely", n.link))
    if n.entity is not None and _url(n.entity.link):
        links.append(_link(f"View {one_line(n.entity.name) or 'entity'} in Causely", n.entity.link))
    footer_lines = ["---"]
    if links:
        footer_lines.append(" · ".join(links))
    footer_lines.append(f"Causely objectId: `{one_line(n.object_id).replace('`', '')}`")
    footer = "\n\n".join(footer_lines)

    details = (n.description.details or "").strip()
    sections: dict[str, _Section] = {
        "what": _fixed(what),
        "where": _fixed("### Where\n\n" + "\n".join(where)),
        "slos": _list_section("### Impacted SLOs", slo_items, "impacted SLO", n.omitted_slos),
        "remediation": _list_section("### Remediation options", remediation_items, "remediation option",
                                     n.description.omitted_remediation_options),
        "details": _text_section("### Details", details, "details truncated; see Causely")
        if details
        else _fixed(""),
    }
    order = ["what", "where", "slos", "remediation", "details"]

    def assemble() -> str:
        return _join([sections[k].text for k in order] + [footer])

    def budget_for(key: str) -> int:
        others = _size(_join([sections[k].text for k in order if k != key] + [footer]))
        return max(0, limit_bytes - others - len("\n\n"))

    # Strict priority: a section keeps anything only if every more important one is complete, because
    # each cut is sized against the others at their current (full) size.
    text = assemble()
    for key in ("details", "remediation", "slos", "what", "where"):
        if _size(text) <= limit_bytes:
            return text
        sections[key].text = sections[key].shrink(budget_for(key))
        text = assemble()
    if _size(text) <= limit_bytes:
        return text
    # Only a limit smaller than the footer itself gets here: keep as much of the footer as fits.
    return cut_utf8(footer, limit_bytes)
