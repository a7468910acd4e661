"""``causely-incidentio run``: the Kubernetes operator (kopf) with the receiver in the same process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

import kopf

from causely_incidentio.kube import handlers
from causely_incidentio.kube.api import KubeApi
from causely_incidentio.kube.runtime import OperatorRuntime, Timing
from causely_incidentio.logs import setup_logging
from causely_incidentio.receiver import NO_TOKEN_MESSAGE, parse_listen
from causely_incidentio.settings import Settings
from causely_incidentio.standalone import receiver_token

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    settings = Settings.from_env()
    if args.incidentio_url:
        settings = settings.model_copy(update={"incident_io_api_url": args.incidentio_url})
    try:
        if not args.lease_duration > args.renew_deadline > 1.2 * args.retry_period >= 1.2:
            raise ValueError("need --lease-duration > --renew-deadline > 1.2 × --retry-period, and --retry-period ≥ 1")
        token = receiver_token(settings, args.receiver_token_file)
        if not token and not args.allow_unauthenticated:
            raise ValueError(NO_TOKEN_MESSAGE)
        listen = parse_listen(args.listen)
        health_host, health_port = parse_listen(args.health_listen)
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 2
    namespaces = None if args.all_namespaces else (args.namespaces or ["causely"])

    timing = Timing(lease_duration=args.lease_duration, renew_deadline=args.renew_deadline,
                    retry_period=args.retry_period, shutdown_delay=args.shutdown_delay,
                    token_refresh=args.token_refresh, orphan_grace=args.orphan_grace,
                    ended_retention=args.ended_retention)

    async def factory() -> OperatorRuntime:
        api = await KubeApi.connect(os.environ.get("KUBECONFIG") or None)
        return OperatorRuntime(api, settings, namespaces=namespaces, listen=listen, receiver_token=token,
                               allow_unauthenticated=args.allow_unauthenticated,
                               home_namespace=os.environ.get("POD_NAMESPACE"), timing=timing)

    handlers.RUNTIME_FACTORY = factory
    log.info("watching %s", "all namespaces" if namespaces is None else ", ".join(namespaces))
    asyncio.run(kopf.operator(
        standalone=True,
        clusterwide=namespaces is None,
        namespaces=namespaces or [],
        liveness_endpoint=f"http://{health_host}:{health_port}/healthz",
    ))
    return 0
