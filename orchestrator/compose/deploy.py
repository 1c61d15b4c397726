"""Carrying out `orch up` / `orch down` against a cluster (the "do" half; ``plan.py`` decides).

Everything goes through the daemon's public APIs: services through the ControlAPI (the same
CreateService / UpdateService / ScaleService / RemoveServices calls `orch service` makes, with the ServiceSpec JSON
built by ``plan.py``), overlay networks through the ControlAPI too (cluster-scoped, as `docker stack
deploy`), ``driver: bridge`` networks through the node's Networks API, volumes and containers through
the Engine API. Order of writes in `up`: networks, volumes, orphans, then services batch by batch in
``depends_on`` order, waiting for each dependency's condition (started, healthy, completed) before
its dependents are written. All validation happens before the first write (``plan.desired_state``),
so a bad file or a port conflict leaves the previous deployment untouched.

:class:`Cluster` is the narrow client the deployer needs; tests may pass a fake with the same methods.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ComposeError
from .models import Project
from .plan import LABEL_PROJECT, LABEL_SERVICE, DesiredState, Plan, desired_state, plan

POLL = 0.04  # between readiness checks (two ControlAPI reads): a dependency's start is not held back long
Progress = Callable[[str, str, str], None]  # kind (Network/Volume/Service), name, what happened


class Cluster(Protocol):
    def services(self, project: str) -> dict[str, dict[str, Any]]: ...
    def all_services(self) -> list[dict[str, Any]]: ...
    def create_service(self, doc: dict[str, Any]) -> None: ...
    def update_service(self, name: str, doc: dict[str, Any], force: bool = False) -> None: ...
    def image_exists(self, ref: str) -> bool: ...
    def remove_services(self, names: list[str]) -> None: ...
    def scale(self, name: str, replicas: int) -> None: ...
    def tasks(self, service: str) -> list[dict[str, Any]]: ...
    def containers(self, project: str) -> list[Any]: ...
    def networks(self) -> dict[str, dict[str, str]]: ...  # cluster and node networks: name -> labels
    def create_network(self, name: str, labels: dict[str, str], internal: bool, *, driver: str = "overlay",
                       attachable: bool = False) -> None: ...
    def remove_network(self, name: str) -> None: ...  # waits while a stopping task still holds it
    def volumes(self) -> dict[str, dict[str, str]]: ...
    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...
    def remove_volume(self, name: str) -> None: ...


@dataclass
class UpOptions:
    services: list[str]
    scale: dict[str, int]
    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False
    build: bool = False
    wait: bool = False
    timeout: float = 120.0


def _noop(kind: str, name: str, what: str) -> None:
    pass


def prepare(project: Project, cluster: Cluster, opts: UpOptions) -> tuple[DesiredState, Plan]:
    """Validate against the file and the cluster (never writes)."""
    desired = desired_state(project, opts.scale, opts.services or None)
    check_images(desired, cluster, opts.build)
    existing = cluster.services(project.name)
    taken: dict[tuple[int, str], str] = {}
    for doc in cluster.all_services():
        spec = doc.get("Spec") or {}
        if (spec.get("Labels") or {}).get(LABEL_PROJECT) == project.name:
            continue
        for p in (spec.get("EndpointSpec") or {}).get("Ports") or ():
            if p.get("PublishedPort"):
                taken[(int(p["PublishedPort"]), p.get("Protocol", "tcp"))] = spec.get("Name", "")
    for want in desired.services.values():
        for p in want.doc["EndpointSpec"].get("Ports", ()):
            other = taken.get((p["PublishedPort"], p["Protocol"]))
            if p["PublishedPort"] and other:
                raise ComposeError(f"services.{want.service}.ports: port {p['PublishedPort']}/{p['Protocol']} "
                                   f"is already published by service {other}")
    p = plan(desired, existing, set(cluster.networks()), set(cluster.volumes()),
             force_recreate=opts.force_recreate, no_recreate=opts.no_recreate,
             remove_orphans=opts.remove_orphans, all_services=set(project.services))
    return desired, p


def up(project: Project, cluster: Cluster, opts: UpOptions, progress: Progress = _noop) -> tuple[DesiredState, Plan]:
    desired, p = prepare(project, cluster, opts)
    for net in p.networks:
        cfg = desired.networks[net]
        progress("Network", net, "Creating")
        cluster.create_network(net, cfg["labels"], cfg["internal"], driver=cfg["driver"],
                               attachable=cfg["attachable"])
        progress("Network", net, "Created")
    for vol in p.volumes:
        progress("Volume", vol, "Creating")
        cluster.create_volume(vol, desired.volumes[vol]["labels"])
        progress("Volume", vol, "Created")
    if p.remove:
        for name in p.remove:
            progress("Service", name, "Removing")
        cluster.remove_services(p.remove)
        for name in p.remove:
            progress("Service", name, "Removed")
    deps = {name: project.services[name].depends_on or {} for name in desired.services}
    needed: dict[str, str] = {}  # service -> strongest condition some dependent waits for
    rank = {"service_started": 0, "service_healthy": 1, "service_completed_successfully": 2}
    for name in desired.services:
        for dep, d in deps[name].items():
            if dep in desired.services:
                cond = d.condition or "service_started"
                if rank.get(cond, 0) >= rank.get(needed.get(dep, "service_started"), 0):
                    needed[dep] = cond
    for batch in desired.order:
        for name in batch:
            want = desired.services[name]
            if name in p.update:
                progress("Service", want.name, "Updating")
                cluster.update_service(want.name, want.doc, force=opts.force_recreate)
                progress("Service", want.name, "Updated")
            elif name in p.recreate:
                progress("Service", want.name, "Recreating")
                cluster.remove_services([want.name])
                cluster.create_service(want.doc)
                progress("Service", want.name, "Recreated")
            elif name in p.create:
                progress("Service", want.name, "Creating")
                cluster.create_service(want.doc)
                progress("Service", want.name, "Created")
            elif name in p.scale:
                progress("Service", want.name, f"Scaling to {p.scale[name]}")
                cluster.scale(want.name, p.scale[name])
                progress("Service", want.name, "Scaled")
            else:
                progress("Service", want.name, "Running")
        for name in batch:
            if name in needed:
                wait_for(cluster, desired, name, needed[name], opts.timeout, progress)
    if opts.wait:
        for name, want in desired.services.items():
            cond = "service_healthy" if want.healthcheck else "service_started"
            wait_for(cluster, desired, name, cond, opts.timeout, progress)
    return desired, p


def check_images(desired: DesiredState, cluster: Cluster, build: bool) -> None:
    """Services with ``build:`` run an image that must exist already: orch does not build (yet)."""
    builds = [w for w in desired.services.values() if w.build]
    if build and builds:
        raise ComposeError(f"service {builds[0].service!r}: --build: building images is not supported yet; "
                           f"build {builds[0].image} elsewhere and load it (orch load), then run up without --build")
    for want in builds:
        if not cluster.image_exists(want.image):
            raise ComposeError(f"service {want.service!r} has build: and its image {want.image} does not exist: "
                               "building images is not supported yet (build and load it, or set image:)")


def _running_tasks(tasks: list[dict[str, Any]], template: Any = None) -> list[dict[str, Any]]:
    """Tasks running and desired to run; with ``template`` (the service's TaskTemplate), only those of
    that spec, so that a service being rolled counts only its updated tasks."""
    return [t for t in tasks if t.get("DesiredState") == "running"
            and (t.get("Status") or {}).get("State") == "running"
            and (template is None or "Spec" not in t or t["Spec"] == template)]


def service_ready(cluster: Cluster, desired: DesiredState, name: str, condition: str) -> tuple[bool, str]:
    """Whether ``condition`` holds for compose service ``name`` now, and a word on why not."""
    want = desired.services[name]
    tasks = cluster.tasks(want.name)
    if condition == "service_completed_successfully":
        done = [t for t in tasks if (t.get("Status") or {}).get("State") == "complete"]
        failed = [t for t in tasks if (t.get("Status") or {}).get("State") in ("failed", "rejected")]
        if done:
            return True, "exited (0)"
        if failed:
            err = (failed[0].get("Status") or {}).get("Err", "failed")
            raise ComposeError(f"service {name!r} didn't complete successfully: {err}")
        return False, "waiting to complete"
    current = cluster.services(desired.project).get(want.name) or {}
    status = current.get("UpdateStatus") or {}
    if status.get("State") in ("paused", "rollback_paused"):
        raise ComposeError(f"service {name!r}: {status.get('Message') or 'update paused'}")
    running = _running_tasks(tasks, (current.get("Spec") or {}).get("TaskTemplate"))
    target = 1 if want.global_mode else want.replicas
    if len(running) < target:
        errs = [(t.get("UpdatedAt", ""), (t.get("Status") or {}).get("Err", "")) for t in tasks]
        last = max((e for e in errs if e[1]), default=("", ""))[1]
        if condition == "service_healthy" and want.healthcheck and "unhealthy" in last:
            raise ComposeError(f"dependency failed to start: container of service {name!r} is unhealthy")
        waiting = "waiting to be healthy" if condition == "service_healthy" and want.healthcheck else "running"
        return False, f"{len(running)}/{target} {waiting}" + (f" (last error: {last})" if last else "")
    # A task with a healthcheck reaches RUNNING only once its container is healthy (Swarm's semantics,
    # decided by the agent on whatever node runs it), so running is healthy here, cluster-wide.
    return True, "healthy" if condition == "service_healthy" and want.healthcheck else "running"


def wait_for(cluster: Cluster, desired: DesiredState, name: str, condition: str, timeout: float,
             progress: Progress = _noop) -> None:
    want = desired.services[name]
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        ok, why = service_ready(cluster, desired, name, condition)
        if why != last:
            progress("Service", want.name, why[:1].upper() + why[1:])
            last = why
        if ok:
            return
        if time.monotonic() > deadline:
            raise ComposeError(f"service {name!r}: timed out after {timeout:.0f}s ({why})")
        time.sleep(POLL)


def down(project_name: str, cluster: Cluster, *, volumes: bool = False, services: set[str] | None = None,
         remove_orphans: bool = False, timeout: float = 60.0, progress: Progress = _noop) -> None:
    """Remove the project's services, wait for their containers, then networks (and volumes with ``volumes``).

    ``services``: the compose names in the file, when there is one; services of the project that are not
    in it are orphans and, as in compose, are removed only with ``remove_orphans``. Networks and volumes
    still used by a kept orphan are kept too."""
    existing = cluster.services(project_name)
    names = sorted(existing)
    if services is not None and not remove_orphans:
        keep = sorted(n for n in names if n not in {f"{project_name}_{s}" for s in services})
        if keep:
            names = [n for n in names if n not in keep]
            progress("Service", ", ".join(keep), "Orphan, kept (--remove-orphans removes it)")
    if names:
        for n in names:
            progress("Service", n, "Removing")
        cluster.remove_services(names)
    deadline = time.monotonic() + timeout
    gone = {n[len(project_name) + 1:] for n in names}
    while any(c.labels.get(LABEL_SERVICE) in gone for c in cluster.containers(project_name)):
        if time.monotonic() > deadline:
            raise ComposeError(f"timed out waiting for the containers of project {project_name} to stop")
        time.sleep(0.1)
    for n in names:
        progress("Service", n, "Removed")
    if len(names) < len(existing):
        return
    for net, labels in sorted(cluster.networks().items()):
        if labels.get(LABEL_PROJECT) == project_name:
            progress("Network", net, "Removing")
            cluster.remove_network(net)
            progress("Network", net, "Removed")
    if volumes:
        for vol, labels in sorted(cluster.volumes().items()):
            if labels.get(LABEL_PROJECT) == project_name:
                progress("Volume", vol, "Removing")
                cluster.remove_volume(vol)
                progress("Volume", vol, "Removed")


def stop(project_name: str, cluster: Cluster, *, services: list[str] | None = None, timeout: float = 60.0,
         progress: Progress = _noop) -> None:
    """Stop a project but keep its definition (what Ctrl-C does to an attached `up`): replicated services
    are scaled to 0 (a later `up` scales them back), global ones are removed; networks and volumes stay."""
    existing = cluster.services(project_name)
    if services:
        missing = [s for s in services if f"{project_name}_{s}" not in existing]
        if missing:
            raise ComposeError(f"no such service: {missing[0]}")
        existing = {n: d for n, d in existing.items() if n in {f"{project_name}_{s}" for s in services}}
    for name, doc in sorted(existing.items()):
        progress("Service", name, "Stopping")
        if "Replicated" in ((doc.get("Spec") or {}).get("Mode") or {}):
            cluster.scale(name, 0)
        else:
            cluster.remove_services([name])
    deadline = time.monotonic() + timeout
    while any(c.state == "running" and c.labels.get(LABEL_SERVICE) in {n[len(project_name) + 1:] for n in existing}
              for c in cluster.containers(project_name)):
        if time.monotonic() > deadline:
            raise ComposeError(f"timed out waiting for the containers of project {project_name} to stop")
        time.sleep(0.1)
    for name in sorted(existing):
        progress("Service", name, "Stopped")


def projects(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """Every project with services in the cluster: name -> {services, config_files}."""
    out: dict[str, dict[str, Any]] = {}
    for doc in cluster.all_services():
        labels = (doc.get("Spec") or {}).get("Labels") or {}
        proj = labels.get(LABEL_PROJECT)
        if not proj:
            continue
        entry = out.setdefault(proj, {"services": [], "config_files": labels.get(
            "com.docker.compose.project.config_files", ""), "running": 0, "desired": 0})
        entry["services"].append(labels.get(LABEL_SERVICE, ""))
        status = doc.get("ServiceStatus") or {}
        entry["running"] += int(status.get("RunningTasks") or 0)
        entry["desired"] += int(status.get("DesiredTasks") or 0)
    return out


def dumps(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True)
