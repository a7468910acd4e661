"""Watch only the Secrets labelled ``causely.ai/notif-config=IncidentIO``, selected by the API server.

kopf filters labels in the client, so it would receive (and hold) every Secret of the namespace; this watch
asks the server for the labelled ones only. Token Secrets that destinations point to are read by name when
needed (``runtime``), never cached wholesale. Relists after an expired resourceVersion (410) or any error,
and reports Secrets that disappeared meanwhile as deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import watch

from causely_incidentio.kube.api import KubeApi, checked_body

log = logging.getLogger(__name__)

SECRET_SELECTOR = "causely.ai/notif-config=IncidentIO"
OnSecret = Callable[[str | None, dict[str, Any]], Awaitable[None]]


class SecretWatcher:
    def __init__(self, api: KubeApi, namespaces: list[str] | None, on_event: OnSecret,
                 *, selector: str = SECRET_SELECTOR, timeout_seconds: int = 300) -> None:
        self.api = api
        self.namespaces = namespaces
        self.on_event = on_event
        self.selector = selector
        self.timeout_seconds = timeout_seconds
        self._known: dict[str | None, set[tuple[str, str]]] = {}
        self._rv: dict[str | None, str] = {}

    def _list_call(self, ns: str | None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if ns is None:
            return self.api.core.list_secret_for_all_namespaces, ()
        return self.api.core.list_namespaced_secret, (ns,)

    async def relist(self, ns: str | None) -> list[dict[str, Any]]:
        """List the labelled Secrets of ``ns`` (all when None); report the ones gone since the last list."""
        fn, args = self._list_call(ns)
        resp = await fn(*args, label_selector=self.selector, _preload_content=False)
        data = json.loads(await checked_body(resp))
        items: list[dict[str, Any]] = data.get("items") or []
        self._rv[ns] = str((data.get("metadata") or {}).get("resourceVersion") or "")
        seen = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items}
        for namespace, name in self._known.get(ns, set()) - seen:
            await self.on_event("DELETED", {"metadata": {"namespace": namespace, "name": name}})
        self._known[ns] = seen
        return items

    def scopes(self) -> list[str | None]:
        return [None] if self.namespaces is None else list(self.namespaces)

    async def run(self) -> None:
        await asyncio.gather(*(self._watch(ns) for ns in self.scopes()))

    async def _watch(self, ns: str | None) -> None:
        delay = 1.0
        while True:
            try:
                if ns not in self._rv:
                    for item in await self.relist(ns):
                        await self.on_event(None, item)
                fn, args = self._list_call(ns)
                async with watch.Watch() as w:
                    async for event in w.stream(fn, *args, label_selector=self.selector,
                                                resource_version=self._rv[ns],
                                                timeout_seconds=self.timeout_seconds,
                                                allow_watch_bookmarks=True):
                        kind = event.get("type")
                        obj = event.get("raw_object") or {}
                        meta = obj.get("metadata") or {}
                        if meta.get("resourceVersion"):
                            self._rv[ns] = str(meta["resourceVersion"])
                        if kind == "BOOKMARK":
                            continue
                        if kind == "ERROR":
                            raise RuntimeError(f"watch error: {obj.get('reason') or obj.get('code')}")
                        key = (meta.get("namespace", ""), meta.get("name", ""))
                        if kind == "DELETED":
                            self._known.setdefault(ns, set()).discard(key)
                        else:
                            self._known.setdefault(ns, set()).add(key)
                        await self.on_event(kind, obj)
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                status = getattr(exc, "status", None)
                log.info("Secret watch (%s) restarts after %s", ns or "all namespaces",
                         f"HTTP {status}" if status else type(exc).__name__)
                self._rv.pop(ns, None)  # relist: the version may have expired (410)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
