"""Scheduler: filters then ranking (DESIGN.md section 4).

::

    PENDING tasks ──▶ Pipeline(filters: ready/active, constraints, cpu, memory,
                                max replicas per node, host ports)
                        │ candidates                      │ none
                        ▼                                 ▼
                      ranking (spread tree, fewest of     status.err = "no suitable node (...)"
                      this service, fewest overall)
                        ▼
                      ASSIGNED + node_id   (one store batch per pass)
"""

from __future__ import annotations

from orchestrator.scheduler.constraints import Constraint, parse_constraints, parse_spread
from orchestrator.scheduler.pipeline import Pipeline
from orchestrator.scheduler.scheduler import Decisions, Scheduler, schedule

__all__ = ["Constraint", "Decisions", "Pipeline", "Scheduler", "parse_constraints", "parse_spread", "schedule"]
