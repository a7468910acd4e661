"""``--log-format json``: one valid JSON object per line with time, level, logger and message (and the
exception), and no token in it — not even when an error about a request made with the token is logged."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from causely_incidentio import cli, logs
from causely_incidentio.incidentio import IncidentIOClient, RetryPolicy, close_pools
from causely_incidentio.incidentio.errors import IncidentIOError
from causely_incidentio.incidentio.ratelimit import clear_buckets

BASE = "https://api.incident.test"
TOKEN = "inc_live_SECRET_json_0123456789abcdef"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the JSON formatter into a buffer (the root logger is left alone)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.make_formatter("json"))
    logger = logging.getLogger("causely_incidentio.test_json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    text = out.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # every line is one JSON object


def test_a_line_is_json_with_time_level_logger_and_message(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    logger.info("destination %s: serving (%s)", "secret/causely/a", "Secret")
    [line] = lines(out)
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert RFC3339_UTC.match(line["time"]), line["time"]
    assert line["level"] == "INFO"
    assert line["logger"] == "causely_incidentio.test_json_logs"
    assert line["message"] == "destination secret/causely/a: serving (Secret)"
    assert "exception" not in line


def test_exception_info_is_a_field(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = captured
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        logger.exception("worker %s: unexpected error", "secret/causely/a")
    [line] = lines(out)
    assert line["level"] == "ERROR"
    assert line["message"] == "worker secret/causely/a: unexpected error"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom\nsecond line" in line["exception"]


def test_extra_fields_are_kept_and_secret_looking_ones_redacted(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    logger.warning("rotated", extra={"destination": "env", "api_token": TOKEN, "Authorization": f"Bearer {TOKEN}"})
    [line] = lines(out)
    assert line["destination"] == "env"
    assert line["api_token"] == logs.REDACTED and line["Authorization"] == logs.REDACTED
    assert TOKEN not in out.getvalue()


@pytest.mark.parametrize("fmt", logs.FORMATS)
def test_a_bearer_value_is_redacted_in_both_formats(fmt: str) -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent Authorization: Bearer %s", (TOKEN,), None)
    text = logs.make_formatter(fmt).format(record)
    assert TOKEN not in text
    assert f"Bearer {logs.REDACTED}" in text


@pytest.fixture
async def client() -> IncidentIOClient:
    clear_buckets()

    async def no_sleep(_: float) -> None:
        return None

    yield IncidentIOClient(TOKEN, base_url=BASE, retry=RetryPolicy(max_attempts=2, max_total_seconds=5.0),
                           sleep=no_sleep)
    await close_pools()
    clear_buckets()


def echo_everything(request: httpx.Request) -> httpx.Response:
    """A hostile server: its error repeats the request's headers, token included."""
    return httpx.Response(401, json={
        "type": "authentication_error", "status": 401,
        "errors": [{"code": "unauthorized", "message": f"bad key: {dict(request.headers)}"}],
    })


async def test_errors_of_requests_made_with_the_token_log_no_token(
    client: IncidentIOClient, captured: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, out = captured
    with respx.mock(base_url=BASE) as api:
        api.get("/v1/identity").mock(side_effect=echo_everything)
        api.get("/v1/severities").mock(side_effect=httpx.ConnectError(f"refused; sent Bearer {TOKEN}"))
        for call in (client.identity, client.list_severities):
            with pytest.raises(IncidentIOError) as caught:
                await call()
            assert api.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"  # it was sent
            logger.error("cannot check the API key: %s", caught.value)
            logger.warning("incident.io error", exc_info=caught.value)
            logger.error("details: %r", caught.value)
    parsed = lines(out)
    assert len(parsed) == 6
    assert all(set(line) >= {"time", "level", "logger", "message"} for line in parsed)
    assert any("exception" in line for line in parsed)
    assert TOKEN not in out.getvalue()
    assert TOKEN[-12:] not in out.getvalue()


def test_the_cli_offers_log_format_where_it_offers_log_level() -> None:
    parser = cli.build_parser()
    for argv in (["run"], ["standalone", "--config", "c", "--state", "s"], ["demo"]):
        assert parser.parse_args([*argv, "--log-format", "json"]).log_format == "json"
        assert parser.parse_args(argv).log_format == "text"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--log-format", "xml"])


def test_setup_logging_uses_the_format_chosen_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as in a fresh process; restored afterwards
    monkeypatch.setattr(logs, "_default_format", "text")
    logs.use_format("json")
    logs.setup_logging("INFO")  # what every sub-command calls, without a format
    [handler] = root.handlers
    assert isinstance(handler.formatter, logs.JsonFormatter)
    with pytest.raises(ValueError, match="log format"):
        logs.use_format("xml")
