"""Hostile HTTP requests for the receiver, and a target that sends them and checks the answers.

Shared by ``test_receiver_fuzz.py`` (a few thousand derandomized examples in CI) and
``bench/fuzz_receiver.py`` (≥ 100,000 recorded). Requests are written as raw bytes over a socket, so headers
a well-behaved client refuses to send (non-UTF-8 bytes, odd encodings, chunked bodies) reach the server.

What is generated: valid Causely notifications with hostile values (any Unicode, lone surrogates raw or
escaped, markup, control characters, huge and non-finite numbers, deep nesting, huge lists, odd JSON types,
timestamps across and beyond every range), malformed bodies (truncated, bit-flipped, random bytes, other
encodings, bombs of digits or brackets), and odd headers (Authorization and Content-Type variants,
Content-Encoding, chunked framing, ``Expect: 100-continue``, duplicates). A few examples make the journal
refuse the write, so the one deliberate 5xx (503) is exercised too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from pipeline_harness import RECEIVER_TOKEN, Harness

from causely_incidentio.payload import PayloadSyntaxError, parse_notification
from causely_incidentio.problems import InvalidInput
from causely_incidentio.render import render_summary, render_title
from causely_incidentio.settings import Settings
from causely_incidentio.simulator import Simulator
from causely_incidentio.sync.journal import JournalUnavailable

PAYLOADS = Path(__file__).resolve().parents[2] / "fixtures" / "payloads"
BASES = {p.stem: json.loads(p.read_text()) for p in sorted(PAYLOADS.glob("*.json"))}
TOKEN = RECEIVER_TOKEN.encode()
DEST = "secret/causely/primary"
OBJECT_IDS = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(16)]


@dataclass(frozen=True)
class Raw:
    """JSON text placed as it is (what ``json.dumps`` cannot or will not write: 5,000-digit numbers, deep
    nesting)."""

    text: str


def to_json(value: Any, ascii_only: bool) -> str:
    """``json.dumps`` that also writes :class:`Raw` fragments (as placeholders, replaced afterwards)."""
    raws: list[str] = []

    def placeholder(obj: Any) -> str:
        if not isinstance(obj, Raw):
            raise TypeError(type(obj).__name__)
        raws.append(obj.text)
        return f"\x00raw{len(raws) - 1}\x00"

    text = json.dumps(value, ensure_ascii=ascii_only, default=placeholder)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{i}\\u0000"', raw, 1)
    return text


# -- values -----------------------------------------------------------------------------------------------
SPECIAL_TEXT = [
    "", " ", "\t\n\r", "\x00", "\x1b[2J\x07", "\u202e\u2066", "\ufeff", "\uffff", "\U0010ffff", "\ud83d\ude00",
    "evil[/]", "[bold]x[/bold]", "[link=http://x]y[/link]", "```", "\n# heading\n- item", "<script>alert(1)</script>",
    "[x](javascript:alert(1))", "](http://evil)", "`", "\\", '"', "'", "%s%n%x", "${jndi:ldap://x/a}", "{{7*7}}",
    "NaN", "null", "true", "-0", "1e309", "../../etc/passwd", "http://[::1]:80/", "https://e.com/a b(c)<d>",
    "Ω" * 300, "漢字" * 200, "a\u0301" * 100, "x" * 5000,
]
LONE_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)


def sometimes(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """``rare`` about once in ``one_in`` draws: huge values are worth trying, not in every example."""
    return st.integers(1, one_in).flatmap(lambda n: rare if n == 1 else common)


HOSTILE_TEXT: st.SearchStrategy[str] = sometimes(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(SPECIAL_TEXT),
        st.builds(lambda a, s, b: a + s + b, st.text(max_size=8), LONE_SURROGATES, st.text(max_size=8)),
        st.builds(lambda a, b: a + b, st.sampled_from(SPECIAL_TEXT), st.text(max_size=20)),
    ),
    st.integers(10_000, 300_000).map(lambda n: "y" * n),
    one_in=20,
)
HOSTILE_NUMBER: st.SearchStrategy[Any] = sometimes(
    st.one_of(
        st.integers(),
        st.integers(min_value=-(10**300), max_value=10**300),
        st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**4299]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(1, 400).map(lambda n: Raw("1e" + "9" * n)),
        st.sampled_from([Raw("-0"), Raw("1E400"), Raw("-1e-400"), Raw("0.0000000000000000000001")]),
    ),
    st.integers(4301, 20_000).map(lambda n: Raw("9" * n)),  # over Python's int digit limit: the body is refused
    one_in=15,
)


def deep(kind: str, depth: int) -> Raw:
    opening, closing = ("[", "]") if kind == "list" else ('{"a":', "}")
    return Raw(opening * depth + "1" + closing * depth)


_SCALARS = st.one_of(st.none(), st.booleans(), HOSTILE_NUMBER, HOSTILE_TEXT)
JSON_VALUES: st.SearchStrategy[Any] = sometimes(
    st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner,
                                                                                        max_size=4),
                 max_leaves=12),
    st.one_of(
        st.builds(deep, st.sampled_from(["list", "dict"]), st.sampled_from([31, 32, 33, 40, 500, 990, 5000, 100_000])),
        st.integers(1000, 20_000).map(lambda n: [{"title": f"t{i}", "description": "d" * 30} for i in range(n)]),
    ),
    one_in=10,
)


def _stamp(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str, tz: str, sep: str) -> str:
    return f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{'.' + frac if frac else ''}{tz}"


_OFFSETS = st.one_of(st.sampled_from(["Z", "z", "", "+00:00", "-23:59", "+23:59", "+24:00", "-99:99"]),
                     st.builds(lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"),
                               st.integers(0, 99), st.integers(0, 99)))
TIMESTAMPS: st.SearchStrategy[Any] = st.one_of(
    st.builds(_stamp, st.sampled_from([1, 1677, 1678, 1969, 1970, 2024, 2262, 2263, 9999]),
              st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
              st.integers(0, 59), st.text("0123456789", max_size=20), _OFFSETS, st.sampled_from("Tt ")),
    st.builds(_stamp, st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99),
              st.integers(0, 99), st.integers(0, 99), st.text("0123456789", max_size=12), _OFFSETS, st.just("T")),
    st.sampled_from(["1677-09-21T00:12:43.145225Z", "1677-09-21T00:12:43.145224999Z",
                     "2262-04-11T23:47:16.854775Z", "2262-04-11T23:47:16.854775808Z",
                     "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00+00:01"]),
    HOSTILE_NUMBER,
    HOSTILE_TEXT,
)


TEXT_FIELDS = [
    ("name",), ("customName",), ("entity", "name"), ("entity", "link"), ("entity", "type"), ("entity", "id"),
    ("description", "summary"), ("description", "details"), ("labels", "k8s.namespace.name"),
    ("labels", "k8s.cluster.name"), ("labels", "causely.ai/service-name"), ("link",),
    ("slos", 0, "slo_entity", "name"), ("slos", 0, "slo_entity", "link"), ("slos", 0, "status"),
]
FIELDS = [
    ("type",), ("objectId",), ("name",), ("customName",), ("severity",), ("old_severity",), ("entity",),
    ("entity", "name"), ("entity", "link"), ("entity", "type"), ("description",), ("description", "summary"),
    ("description", "details"), ("description", "remediationOptions"), ("labels",),
    ("labels", "k8s.namespace.name"), ("labels", "causely.ai/service-name"), ("link",), ("slos",),
    ("slos", 0, "slo_entity", "name"), ("slos", 0, "status"), ("duration_ns",), ("timestamp_ns",),
]


def set_path(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for part in path[:-1]:
        if isinstance(part, int):
            if not isinstance(target, list) or not target:
                return
            target = target[0]
        else:
            if not isinstance(target, dict):
                return
            if not isinstance(target.get(part), dict | list):
                target[part] = {}
            target = target[part]
    if isinstance(target, dict):
        target[path[-1]] = value


@st.composite
def notifications(draw: st.DrawFn) -> dict[str, Any]:
    """A published payload with a known finding id, then 0–4 fields replaced by hostile values: text in text
    fields (mostly accepted: that is what reaches rendering), any JSON value anywhere, odd timestamps, and
    unknown keys."""
    doc: dict[str, Any] = json.loads(json.dumps(BASES[draw(st.sampled_from(sorted(BASES)))]))
    doc["objectId"] = draw(st.sampled_from(OBJECT_IDS))
    if "severity" not in doc:
        doc["severity"] = "High"
    doc["type"] = draw(st.sampled_from(["ProblemDetected", "ProblemUpdated", "ProblemCleared", "problemdetected"]))
    doc["severity"] = draw(st.sampled_from(["High", "Critical", "Medium", "Low", "high", "Critical"]))
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 9))
        if choice < 2:
            doc["timestamp"] = draw(TIMESTAMPS)
        elif choice < 6:  # text where text belongs: mostly accepted, then rendered
            set_path(doc, draw(st.sampled_from(TEXT_FIELDS)), draw(HOSTILE_TEXT))
        elif choice < 8:
            set_path(doc, draw(st.sampled_from(FIELDS)), draw(JSON_VALUES))
        else:
            doc[draw(HOSTILE_TEXT)] = draw(JSON_VALUES)
    return doc


# -- requests ---------------------------------------------------------------------------------------------
@dataclass
class Request:
    """One HTTP request as bytes, plus what the checks need to know about it."""

    head: list[tuple[bytes, bytes]]
    body: bytes
    decoded: bytes | None  # the body as the server reads it after Content-Encoding; None: not decodable
    journal_fails: bool = False
    path: bytes = b"/notifications"
    chunked: bool = False
    kind: str = ""

    def wire(self) -> bytes:
        lines = [b"POST " + self.path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
        lines += [name + b": " + value for name, value in self.head]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(self.body[i:i + 4096]), self.body[i:i + 4096])
                              for i in range(0, len(self.body), 4096))
            return b"\r\n".join(lines) + b"\r\n\r\n" + chunks + b"0\r\n\r\n"
        lines.append(b"Content-Length: " + str(len(self.body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body


AUTH_GOOD = [b"Bearer " + TOKEN, TOKEN, b"bearer   " + TOKEN + b"  ", b"BEARER " + TOKEN]
AUTH_BAD = [b"", b"Bearer", b"Bearer wrong", b"Basic " + TOKEN, TOKEN + b"\xff", b"Bearer \xff\xfe\x80",
            b"\xc3\x28", b"Bearer " + TOKEN[:-1], b"Bearer " + TOKEN + b"x", "Bearer ü".encode("latin-1")]
CONTENT_TYPES = [b"application/json", b"application/json; charset=utf-8", b"application/JSON",
                 b"application/cloudevents+json", b"application/json; charset=latin-1", b"text/plain", b"",
                 b"application/json; charset=\xff\xfe", b"multipart/form-data; boundary=x", b"application/json;;;",
                 b"application/json; q=\"unterminated", b"*/*", b"application/x-www-form-urlencoded"]
ODD_HEADERS = [(b"X-Weird", b"\x80\x81\xfe"), (b"Accept-Charset", b"utf-16"), (b"Expect", b"100-continue"),
               (b"Authorization", b"Bearer second"), (b"Content-Type", b"text/plain"), (b"X-Empty", b""),
               (b"Accept-Encoding", b"gzip, br"), (b"Cookie", b"a=\xff")]


def encode_body(doc: Any, ascii_only: bool, raw_surrogates: bool) -> bytes:
    text = to_json(doc, ascii_only)
    return text.encode("utf-8", "surrogatepass" if raw_surrogates else "backslashreplace")


def malformed_bodies(valid: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.integers(0, max(0, len(valid) - 1)).map(lambda n: valid[:n]),
        st.tuples(st.integers(0, max(0, len(valid) - 1)), st.integers(0, 255)).map(
            lambda p: valid[:p[0]] + bytes([p[1]]) + valid[p[0] + 1:]),
        st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252"]).map(
            lambda enc: valid.decode("utf-8", "surrogateescape").encode(enc, "replace")),
        st.just(b"\xef\xbb\xbf" + valid), st.just(b"\xef\xbb\xbf\xef\xbb\xbf" + valid),
        st.sampled_from([b"", b"null", b"[]", b"\"text\"", b"1", b"NaN", b"{}", b"{\"type\": null}", b"{" * 50_000,
                         b"[" * 200_000, b"9" * 100_000, b"{\"a\": 1e999999}", b"\x00" * 64,
                         b"{\"type\": \"ProblemDetected\"}\x00", b"{\"objectId\": \"\\ud800\"}"]),
    )


@st.composite
def requests(draw: st.DrawFn) -> Request:
    doc = draw(notifications())
    valid = encode_body(doc, ascii_only=draw(st.booleans()), raw_surrogates=draw(st.integers(0, 19)) == 0)
    kind = "notification"
    body = valid
    if draw(st.integers(0, 5)) == 0:
        kind = "malformed"
        body = draw(malformed_bodies(valid))
    head: list[tuple[bytes, bytes]] = []
    auth_choice = draw(st.integers(0, 19))
    if auth_choice < 18:
        head.append((b"Authorization", draw(st.sampled_from(AUTH_GOOD))))
    elif auth_choice < 19:
        head.append((b"Authorization", draw(st.sampled_from(AUTH_BAD))))
    if draw(st.integers(0, 9)) < 9:
        head.append((b"Content-Type", b"application/json"))
    else:
        head.append((b"Content-Type", draw(st.sampled_from(CONTENT_TYPES))))
    decoded: bytes | None = body
    encoding = draw(st.sampled_from([None] * 15 + ["gzip", "deflate", "identity", "bogus", "gzip-broken"]))
    if encoding == "gzip":
        body, decoded = gzip.compress(body), body
        head.append((b"Content-Encoding", b"gzip"))
    elif encoding == "deflate":
        body, decoded = zlib.compress(body), body
        head.append((b"Content-Encoding", b"deflate"))
    elif encoding == "identity":
        head.append((b"Content-Encoding", b"identity"))
    elif encoding == "bogus":
        head.append((b"Content-Encoding", b"x-bogus"))
    elif encoding == "gzip-broken":
        head.append((b"Content-Encoding", b"gzip"))
        decoded = None
    if draw(st.integers(0, 4)) == 0:
        head += draw(st.lists(st.sampled_from(ODD_HEADERS), min_size=1, max_size=2))
    if draw(st.booleans()):
        head = draw(st.permutations(head))
    return Request(head=list(head), body=body, decoded=decoded, journal_fails=draw(st.integers(0, 29)) == 0,
                   path=draw(st.sampled_from([b"/notifications", b"/notifications", b"/webhook"])),
                   chunked=draw(st.integers(0, 7)) == 0, kind=kind)


# -- the target -------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def send(port: int, request: Request, timeout: float = 60.0) -> Answer:
    """Send the raw request and read the final answer (skipping ``100 Continue``) until the server closes.

    Reading runs alongside writing: a server that refuses the headers answers 400 and closes while the body
    is still being sent, and the kernel then resets the connection. Status 0 means no answer arrived before
    such a reset (never counted as a server error: the server refused at the protocol level).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = bytearray()

    async def read_all() -> None:
        while chunk := await reader.read(65536):
            received.extend(chunk)

    reading = asyncio.create_task(read_all())
    try:
        try:
            writer.write(request.wire())
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.wait_for(reading, timeout)
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    data = bytes(received)
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return Answer(0, {}, data)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        if 100 <= status < 200:
            data = rest
            continue
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
        return Answer(status, headers, rest)


class CollectingHandler(logging.Handler):
    """Every log record of the process, so a traceback or a leaked token anywhere is seen."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Tally:
    """What a run saw, for the assertions and the benchmark's report."""

    inputs: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # "status error-code", for the report
    kinds: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0  # ≥ 500, except the deliberate 503 of a refused journal write
    tracebacks: int = 0
    token_leaks: int = 0
    undeliverable: int = 0  # 202 but not parseable, renderable and encodable again
    accepted_destinations: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(message)


def error_code(answer: Answer) -> str:
    try:
        value = json.loads(answer.body)
    except ValueError:
        return "-"
    return str(value.get("error", "-")) if isinstance(value, dict) else "-"


def deliverable(body: bytes) -> str | None:
    """None when the worker can use what was accepted: parse again, render, encode as incident.io JSON."""
    try:
        n = parse_notification(body)
        request = {"name": render_title(n), "summary": render_summary(n), "idempotency_key": n.object_id}
        json.dumps(request, ensure_ascii=False).encode("utf-8")
    except (InvalidInput, PayloadSyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


class FuzzTarget:
    """The real receiver over the standalone pipeline (SQLite journal in ``tmp``), its worker stopped so the
    journal keeps every accepted action for the final check; the simulator only backs the destination."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.tally = Tally()
        self.logs = CollectingHandler()
        self._sim: Simulator | None = None
        self.harness: Harness

    async def start(self) -> None:
        self._sim = Simulator(tokens=["sim-api-token-0123456789"])
        await self._sim.__aenter__()
        settings = Settings(incident_io_api_url=self._sim.base_url, incident_io_allowed_api_urls=self._sim.base_url,
                            incident_io_read_timeout=1.0,
                            incident_io_connect_timeout=1.0)
        self.harness = Harness(self.tmp, self._sim, settings, {"retry_delay": 0.05, "max_retry_delay": 0.2})
        await self.harness.start([self.harness.dest("primary")])
        await self.harness.pipeline.workers[DEST].stop()
        self.port = int(self.harness.url.split(":")[2].split("/")[0])
        logging.getLogger().addHandler(self.logs)

    async def stop(self) -> None:
        logging.getLogger().removeHandler(self.logs)
        await self.harness.close()
        if self._sim is not None:
            await self._sim.__aexit__(None, None, None)

    async def run(self, request: Request) -> Answer:
        """Send one request and check every property; failures are tallied (the caller asserts)."""
        t = self.tally
        journal = self.harness.journal
        original = journal.accept
        if request.journal_fails:
            async def refuse(intakes: object) -> None:
                raise JournalUnavailable("injected by the fuzzer")

            journal.accept = refuse  # type: ignore[method-assign]
        first_log = len(self.logs.records)
        try:
            answer = await send(self.port, request)
        finally:
            journal.accept = original  # type: ignore[method-assign]
        t.inputs += 1
        t.kinds[request.kind] += 1
        t.statuses[answer.status] += 1
        t.answers[f"{answer.status} {error_code(answer)}"] += 1
        describe = f"{request.kind} {request.wire()[:300]!r} → {answer.status} {answer.body[:200]!r}"
        deliberate = answer.status == 503 and (request.journal_fails or b'"busy"' in answer.body)
        if answer.status >= 500 and not deliberate:
            t.server_errors += 1
            t.fail("5xx: " + describe)
        for record in self.logs.records[first_log:]:
            text = record.getMessage()
            if record.exc_info or "Traceback" in text or (
                record.levelno >= logging.ERROR and not (request.journal_fails and "journal" in text)
            ):
                t.tracebacks += 1
                t.fail(f"log {record.levelname} {record.name}: {text[:300]} ({describe})")
            if RECEIVER_TOKEN in text:
                t.token_leaks += 1
                t.fail("token in log: " + describe)
        if TOKEN in answer.body:
            t.token_leaks += 1
            t.fail("token in answer: " + describe)
        if answer.status == 202:
            problem = deliverable(request.decoded) if request.decoded is not None else "202 for an undecodable body"
            if problem is not None:
                t.undeliverable += 1
                t.fail(f"202 but undeliverable ({problem}): {describe}")
            t.accepted_destinations += len(json.loads(answer.body)["destinations"])
        return answer

    async def pending_payloads(self) -> list[bytes]:
        """Every accepted action still in the journal (the worker is stopped, so: every one)."""
        return [p.payload for p in await self.harness.journal.pending(DEST, limit=10**9)]
