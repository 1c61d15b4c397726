"""Service endpoints on a single node: which containers are service tasks, and what their names resolve to.

A task container carries Docker's swarm labels (``com.docker.swarm.service.id``/``.name``, set by the
executor) and the service's endpoint mode (``orch.service.endpoint-mode``, set by the dispatcher from
``EndpointSpec.Mode``), so the network manager needs nothing from the cluster to serve it:

- endpoint mode ``vip`` (Docker's default): the service name and the task's network aliases resolve to
  one virtual IP per network, which nftables balances over the running tasks (``nft.ServiceVip``);
- endpoint mode ``dnsrr``: those names resolve to every running task's address (DNS round robin);
- either way ``tasks.<name>`` resolves to the running tasks' addresses, and the container's own name
  and short id to its address, as in Swarm.

A container without the endpoint-mode label (created before VIPs existed) keeps dnsrr, the behaviour it
was created with. Everything here is pure; ``manager.py`` owns the state and the kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.network.state import ActiveEndpoint, VipRecord

LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_ENDPOINT_MODE = "orch.service.endpoint-mode"
# Every network of a service task, in order: JSON [{"network": name, "ip": "" or the manager's address,
# "aliases": [...]}], set by the dispatcher; the first is also the container's network mode.
LABEL_NETWORKS = "com.orch.networks"
TASKS_PREFIX = "tasks."


@dataclass(frozen=True)
class ServiceTask:
    """What the labels of a task container say about its service."""

    service_id: str
    service_name: str
    vip: bool  # endpoint mode vip (else dnsrr)


def service_of(labels: Mapping[str, str]) -> ServiceTask | None:
    """The service of a task container, or None for a plain container."""
    sid, name = labels.get(LABEL_SERVICE_ID, ""), labels.get(LABEL_SERVICE_NAME, "")
    if not sid or not name:
        return None
    return ServiceTask(service_id=sid, service_name=name, vip=labels.get(LABEL_ENDPOINT_MODE) == "vip")


def service_names(task: ServiceTask, aliases: Iterable[str]) -> list[str]:
    """The names of the service on a network: its name, then the task's aliases (no duplicates)."""
    return list(dict.fromkeys([task.service_name, *(a for a in aliases if a)]))


def records(endpoints: Iterable[ActiveEndpoint]) -> dict[str, list[str]]:
    """One network's DNS table (name -> addresses, in attachment order, no duplicates)."""
    out: dict[str, list[str]] = {}

    def add(name: str, ip: str) -> None:
        ips = out.setdefault(name, [])
        if ip not in ips:
            ips.append(ip)

    for e in endpoints:
        for name in e.names:
            add(name, e.ip)
        for name in e.service_names:
            add(name, e.vip or e.ip)
            add(TASKS_PREFIX + name, e.ip)
    return out


def backends(service_id: str, endpoints: Iterable[ActiveEndpoint]) -> tuple[str, ...]:
    """The running tasks a service's VIP on one network balances over."""
    return tuple(dict.fromkeys(e.ip for e in endpoints if e.service_id == service_id and e.vip))


def drop_holder(vips: dict[str, VipRecord], container_id: str) -> list[VipRecord]:
    """Forget ``container_id`` as a holder of the VIPs of one network; returns the VIPs nobody holds now
    (removed from ``vips``: the caller frees their addresses)."""
    freed = []
    for sid, v in list(vips.items()):
        if container_id in v.containers:
            v.containers.remove(container_id)
        if not v.containers:
            freed.append(vips.pop(sid))
    return freed
