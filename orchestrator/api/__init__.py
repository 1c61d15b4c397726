"""The ControlAPI: what `orch cluster|node|service` call (DESIGN.md section 1).

::

    CLI ──gRPC──▶ server.ControlServicer ──▶ control.Control ──▶ store (desired state only)
                  (proto <-> JSON docs,        (validation, names,
                   errors -> status codes)      filters)

``convert`` holds every Docker field name; ``server`` maps the error vocabulary to gRPC codes in
one place (``status_code``).
"""

from __future__ import annotations

from orchestrator.api.control import ClusterFacts, Control
from orchestrator.api.server import ControlServicer, status_code

__all__ = ["ClusterFacts", "Control", "ControlServicer", "status_code"]
