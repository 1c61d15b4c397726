"""Run the filters over candidate nodes and explain the failures."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.model import Task
from orchestrator.scheduler.filters import Filter, default_filters
from orchestrator.scheduler.nodeinfo import NodeInfo


class Pipeline:
    def __init__(self, filters: list[Filter] | None = None) -> None:
        self.filters = filters if filters is not None else default_filters()
        self._active: list[Filter] = []
        self._failures: dict[int, int] = {}

    def set_task(self, task: Task) -> None:
        self._active = [f for f in self.filters if f.set_task(task)]
        self._failures = {}

    def check(self, info: NodeInfo) -> bool:
        for number, f in enumerate(self._active):
            if not f.check(info):
                self._failures[number] = self._failures.get(number, 0) + 1
                return False
        return True

    def eligible(self, infos: Iterable[NodeInfo]) -> list[NodeInfo]:
        return [info for info in infos if self.check(info)]

    def explain(self, total_nodes: int) -> str:
        """``no suitable node (...)`` with one clause per filter that rejected nodes."""
        if total_nodes == 0:
            return "no suitable node (no nodes in the cluster)"
        parts = [self._active[i].explain(n) for i, n in sorted(self._failures.items())]
        return "no suitable node (" + "; ".join(parts) + ")" if parts else "no suitable node"
