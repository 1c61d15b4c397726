"""Ranking of the nodes that passed the filters.

Order of preference, as in Swarm:

1. placement preferences (``spread=node.labels.zone``, nested in the order given): the node whose
   group (its value of the label, within its parent group) runs the fewest tasks of this service.
   Nodes without the label form a group of their own;
2. fewest tasks of this service on the node;
3. fewest tasks in total on the node;
4. node id, so that equal candidates are chosen deterministically.

Placing tasks one at a time with these counts updated after each placement spreads a batch evenly
over the groups at every level of the tree.
"""

from __future__ import annotations

from collections import Counter

from orchestrator.model import Task
from orchestrator.scheduler.constraints import node_attribute
from orchestrator.scheduler.nodeinfo import NodeInfo

GroupPath = tuple[str | None, ...]


def spread_path(info: NodeInfo, keys: list[str]) -> GroupPath:
    return tuple(node_attribute(info.node, k) for k in keys)


def group_counts(infos: list[NodeInfo], service_id: str, keys: list[str]) -> Counter[GroupPath]:
    """Tasks of the service per group prefix: (zone,), (zone, rack), ..."""
    counts: Counter[GroupPath] = Counter()
    for info in infos:
        path = spread_path(info, keys)
        n = info.tasks_by_service[service_id]
        for depth in range(1, len(path) + 1):
            counts[path[:depth]] += n
    return counts


def rank_key(info: NodeInfo, task: Task, keys: list[str], counts: Counter[GroupPath]) -> tuple[object, ...]:
    path = spread_path(info, keys)
    spread = tuple(counts[path[: d + 1]] for d in range(len(path)))
    return (*spread, info.tasks_by_service[task.service_id], info.total_tasks, info.id)


def choose(task: Task, candidates: list[NodeInfo], all_infos: list[NodeInfo]) -> NodeInfo:
    """The best candidate for ``task`` (``candidates`` is non-empty)."""
    keys = [p.spread for p in task.spec.placement.preferences]
    counts = group_counts(all_infos, task.service_id, keys) if keys else Counter()
    return min(candidates, key=lambda info: rank_key(info, task, keys, counts))
