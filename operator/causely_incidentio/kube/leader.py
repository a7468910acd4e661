"""One reconciler among the replicas: a ``coordination.k8s.io`` Lease, through kubernetes_asyncio's election.

Every replica runs the receiver; only the Lease holder reconciles. The library acquires, renews and gives up
the Lease (a renewal that fails for ``renew_deadline`` seconds stops leading, before another replica may take
over at ``lease_duration``); this module adds what it lacks: running again as a candidate after losing or after
an API error, and releasing the Lease on shutdown so a successor takes over at once rather than after the
lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.leaderelection.electionconfig import Config
from kubernetes_asyncio.leaderelection.leaderelection import LeaderElection
from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock

from causely_incidentio.kube.findingstore import describe

log = logging.getLogger(__name__)

LEASE_NAME = "causely-incidentio-reconciler"


def _timed_lock(lock_class: type[LeaseLock], timeout: float) -> type[LeaseLock]:
    """The library's lock with a deadline on every call.

    kubernetes_asyncio sets no request timeout and its renew loop checks its deadline only between calls, so a
    request hung on a partitioned network would keep a replica leading forever while another takes the
    expired Lease. A call that takes longer than ``timeout`` counts as a failed attempt instead: the library
    retries until its renew deadline, then stops leading — as for any other failed renewal.
    """

    class TimedLock(lock_class):  # type: ignore[valid-type,misc]
        async def get(self, name: str, namespace: str) -> Any:
            try:
                return await asyncio.wait_for(super().get(name, namespace), timeout)
            except TimeoutError:
                failure = ApiException(status=504, reason="Lease read timed out")
                failure.body = json.dumps({"code": 504}).encode()  # what the library reads from a failed get
                return False, failure

        async def create(self, name: str, namespace: str, election_record: Any) -> bool:
            try:
                return bool(await asyncio.wait_for(super().create(name, namespace, election_record), timeout))
            except TimeoutError:
                return False

        async def update(self, name: str, namespace: str, updated_record: Any) -> bool:
            try:
                return bool(await asyncio.wait_for(super().update(name, namespace, updated_record), timeout))
            except TimeoutError:
                return False

    return TimedLock


def replica_identity() -> str:
    """The pod's name (downward API ``POD_NAME``), else ``HOSTNAME``: unique per replica in a Deployment."""
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


class LeaderElector:
    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        *,
        identity: str,
        on_started: Callable[[], Awaitable[None]],
        on_stopped: Callable[[], Awaitable[None]],
        name: str = LEASE_NAME,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 1.0,
    ) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.leading = False
        self._task: asyncio.Task[None] | None = None
        self._lead_task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leader-election")

    async def _lead(self) -> None:
        self._lead_task = asyncio.current_task()
        self.leading = True
        log.info("%s holds the Lease %s/%s: reconciling", self.identity, self.namespace, self.name)
        try:
            await self.on_started()
        except Exception:
            log.exception("starting the reconciler failed")
        await asyncio.Event().wait()  # until the library cancels it (Lease lost)

    async def _stop_leading(self) -> None:
        task, self._lead_task = self._lead_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # the library cancels it only when a renewal fails, not when a call raises
        if self.leading:
            self.leading = False
            log.warning("%s no longer holds the Lease: reconciling stops", self.identity)
            await self.on_stopped()

    async def _run(self) -> None:
        call_timeout = max(0.5, min(self.renew_deadline / 2, 5.0))
        while True:
            lock = _timed_lock(LeaseLock, call_timeout)(self.name, self.namespace, self.identity, self.api_client)
            # The Lease stores whole seconds, and the library writes str(lease_duration) into it: an int.
            config = Config(lock, max(1, round(self.lease_duration)), self.renew_deadline, self.retry_period,
                            self._lead, self._stop_leading)
            try:
                await LeaderElection(config).run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the API server unreachable: the library does not catch that
                log.warning("leader election: %s; trying again", describe(exc))
            await self._stop_leading()
            await asyncio.sleep(self.retry_period)

    async def stop(self, release: bool = True) -> None:
        """Stop competing; as the holder, hand the Lease back so a successor needs no expiry to take over."""
        was_leading = self.leading
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if was_leading:
            await self._stop_leading()
        if release and was_leading:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.release(), max(1.0, self.renew_deadline))

    async def release(self) -> None:
        api = client.CoordinationV1Api(self.api_client)
        lease = await api.read_namespaced_lease(self.name, self.namespace)
        if lease.spec is None or lease.spec.holder_identity != self.identity:
            return
        lease.spec.holder_identity = None  # type: ignore[assignment]
        lease.spec.lease_duration_seconds = 1
        await api.replace_namespaced_lease(self.name, self.namespace, lease)
        log.info("%s released the Lease %s/%s", self.identity, self.namespace, self.name)
