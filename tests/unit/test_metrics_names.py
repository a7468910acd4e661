"""Every metric on /metrics follows Prometheus' naming conventions, and docs/metrics.md lists each one.

The exposition is parsed exactly as Prometheus would scrape it, with every labelled metric populated, so the
checks see the names a user types into PromQL — not the names given to prometheus_client.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from causely_incidentio.metrics import PREFIX, Metrics, _register_runtime_collectors

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "metrics.md"
RUNTIME_PREFIXES = ("process_", "python_")  # prometheus_client's standard collectors, named by its conventions
# Units that are not Prometheus base units (seconds, bytes, ratios): a name must never carry them.
NON_BASE_UNITS = re.compile(
    r"_(ms|millis|milliseconds|us|microseconds|ns|nanoseconds|minutes?|hours?|days?|kb|kilobytes|mb|megabytes"
    r"|gb|gigabytes|kib|mib|gib|percent|pct)(_|$)"
)
TIME_WORDS = re.compile(r"(^|_)(age|latency|duration|time|delay|lag|elapsed)(_|$)")
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
Family = tuple[str, str, str, list[Sample]]  # name, type, help, samples


def populated(metrics: Metrics) -> None:
    """One series for every labelled metric, so each family shows up in the exposition."""
    metrics.notifications.labels(type="ProblemDetected", outcome="accepted").inc()
    metrics.incidents.labels(destination="secret/causely/a", action="created").inc()
    metrics.abandoned.labels(destination="secret/causely/a", reason="unexpected").inc()
    metrics.observe_request("POST /v2/incidents", 200)
    metrics.observe_request("GET /v1/identity", None)
    metrics.pending.labels(destination="secret/causely/a").set(2)
    metrics.oldest_pending_age.labels(destination="secret/causely/a").set(12.5)
    metrics.ready.labels(destination="secret/causely/a").set(1)
    metrics.deliveries_failing.labels(destination="secret/causely/a").set(0)
    metrics.findings.labels(destination="secret/causely/a", state="open").set(3)
    metrics.leader.set(1)
    metrics.create_latency.observe(0.2)


@pytest.fixture
def families() -> list[Family]:
    m = Metrics()
    populated(m)
    return [(f.name, f.type, f.documentation, list(f.samples))
            for f in text_string_to_metric_families(m.render().decode())]


def ours(families: list[Family]) -> list[Family]:
    """Our families, without prometheus_client's ``<counter or histogram>_created`` timestamp companions."""
    parents = {name for name, mtype, _, _ in families if mtype in ("counter", "histogram")}
    return [f for f in families
            if f[0].startswith(PREFIX) and not (f[0].endswith("_created") and f[0][: -len("_created")] in parents)]


def test_every_family_has_the_prefix_or_is_a_standard_runtime_metric(families: list[Family]) -> None:
    strays = [name for name, *_ in families if not name.startswith((PREFIX, *RUNTIME_PREFIXES))]
    assert strays == [], f"metrics without the {PREFIX!r} prefix: {strays}"
    assert len(ours(families)) >= 11


def test_process_and_python_metrics_are_on_the_same_endpoint(families: list[Family]) -> None:
    samples = {s.name for _, _, _, ss in families for s in ss}
    assert "python_info" in samples
    assert "python_gc_collections_total" in samples
    if Path("/proc/self/stat").exists():  # ProcessCollector reads /proc (Linux)
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                     "process_start_time_seconds"):
            assert name in samples


def test_counters_end_in_total_exactly_once_and_only_counters_do(
    families: list[Family],
) -> None:
    for name, mtype, _, samples in families:
        names = {s.name for s in samples}
        assert not any("_total_total" in n for n in names), name
        if mtype == "counter":
            assert not name.endswith("_total"), f"counter family {name} would be exposed as {name}_total_total"
            assert f"{name}_total" in names, f"counter {name} has no {name}_total sample: {names}"
            assert names <= {f"{name}_total", f"{name}_created"}, names
        else:
            assert not any(n.endswith("_total") for n in names), f"{mtype} {name} must not end in _total"


def test_units_are_base_units_in_the_name(families: list[Family]) -> None:
    for name, mtype, _, _ in ours(families):
        assert not NON_BASE_UNITS.search(name), f"{name}: use a base unit (_seconds, _bytes)"
        if TIME_WORDS.search(name):
            assert name.endswith("_seconds"), f"{name} measures time: name it ..._seconds"
        if mtype in ("histogram", "summary"):
            assert name.endswith(("_seconds", "_bytes")), f"{mtype} {name} must name its unit"


def test_names_labels_and_help_are_well_formed(families: list[Family]) -> None:
    for name, _, doc, samples in ours(families):
        assert SNAKE.match(name), name
        assert "__" not in name, name
        assert doc and (doc[0].isupper() or doc[0].isdigit()) and doc.endswith("."), f"{name}: help text {doc!r}"
        for s in samples:
            for label in s.labels:
                assert SNAKE.match(label) and not label.startswith("__"), f"{name}: label {label!r}"


def test_the_contracted_attributes_have_these_names_and_labels() -> None:
    """Other modules set these; their names and labels are a contract."""
    m = Metrics()
    expected = {
        "leader": ("causely_incidentio_leader", ()),
        "oldest_pending_age": ("causely_incidentio_oldest_pending_action_age_seconds", ("destination",)),
        "deliveries_failing": ("causely_incidentio_destination_deliveries_failing", ("destination",)),
        "findings": ("causely_incidentio_findings", ("destination", "state")),
        "pending": ("causely_incidentio_pending_actions", ("destination",)),
        "ready": ("causely_incidentio_destination_ready", ("destination",)),
        "notifications": ("causely_incidentio_notifications_received", ("type", "outcome")),
        "incidents": ("causely_incidentio_incident_actions", ("destination", "action")),
        "requests": ("causely_incidentio_api_requests", ("endpoint", "code")),
        "create_latency": ("causely_incidentio_notification_to_incident_seconds", ()),
    }
    for attr, (name, labels) in expected.items():
        metric = getattr(m, attr)
        assert metric._name == name, attr
        assert tuple(metric._labelnames) == labels, attr
    assert m.render().decode().count("causely_incidentio_leader 0.0") == 1  # exposed before anyone sets it


def test_docs_list_every_metric(families: list[Family]) -> None:
    doc = DOC.read_text()
    for name, mtype, _, _ in ours(families):
        exposed = f"{name}_total" if mtype == "counter" else name
        assert f"`{exposed}`" in doc, f"docs/metrics.md does not list {exposed}"
    current = doc.split("### Renamed metrics")[0]  # the rename table lists old names on purpose
    listed = set(re.findall(r"`(causely_incidentio_[a-z_]+)`", current))
    known = {f"{n}_total" if t == "counter" else n for n, t, _, _ in ours(families)}
    assert listed <= known, f"docs/metrics.md lists metrics that do not exist: {sorted(listed - known)}"


def test_forget_destination_removes_every_series_of_that_destination_only() -> None:
    m = Metrics()
    populated(m)
    m.incidents.labels(destination="secret/causely/b", action="created").inc()
    m.findings.labels(destination="secret/causely/a", state="resolved").set(1)
    m.findings.labels(destination="secret/causely/b", state="open").set(1)
    m.ready.labels(destination="secret/causely/b").set(1)

    m.forget_destination("secret/causely/a")

    text = m.render().decode()
    assert 'destination="secret/causely/a"' not in text
    assert 'causely_incidentio_findings{destination="secret/causely/b",state="open"} 1.0' in text
    assert 'causely_incidentio_destination_ready{destination="secret/causely/b"} 1.0' in text
    assert 'causely_incidentio_incident_actions_total{action="created",destination="secret/causely/b"} 1.0' in text
    m.forget_destination("never/seen")  # unknown: nothing to do, no error


def test_several_pipelines_in_one_process_each_have_their_own_runtime_metrics() -> None:
    first, second = Metrics(), Metrics()
    for m in (first, second):
        text = m.render().decode()
        assert "python_info{" in text and "python_gc_objects_collected_total{" in text
    assert "python_info{" not in Metrics(runtime_metrics=False).render().decode()


def test_runtime_collectors_are_registered_once_per_registry() -> None:
    registry = CollectorRegistry()
    _register_runtime_collectors(registry)
    _register_runtime_collectors(registry)  # no duplicate-name error
    Metrics(registry)
    assert Metrics(registry=None).render().decode().count("# TYPE python_info gauge") == 1
