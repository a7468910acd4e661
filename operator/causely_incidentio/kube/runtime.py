"""The operator's moving parts in one object: Kubernetes API, status journal, pipeline, receiver.

kopf handlers (``handlers.py``) only forward watch events here. Destinations come from IncidentDestination
resources; a Secret labelled ``causely.ai/notif-config=IncidentIO`` is mirrored into an IncidentDestination it
owns (``spec.causelySecretRef``), so every destination has a status object and deleting the Secret removes
it. Before the receiver opens, the runtime lists every Secret and destination once, so no notification is
routed against a half-loaded set of destinations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from causely_incidentio.destinations import from_resource, is_incidentio_secret
from causely_incidentio.kube.api import API_VERSION, KIND, KubeApi, MirrorConflict, list_destinations, list_secrets
from causely_incidentio.kube.envdest import OPTIONAL_FIELDS, env_destination
from causely_incidentio.kube.journal import KubeStatusJournal
from causely_incidentio.kube.secrets import SecretStore
from causely_incidentio.kube.status import now_iso, status_fields
from causely_incidentio.problems import InvalidInput, Problem
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


def _causely_secret_ref(body: Mapping[str, Any]) -> str | None:
    spec = body.get("spec") or {}
    ref = spec.get("causelySecretRef") if isinstance(spec, Mapping) else None
    return str(ref["name"]) if isinstance(ref, Mapping) and ref.get("name") else None


def _owned_by_secret(body: Mapping[str, Any], secret_name: str, secret_uid: str | None = None) -> bool:
    owners = (body.get("metadata") or {}).get("ownerReferences") or []
    return any(
        o.get("kind") == "Secret" and o.get("name") == secret_name
        and (secret_uid is None or o.get("uid") == secret_uid)
        for o in owners
    )


def is_mirror(body: Mapping[str, Any]) -> bool:
    """A mirror: ``causelySecretRef`` set by the operator, on an object owned by that same Secret."""
    ref = _causely_secret_ref(body)
    meta = body.get("metadata") or {}
    return ref is not None and ref == meta.get("name") and _owned_by_secret(body, ref)


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
        journal: KubeStatusJournal | None = None,
        worker_options: dict[str, Any] | None = None,
        home_namespace: str | None = None,
    ) -> None:
        self.api = api
        # Where the environment's default destination lives: the operator's own namespace.
        self.home_namespace = home_namespace or (namespaces[0] if namespaces else None)
        self.settings = settings
        self.namespaces = namespaces
        self.listen = listen
        self.secrets = SecretStore()
        self.journal = journal or KubeStatusJournal(api)
        self.pipeline = Pipeline(self.journal, settings, events=self.event, on_change=self.publish,
                                 worker_options=worker_options)
        self.receiver = Receiver(self.pipeline, token=receiver_token, allow_unauthenticated=allow_unauthenticated,
                                 ready_check=self.ready)
        self.objects: dict[str, TrackedObject] = {}
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.home_namespace:  # the environment's default destination lives in the operator's namespace
            env_dest = env_destination(self.settings, self.home_namespace)
            if env_dest is not None:
                await self.api.apply_destination(env_dest, unset=OPTIONAL_FIELDS)
        for secret in await list_secrets(self.api, self.namespaces):
            await self.on_secret(None, secret)
        for body in await list_destinations(self.api, self.namespaces):
            await self.on_destination(None, body)
        self.pipeline.loaded = True
        self._runner, self.port = await serve(self.receiver.app(), *self.listen)
        log.info("receiver listening on %s:%d; %d destination(s)", self.listen[0], self.port, len(self.objects))

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.pipeline.stop()
        await self.journal.close()
        for task in list(self._tasks):
            task.cancel()
        await self.api.close()

    def ready(self) -> tuple[bool, str]:
        if not self.pipeline.loaded:
            return False, "destinations not loaded yet"
        return True, f"{len(self.pipeline.workers)} destination(s) serving"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- Secrets ---------------------------------------------------------------------------------------
    async def on_secret(self, event_type: str | None, raw: Mapping[str, Any]) -> None:
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
                elif self._owned_mirror(namespace, name, meta.get("uid")):
                    # Deleted, or the label was removed: stop mirroring. The garbage collector would remove the
                    # owned mirror too; deleting it here stops delivery at once. Never a user's own resource.
                    await self.api.delete_destination(namespace, name)
            except MirrorConflict as exc:
                log.error("%s", exc)
                await self._post_event_about_secret(body, "ConfigInvalid", str(exc))
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

    # -- IncidentDestinations --------------------------------------------------------------------------
    async def on_destination(self, event_type: str | None, raw: Mapping[str, Any]) -> None:
        body: dict[str, Any] = plain(raw)
        meta = body.get("metadata") or {}
        dest_id = destination_id(body)
        async with self._lock:
            if event_type == "DELETED":
                self.objects.pop(dest_id, None)
                await self.pipeline.remove(dest_id)
                await self.journal.detach(dest_id)
                secret = self.secrets.get(meta.get("namespace", ""), meta.get("name", ""))
                if is_mirror(body) and secret is not None and is_incidentio_secret(secret):
                    # Someone deleted a mirror whose Secret is still labelled: put it back (a new object, a new
                    # status; the idempotency keys are the Secret's, so nothing is created twice).
                    try:
                        await self.api.apply_mirror(secret)
                    except Exception as exc:
                        log.error("cannot re-create the mirror of Secret %s: %s", meta.get("name"), type(exc).__name__)
                return
            obj = self.objects.get(dest_id)
            if obj is None:
                obj = TrackedObject(
                    meta["namespace"], meta["name"], meta.get("uid", ""), meta.get("generation"), body,
                    conditions=list((body.get("status") or {}).get("conditions") or []),
                    source="Secret" if dest_id.startswith("secret/") else "IncidentDestination",
                )
                self.objects[dest_id] = obj
            else:
                obj.body, obj.generation, obj.uid = body, meta.get("generation"), meta.get("uid", obj.uid)
            if not self.journal.is_attached(dest_id):
                self.journal.attach(dest_id, obj.namespace, obj.name, body.get("status"))
            self._apply(dest_id, obj)

    def _apply(self, dest_id: str, obj: TrackedObject) -> None:
        """(Re)build the destination's config from its resource and the Secrets it reads."""
        try:
            if _causely_secret_ref(obj.body) is not None and not is_mirror(obj.body):
                raise InvalidInput(f"{KIND} {obj.namespace}/{obj.name}", [Problem(
                    "spec.causelySecretRef",
                    "is set by the operator on the mirrors it makes of labelled Secrets, not by hand",
                    "spec.tokenSecretRef and the other spec fields, or a Secret labelled "
                    "causely.ai/notif-config=IncidentIO",
                )])
            config = from_resource(
                obj.body, secret_lookup=self.secrets.lookup, secret_get=self.secrets.get, settings=self.settings
            )
        except InvalidInput as exc:
            self.pipeline.mark_invalid(dest_id, exc)
            if obj.last_invalid != exc.message:
                obj.last_invalid = exc.message
                self.event(dest_id, "ConfigInvalid", exc.message, warning=True)
            self.publish(dest_id)
            return
        obj.last_invalid = None
        self.pipeline.upsert(config)
        self.publish(dest_id)

    # -- status and Events -----------------------------------------------------------------------------
    def publish(self, dest_id: str) -> None:
        """Write the destination's conditions and summary fields (merged into the journal's next patch)."""
        obj = self.objects.get(dest_id)
        health = self.pipeline.health(dest_id)
        if obj is None or health is None or not self.journal.is_attached(dest_id):
            return
        worker = self.pipeline.workers.get(dest_id)
        mode = worker.config.mode if worker else (obj.body.get("spec") or {}).get("mode")
        fields = status_fields(health, generation=obj.generation, source=obj.source, mode=mode,
                               previous_conditions=obj.conditions, now=now_iso())
        obj.conditions = fields["conditions"]
        self.journal.set_fields(dest_id, fields)

    def event(self, destination_id: str, reason: str, message: str, *, warning: bool = False) -> None:
        log.log(logging.WARNING if warning else logging.INFO, "%s %s: %s", destination_id, reason, message)
        obj = self.objects.get(destination_id)
        if obj is None:
            return
        now = time.monotonic()
        obj.events = [t for t in obj.events if now - t < EVENT_WINDOW]
        if len(obj.events) >= EVENT_BURST:
            return  # logged above; Events are rate-limited per destination
        obj.events.append(now)
        self._spawn(self._post(obj.involved, reason, message, warning))

    async def _post(self, involved: Mapping[str, Any], reason: str, message: str, warning: bool) -> None:
        try:
            await self.api.post_event(involved, reason, message, warning=warning)
        except Exception as exc:  # an Event is best effort; never let it break delivery
            log.warning("cannot post Event %s: %s", reason, type(exc).__name__)


def _secret_names(body: Mapping[str, Any]) -> set[str]:
    spec = body.get("spec") or {}
    names = set()
    for key in ("causelySecretRef", "tokenSecretRef"):
        ref = spec.get(key)
        if isinstance(ref, Mapping) and ref.get("name"):
            names.add(str(ref["name"]))
    return names
