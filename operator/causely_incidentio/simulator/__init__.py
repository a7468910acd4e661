"""A local incident.io API that follows the published OpenAPI spec: for the demo, tests and benchmarks.

``Simulator`` serves it in-process; ``causely-incidentio simulator`` from the command line. See
``docs/simulator.md``.
"""

from __future__ import annotations

from causely_incidentio.simulator.app import RequestRecord, fingerprint
from causely_incidentio.simulator.faults import FAULT_KINDS
from causely_incidentio.simulator.organisation import Organisation
from causely_incidentio.simulator.server import Simulator

__all__ = ["FAULT_KINDS", "Organisation", "RequestRecord", "Simulator", "fingerprint"]
