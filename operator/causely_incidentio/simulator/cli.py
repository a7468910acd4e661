"""``causely-incidentio simulator``: serve the incident.io simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from causely_incidentio.simulator.server import Simulator


def _usage_line(base_url: str, token_count: int) -> str:
    if token_count == 0:
        auth = "any non-empty bearer token"
    elif token_count == 1:
        auth = "the configured bearer token"
    else:
        auth = f"one of the {token_count} configured bearer tokens"
    return (
        f"incident.io simulator listening on {base_url} — set INCIDENT_IO_API_URL={base_url} and "
        f"INCIDENT_IO_ALLOWED_API_URLS={base_url} and use {auth}; control API at {base_url}/_simulator/ "
        "(Ctrl-C to stop)"
    )


async def serve(args: argparse.Namespace) -> int:
    tokens = list(args.tokens) if args.tokens else None
    sim = Simulator(
        tokens=tokens,
        latency_ms=args.latency_ms,
        rate_limit_capacity=args.rate_limit_capacity,
        rate_limit_refill=args.rate_limit_refill,
        public_url=getattr(args, "public_url", None),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        base_url = await sim.start(args.host, args.port)
        print(_usage_line(base_url, len(tokens or ())), flush=True)
        await stop.wait()
    finally:
        await sim.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point used by ``causely_incidentio.cli``; returns the exit code."""
    logging.basicConfig(level=getattr(args, "log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(args))
    except OSError as exc:
        logging.getLogger("causely_incidentio.simulator").error("cannot serve on %s:%s: %s",
                                                                args.host, args.port, exc)
        return 1
