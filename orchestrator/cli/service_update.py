"""`orch service update` and the `--publish` flag, as `docker service update|create` do them.

An update is read, edit, write: the CLI reads the service document, applies the flags to its
``Spec`` (Docker's ServiceSpec JSON, edited as plain dicts by :func:`apply_update`, a pure function)
and sends it back with the ``Version.Index`` it read. If someone wrote the service in between, the
manager refuses the write ("update out of sequence"); since the flags are edits, the CLI re-reads
and re-applies them a few times before it gives up with that one-line error.

Without ``--detach`` it then follows the rolling update (``UpdateStatus`` in the service document):
``overall progress: 2 out of 3 tasks`` on stderr until the update completed, and fails with
Docker's words when the update paused or rolled back.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
import time
from typing import Any

import grpc

from orchestrator.cli import parse
from orchestrator.cli.errors import CliError

NS = 1_000_000_000
CONFLICT_RETRIES = 5
NO_STATUS_GRACE = 5.0  # a task spec change that dirties nothing (restart policy) never gets a status
_FINAL = ("completed", "paused", "rollback_completed", "rollback_paused")


def add_update_parser(ssub: Any, lazy: Any, detach: Any) -> None:
    p = ssub.add_parser("update", help="Update a service")
    p.add_argument("--image", default=None)
    p.add_argument("--args", default=None, help="service command args")
    p.add_argument("--env-add", action="append", default=[])
    p.add_argument("--env-rm", action="append", default=[])
    p.add_argument("--label-add", action="append", default=[])
    p.add_argument("--label-rm", action="append", default=[])
    p.add_argument("--container-label-add", action="append", default=[])
    p.add_argument("--container-label-rm", action="append", default=[])
    p.add_argument("--replicas", default=None)
    p.add_argument("--force", action="store_true")
    p.add_argument("--rollback", action="store_true", help="Rollback to previous specification")
    p.add_argument("--update-parallelism", default=None)
    p.add_argument("--update-delay", default=None)
    p.add_argument("--update-order", default=None, choices=["start-first", "stop-first"])
    p.add_argument("--update-failure-action", default=None, choices=["pause", "continue", "rollback"])
    p.add_argument("--publish-add", action="append", default=[])
    p.add_argument("--publish-rm", action="append", default=[])
    p.add_argument("--limit-cpu", default=None)
    p.add_argument("--limit-memory", default=None)
    detach(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("service")
    p.set_defaults(func=lazy("orchestrator.cli.service_update", "cmd_update"))

    p = ssub.add_parser("rollback", help="Revert changes to a service's configuration")
    detach(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("service")
    p.set_defaults(func=lazy("orchestrator.cli.service_update", "cmd_rollback"))


# ------------------------------------------------------------------------------------- ports


def port_docs(values: list[str], flag: str = "-p, --publish") -> list[dict[str, Any]]:
    """Docker's PortConfig JSON from `--publish` values: `8080:80`, `8080:80/udp`, `80` (the cluster
    picks the published port) and `published=8080,target=80,protocol=tcp,mode=host`."""
    out: list[dict[str, Any]] = []
    try:
        for value in values:
            for b in parse.parse_publish(value, flag):
                if b.host_ip:
                    raise CliError(f'invalid argument "{value}" for "{flag}" flag: hostip is not supported')
                if b.host_port_end is not None:
                    raise CliError(f'invalid argument "{value}" for "{flag}" flag: '
                                   "a published port range needs a target range of the same size")
                out.append({"Protocol": b.protocol, "TargetPort": b.container_port,
                            "PublishedPort": b.host_port or 0, "PublishMode": b.mode or "ingress"})
    except parse.FlagError as e:
        raise CliError(str(e)) from None
    return out


def _port_key(p: dict[str, Any]) -> tuple[int, str]:
    return int(p.get("PublishedPort") or 0), str(p.get("Protocol") or "tcp")


def _update_ports(ports: list[dict[str, Any]], add: list[str], rm: list[str]) -> list[dict[str, Any]]:
    """`--publish-rm` names a target port (`80`, `80/udp`) or a whole publish spec; `--publish-add`
    replaces a port with the same published port and protocol."""
    out = list(ports)
    for value in rm:
        port, _, proto = value.partition("/")
        if port.isdigit():
            out = [p for p in out if not (p.get("TargetPort") == int(port)
                                          and (not proto or (p.get("Protocol") or "tcp") == proto))]
            continue
        for gone in port_docs([value], "--publish-rm"):
            out = [p for p in out if not (p.get("TargetPort") == gone["TargetPort"]
                                          and _port_key(p) == _port_key(gone))]
    for new in port_docs(add, "--publish-add"):
        if new["PublishedPort"]:
            out = [p for p in out if _port_key(p) != _port_key(new)]
        out.append(new)
    return out


# ------------------------------------------------------------------------------------- the edit


def _kv(values: list[str], flag: str) -> dict[str, str]:
    try:
        return parse.parse_labels(values, flag)
    except parse.FlagError as e:
        raise CliError(str(e)) from None


def _uint(value: str, flag: str) -> int:
    if not value.isdigit():
        raise CliError(f'invalid argument "{value}" for "{flag}" flag: strconv.ParseUint: parsing "{value}": '
                       "invalid syntax")
    return int(value)


def _env(current: list[str], add: list[str], rm: list[str]) -> list[str]:
    """Docker's updateEnvironment: by variable name, added ones replace, the result sorted."""
    env = {e.partition("=")[0]: e for e in current}
    try:
        for k, v in parse.parse_env(add, "--env-add").items():
            env[k] = f"{k}={v}"
    except parse.FlagError as e:
        raise CliError(str(e)) from None
    for name in rm:
        env.pop(name.partition("=")[0], None)
    return sorted(env.values())


def _labels(current: dict[str, str], add: list[str], rm: list[str], flag: str) -> dict[str, str]:
    out = {**current, **_kv(add, flag)}
    for key in rm:
        out.pop(key.partition("=")[0], None)
    return out


def apply_update(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The ServiceSpec ``spec`` with the `service update` flags in ``args`` applied (a new dict)."""
    spec = copy.deepcopy(spec)
    tmpl = spec.setdefault("TaskTemplate", {})
    c = tmpl.setdefault("ContainerSpec", {})
    if args.image is not None:
        c["Image"] = args.image
    if args.args is not None:
        c["Args"] = shlex.split(args.args)
    if args.env_add or args.env_rm:
        c["Env"] = _env(list(c.get("Env") or []), args.env_add, args.env_rm)
    if args.container_label_add or args.container_label_rm:
        c["Labels"] = _labels(dict(c.get("Labels") or {}), args.container_label_add, args.container_label_rm,
                              "--container-label-add")
    if args.label_add or args.label_rm:
        spec["Labels"] = _labels(dict(spec.get("Labels") or {}), args.label_add, args.label_rm, "--label-add")
    if args.replicas is not None:
        mode = spec.get("Mode") or {}
        if "Replicated" not in mode:
            raise CliError("replicas can only be used with replicated mode")
        mode["Replicated"]["Replicas"] = _uint(args.replicas, "--replicas")
    limits = tmpl.setdefault("Resources", {}).setdefault("Limits", {})
    try:
        if args.limit_cpu is not None:
            limits["NanoCPUs"] = parse.parse_cpus(args.limit_cpu, "--limit-cpu")
        if args.limit_memory is not None:
            limits["MemoryBytes"] = parse.parse_bytes(args.limit_memory, "--limit-memory")
        delay = None if args.update_delay is None else parse.parse_duration(args.update_delay, "--update-delay")
    except parse.FlagError as e:
        raise CliError(str(e)) from None
    cfg = spec.setdefault("UpdateConfig", {})
    if args.update_parallelism is not None:
        cfg["Parallelism"] = _uint(args.update_parallelism, "--update-parallelism")
    if delay is not None:
        cfg["Delay"] = int(delay * NS)
    if args.update_order is not None:
        cfg["Order"] = args.update_order
    if args.update_failure_action is not None:
        cfg["FailureAction"] = args.update_failure_action
    if args.publish_add or args.publish_rm:
        endpoint = spec.setdefault("EndpointSpec", {})
        endpoint["Ports"] = _update_ports(list(endpoint.get("Ports") or []), args.publish_add, args.publish_rm)
    if args.force:
        tmpl["ForceUpdate"] = int(tmpl.get("ForceUpdate") or 0) + 1
    return spec


def rolls_tasks(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the change replaces tasks (what ``reconcile.tasks.spec_hash`` would see change)."""
    def task_part(spec: dict[str, Any]) -> Any:
        tmpl = {k: v for k, v in (spec.get("TaskTemplate") or {}).items() if k != "RestartPolicy"}
        return tmpl, spec.get("EndpointSpec") or {}

    return bool(task_part(before) != task_part(after))


# ------------------------------------------------------------------------------------- the command


def cmd_rollback(args: argparse.Namespace) -> int:
    """`docker service rollback SERVICE` (and `service update --rollback`): back to the previous spec."""
    from orchestrator.cli.swarm import control
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    doc = json.loads(stub.InspectService(pb.ControlRef(ref=args.service)).json)
    stub.UpdateService(pb.UpdateServiceRequest(ref=doc["ID"], rollback=True))
    print(args.service)
    sys.stdout.flush()
    if not args.detach:
        wait_updated(doc["ID"], quiet=args.quiet, rollback=True)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from orchestrator.cli.swarm import control
    from proto.orch.v1 import control_pb2 as pb

    if args.rollback:
        if _changes_requested(args):
            raise CliError("--rollback cannot be combined with other changes")
        return cmd_rollback(args)
    stub = control()
    for attempt in range(CONFLICT_RETRIES):
        doc = json.loads(stub.InspectService(pb.ControlRef(ref=args.service)).json)
        spec = apply_update(doc["Spec"], args)
        try:
            stub.UpdateService(pb.UpdateServiceRequest(ref=doc["ID"], version=doc["Version"]["Index"],
                                                       spec_json=json.dumps(spec)))
            break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.ABORTED or attempt == CONFLICT_RETRIES - 1:  # type: ignore[attr-defined]
                raise
    print(args.service)
    sys.stdout.flush()
    if args.detach:
        return 0
    from orchestrator.cli.services import wait_converged

    if rolls_tasks(doc["Spec"], spec):
        wait_updated(doc["ID"], quiet=args.quiet)
    else:
        wait_converged(doc["ID"], quiet=args.quiet)
    return 0


_CHANGES = ("image", "args", "env_add", "env_rm", "label_add", "label_rm", "container_label_add",
            "container_label_rm", "replicas", "force", "update_parallelism", "update_delay", "update_order",
            "update_failure_action", "publish_add", "publish_rm", "limit_cpu", "limit_memory")


def _changes_requested(args: argparse.Namespace) -> bool:
    return any(getattr(args, k, None) not in (None, False, []) for k in _CHANGES)


def _update_progress(service_id: str) -> tuple[int, int, dict[str, Any]]:
    """(tasks running the current spec, desired tasks, UpdateStatus) of a service."""
    from orchestrator.cli.swarm import control, docs
    from proto.orch.v1 import control_pb2 as pb

    stub = control()
    svc = json.loads(stub.InspectService(pb.ControlRef(ref=service_id)).json)
    tasks = docs(stub.ListTasks(pb.ListTasksRequest(filters=[pb.ControlFilter(key="service", value=service_id)])))
    template = svc["Spec"].get("TaskTemplate")
    current = [t for t in tasks if t.get("DesiredState") == "running" and t.get("Spec") == template]
    updated = sum(1 for t in current if (t.get("Status") or {}).get("State") == "running")
    mode = svc["Spec"]["Mode"]
    desired = mode["Replicated"]["Replicas"] if "Replicated" in mode else \
        len([t for t in tasks if t.get("DesiredState") == "running"])
    return updated, desired, svc.get("UpdateStatus") or {}


def wait_updated(service_id: str, quiet: bool = False, rollback: bool = False) -> None:
    """Follow a rolling update until its status is final (Ctrl-C stops waiting, not the update).

    An update that ends rolled back is an error; a requested rollback (``rollback``) ends that way."""
    from orchestrator.cli.services import follow_progress

    started = time.monotonic()

    def poll() -> tuple[int, int, bool, str]:
        updated, desired, status = _update_progress(service_id)
        state, message = status.get("State", ""), status.get("Message", "")
        if state == "paused":
            return updated, desired, False, f"service update paused: {message}"
        if state == "rollback_paused":
            return updated, desired, False, f"service rollback paused: {message}"
        if state == "rollback_completed":
            return updated, desired, rollback, "" if rollback else f"service rolled back: {message}"
        no_status = not state and time.monotonic() - started > NO_STATUS_GRACE
        return updated, desired, (state == "completed" or no_status) and updated == desired, ""

    follow_progress(poll, quiet)
