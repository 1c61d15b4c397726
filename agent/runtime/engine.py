"""The container engine: create, start, stop, remove and supervise containers on this node.

It owns the container records and turns them into spawner requests; the spawner owns the
processes. Exits come back as spawner events (or, after a daemon restart, as `exit.json` files)
and go through one idempotent handler that records the exit, releases the cgroup and the rootfs,
applies the restart policy and auto-removal.

What it does not do: parse CLI flags (the CLI), render Docker's JSON shapes (inspect.py), or
networking beyond `none`/`host` (agent/network).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from agent.runtime import cgroups, rootfs
from agent.runtime.container import Container, MountPoint, State, new_id, now_rfc3339, random_name
from agent.runtime.container import load as load_record
from agent.runtime.container import save as save_record
from agent.runtime.errors import (
    AlreadyExists,
    CommandFailed,
    Conflict,
    EngineError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from agent.runtime.events import EventBus
from agent.runtime.images import ImageStore
from agent.runtime.logs import read_entries
from agent.runtime.spawn_client import SpawnerClient, SpawnError, Stream
from agent.runtime.users import UserError, resolve_user
from agent.runtime.volumes import VolumeStore

log = logging.getLogger("orch.engine")

_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_STOP_TIMEOUT = 10
_RLIMITS = {
    "core": 4, "cpu": 0, "data": 2, "fsize": 1, "locks": 10, "memlock": 8, "msgqueue": 12, "nice": 13,
    "nofile": 7, "nproc": 6, "rss": 5, "rtprio": 14, "rttime": 15, "sigpending": 11, "stack": 3,
}
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/bin/tini")


class NetworkHooks(Protocol):
    """What the engine asks of the network side (agent/network/manager.py implements it).

    Every call is idempotent; errors are agent.runtime.errors classes with one-line messages.
    """

    def prepare(self, c: Container, spec: dict[str, Any]) -> None:
        """At create: validate the network settings of ``spec`` (network_mode, ports, publish_all,
        exposed, network_aliases, ipv4_address, mac_address, dns, extra_hosts, links), reserve what
        must be reserved, and record the result in ``c.host_config["net"]``."""

    def etc_files(self, c: Container, cdir: Path) -> None:
        """Before each start: (re)write ``cdir/hosts`` and ``cdir/resolv.conf`` for the container."""

    def attach(self, c: Container, pid: int) -> None:
        """During start, after the container's namespaces exist and before its command runs: veths,
        addresses, routes, DNS records and published ports for the network namespace of ``pid``."""

    def detach(self, c: Container) -> None:
        """After the container stopped: remove its links, DNS records and port rules (keep reservations)."""

    def release(self, c: Container) -> None:
        """The container is being removed: free its addresses and anything else it reserved."""


def _proc_starttime(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _pid1_catches(pid: int, signum: int) -> bool:
    """Whether ``pid`` (a PID namespace's init) has a handler for ``signum`` (SigCgt in /proc)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    except (OSError, ValueError):
        pass
    return True  # unknown: keep Docker's behaviour and wait the grace period


def _signal_number(sig: str | int | None, default: int = signal.SIGTERM) -> int:
    if sig is None or sig == "":
        return default
    if isinstance(sig, int):
        return sig
    s = sig.upper()
    if s.isdigit():
        return int(s)
    if not s.startswith("SIG"):
        s = "SIG" + s
    try:
        return int(signal.Signals[s])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {sig}") from None


def _healthcheck(spec: dict[str, Any], icfg: dict[str, Any]) -> dict[str, Any] | None:
    """The record's Config.Healthcheck: the spec's settings over the image's HEALTHCHECK."""
    from agent import health

    try:
        return health.merge(health.from_spec(spec.get("healthcheck")), icfg.get("Healthcheck"))
    except health.HealthConfigError as e:
        raise InvalidArgument(str(e)) from None


class Engine:
    def __init__(self, state_dir: Path, run_dir: Path, images: ImageStore, volumes: VolumeStore,
                 spawner: SpawnerClient, cgroup_parent: str = "orch") -> None:
        self.state_dir = state_dir
        self.cdir_root = state_dir / "containers"
        self.cdir_root.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.images = images
        self.volumes = volumes
        self.spawner = spawner
        self.cgroup_parent = cgroup_parent
        self.cgroups = cgroups.detect()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.containers: dict[str, Container] = {}
        self._names: dict[str, str] = {}
        self._restart_timers: dict[str, threading.Timer] = {}
        self.init_path = next((p for p in INIT_BINARIES if os.path.exists(p)), None)
        self._stopping = False
        self.network: NetworkHooks | None = None
        self._early_exits: dict[tuple[str, int], tuple[int, str | None]] = {}
        self.events = EventBus()
        self.healthchecks: Any = None  # agent.health.HealthMonitor, wired by the daemon

    # --- boot and re-adoption ------------------------------------------------------------------
    def boot(self) -> None:
        """Load records, reconnect to the spawner, re-adopt running containers, replay exits."""
        self.spawner.ensure_running()
        # Subscribe to exits before listing what runs, so no exit falls between the two.
        events = self.spawner.events()
        t = threading.Thread(target=self._pump_events, args=(events,), name="spawner-events", daemon=True)
        t.start()
        running = {c["id"]: int(c["pid"]) for c in self.spawner.list()}
        for d in sorted(self.cdir_root.iterdir()):
            c = load_record(d)
            if c is None:
                continue
            self.containers[c.id] = c
            self._names[c.name] = c.id
            if c.state.status in ("running", "paused", "restarting"):
                if running.get(c.id) == c.state.pid and c.state.pid:
                    continue  # still supervised by the spawner: adopted as is
                exit_file = d / "exit.json"
                try:
                    rec = json.loads(exit_file.read_text())
                except (OSError, ValueError):
                    rec = None
                if rec and int(rec.get("pid", 0)) == c.state.pid:
                    self._on_exit(c.id, c.state.pid, int(rec["exit_code"]), rec.get("finished_at"))
                else:
                    self._on_exit(c.id, c.state.pid, 255, None, error="lost by the supervisor")
        for c in list(self.containers.values()):
            policy = c.host_config.get("restart_policy", {}).get("name", "no")
            if c.state.status == "exited" and not c.manually_stopped and policy in ("always", "unless-stopped") \
                    and c.has_been_started:
                self._schedule_restart(c.id, 0.0)

    def _pump_events(self, events: Iterator[dict[str, Any]]) -> None:
        while not self._stopping:
            try:
                for ev in events:
                    if ev.get("event") == "exit" and ev.get("kind") == "container":
                        self._on_exit(ev["id"], int(ev["pid"]), int(ev["exit_code"]), ev.get("finished_at"))
            except Exception:  # noqa: BLE001
                log.exception("spawner event stream failed")
            if self._stopping:
                return
            time.sleep(0.2)
            try:
                self.spawner.ensure_running()
                events = self.spawner.events()
            except Exception:  # noqa: BLE001
                log.exception("reconnecting to the spawner failed")

    def shutdown(self) -> None:
        self._stopping = True
        for t in self._restart_timers.values():
            t.cancel()

    def health(self, ref: str) -> str | None:
        """The container's health (starting | healthy | unhealthy), None without a healthcheck."""
        c = self.get(ref)
        return self.healthchecks.status(c.id) if self.healthchecks is not None else None

    # --- lookup --------------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        with self._lock:
            name = ref.lstrip("/")
            if name in self._names:
                return self.containers[self._names[name]]
            if ref in self.containers:
                return self.containers[ref]
            matches = [c for cid, c in self.containers.items() if cid.startswith(ref)] if ref else []
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(f"multiple containers match prefix {ref}")
        raise NotFound(f"No such container: {ref}")

    def list(self) -> list[Container]:
        with self._lock:
            return sorted(self.containers.values(), key=lambda c: c.created, reverse=True)

    def _cdir(self, cid: str) -> Path:
        return self.cdir_root / cid

    def _save(self, c: Container) -> None:
        save_record(self._cdir(c.id), c)

    # --- create --------------------------------------------------------------------------------
    def create(self, spec: dict[str, Any]) -> Container:
        """``spec`` mirrors the ContainerSpec proto as a dict (already validated for syntax)."""
        name = (spec.get("name") or "").lstrip("/")
        if name and not _NAME_RE.match(name):
            raise InvalidArgument(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        try:
            image = self.images.resolve(spec["image"])
        except LookupError as e:
            raise NotFound(str(e).strip("'\"")) from None
        icfg = image.config.get("config") or image.config.get("Config") or {}
        entrypoint = list(spec.get("entrypoint") or []) if spec.get("entrypoint_set") else list(
            icfg.get("Entrypoint") or [])
        cmd = list(spec.get("cmd") or [])
        if not cmd and not spec.get("entrypoint_set"):
            cmd = list(icfg.get("Cmd") or [])
        argv = entrypoint + cmd
        if not argv:
            raise InvalidArgument("no command specified")
        env = self._merge_env(list(icfg.get("Env") or []), list(spec.get("env") or []))
        network_mode = spec.get("network_mode") or ("bridge" if self.network is not None else "none")
        if network_mode.startswith("container:"):
            other = self.get(network_mode.split(":", 1)[1])
            network_mode = f"container:{other.id}"
        elif network_mode not in ("none", "host") and self.network is None:
            raise InvalidArgument(f"network {network_mode} not found")
        res = spec.get("resources") or {}
        ulimits = []
        for u in spec.get("ulimits") or []:
            if u["name"] not in _RLIMITS:
                raise InvalidArgument(f"invalid ulimit type: {u['name']}")
            ulimits.append(u)
        self._check_ulimits(ulimits)
        restart = spec.get("restart_policy") or {"name": "no", "max_retries": 0}
        if restart.get("name") not in ("", "no", "always", "unless-stopped", "on-failure"):
            raise InvalidArgument(f"invalid restart policy {restart.get('name')}")
        if spec.get("auto_remove") and restart.get("name") not in ("", "no"):
            raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
        stop_signal = spec.get("stop_signal") or icfg.get("StopSignal") or "SIGTERM"
        _signal_number(stop_signal)
        mounts = self._plan_mounts(spec.get("mounts") or [], icfg)
        with self._lock:
            if not name:
                name = random_name()
                while name in self._names:
                    name = random_name() + str(len(self._names))
            if name in self._names:
                other = self._names[name]
                raise AlreadyExists(
                    f'Conflict. The container name "/{name}" is already in use by container "{other}". '
                    "You have to remove (or rename) that container to be able to reuse that name.")
            cid = new_id()
            self._names[name] = cid
        try:
            cdir = self._cdir(cid)
            cdir.mkdir(parents=True)
            for mp in mounts:
                if mp.type == "volume":
                    vol = self.volumes.create(mp.name or new_id(), anonymous=mp.anonymous)
                    mp.name, mp.source = vol.name, vol.mountpoint
            hostname = spec.get("hostname") or (cid[:12] if network_mode != "host" else os.uname().nodename)
            c = Container(
                id=cid, name=name, created=time.time(), image=spec["image"], image_id=image.id,
                path=argv[0], args=argv[1:],
                config={
                    "cmd": cmd, "entrypoint": entrypoint, "env": env,
                    "workdir": spec.get("workdir") or icfg.get("WorkingDir") or "/",
                    "user": spec.get("user") or icfg.get("User") or "",
                    "hostname": hostname, "labels": {**(icfg.get("Labels") or {}), **(spec.get("labels") or {})},
                    "tty": bool(spec.get("tty")), "open_stdin": bool(spec.get("open_stdin")),
                    "stop_signal": stop_signal, "stop_timeout": spec.get("stop_timeout", -1),
                    "exposed_ports": icfg.get("ExposedPorts") or {},
                    "healthcheck": _healthcheck(spec, icfg),
                },
                host_config={
                    "resources": res, "ulimits": ulimits, "restart_policy": restart,
                    "network_mode": network_mode, "log_opts": spec.get("log_opts") or {},
                    "auto_remove": bool(spec.get("auto_remove")), "read_only": bool(spec.get("read_only")),
                    "init": bool(spec.get("init")), "cap_add": spec.get("cap_add") or [],
                    "cap_drop": spec.get("cap_drop") or [], "privileged": bool(spec.get("privileged")),
                    "no_new_privileges": bool(spec.get("no_new_privileges")),
                },
                mounts=mounts,
            )
            self._write_etc_files(cdir, c)
            if self.network is not None and network_mode not in ("none", "host") \
                    and not network_mode.startswith("container:"):
                self.network.prepare(c, spec)
            self._save(c)
        except BaseException:
            with self._lock:
                self._names.pop(name, None)
            if self.network is not None and "c" in locals():
                try:
                    self.network.release(locals()["c"])
                except Exception:  # noqa: BLE001
                    log.exception("releasing the network reservations of a failed create")
            shutil.rmtree(self._cdir(cid), ignore_errors=True)
            raise
        with self._lock:
            self.containers[cid] = c
        self.events.emit("container", "create", cid, name=name, image=c.image)
        return c

    @staticmethod
    def _merge_env(image_env: list[str], env: list[str]) -> list[str]:
        merged: dict[str, str] = {}
        for kv in image_env + env:
            k, _, v = kv.partition("=")
            merged[k] = v
        if "PATH" not in merged:
            merged["PATH"] = DEFAULT_PATH[5:]
        return [f"{k}={v}" for k, v in merged.items()]

    @staticmethod
    def _check_ulimits(ulimits: list[dict[str, Any]]) -> None:
        import resource

        for u in ulimits:
            _, hard_now = resource.getrlimit(_RLIMITS[u["name"]])
            if hard_now != resource.RLIM_INFINITY and int(u["hard"]) > hard_now:
                raise InvalidArgument(
                    f"ulimit {u['name']}={u['soft']}:{u['hard']} exceeds the host's hard limit {hard_now} "
                    "(raising it needs CAP_SYS_RESOURCE, which this host does not grant)")

    def _plan_mounts(self, mounts: list[dict[str, Any]], icfg: dict[str, Any]) -> list[MountPoint]:
        out: list[MountPoint] = []
        seen: set[str] = set()
        for m in mounts:
            target = os.path.normpath(m.get("target") or "")
            if not target.startswith("/"):
                raise InvalidArgument(f"invalid mount config: mount path must be absolute: {m.get('target')!r}")
            if target in seen:
                raise InvalidArgument(f"Duplicate mount point: {target}")
            seen.add(target)
            kind = m.get("type") or "volume"
            if kind == "bind":
                src = m.get("source") or ""
                if not os.path.exists(src):
                    raise InvalidArgument(
                        f'invalid mount config for type "bind": bind source path does not exist: {src}')
                out.append(MountPoint("bind", src, target, bool(m.get("read_only"))))
            elif kind == "volume":
                name = m.get("source") or ""
                out.append(MountPoint("volume", "", target, bool(m.get("read_only")), name=name, anonymous=not name))
            elif kind == "tmpfs":
                out.append(MountPoint("tmpfs", "", target, False, tmpfs_options=m.get("tmpfs_options") or ""))
            else:
                raise InvalidArgument(f"invalid mount type {kind!r}")
        for vol in (icfg.get("Volumes") or {}):
            if os.path.normpath(vol) not in seen:
                out.append(MountPoint("volume", "", os.path.normpath(vol), anonymous=True))
        return out

    def _write_etc_files(self, cdir: Path, c: Container) -> None:
        hn = c.config["hostname"]
        (cdir / "hostname").write_text(hn + "\n")
        if c.host_config["network_mode"] == "host":
            shutil.copyfile("/etc/hosts", cdir / "hosts")
        else:
            (cdir / "hosts").write_text(
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
        try:
            shutil.copyfile("/etc/resolv.conf", cdir / "resolv.conf")
        except OSError:
            (cdir / "resolv.conf").write_text("")

    # --- start ---------------------------------------------------------------------------------
    def _spawn_spec(self, c: Container) -> dict[str, Any]:
        cdir = self._cdir(c.id)
        image = self.images.resolve(c.image_id)
        merged = rootfs.mount_overlay(cdir, list(self.images.layer_dirs(image)))
        try:
            user = resolve_user(str(merged), c.config["user"])
        except UserError as e:
            raise CommandFailed(str(e), 125) from None
        env = list(c.config["env"])
        if not any(kv.startswith("HOSTNAME=") for kv in env):
            env.insert(0, f"HOSTNAME={c.config['hostname']}")
        if not any(kv.startswith("HOME=") for kv in env):
            env.append(f"HOME={user.home}")
        if c.config["tty"] and not any(kv.startswith("TERM=") for kv in env):
            env.append("TERM=xterm")
        res = c.host_config["resources"]
        cg = self.cgroups.create(f"{self.cgroup_parent}/{c.id}", cgroups.Resources(
            memory=res.get("memory") or None,
            memory_swap=res.get("memory_swap") or None,
            cpu_quota=int(res["nano_cpus"] * 100000 // 1_000_000_000) if res.get("nano_cpus") else None,
            cpu_period=100000 if res.get("nano_cpus") else None,
            cpu_shares=res.get("cpu_shares") or None,
            cpuset_cpus=res.get("cpuset_cpus") or None,
            cpuset_mems=res.get("cpuset_mems") or None,
            pids_limit=res.get("pids_limit") or None,
        ))
        mounts = []
        for mp in c.mounts:
            if mp.type == "tmpfs":
                mounts.append({"kind": "tmpfs", "target": mp.destination, "options": mp.tmpfs_options})
            else:
                mounts.append({"kind": "bind", "source": mp.source, "target": mp.destination, "ro": mp.read_only})
        caps = self._capabilities(c)
        log_opts = c.host_config["log_opts"]
        return {
            "id": c.id, "rootfs": str(merged), "args": [c.path, *c.args], "env": env,
            "cwd": c.config["workdir"], "uid": user.uid, "gid": user.gid, "groups": user.groups,
            "hostname": c.config["hostname"],
            "namespaces": self._namespaces(c),
            "mounts": mounts,
            "files": {"/etc/hostname": str(cdir / "hostname"), "/etc/hosts": str(cdir / "hosts"),
                      "/etc/resolv.conf": str(cdir / "resolv.conf")},
            "readonly": c.host_config["read_only"], "caps": caps,
            "rlimits": [[_RLIMITS[u["name"]], int(u["soft"]), int(u["hard"])] for u in c.host_config["ulimits"]],
            "tty": c.config["tty"], "stdin": c.config["open_stdin"],
            "cgroup_procs": cg.procs_paths(),
            "init": self.init_path if c.host_config["init"] else None,
            "log": {"path": str(cdir / f"{c.id}-json.log"), "max_size": int(log_opts.get("max-size", 0) or 0),
                    "max_file": int(log_opts.get("max-file", 1) or 1)},
            "exit_file": str(cdir / "exit.json"),
            "no_new_privs": c.host_config["no_new_privileges"],
        }

    def _uses_bridge(self, c: Container) -> bool:
        mode = c.host_config["network_mode"]
        return self.network is not None and mode not in ("none", "host") and not mode.startswith("container:")

    def _namespaces(self, c: Container) -> dict[str, str]:
        mode = c.host_config["network_mode"]
        if mode == "host":
            return {"net": "host"}
        if mode.startswith("container:"):
            other = self.containers.get(mode.split(":", 1)[1])
            if other is None or other.state.status != "running":
                raise CommandFailed(f"cannot join network of a non running container: {mode.split(':', 1)[1][:12]}",
                                    125)
            return {"net": f"/proc/{other.state.pid}/ns/net"}
        return {"net": "new"}

    @staticmethod
    def _capabilities(c: Container) -> list[str]:
        from agent.runtime import linux

        if c.host_config.get("privileged"):
            return list(linux.CAPABILITIES)
        caps = set(linux.DEFAULT_CAPABILITIES)
        for cap in c.host_config.get("cap_add") or []:
            name = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
            if name == "CAP_ALL":
                caps |= set(linux.CAPABILITIES)
            elif name in linux.CAPABILITIES:
                caps.add(name)
            else:
                raise InvalidArgument(f"unknown capability: {cap!r}")
        for cap in c.host_config.get("cap_drop") or []:
            name = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
            caps = set() if name == "CAP_ALL" else caps - {name}
        return sorted(caps)

    def start(self, ref: str, attach: bool = False, stdin: bool = False) -> Stream | None:
        c = self.get(ref)
        with self._lock:
            if c.state.status in ("running", "paused"):
                if attach:
                    return self.spawner.attach(c.id, stdin)
                return None
            if c.state.status == "removing":
                raise Conflict(f"container {c.short_id} is marked for removal and cannot be started")
            c.manually_stopped = False
            timer = self._restart_timers.pop(c.id, None)
            if timer:
                timer.cancel()
        try:
            (self._cdir(c.id) / "exit.json").unlink(missing_ok=True)
            on_ready = None
            if self._uses_bridge(c):
                assert self.network is not None
                self.network.etc_files(c, self._cdir(c.id))
                net = self.network
                on_ready = lambda pid: net.attach(c, pid)  # noqa: E731
            spec = self._spawn_spec(c)
            if attach:
                stream = self.spawner.start_attached(spec, on_ready)
                pid = stream.pid
            else:
                stream = None
                pid = self.spawner.start(spec, on_ready)
        except SpawnError as e:
            self._fail_start(c, str(e), e.code)
            raise CommandFailed(str(e), e.code) from None
        except (OSError, cgroups.CgroupError) as e:
            self._fail_start(c, str(e), 125)
            raise CommandFailed(str(e), 125) from None
        except EngineError as e:
            self._fail_start(c, str(e), e.exit_code)
            raise
        with self._lock:
            c.state = State(status="running", pid=pid, pid_start=_proc_starttime(pid),
                            started_at=now_rfc3339(), started_mono=time.monotonic())
            c.has_been_started = True
            self._save(c)
            self._changed.notify_all()
            early = self._early_exits.pop((c.id, pid), None)
        if early is not None:
            # The process exited before start() recorded its pid (a fast command under load).
            self._on_exit(c.id, pid, *early)
        self.events.emit("container", "start", c.id, name=c.name, image=c.image)
        return stream

    def _fail_start(self, c: Container, msg: str, code: int) -> None:
        with self._lock:
            c.state.status = "created" if not c.has_been_started else "exited"
            c.state.error = msg
            c.state.exit_code = code
            self._release(c)
            self._save(c)
            self._changed.notify_all()
        if c.host_config.get("auto_remove"):
            self._remove_now(c, volumes=True)

    def _release(self, c: Container) -> None:
        """Free what only a running container needs: its cgroup (reading the OOM kill first) and its rootfs."""
        try:
            cg = self.cgroups.open(f"{self.cgroup_parent}/{c.id}")
            c.state.oom_killed = c.state.oom_killed or cg.oom_killed()
            cg.destroy()
        except Exception:  # noqa: BLE001 - missing cgroup dirs are fine
            pass
        try:
            rootfs.unmount(self._cdir(c.id))
        except OSError:
            log.warning("unmounting the rootfs of %s failed", c.short_id)
        if self._uses_bridge(c):
            assert self.network is not None
            try:
                self.network.detach(c)
            except Exception:  # noqa: BLE001
                log.exception("detaching the network of %s failed", c.short_id)

    # --- exits ---------------------------------------------------------------------------------
    def _on_exit(self, cid: str, pid: int, code: int, finished_at: str | None, error: str = "") -> None:
        with self._lock:
            c = self.containers.get(cid)
            if c is not None and c.state.pid != pid and c.state.status not in ("running", "paused"):
                # start() has not recorded this pid yet: it replays the exit once it has.
                self._early_exits[(cid, pid)] = (code, finished_at)
                if len(self._early_exits) > 256:
                    self._early_exits.pop(next(iter(self._early_exits)))
                return
            if c is None or c.state.pid != pid or c.state.status not in ("running", "paused", "restarting"):
                return
            c.state.status = "exited"
            c.state.exit_code = code
            c.state.error = error
            c.state.finished_at = finished_at or now_rfc3339()
            self._release(c)
            self._save(c)
            self._changed.notify_all()
            if c.state.oom_killed:
                self.events.emit("container", "oom", c.id, name=c.name, image=c.image)
            self.events.emit("container", "die", c.id, name=c.name, image=c.image, exitCode=str(code))
            ran = time.monotonic() - c.state.started_mono if c.state.started_mono else 0.0
            auto_remove = c.host_config.get("auto_remove")
            delay = self._restart_delay(c, code, ran)
        if auto_remove:
            self._remove_now(c, volumes=True)
        elif delay is not None:
            self._schedule_restart(cid, delay)

    def _restart_delay(self, c: Container, code: int, ran: float) -> float | None:
        policy = c.host_config.get("restart_policy") or {}
        name = policy.get("name") or "no"
        if c.manually_stopped or name == "no" or self._stopping:
            return None
        if name == "on-failure":
            if code == 0:
                return None
            mx = int(policy.get("max_retries") or 0)
            if mx and c.restart_count >= mx:
                return None
        if ran > 10:
            c.restart_backoff = 0  # it ran for a while: start the backoff over, as Docker does
        n = c.restart_backoff
        c.restart_backoff = n + 1
        c.state.status = "restarting"
        return min(0.1 * (2 ** n), 60.0)

    def _schedule_restart(self, cid: str, delay: float) -> None:
        def fire() -> None:
            with self._lock:
                self._restart_timers.pop(cid, None)
                c = self.containers.get(cid)
                if c is None or c.manually_stopped or c.state.status not in ("restarting", "exited"):
                    return
                c.restart_count += 1
                c.state.status = "exited"
            try:
                self.start(cid)
            except Exception as e:  # noqa: BLE001
                log.warning("restarting %s failed: %s", cid[:12], e)

        t = threading.Timer(delay, fire)
        t.daemon = True
        with self._lock:
            self._restart_timers[cid] = t
        t.start()

    def wait(self, ref: str, timeout: float | None = None, condition: str = "not-running") -> int:
        c = self.get(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if condition == "removed":
                    if c.id not in self.containers:
                        return c.state.exit_code
                elif c.state.status in ("exited", "dead", "created") and c.id not in self._restart_timers:
                    if condition != "next-exit":
                        return c.state.exit_code
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError
                self._changed.wait(remaining if remaining is not None else 1.0)

    # --- stop / kill ---------------------------------------------------------------------------
    def _alive(self, c: Container) -> bool:
        return bool(c.state.pid) and _proc_starttime(c.state.pid) == c.state.pid_start

    def kill(self, ref: str, sig: str | int | None = "SIGKILL") -> None:
        c = self.get(ref)
        signum = _signal_number(sig, signal.SIGKILL)
        if c.state.status not in ("running", "paused"):
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        with self._lock:
            c.manually_stopped = True  # like Docker: a killed container is not restarted by its policy
            self._save(c)
        self.events.emit("container", "kill", c.id, name=c.name, image=c.image, signal=str(signum))
        self._signal(c, signum)

    def _signal(self, c: Container, signum: int) -> None:
        if self._alive(c):
            try:
                os.kill(c.state.pid, signum)
            except ProcessLookupError:
                pass
            if c.state.status == "paused" and signum == signal.SIGKILL:
                self.unpause(c.id)

    def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        with self._lock:
            c.manually_stopped = True
            timer = self._restart_timers.pop(c.id, None)
            if timer:
                timer.cancel()
            if c.state.status == "restarting":
                c.state.status = "exited"
                self._save(c)
            if c.state.status not in ("running", "paused"):
                self._save(c)
                return
            self._save(c)
        if timeout is None:
            st = c.config.get("stop_timeout", -1)
            timeout = DEFAULT_STOP_TIMEOUT if st is None or st < 0 else st
        signum = _signal_number(sig or c.config.get("stop_signal"), signal.SIGTERM)
        if c.state.status == "paused":
            self.unpause(c.id)
        self.events.emit("container", "kill", c.id, name=c.name, image=c.image, signal=str(signum))
        self._signal(c, signum)
        if not _pid1_catches(c.state.pid, signum):
            # The kernel drops a signal sent to a namespace's PID 1 that has no handler for it, so
            # waiting out the grace period could not change anything (busybox `sleep` as PID 1
            # ignores SIGTERM; Docker and Swarm wait the full 10 s here).
            timeout = 0
        try:
            self.wait(c.id, timeout=max(0, timeout))
            self.events.emit("container", "stop", c.id, name=c.name, image=c.image)
            return
        except TimeoutError:
            pass
        self.events.emit("container", "kill", c.id, name=c.name, image=c.image, signal=str(int(signal.SIGKILL)))
        self._signal(c, signal.SIGKILL)
        try:
            self.wait(c.id, timeout=10)
        except TimeoutError:
            raise Unavailable(f"container {c.short_id} did not exit after SIGKILL") from None
        self.events.emit("container", "stop", c.id, name=c.name, image=c.image)

    def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self.get(ref)
        self.stop(c.id, timeout)
        self.start(c.id)

    def pause(self, ref: str) -> None:
        c = self.get(ref)
        if c.state.status != "running":
            raise Conflict(f"Container {c.id} is not running")
        self.cgroups.open(f"{self.cgroup_parent}/{c.id}").freeze()
        with self._lock:
            c.state.status = "paused"
            self._save(c)
        self.events.emit("container", "pause", c.id, name=c.name, image=c.image)

    def unpause(self, ref: str) -> None:
        c = self.get(ref)
        if c.state.status != "paused":
            raise Conflict(f"Container {c.id} is not paused")
        self.cgroups.open(f"{self.cgroup_parent}/{c.id}").thaw()
        with self._lock:
            c.state.status = "running"
            self._save(c)
        self.events.emit("container", "unpause", c.id, name=c.name, image=c.image)

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        new_name = new_name.lstrip("/")
        if not _NAME_RE.match(new_name):
            raise InvalidArgument(f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self._lock:
            if new_name == c.name:
                raise InvalidArgument("Renaming a container with the same name as its current name")
            if new_name in self._names:
                raise AlreadyExists(f'Error when allocating new name: Conflict. The container name "/{new_name}" '
                                    f'is already in use by container "{self._names[new_name]}". '
                                    "You have to remove (or rename) that container to be able to reuse that name.")
            old = c.name
            del self._names[old]
            c.name = new_name
            self._names[new_name] = c.id
            self._save(c)
        self.events.emit("container", "rename", c.id, name=new_name, oldName="/" + old, image=c.image)

    def update(self, ref: str, res: dict[str, Any]) -> None:
        """`docker update`: new memory/CPU/PIDs limits, applied live and kept for later starts."""
        c = self.get(ref)
        with self._lock:
            merged = {**c.host_config.get("resources", {}), **{k: v for k, v in res.items() if v}}
            if c.running:
                nano = res.get("nano_cpus")
                self.cgroups.open(f"{self.cgroup_parent}/{c.id}").update(cgroups.Resources(
                    memory=res.get("memory") or None, memory_swap=res.get("memory_swap") or None,
                    cpu_quota=int(nano * 100000 // 1_000_000_000) if nano else None,
                    cpu_period=100000 if nano else None, cpu_shares=res.get("cpu_shares") or None,
                    cpuset_cpus=res.get("cpuset_cpus") or None, pids_limit=res.get("pids_limit") or None))
            c.host_config["resources"] = merged
            self._save(c)
        self.events.emit("container", "update", c.id, name=c.name, image=c.image)

    # --- remove --------------------------------------------------------------------------------
    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.state.status in ("running", "paused", "restarting") and not force:
            if c.state.status == "restarting" and c.id in self._restart_timers:
                pass
            else:
                raise Conflict(
                    f"cannot remove container \"/{c.name}\": container is running: "
                    "stop the container before removing or force remove")
        if c.running:
            with self._lock:
                c.manually_stopped = True
                c.host_config["auto_remove"] = False
            self._signal(c, signal.SIGKILL)
            try:
                self.wait(c.id, timeout=10)
            except TimeoutError:
                raise Unavailable(f"container {c.short_id} did not exit after SIGKILL") from None
        with self._lock:
            timer = self._restart_timers.pop(c.id, None)
            if timer:
                timer.cancel()
        self._remove_now(c, volumes)

    def _remove_now(self, c: Container, volumes: bool) -> None:
        with self._lock:
            if c.id not in self.containers:
                return
            c.state.status = "removing"
            self._release(c)
            del self.containers[c.id]
            if self._names.get(c.name) == c.id:
                del self._names[c.name]
            self._changed.notify_all()
        self.events.emit("container", "destroy", c.id, name=c.name, image=c.image)
        if self._uses_bridge(c):
            assert self.network is not None
            try:
                self.network.release(c)
            except Exception:  # noqa: BLE001
                log.exception("releasing the network of %s failed", c.short_id)
        shutil.rmtree(self._cdir(c.id), ignore_errors=True)
        if volumes:
            for mp in c.mounts:
                if mp.type == "volume" and mp.anonymous and not self.volume_in_use(mp.name):
                    try:
                        self.volumes.remove(mp.name, in_use=False)
                    except Exception:  # noqa: BLE001
                        pass

    def volume_in_use(self, name: str) -> bool:
        with self._lock:
            return any(mp.type == "volume" and mp.name == name for c in self.containers.values() for mp in c.mounts)

    def image_in_use(self, image_id: str) -> bool:
        with self._lock:
            return any(c.image_id == image_id for c in self.containers.values())

    # --- exec, attach, logs, stats ----------------------------------------------------------
    def exec(self, ref: str, cmd: list[str], env: list[str], workdir: str, user: str, tty: bool,
             stdin: bool, privileged: bool = False, size: tuple[int, int] | None = None) -> Stream:
        c = self.get(ref)
        if c.state.status != "running":
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
            raise Conflict(f"Container {c.id} is not running")
        try:
            u = resolve_user(str(self._cdir(c.id) / "merged"), user or c.config["user"])
        except UserError as e:
            raise InvalidArgument(str(e)) from None
        full_env = self._merge_env(c.config["env"], env)
        if not any(kv.startswith("HOSTNAME=") for kv in full_env):
            full_env.insert(0, f"HOSTNAME={c.config['hostname']}")
        if not any(kv.startswith("HOME=") for kv in full_env):
            full_env.append(f"HOME={u.home}")
        if tty and not any(kv.startswith("TERM=") for kv in full_env):
            full_env.append("TERM=xterm")
        cg = self.cgroups.open(f"{self.cgroup_parent}/{c.id}")
        spec = {
            "id": c.id, "exec_id": new_id(), "pid": c.state.pid, "args": cmd, "env": full_env,
            "cwd": workdir or c.config["workdir"], "uid": u.uid, "gid": u.gid, "groups": u.groups,
            "tty": tty, "stdin": stdin, "tty_size": list(size) if size else None,
            "caps": None if privileged is False else [], "cgroup_procs": cg.procs_paths(),
        }
        if privileged:
            from agent.runtime import linux

            spec["caps"] = list(linux.CAPABILITIES)
        else:
            spec["caps"] = self._capabilities(c)
        try:
            stream = self.spawner.exec(spec)
        except SpawnError as e:
            raise CommandFailed(str(e), e.code) from None
        self.events.emit("container", "exec_start: " + " ".join(cmd), c.id, name=c.name, image=c.image,
                         execID=spec["exec_id"])
        return stream

    def attach(self, ref: str, stdin: bool) -> Stream:
        c = self.get(ref)
        if c.state.status not in ("running", "paused"):
            raise Conflict("You cannot attach to a stopped container, start it first")
        try:
            return self.spawner.attach(c.id, stdin)
        except SpawnError as e:
            raise Conflict(str(e)) from None

    def log_path(self, c: Container) -> str:
        return str(self._cdir(c.id) / f"{c.id}-json.log")

    def logs(self, ref: str, tail: int = -1, since: float | None = None, until: float | None = None):  # type: ignore[no-untyped-def]
        c = self.get(ref)
        return c, read_entries(self.log_path(c), tail, since, until)

    def stats(self, ref: str) -> dict[str, Any]:
        c = self.get(ref)
        if not c.running:
            return {"id": c.id, "name": c.name, "running": False}
        st = self.cgroups.open(f"{self.cgroup_parent}/{c.id}").stats()
        d = st.__dict__ if hasattr(st, "__dict__") else dict(st)
        from agent.runtime.netstats import net_io

        rx, tx = net_io(c.state.pid) if c.host_config.get("network_mode") != "host" else (0, 0)
        return {"id": c.id, "name": c.name, "running": True, **d, "net_rx_bytes": rx, "net_tx_bytes": tx}
