"""Which tasks a node is assigned, and how one travels to its agent (pure functions).

A node's *assignment set* is every task with ``node_id`` equal to the node and an observed state of
ASSIGNED or later, whatever its desired state: the agent must see retired tasks too, to stop them,
and keeps a finished task's container (history) until the reaper deletes the task, which removes it
from the set. What the agent acts on is the task's *agent key* (desired state, spec, node); status
changes the agent itself reported are not echoed back.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.network.vips import LABEL_ENDPOINT_MODE
from orchestrator import overlay
from orchestrator.model import Task, TaskState
from orchestrator.store import View
from proto.orch.v1 import dispatcher_pb2 as dpb
from proto.orch.v1 import engine_pb2 as epb

AgentKey = tuple[int, str, str, str]


def assigned(task: Task | None, node_id: str) -> bool:
    return task is not None and task.node_id == node_id and task.status.state >= TaskState.ASSIGNED


def assignment_set(tasks: Iterable[Task], node_id: str) -> dict[str, Task]:
    return {t.id: t for t in tasks if assigned(t, node_id)}


def agent_key(task: Task, view: View | None = None) -> AgentKey:
    """What the agent acts on; the overlay description changes with the network's other tasks (peers)."""
    return (int(task.desired_state), task.spec_hash, task.node_id, overlay_json(task, view))


def overlay_json(task: Task, view: View | None) -> str:
    """The task's ``OverlayInfo`` as JSON ("" when it joins no overlay network or has no address yet)."""
    if view is None or not task.networks:
        return ""
    net = overlay.overlay_of(view.all("network"), task)
    if net is None:
        return ""
    addrs = {n.id: n.status.addr for n in view.all("node")}
    found = overlay.info(net, task, view.all("task"), addrs)
    return found.to_json() if found is not None else ""


def overlay_peers_changed(task: Task | None) -> bool:
    """Whether a change to ``task`` may change the peers other tasks' assignments carry."""
    return task is not None and bool(task.networks)


def container_spec(task: Task, on_overlay: bool = False) -> epb.ContainerSpec:
    """The engine's ContainerSpec for a task (the agent adds name, swarm labels and networking)."""
    c = task.spec.container
    limits = task.spec.resources.limits
    return epb.ContainerSpec(
        image=c.image,
        entrypoint=list(c.command),
        entrypoint_set=bool(c.command),
        cmd=list(c.args),
        env=list(c.env),
        workdir=c.workdir,
        user=c.user,
        hostname=c.hostname,
        # the endpoint mode travels as a label: the agent's network manager gives vip-mode tasks a VIP
        # (overlay tasks are dnsrr: a VIP from a node-local pool could collide with another node's task)
        labels={**c.labels, LABEL_ENDPOINT_MODE: "dnsrr" if on_overlay else task.spec.endpoint.mode},
        mounts=[epb.Mount(type=m.type, source=m.source, target=m.target, read_only=m.read_only) for m in c.mounts],
        read_only=c.read_only,
        resources=epb.Resources(memory=limits.memory_bytes, nano_cpus=limits.nano_cpus),
        init=c.init,
        stop_signal=c.stop_signal,
        stop_timeout=int(round(c.stop_grace_period)),
        tty=c.tty,
        **_networking(task),
    )


def _networking(task: Task) -> dict[str, object]:
    """Single-node service networking until overlay networks exist: the task's first network is a bridge
    network on its node (joined with the service's aliases), and published ports are host-mode ports."""
    out: dict[str, object] = {}
    if task.spec.networks:
        first = task.spec.networks[0]
        out["network_mode"] = first.target
        out["network_aliases"] = list(first.aliases)
        if task.networks and task.networks[0].addresses:  # overlay: the manager allocated the address
            out["ipv4_address"] = task.networks[0].addresses[0]
    hc = task.spec.container.healthcheck
    if hc is not None and hc.test and "healthcheck" in epb.ContainerSpec.DESCRIPTOR.fields_by_name:
        ns = 1_000_000_000
        out["healthcheck"] = epb.HealthConfig(test=list(hc.test), interval=int(hc.interval * ns),
                                              timeout=int(hc.timeout * ns), retries=hc.retries,
                                              start_period=int(hc.start_period * ns))
    if task.spec.endpoint.ports:
        out["ports"] = [epb.PortBinding(host_port=p.published_port, container_port=p.target_port,
                                        protocol=p.protocol) for p in task.spec.endpoint.ports]
    return out


def to_proto(task: Task, view: View | None = None) -> dpb.TaskAssignment:
    labels = dict(task.labels)
    info = overlay_json(task, view)
    if info:
        labels[overlay.LABEL] = info
    return dpb.TaskAssignment(
        id=task.id,
        service_id=task.service_id,
        service_name=task.service_name,
        slot=task.slot,
        node_id=task.node_id,
        desired_state=int(task.desired_state),
        observed_state=int(task.status.state),
        container_id=task.status.container_id,
        container=container_spec(task, bool(info)),
        service_labels=labels,
    )


def complete(tasks: dict[str, Task], view: View | None = None) -> dpb.Assignments:
    return dpb.Assignments(kind=dpb.Assignments.COMPLETE, tasks=[to_proto(t, view) for t in tasks.values()])


def increment(sent: dict[str, AgentKey], current: dict[str, Task], candidates: Iterable[str],
              view: View | None = None) -> dpb.Assignments | None:
    """The change to send for ``candidates`` (task ids that may have changed); updates ``sent``.

    Returns ``None`` when nothing the agent acts on changed.
    """
    changed: list[dpb.TaskAssignment] = []
    removed: list[str] = []
    for task_id in sorted(set(candidates)):
        task = current.get(task_id)
        if task is None:
            if sent.pop(task_id, None) is not None:
                removed.append(task_id)
            continue
        key = agent_key(task, view)
        if sent.get(task_id) != key:
            sent[task_id] = key
            changed.append(to_proto(task, view))
    if not changed and not removed:
        return None
    return dpb.Assignments(kind=dpb.Assignments.INCREMENTAL, tasks=changed, removed=removed)
