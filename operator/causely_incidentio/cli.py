"""The ``causely-incidentio`` command: one entry point, one sub-command per job.

Sub-command implementations live in their own modules and are imported lazily, so ``--help`` and the
light commands (``validate``, ``send``) start fast and do not import kopf.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from causely_incidentio import __version__

# sub-command -> "module:function"; the function takes the parsed namespace and returns an exit code.
COMMANDS: dict[str, str] = {
    "run": "causely_incidentio.kube.main:run",
    "standalone": "causely_incidentio.standalone:run",
    "simulator": "causely_incidentio.simulator.cli:run",
    "demo": "causely_incidentio.demo:run",
    "validate": "causely_incidentio.validate:run",
    "send": "causely_incidentio.send:run",
    "status": "causely_incidentio.statuscmd:run",
}


URL_HELP = "incident.io base URL (default INCIDENT_IO_API_URL; must be one of INCIDENT_IO_ALLOWED_API_URLS)"


def _add_log_level(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _add_log_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-format", default="text", choices=["text", "json"],
                   help="text lines, or one JSON object per line (time, level, logger, message, exception)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="causely-incidentio",
        description="Turn Causely root-cause findings into incident.io incidents.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the Kubernetes operator (kopf) with the receiver")
    run.add_argument("--namespace", "-n", action="append", dest="namespaces", metavar="NS",
                     help="namespace to watch (repeatable; default: causely)")
    run.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    run.add_argument("--listen", default="0.0.0.0:8080", metavar="HOST:PORT", help="receiver address")
    run.add_argument("--receiver-token-file", metavar="FILE", help="file holding the receiver token")
    run.add_argument("--allow-unauthenticated", action="store_true",
                     help="serve the receiver without a token (never in production)")
    run.add_argument("--incidentio-url", metavar="URL", help=URL_HELP)
    run.add_argument("--lease-duration", type=float, default=15.0, metavar="S",
                     help="seconds a reconciler Lease lasts without renewal (handover time after a crash)")
    run.add_argument("--renew-deadline", type=float, default=10.0, metavar="S",
                     help="the leader stops reconciling when it could not renew for this long")
    run.add_argument("--retry-period", type=float, default=1.0, metavar="S",
                     help="how often candidates try to acquire and the leader renews")
    run.add_argument("--shutdown-delay", type=float, default=5.0, metavar="S",
                     help="on SIGTERM, stay up unready this long (Services stop routing) before closing")
    run.add_argument("--token-refresh", type=float, default=30.0, metavar="S",
                     help="how often token Secrets named by tokenSecretRef are read again (rotation)")
    run.add_argument("--orphan-grace", type=float, default=86400.0, metavar="S",
                     help="delete the Findings of a destination that has been gone this long")
    run.add_argument("--ended-retention", type=float, default=30 * 86400.0, metavar="S",
                     help="delete resolved, closed, skipped and failed Findings this old")
    run.add_argument("--health-listen", default="0.0.0.0:8081", metavar="HOST:PORT",
                     help="kopf liveness endpoint address")
    _add_log_level(run)
    _add_log_format(run)

    sa = sub.add_parser("standalone", help="run the pipeline without Kubernetes (SQLite journal)")
    sa.add_argument("--config", required=True, metavar="PATH",
                    help="a YAML file or folder of Secrets and IncidentDestinations")
    sa.add_argument("--state", required=True, metavar="FILE", help="SQLite journal file")
    sa.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="receiver address")
    sa.add_argument("--receiver-token-file", metavar="FILE", help="file holding the receiver token")
    sa.add_argument("--allow-unauthenticated", action="store_true",
                    help="serve the receiver without a token (never in production)")
    sa.add_argument("--incidentio-url", metavar="URL", help=URL_HELP)
    _add_log_level(sa)
    _add_log_format(sa)

    sim = sub.add_parser("simulator", help="serve a local incident.io API that follows the published spec")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8090)
    sim.add_argument("--token", action="append", dest="tokens", metavar="T",
                     help="accept only this bearer token (repeatable; default: any non-empty token)")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="added latency for every API request")
    sim.add_argument("--rate-limit-capacity", type=int, default=1200, help="token bucket size per token")
    sim.add_argument("--rate-limit-refill", type=float, default=20.0, help="bucket refill per second")
    sim.add_argument("--public-url", metavar="URL",
                     help="base URL used in incident permalinks (default: the address it listens on)")
    _add_log_level(sim)

    demo = sub.add_parser("demo", help="simulator + pipeline + sample findings, printed as a table")
    demo.add_argument("--latency-ms", type=float, default=20.0, help="simulated incident.io latency")
    _add_log_level(demo)
    _add_log_format(demo)

    val = sub.add_parser("validate", help="validate Secrets, IncidentDestinations and payloads")
    val.add_argument("files", nargs="+", metavar="FILE")

    send = sub.add_parser("send", help="POST a notification payload, like Causely's test button")
    send.add_argument("file", metavar="FILE")
    send.add_argument("--url", required=True, help="receiver URL, e.g. http://127.0.0.1:8080/notifications")
    send.add_argument("--token", help="receiver token (default CAUSELY_RECEIVER_TOKEN)")

    st = sub.add_parser("status", help="show the standalone journal")
    st.add_argument("--state", required=True, metavar="FILE", help="SQLite journal file")
    st.add_argument("-o", "--output", choices=["table", "json"], default="table")
    return parser


def _resolve(target: str) -> Callable[[argparse.Namespace], int]:
    module_name, func_name = target.split(":")
    module = importlib.import_module(module_name)
    func: Callable[[argparse.Namespace], int] = getattr(module, func_name)
    return func


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "log_format", None):
        from causely_incidentio.logs import use_format

        use_format(args.log_format)  # every setup_logging() of the sub-command then uses it
    return _resolve(COMMANDS[args.command])(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
