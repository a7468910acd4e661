"""Standalone mode: the whole pipeline as one process, configured from files, journaled in SQLite.

Same engine as the operator, no Kubernetes. SIGHUP reloads the config files; SIGTERM/SIGINT drain and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from causely_incidentio.destinations import build_destinations, load_documents
from causely_incidentio.logs import setup_logging
from causely_incidentio.problems import InvalidInput
from causely_incidentio.receiver import NO_TOKEN_MESSAGE, Receiver, parse_listen, serve
from causely_incidentio.settings import Settings
from causely_incidentio.sync.journal import SqliteJournal
from causely_incidentio.sync.pipeline import Pipeline

log = logging.getLogger(__name__)


def receiver_token(settings: Settings, token_file: str | None) -> str | None:
    if token_file:
        token = Path(token_file).read_text().strip()
        if not token:
            raise ValueError(f"--receiver-token-file {token_file} is empty")
        return token
    return settings.causely_receiver_token


SUBJECT_SOURCES = {"Secret": "secret", "IncidentDestination": "incidentdestination"}


def destination_id_of(subject: str) -> str | None:
    """The id of the destination an error's subject names (``Secret ns/name`` → ``secret/ns/name``), so an
    invalid destination keeps the findings it tracks under its own id; None when the subject names none."""
    if subject == "environment":
        return "env"
    kind, _, ref = subject.partition(" ")
    namespace, _, name = ref.partition("/")
    source = SUBJECT_SOURCES.get(kind)
    if source is None or not namespace or not name or name == "(unnamed)":
        return None
    return f"{source}/{namespace}/{name}"


def load_config(path: str, settings: Settings, pipeline: Pipeline) -> None:
    """(Re)load destinations from ``path``; an invalid one is reported and skipped, the rest are served."""
    try:
        docs = load_documents(path)
    except InvalidInput as exc:
        log.error("cannot read %s: %s", path, exc.message)
        if not pipeline.loaded:  # nothing to serve yet: not ready, and notifications get 503 until a SIGHUP
            pipeline.set_destinations([], [])
            pipeline.unreadable = exc.message
        return
    result = build_destinations(docs, settings)
    invalid = [(dest_id, err) for err in result.invalid if (dest_id := destination_id_of(err.subject))]
    pipeline.set_destinations(result.valid, invalid)
    for err in result.invalid:
        log.error("invalid destination skipped: %s", err.message)
    log.info("serving %d destination(s): %s", len(result.valid), ", ".join(c.id for c in result.valid) or "none")


@dataclass
class Standalone:
    """A running standalone pipeline (the tests and the crash test start it as a subprocess or in-process)."""

    pipeline: Pipeline
    journal: SqliteJournal
    runner: web.AppRunner
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.pipeline.stop()
        await self.journal.close()


async def start(
    *, config: str, state: str, listen: str, settings: Settings, token: str | None, allow_unauthenticated: bool
) -> Standalone:
    host, port = parse_listen(listen)
    if not token and not allow_unauthenticated:  # fail before opening anything
        raise ValueError(NO_TOKEN_MESSAGE)
    journal = await SqliteJournal.open(state)
    pipeline = Pipeline(journal, settings)
    load_config(config, settings, pipeline)
    receiver = Receiver(pipeline, token=token, allow_unauthenticated=allow_unauthenticated)
    runner, bound = await serve(receiver.app(), host, port)
    log.info("receiver listening on http://%s:%d/notifications", host, bound)
    return Standalone(pipeline, journal, runner, bound)


async def _main(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.incidentio_url:
        settings = settings.model_copy(update={"incident_io_api_url": args.incidentio_url})
    try:
        token = receiver_token(settings, args.receiver_token_file)
        running = await start(
            config=args.config, state=args.state, listen=args.listen, settings=settings, token=token,
            allow_unauthenticated=args.allow_unauthenticated,
        )
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: load_config(args.config, settings, running.pipeline))
    await stop.wait()
    log.info("shutting down; pending actions stay in %s and resume on the next start", args.state)
    await running.close()
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    return asyncio.run(_main(args))
