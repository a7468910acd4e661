"""The operator's moving parts in one object: Kubernetes API, Findings, pipeline, receiver, leader election.

kopf handlers (``handlers.py``) only forward watch events here. Destinations come from IncidentDestination
resources; a Secret labelled ``causely.ai/notif-config=IncidentIO`` is mirrored into an IncidentDestination it
owns (owner reference plus the ``notifications.causely.ai/source: Secret`` label; its spec stays empty).
Every replica receives and writes Findings; the replica holding the Lease
reconciles them with incident.io and writes the destinations' status. Before the receiver opens, the runtime
lists labelled Secrets, destinations and Findings once, so no notification is routed against a half-loaded set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client.api_client import ApiClient

from causely_incidentio.destinations import from_resource, is_incidentio_secret, mirrored_secret
from causely_incidentio.incidentio import close_pools
from causely_incidentio.kube import findings as F
from causely_incidentio.kube.api import (
    API_VERSION,
    KIND,
    KubeApi,
    MirrorConflict,
    list_destinations,
    list_findings,
)
from causely_incidentio.kube.envdest import OPTIONAL_FIELDS, env_destination
from causely_incidentio.kube.findingstore import FindingStore, describe
from causely_incidentio.kube.leader import LeaderElector, replica_identity
from causely_incidentio.kube.migrate import LEGACY_FIELDS, has_legacy_status, migrate
from causely_incidentio.kube.secrets import SecretStore
from causely_incidentio.kube.secretwatch import SecretWatcher
from causely_incidentio.kube.status import Attempt, assess_deliveries, now_iso, status_fields
from causely_incidentio.problems import InvalidInput
from causely_incidentio.receiver import Receiver, serve
from causely_incidentio.settings import Settings
from causely_incidentio.sync.pipeline import Pipeline

log = logging.getLogger(__name__)

EVENT_BURST = 20  # Events per destination per EVENT_WINDOW seconds; beyond that they go to the log only
EVENT_WINDOW = 10.0


def plain(value: Any) -> Any:
    """kopf bodies are read-only mapping views; turn them into plain JSON-like data."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _owned_by_secret(body: Mapping[str, Any], secret_name: str, secret_uid: str | None = None) -> bool:
    owners = (body.get("metadata") or {}).get("ownerReferences") or []
    return any(
        o.get("kind") == "Secret" and o.get("name") == secret_name
        and (secret_uid is None or o.get("uid") == secret_uid)
        for o in owners
    )


def is_mirror(body: Mapping[str, Any]) -> bool:
    """A mirror: labelled by the operator and controlled by the Secret of its own name (nothing in spec)."""
    return mirrored_secret(body) is not None


def destination_id(body: Mapping[str, Any]) -> str:
    """The identity a resource's destination has (a mirror keeps its Secret's identity)."""
    meta = body.get("metadata") or {}
    if is_mirror(body):
        return f"secret/{meta.get('namespace')}/{meta.get('name')}"
    return f"incidentdestination/{meta.get('namespace')}/{meta.get('name')}"


@dataclass
class TrackedObject:
    namespace: str
    name: str
    uid: str
    generation: int | None
    body: dict[str, Any]
    conditions: list[dict[str, Any]] = field(default_factory=list)
    source: str = "IncidentDestination"
    events: list[float] = field(default_factory=list)
    last_invalid: str | None = None

    @property
    def involved(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": KIND, "namespace": self.namespace, "name": self.name,
                "uid": self.uid}


@dataclass
class Timing:
    """How the replicas share the work; the defaults suit a cluster, tests shorten them."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 1.0
    shutdown_delay: float = 5.0  # unready but still serving, so Services stop routing here first
    shutdown_timeout: float = 25.0  # in-flight requests get this long to finish
    status_interval: float = 1.0  # how often the leader brings destinations' status up to date
    token_refresh: float = 30.0  # how often token Secrets named by tokenSecretRef are read again
    gc_interval: float = 300.0
    orphan_grace: float = 24 * 3600.0  # Findings of a destination gone this long are deleted
    ended_retention: float = 30 * 24 * 3600.0  # ended Findings older than this are deleted


class OperatorRuntime:
    def __init__(
        self,
        api: KubeApi,
        settings: Settings,
        *,
        namespaces: list[str] | None,
        listen: tuple[str, int],
        receiver_token: str | None,
        allow_unauthenticated: bool = False,
        worker_options: dict[str, Any] | None = None,
        home_namespace: str | None = None,
        identity: str | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.api = api
        # Where the environment's default destination and the Lease live: the operator's own namespace.
        self.home_namespace = home_namespace or (namespaces[0] if namespaces else None)
        self.settings = settings
        self.namespaces = namespaces
        self.listen = listen
        self.timing = timing or Timing()
        self.identity = identity or replica_identity()
        self.secrets = SecretStore()
        self.store = FindingStore(api)
        self.store.on_work = self._wake_worker
        self.pipeline = Pipeline(self.store, settings, events=self.event,
                                 worker_options=worker_options, active=False)
        self.receiver = Receiver(self.pipeline, token=receiver_token, allow_unauthenticated=allow_unauthenticated,
                                 ready_check=self.ready)
        self.objects: dict[str, TrackedObject] = {}
        self.gone_since: dict[str, float] = {}
        self._written_status: dict[str, dict[str, Any]] = {}
        self._token_refs: dict[tuple[str, str], set[str]] = {}  # token Secret → keys destinations read
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._leader_tasks: list[asyncio.Task[None]] = []
        self._migrated: set[tuple[str, str]] = set()
        self.watcher = SecretWatcher(api, namespaces, self.on_secret)
        # The Lease gets a connection pool of its own: renewals must never queue behind a burst of Finding writes.
        self._lease_client = ApiClient(api.api_client.configuration)
        self.elector = LeaderElector(
            self._lease_client, self.home_namespace or "default", identity=self.identity,
            on_started=self._start_leading, on_stopped=self._stop_leading,
            lease_duration=self.timing.lease_duration, renew_deadline=self.timing.renew_deadline,
            retry_period=self.timing.retry_period,
        )
        self.shutting_down = False
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.home_namespace:  # the environment's default destination lives in the operator's namespace
            env_dest = env_destination(self.settings, self.home_namespace)
            if env_dest is not None:
                await self.api.apply_destination(env_dest, unset=OPTIONAL_FIELDS)
        for body in await list_findings(self.api, self.namespaces):
            self.store.observe(None, body)
        for scope in self.watcher.scopes():
            for secret in await self.watcher.relist(scope):
                await self.on_secret(None, secret)
        for body in await list_destinations(self.api, self.namespaces):
            await self.on_destination(None, body)
        self.pipeline.loaded = True
        self._runner, self.port = await serve(self.receiver.app(), *self.listen,
                                              shutdown_timeout=self.timing.shutdown_timeout)
        self._spawn(self.watcher.run())
        self._spawn(self._refresh_tokens())
        self._spawn(self._recover_readiness())
        self.elector.start()
        log.info("receiver listening on %s:%d; %d destination(s); %d finding(s); replica %s",
                 self.listen[0], self.port, len(self.objects), len(self.store.entries()), self.identity)

    async def close(self) -> None:
        """Graceful: unready, keep serving a moment, finish requests in flight, then hand the Lease back."""
        self.shutting_down = True
        if self.timing.shutdown_delay > 0:
            await asyncio.sleep(self.timing.shutdown_delay)
        if self._runner is not None:
            await self._runner.cleanup()  # stops listening at once; waits for requests in flight
        await self.elector.stop(release=True)
        await self._lease_client.close()
        await self.pipeline.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.store.close()
        await self.api.close()

    def ready(self) -> tuple[bool, str]:
        if self.shutting_down:
            return False, "shutting down"
        if not self.pipeline.loaded:
            return False, "destinations not loaded yet"
        if not self.store.healthy:
            return False, "cannot write Findings to the API server"
        served, why = self.pipeline.readiness()
        if not served:
            return False, why
        role = "reconciler" if self.elector.leading else "receiver"
        return True, f"{len(self.pipeline.configs)} destination(s); this replica is a {role}"

    async def _recover_readiness(self) -> None:
        """After a failed Finding write, probe the API server so the replica turns ready again without traffic."""
        while True:
            await asyncio.sleep(2.0)
            if self.store.healthy:
                continue
            try:
                await self.store.api.get_finding(self.home_namespace or "default", "readiness-probe")
                self.store.healthy = True
            except Exception as exc:
                log.info("API server still failing (%s): not ready", describe(exc))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- leadership ------------------------------------------------------------------------------------
    async def _start_leading(self) -> None:
        self.pipeline.metrics.leader.set(1)
        for dest_id, obj in self.objects.items():  # continue the counters the previous leader persisted
            self.store.seed_counters(dest_id, (obj.body.get("status") or {}).get("counters") or {})
        self._written_status.clear()
        self.pipeline.activate()
        self._leader_tasks = [self._spawn(self._status_loop()), self._spawn(self._gc_loop())]

    async def _stop_leading(self) -> None:
        self.pipeline.metrics.leader.set(0)
        for task in self._leader_tasks:
            task.cancel()
        self._leader_tasks = []
        await self.pipeline.deactivate()
        # Cancelled incident.io calls can leave httpcore's pool stuck (encode/httpcore#1093: every later call a
        # PoolTimeout): start the next leadership with fresh connections.
        with contextlib.suppress(Exception):
            await close_pools()
        # the last second's counters and conditions (graceful shutdown; after a lost Lease they may fail)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*(self._write_status(d) for d in list(self.objects)), return_exceptions=True), 5.0
            )

    def _wake_worker(self, dest_id: str) -> None:
        worker = self.pipeline.workers.get(dest_id)
        if worker is not None:
            worker.wake()

    async def _status_loop(self) -> None:
        while True:
            for dest_id in list(self.objects):
                try:
                    await self._write_status(dest_id)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.info("status of %s not written (%s); next pass retries", dest_id, describe(exc))
            await asyncio.sleep(self.timing.status_interval)

    async def _gc_loop(self) -> None:
        while True:
            await asyncio.sleep(self.timing.gc_interval)
            now = time.time()
            for dest_id in self.store.destination_ids() - set(self.objects):
                self.gone_since.setdefault(dest_id, now)  # gone before this replica started: count from now
            for dest_id, since in list(self.gone_since.items()):
                if dest_id not in self.objects and now - since >= self.timing.orphan_grace:
                    await self.pipeline.remove(dest_id)  # gone for good: stop recording for it
            try:
                deleted = await self.store.collect(
                    live_destinations=set(self.objects), gone_since=self.gone_since,
                    grace=self.timing.orphan_grace, retention=self.timing.ended_retention,
                )
                if deleted:
                    log.info("deleted %d ended or orphaned Finding(s)", deleted)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Finding clean-up failed: %s", describe(exc))
            # Removed and no Finding left: nothing more to time (kept, this would grow with every deletion).
            left = self.store.destination_ids()
            for dest_id, since in list(self.gone_since.items()):
                if dest_id not in self.objects and dest_id not in left and now - since >= self.timing.orphan_grace:
                    del self.gone_since[dest_id]
                    self.store.forget_counters(dest_id)

    # -- Secrets ---------------------------------------------------------------------------------------
    async def on_secret(self, event_type: str | None, raw: Mapping[str, Any]) -> None:
        """A labelled Secret (the watch selects them on the server) changed, appeared or went away."""
        body: dict[str, Any] = plain(raw)
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        async with self._lock:
            if event_type == "DELETED":
                self.secrets.remove(namespace, name)
            else:
                self.secrets.put(body)
            # Token rotation or config edits: rebuild every destination that reads this Secret — first, so a
            # failing mirror write below can never delay a rotated token.
            for dest_id, obj in list(self.objects.items()):
                if obj.namespace == namespace and name in _secret_names(obj.body):
                    self._apply(dest_id, obj)
            try:
                if event_type != "DELETED" and is_incidentio_secret(body):
                    await self.api.apply_mirror(body)
                elif self._owned_mirror(namespace, name, meta.get("uid")) or event_type == "DELETED":
                    # Deleted, or the label was removed: stop mirroring. The garbage collector would remove the
                    # owned mirror too; deleting it here stops delivery at once. Never a user's own resource.
                    mirror = self.objects.get(f"secret/{namespace}/{name}")
                    if mirror is not None and is_mirror(mirror.body):
                        await self.api.delete_destination(namespace, name)
            except MirrorConflict as exc:
                log.error("%s", exc)
                await self._post_event_about_secret(body, "InvalidConfig", str(exc))
            except Exception as exc:  # the API server hiccuped: the next event or restart mirrors it again
                log.error("cannot mirror Secret %s/%s: %s", namespace, name, type(exc).__name__)

    def _owned_mirror(self, namespace: str, secret_name: str, secret_uid: str | None) -> bool:
        """Is there a mirror of this Secret that the Secret owns (so deleting it never hits a user's object)?"""
        obj = self.objects.get(f"secret/{namespace}/{secret_name}")
        return obj is not None and secret_uid is not None and _owned_by_secret(obj.body, secret_name, secret_uid)

    async def _post_event_about_secret(self, secret: Mapping[str, Any], reason: str, message: str) -> None:
        meta = secret["metadata"]
        involved = {"apiVersion": "v1", "kind": "Secret", "namespace": meta["namespace"], "name": meta["name"],
                    "uid": meta.get("uid")}
        self._spawn(self._post(involved, reason, message, True))

    async def _read_token_secret(self, namespace: str, name: str, keys: set[str]) -> bool:
        """Read a token Secret by name, keeping only the keys destinations use; True when it changed."""
        if self.secrets.is_labelled(namespace, name):
            return False  # the watch keeps it current
        try:
            body = await self.api.get_secret(namespace, name)
        except Exception as exc:
            log.info("cannot read Secret %s/%s: %s", namespace, name, describe(exc))
            return False
        before = self.secrets.get(namespace, name)
        if body is None:
            self.secrets.remove(namespace, name)
            return before is not None
        data = body.get("data") or {}
        trimmed = {**body, "data": {k: v for k, v in data.items() if k in keys}}
        self.secrets.put(trimmed)
        after = self.secrets.get(namespace, name)
        return before is None or after is None or _token_view(before) != _token_view(after)

    async def _refresh_tokens(self) -> None:
        """Token Secrets are not watched (that would cache every Secret): read the referenced ones again."""
        while True:
            await asyncio.sleep(self.timing.token_refresh)
            used = {(o.namespace, n) for o in self.objects.values() for n in _secret_names(o.body)}
            for ref in set(self._token_refs) - used:
                del self._token_refs[ref]
                if not self.secrets.is_labelled(*ref):
                    self.secrets.remove(*ref)
            for (namespace, name), keys in list(self._token_refs.items()):
                if await self._read_token_secret(namespace, name, keys):
                    async with self._lock:
                        for dest_id, obj in list(self.objects.items()):
                            if obj.namespace == namespace and name in _secret_names(obj.body):
                                self._apply(dest_id, obj)

    # -- IncidentDestinations --------------------------------------------------------------------------
    async def on_destination(self, event_type: str | None, raw: Mapping[str, Any]) -> None:
        body: dict[str, Any] = plain(raw)
        meta = body.get("metadata") or {}
        dest_id = destination_id(body)
        async with self._lock:
            if event_type == "DELETED":
                obj = self.objects.get(dest_id)
                if obj is not None and obj.uid and meta.get("uid") and obj.uid != meta.get("uid"):
                    return  # an older object of the same name; the new one is already tracked
                self.objects.pop(dest_id, None)
                self._written_status.pop(dest_id, None)
                self.gone_since[dest_id] = time.time()
                await self.pipeline.retire(dest_id, "its object was deleted")
                secret = self.secrets.get(meta.get("namespace", ""), meta.get("name", ""))
                if is_mirror(body) and secret is not None and is_incidentio_secret(secret):
                    # Someone deleted a mirror whose Secret is still labelled: put it back (its Findings are
                    # the Secret's, so the incidents carry on).
                    try:
                        await self.api.apply_mirror(secret)
                    except Exception as exc:
                        log.error("cannot re-create the mirror of Secret %s: %s", meta.get("name"), type(exc).__name__)
                return
            self.gone_since.pop(dest_id, None)
            found = self.objects.get(dest_id)
            if found is None:
                obj = TrackedObject(
                    meta["namespace"], meta["name"], meta.get("uid", ""), meta.get("generation"), body,
                    conditions=list((body.get("status") or {}).get("conditions") or []),
                    source="Secret" if dest_id.startswith("secret/") else "IncidentDestination",
                )
                self.objects[dest_id] = obj
            else:
                obj = found
                if obj.uid != meta.get("uid", obj.uid):
                    self._written_status.pop(dest_id, None)  # a re-created object: its status starts empty
                obj.body, obj.generation, obj.uid = body, meta.get("generation"), meta.get("uid", obj.uid)
            if not self.elector.leading:  # followers track the counters the leader persists
                self.store.seed_counters(dest_id, (body.get("status") or {}).get("counters") or {})
            await self._read_token_refs(obj)
            self._apply(dest_id, obj)
        if has_legacy_status(body) and (dest_id, obj.uid) not in self._migrated:
            await self._migrate(dest_id, body)

    async def _read_token_refs(self, obj: TrackedObject) -> None:
        ref = (obj.body.get("spec") or {}).get("tokenSecretRef")
        if not isinstance(ref, Mapping) or not ref.get("name"):
            return
        key = (obj.namespace, str(ref["name"]))
        keys = self._token_refs.setdefault(key, set())
        keys.add(str(ref.get("key") or "token"))
        if self.secrets.get(*key) is None or not keys <= set((self.secrets.get(*key) or {}).get("data") or {}):
            await self._read_token_secret(*key, keys)

    async def _migrate(self, dest_id: str, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        try:
            await migrate(self.api, self.api, self.store, dest_id, body)
            self._migrated.add((dest_id, str(meta.get("uid") or "")))
        except Exception as exc:  # retried on the next event or restart; nothing is removed until it worked
            log.error("cannot carry the old status of %s over into Findings yet: %s", dest_id, describe(exc))

    def _apply(self, dest_id: str, obj: TrackedObject) -> None:
        """(Re)build the destination's config from its resource and the Secrets it reads."""
        try:
            config = from_resource(
                obj.body, secret_lookup=self.secrets.lookup, secret_get=self.secrets.get, settings=self.settings
            )
        except InvalidInput as exc:
            self.pipeline.mark_invalid(dest_id, exc)
            if obj.last_invalid != exc.message:
                obj.last_invalid = exc.message
                self.event(dest_id, "InvalidConfig", exc.message, warning=True)
            return
        obj.last_invalid = None
        self.pipeline.upsert(config)

    # -- Findings --------------------------------------------------------------------------------------
    def on_finding(self, event_type: str | None, raw: Mapping[str, Any]) -> None:
        self.store.observe(event_type, plain(raw))

    # -- status and Events -----------------------------------------------------------------------------
    def _desired_status(self, dest_id: str) -> dict[str, Any] | None:
        obj = self.objects.get(dest_id)
        health = self.pipeline.health(dest_id)
        if obj is None or health is None:
            return None
        config = self.pipeline.configs.get(dest_id)
        mode = config.mode if config else (obj.body.get("spec") or {}).get("mode")
        trouble = assess_deliveries(  # what the Findings' last attempts say about deliveries (Degraded)
            (Attempt(e.record.last_error, e.record.attempts, e.has_work, e.record.updated_at)
             for e in self.store.entries(dest_id) if e.record is not None and e.record.last_error), now=time.time())
        fields = status_fields(health, generation=obj.generation, source=obj.source, mode=mode,
                               previous_conditions=obj.conditions, now=now_iso(), trouble=trouble)
        obj.conditions = fields["conditions"]
        summary = self.store.summary(dest_id)
        fields.update(summary)
        fields["counters"] = self.store.counter_values(dest_id)
        if config is not None:  # Causely's notif_config_global (or spec.global), shown as documented
            fields["global"] = config.global_
        metrics = self.pipeline.metrics
        metrics.pending.labels(destination=dest_id).set(summary["pendingFindings"])
        metrics.oldest_pending_age.labels(destination=dest_id).set(self.store.oldest_pending_age(dest_id))
        metrics.deliveries_failing.labels(destination=dest_id).set(int(self.store.failing(dest_id)))
        metrics.findings.remove_by_labels({"destination": dest_id})  # states with no Finding left disappear
        for state, count in self.store.states(dest_id).items():
            metrics.findings.labels(destination=dest_id, state=state).set(count)
        return fields

    async def _write_status(self, dest_id: str) -> None:
        desired = self._desired_status(dest_id)
        obj = self.objects.get(dest_id)
        if desired is None or obj is None:
            return
        written = self._written_status.get(dest_id)
        if written is None:  # the first write also removes what versions before Findings kept there
            current = obj.body.get("status") or {}
            patch = {k: v for k, v in desired.items() if current.get(k) != v}
            patch.update({k: None for k in LEGACY_FIELDS if k in current and not has_legacy_status(obj.body)})
        else:
            patch = {k: v for k, v in desired.items() if written.get(k) != v and k != "lastSyncTime"}
            if patch and "lastSyncTime" in desired:
                patch["lastSyncTime"] = desired["lastSyncTime"]
        if patch:
            await self.api.patch_status(obj.namespace, obj.name, patch)
        self._written_status[dest_id] = desired

    def event(
        self, destination_id: str, reason: str, message: str, *, warning: bool = False, object_id: str | None = None
    ) -> None:
        log.log(logging.WARNING if warning else logging.INFO, "%s %s: %s", destination_id, reason, message)
        obj = self.objects.get(destination_id)
        if obj is None:
            return
        now = time.monotonic()
        obj.events = [t for t in obj.events if now - t < EVENT_WINDOW]
        if len(obj.events) >= EVENT_BURST:
            return  # logged above; Events are rate-limited per destination
        obj.events.append(now)
        involved = obj.involved
        entry = self.store.entry(destination_id, object_id) if object_id else None
        if entry is not None:  # `kubectl describe finding` shows what happened to it
            involved = {"apiVersion": F.API_VERSION, "kind": F.KIND, "namespace": entry.namespace,
                        "name": entry.name, "uid": entry.uid}
        self._spawn(self._post(involved, reason, message, warning))

    async def _post(self, involved: Mapping[str, Any], reason: str, message: str, warning: bool) -> None:
        try:
            await self.api.post_event(involved, reason, message, warning=warning)
        except Exception as exc:  # an Event is best effort; never let it break delivery
            log.warning("cannot post Event %s: %s", reason, type(exc).__name__)



def _token_view(secret: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a token lookup depends on: the data and the labels (the opt-in label can be withdrawn alone)."""
    labels = (secret.get("metadata") or {}).get("labels")
    return dict(secret.get("data") or {}), dict(labels or {})


def _secret_names(body: Mapping[str, Any]) -> set[str]:
    """The Secrets a destination reads: the one it mirrors (owner reference) and its tokenSecretRef."""
    spec = body.get("spec") or {}
    names = set()
    mirrored = mirrored_secret(body)
    if mirrored is not None:
        names.add(mirrored)
    ref = spec.get("tokenSecretRef") if isinstance(spec, Mapping) else None
    if isinstance(ref, Mapping) and ref.get("name"):
        names.add(str(ref["name"]))
    return names
