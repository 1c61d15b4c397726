"""The scheduler: fills ``node_id`` on PENDING tasks and moves them to ASSIGNED, in batches.

:func:`schedule` is the pure part: view in, :class:`Decisions` out. Tasks are placed one at a time in
a stable order (oldest first) against in-memory node infos that include earlier placements of the
same pass. A global task (``node_id`` already set by the global orchestrator) is only checked against
its own node. An unplaceable task stays PENDING; its status message says why, and is rewritten only
when the reason changes (no write storms while nothing changes).

The :class:`Scheduler` loop re-runs on any task or node change, debounced (50 ms quiet, 1 s max), and
writes one batch per pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from orchestrator import netalloc, overlay
from orchestrator.errors import OrchError
from orchestrator.model import Service, Task, TaskState, TaskStatus
from orchestrator.reconcile.loop import Loop
from orchestrator.scheduler.nodeinfo import build_node_infos
from orchestrator.scheduler.pipeline import Pipeline
from orchestrator.scheduler.ranking import choose
from orchestrator.store import Change, MemoryStore, Tx, View

log = logging.getLogger(__name__)


@dataclass
class Decisions:
    assigned: dict[str, str] = field(default_factory=dict)  # task id -> node id
    unplaceable: dict[str, str] = field(default_factory=dict)  # task id -> reason


def pending_tasks(view: View) -> list[Task]:
    tasks = [t for t in view.find("task", state=TaskState.PENDING) if t.runnable]
    return sorted(tasks, key=lambda t: (t.meta.created_at, t.service_id, t.slot, t.id))


def schedule(view: View, tasks: list[Task] | None = None, pipeline: Pipeline | None = None) -> Decisions:
    """Decide a node for each PENDING task (pure)."""
    pipeline = pipeline or Pipeline()
    infos = build_node_infos(view)
    all_infos = sorted(infos.values(), key=lambda i: i.id)
    decisions = Decisions()
    for task in tasks if tasks is not None else pending_tasks(view):
        pipeline.set_task(task)
        if task.node_id:
            info = infos.get(task.node_id)
            if info is not None and pipeline.check(info):
                decisions.assigned[task.id] = info.id
                info.add(task)
            else:
                decisions.unplaceable[task.id] = pipeline.explain(1)
            continue
        candidates = pipeline.eligible(all_infos)
        if not candidates:
            decisions.unplaceable[task.id] = pipeline.explain(len(all_infos))
            continue
        best = choose(task, candidates, all_infos)
        decisions.assigned[task.id] = best.id
        best.add(task)
    return decisions


def write_decisions(store: MemoryStore, view: View, decisions: Decisions, now: float) -> int:
    """Commit assignments and changed pending reasons in one batch; returns failed groups.

    Network attachments are allocated here, with the assignment: an address on every overlay network
    the task joins, the node's lb address on those networks when it has none yet, and the service's
    endpoint (VIPs, mesh ports) when it lags the spec (see ``orchestrator/netalloc.py``).
    """
    networks = {n.id: n for n in view.all("network")}
    services = {s.id: s for s in view.all("service")}
    tasks = view.all("task")
    used: dict[str, set[str]] = {}  # overlay network id -> addresses held (cluster-wide IPAM)
    planned: list[tuple[Task, dict[str, object], Service | None]] = []
    lb_changed: set[str] = set()
    for task_id, node_id in decisions.assigned.items():
        task = view.get("task", task_id)
        status = TaskStatus(state=TaskState.ASSIGNED, message="scheduler assigned task to node", timestamp=now)
        changes: dict[str, object] = {"node_id": node_id, "status": status}
        nets = overlay.overlays_of(networks.values(), task)
        new_svc: Service | None = None
        try:
            svc = services.get(task.service_id)
            if svc is not None and netalloc.needs_endpoint(svc, networks.values()):
                new_svc = services[svc.id] = netalloc.with_endpoint(view, svc, used)
                for v in new_svc.endpoint.virtual_ips if new_svc.endpoint else []:
                    used.setdefault(v.network_id, overlay.used_addresses(
                        tasks, v.network_id, services.values(), networks.values())).add(v.addr)
            for net, _ in nets:
                if net.id not in used:
                    used[net.id] = overlay.used_addresses(tasks, net.id, services.values(), networks.values())
            if nets and not task.networks:
                changes["networks"] = overlay.attachments(nets, used)
            for net, _ in nets:
                current = networks[net.id]
                if node_id not in current.lb_addresses:
                    addr = overlay.allocate(current, used[net.id], top_down=True)
                    networks[net.id] = current.evolve(lb_addresses={**current.lb_addresses, node_id: addr})
                    lb_changed.add(net.id)
        except OrchError as err:
            log.warning("scheduler: network allocation for task %s failed: %s", task.id, err)
            continue
        planned.append((task, changes, new_svc))
    if lb_changed:
        # One write for the networks first (several tasks' groups cannot each update one object); if it
        # loses a race, nothing is assigned and the next pass allocates again.
        try:
            store.update(lambda tx: [tx.update(networks[nid]) for nid in sorted(lb_changed)])
        except OrchError as err:
            log.info("scheduler: lb addresses not written: %s", err)
            return 1
    with store.batch() as batch:
        for task, changes, new_svc in planned:
            def write(tx: Tx, t: Task = task, c: dict[str, object] = changes, s: Service | None = new_svc) -> None:
                if s is not None:
                    tx.update(s)
                tx.update(t.evolve(**c))

            batch.update(write)
        for task_id, reason in decisions.unplaceable.items():
            task = view.get("task", task_id)
            if task.status.err == reason:
                continue
            status = task.status.model_copy(update={"err": reason, "message": "pending task scheduling", "timestamp": now})
            batch.update(lambda tx, t=task, s=status: tx.update(t.evolve(status=s)))
    for err in batch.errors:
        log.info("scheduler: write skipped: %s", err)
    return len(batch.errors)


class Scheduler(Loop):
    name = "scheduler"
    kinds = ("task", "node")
    debounce = 0.05
    debounce_max = 1.0

    retry_delay = 0.1  # after a write that lost a race (a task or network changed under us), doubling to 2 s

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._dirty = False
        self._retry_at: float | None = None
        self._backoff = self.retry_delay

    def seed(self, view: View) -> None:
        self._dirty = True

    def handle(self, change: Change) -> None:
        if change.kind == "node":
            self._dirty = True
            return
        old, new = change.old, change.new
        if new is not None and new.status.state == TaskState.PENDING:  # type: ignore[attr-defined]
            if old is None or old.status != new.status or old.desired_state != new.desired_state:  # type: ignore[attr-defined]
                self._dirty = True
        elif old is not None and (new is None or new.stopped or not new.runnable):  # type: ignore[attr-defined]
            self._dirty = True  # resources or ports freed up

    def next_wakeup(self) -> float | None:
        return self._retry_at

    def tick(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._retry_at = None
        failed = 1
        try:
            view = self.store.view()
            tasks = pending_tasks(view)
            failed = write_decisions(self.store, view, schedule(view, tasks), self.clock()) if tasks else 0
        finally:
            if failed:
                # Level-triggered: pending tasks whose write lost a race (the nodes' lb addresses on a
                # network, say) must not wait for an unrelated event to be placed.
                self._dirty = True
                self._retry_at = self.clock() + self._backoff
                self._backoff = min(self._backoff * 2, 2.0)
            else:
                self._backoff = self.retry_delay
