"""kopf handlers: thin, they only forward to :class:`~causely_incidentio.kube.runtime.OperatorRuntime`.

Only *event* handlers are used, on purpose: they keep no state on the watched objects, so kopf never writes
a diff-base annotation nor adds finalizers. Secrets are not watched through kopf at all (it would receive every
Secret of the namespace): ``kube/secretwatch.py`` asks the server for the labelled ones only.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from causely_incidentio.kube.api import FINDINGS, GROUP, PLURAL, VERSION
from causely_incidentio.kube.runtime import OperatorRuntime

# Set by ``main.run`` before kopf starts; a factory so the runtime is built inside kopf's event loop.
RUNTIME_FACTORY: Any = None


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.WARNING
    # kopf logs every handled event at INFO ("Handler 'finding_event' succeeded"): ~4 lines per notification.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # Watch exactly the resources named in the decorators, in the namespaces given: no cluster-wide scans of
    # CRDs or namespaces, so the operator needs no cluster-scoped RBAC at all.
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    runtime: OperatorRuntime = await RUNTIME_FACTORY()
    await runtime.start()
    memo["runtime"] = runtime


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime: OperatorRuntime | None = memo.get("runtime")
    if runtime is not None:
        await runtime.close()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def destination_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    await memo["runtime"].on_destination(event.get("type"), event["object"])


@kopf.on.event(GROUP, VERSION, FINDINGS)
async def finding_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo["runtime"].on_finding(event.get("type"), event["object"])


@kopf.on.probe(id="destinations")
async def destinations_probe(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    runtime: OperatorRuntime | None = memo.get("runtime")
    if runtime is None:
        return {"ready": False}
    return {"ready": runtime.pipeline.loaded, "destinations": len(runtime.pipeline.configs),
            "leader": runtime.elector.leading}
