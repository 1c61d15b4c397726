"""Which tasks a node is assigned, and how one travels to its agent (pure functions).

A node's *assignment set* is every task with ``node_id`` equal to the node and an observed state of
ASSIGNED or later, whatever its desired state: the agent must see retired tasks too, to stop them,
and keeps a finished task's container (history) until the reaper deletes the task, which removes it
from the set. What the agent acts on is the task's *agent key* (desired state, spec, node); status
changes the agent itself reported are not echoed back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from agent.network.vips import LABEL_ENDPOINT_MODE, LABEL_NETWORKS
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
    """What the agent acts on. Other tasks' addresses travel in the node's ``NetworkState``
    (``netstate.py``), so a peer joining a network never resends this task."""
    return (int(task.desired_state), task.spec_hash, task.node_id, _attachments_json(task, view))


def _attachments_json(task: Task, view: View | None) -> str:
    """The task's networks for the agent (label ``LABEL_NETWORKS``): every network of its spec in order
    (by name), with the address the manager allocated on overlay networks, then ``ingress``."""
    if not task.spec.networks and not task.networks:
        return ""
    names = {n.id: n.spec.name for n in view.all("network")} if view is not None else {}
    held = {a.network_id: a for a in task.networks}
    out: list[dict[str, object]] = []
    for att in task.spec.networks:
        nid = next((i for i, name in names.items() if att.target in (i, name)), "")
        mine = held.pop(nid, None)
        out.append({"network": names.get(nid, att.target), "ip": mine.addresses[0] if mine and mine.addresses else "",
                    "aliases": list(att.aliases)})
    for nid, mine in held.items():  # ingress (the routing mesh), not named in the spec
        out.append({"network": names.get(nid, nid), "ip": mine.addresses[0] if mine.addresses else "",
                    "aliases": list(mine.aliases)})
    return json.dumps(out, sort_keys=True)


def container_spec(task: Task, networks_json: str = "") -> epb.ContainerSpec:
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
        # the endpoint mode travels as a label: the agent's network manager gives vip-mode tasks a VIP on
        # node-local bridge networks (on overlay networks the manager's VIP comes in the NetworkState)
        labels={**c.labels, LABEL_ENDPOINT_MODE: task.spec.endpoint.mode,
                **({LABEL_NETWORKS: networks_json} if networks_json else {})},
        mounts=[epb.Mount(type=m.type, source=m.source, target=m.target, read_only=m.read_only) for m in c.mounts],
        read_only=c.read_only,
        resources=epb.Resources(memory=limits.memory_bytes, nano_cpus=limits.nano_cpus),
        init=c.init,
        stop_signal=c.stop_signal,
        stop_timeout=int(round(c.stop_grace_period)),
        tty=c.tty,
        **_networking(task, networks_json),
    )


def _networking(task: Task, networks_json: str) -> dict[str, object]:
    """The first network (bridge on the node, or overlay with the manager's address) as the container's
    network mode; the agent's network manager reads the others from the ``LABEL_NETWORKS`` label.
    Only host-mode ports are the container's own: ingress-mode ports are the routing mesh's."""
    out: dict[str, object] = {}
    attached = json.loads(networks_json) if networks_json else []
    if attached:
        first = attached[0]
        out["network_mode"] = first["network"]
        out["network_aliases"] = list(first["aliases"])
        if first["ip"]:
            out["ipv4_address"] = first["ip"]
    hc = task.spec.container.healthcheck
    if hc is not None and hc.test and "healthcheck" in epb.ContainerSpec.DESCRIPTOR.fields_by_name:
        ns = 1_000_000_000
        out["healthcheck"] = epb.HealthConfig(test=list(hc.test), interval=int(hc.interval * ns),
                                              timeout=int(hc.timeout * ns), retries=hc.retries,
                                              start_period=int(hc.start_period * ns))
    host_ports = [p for p in task.spec.endpoint.ports if p.publish_mode == "host"]
    if host_ports:
        out["ports"] = [epb.PortBinding(host_port=p.published_port, container_port=p.target_port,
                                        protocol=p.protocol) for p in host_ports]
    return out


def to_proto(task: Task, view: View | None = None) -> dpb.TaskAssignment:
    labels = dict(task.labels)
    return dpb.TaskAssignment(
        id=task.id,
        service_id=task.service_id,
        service_name=task.service_name,
        slot=task.slot,
        node_id=task.node_id,
        desired_state=int(task.desired_state),
        observed_state=int(task.status.state),
        container_id=task.status.container_id,
        container=container_spec(task, _attachments_json(task, view)),
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
