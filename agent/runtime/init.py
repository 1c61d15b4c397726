"""What a freshly forked container process does before it becomes the user's command.

The spawner forks; the child runs :func:`container_main` (or :func:`exec_main` for ``orch exec``)
and never returns: it either ``execve``s the command or writes one JSON error record to the error
pipe and exits. The parent learns success from EOF on that pipe (the pipe is close-on-exec).

The steps are a linear list; each failure names its step, like runc's ``rootfs_linux.go``.

Mount table of a container (inside its own mount namespace; the overlay itself is mounted by the
daemon in the host namespace so that ``cp``/``diff``/``export`` can see it)::

    /              overlay (lower = image layers, upper/work in the container dir), ro with --read-only
    /proc          proc       nosuid,nodev,noexec
    /dev           tmpfs      nosuid,strictatime,mode=755,size=65536k
    /dev/pts       devpts     newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec
    /dev/shm       tmpfs      nosuid,nodev,noexec,mode=1777,size=65536k
    /dev/mqueue    mqueue     nosuid,nodev,noexec
    /dev/console   bind of the container's pty slave (with -t)
    /sys           sysfs      ro,nosuid,nodev,noexec
    /etc/hosts, /etc/hostname, /etc/resolv.conf   binds of files in the container dir
    volumes, binds and tmpfs mounts as requested (binds recursive, remounted ro for :ro)

/dev holds the standard nodes null, zero, full, random, urandom, tty (created with mknod) and the
links fd, stdin, stdout, stderr, ptmx, core.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import signal
import socket
import stat
import termios
from typing import Any, NoReturn

from agent.runtime import linux

_DEV_NODES = (
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
)
_DEV_LINKS = (
    ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"),
)
_NS_FLAGS = {"ipc": linux.CLONE_NEWIPC, "uts": linux.CLONE_NEWUTS, "net": linux.CLONE_NEWNET}


class StepError(Exception):
    """A setup step failed; ``code`` is the exit status docker would report (125/126/127)."""

    def __init__(self, step: str, message: str, code: int = 125) -> None:
        super().__init__(f"{step}: {message}" if step else message)
        self.step = step
        self.code = code


def _fail(errfd: int, exc: BaseException) -> NoReturn:
    if isinstance(exc, StepError):
        rec = {"error": str(exc), "code": exc.code}
    else:
        rec = {"error": f"{type(exc).__name__}: {exc}", "code": 125}
    try:
        os.write(errfd, json.dumps(rec).encode())
    finally:
        os._exit(rec["code"] if isinstance(rec["code"], int) else 125)


def _step(name: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except StepError:
        raise
    except OSError as e:
        raise StepError(name, e.strerror or str(e)) from None


def _setup_stdio(spec: dict[str, Any], fds: dict[str, int]) -> None:
    os.setsid()
    if spec.get("tty"):
        slave = fds["slave"]
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for i in (0, 1, 2):
            os.dup2(slave, i)
    else:
        os.dup2(fds["stdin"], 0)
        os.dup2(fds["stdout"], 1)
        os.dup2(fds["stderr"], 2)


def _join_cgroups(paths: list[str]) -> None:
    pid = str(os.getpid()).encode()
    for p in paths:
        fd = os.open(p, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)


def _loopback_up() -> None:
    """Bring ``lo`` up in a new network namespace with one ioctl (no netlink library needed)."""
    import struct

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14s", b"lo", 0x1 | 0x40 | 0x8, b"")  # IFF_UP | IFF_RUNNING | IFF_LOOPBACK
        fcntl.ioctl(s.fileno(), 0x8914, ifr)  # SIOCSIFFLAGS
    finally:
        s.close()


def _ensure_target(path: str, is_dir: bool) -> None:
    if os.path.lexists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def _safe_join(root: str, target: str) -> str:
    """Join a container path to the rootfs without following symlinks out of it."""
    parts = [p for p in target.split("/") if p and p != "."]
    cur = root
    for i, part in enumerate(parts):
        if part == "..":
            cur = os.path.dirname(cur) if cur != root else root
            continue
        nxt = os.path.join(cur, part)
        if os.path.islink(nxt):
            link = os.readlink(nxt)
            rest = "/".join(parts[i + 1 :])
            base = root if link.startswith("/") else cur
            return _safe_join(root, os.path.relpath(os.path.join(base, link), root) + "/" + rest)
        cur = nxt
    if not (cur == root or cur.startswith(root + "/")):
        return root
    return cur


def _mount_dev(rootfs: str, spec: dict[str, Any], fds: dict[str, int]) -> None:
    dev = os.path.join(rootfs, "dev")
    os.makedirs(dev, exist_ok=True)
    linux.mount("tmpfs", dev, "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in _DEV_NODES:
        p = os.path.join(dev, name)
        os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(p, 0o666)
    for name, target in _DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    for d in ("pts", "shm", "mqueue"):
        os.mkdir(os.path.join(dev, d), 0o755)
    linux.mount("devpts", os.path.join(dev, "pts"), "devpts", linux.MS_NOSUID | linux.MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5")
    linux.mount("shm", os.path.join(dev, "shm"), "tmpfs",
                linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC, "mode=1777,size=65536k")
    linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    if spec.get("tty"):
        console = os.path.join(dev, "console")
        os.close(os.open(console, os.O_CREAT | os.O_WRONLY, 0o600))
        linux.mount(fds["slave_path"], console, None, linux.MS_BIND)  # type: ignore[arg-type]


def _mount_user(rootfs: str, m: dict[str, Any]) -> None:
    target = _safe_join(rootfs, m["target"])
    if m["kind"] == "tmpfs":
        _ensure_target(target, True)
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, m.get("options") or None)
        return
    src = m["source"]
    _ensure_target(target, os.path.isdir(src))
    linux.mount(src, target, None, linux.MS_BIND | linux.MS_REC)
    if m.get("ro"):
        linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC)


def _prepare_rootfs(spec: dict[str, Any], fds: dict[str, int]) -> None:
    rootfs = spec["rootfs"]
    _step("make / private", linux.mount, None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    # Bind the rootfs onto itself so it is a mount point of this namespace that pivot_root accepts.
    _step("bind rootfs", linux.mount, rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)
    proc = os.path.join(rootfs, "proc")
    os.makedirs(proc, exist_ok=True)
    _step("mount /proc", linux.mount, "proc", proc, "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    _step("mount /dev", _mount_dev, rootfs, spec, fds)
    sys_dir = os.path.join(rootfs, "sys")
    os.makedirs(sys_dir, exist_ok=True)
    flags = linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    if spec.get("namespaces", {}).get("net") == "host":
        _step("mount /sys", linux.mount, "/sys", sys_dir, None, linux.MS_BIND | linux.MS_REC)
        _step("mount /sys", linux.mount, None, sys_dir, None, linux.MS_BIND | linux.MS_REMOUNT | flags)
    else:
        _step("mount /sys", linux.mount, "sysfs", sys_dir, "sysfs", flags)
    for target, source in (spec.get("files") or {}).items():
        dst = _safe_join(rootfs, target)
        _step(f"mount {target}", _ensure_target, dst, False)
        _step(f"mount {target}", linux.mount, source, dst, None, linux.MS_BIND)
    for m in spec.get("mounts") or []:
        _step(f"mount {m['target']}", _mount_user, rootfs, m)
    if spec.get("init"):
        dst = os.path.join(rootfs, "sbin", "docker-init")
        _step("mount init", _ensure_target, dst, False)
        _step("mount init", linux.mount, spec["init"], dst, None, linux.MS_BIND)
        _step("mount init", linux.mount, None, dst, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
    if spec.get("readonly"):
        _step("remount rootfs read-only", linux.mount, None, rootfs, None,
              linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the new root.
    os.chdir(rootfs)
    _step("pivot_root", linux.pivot_root, ".", ".")
    _step("pivot_root", linux.mount, None, ".", None, linux.MS_SLAVE | linux.MS_REC)
    _step("pivot_root", linux.umount, ".", linux.MNT_DETACH)
    os.chdir("/")


def _apply_rlimits(rlimits: list[list[int]]) -> None:
    for res, soft, hard in rlimits:
        try:
            resource.setrlimit(res, (soft, hard))
        except (ValueError, OSError) as e:
            raise StepError("set rlimit", f"{e}; the hard limit here cannot be raised (no CAP_SYS_RESOURCE)") from None


def _drop_capabilities(keep: list[str], uid: int) -> None:
    """uid -1: trim the bounding set; uid 0: set effective/permitted/inheritable to ``keep``."""
    keep_bits = 0
    for name in keep:
        keep_bits |= 1 << linux.CAPABILITIES[name]
    if uid == 0:
        linux.capset(keep_bits, keep_bits, keep_bits)
        return
    for cap in range(linux.cap_last() + 1):
        if not keep_bits & (1 << cap):
            try:
                linux.prctl(linux.PR_CAPBSET_DROP, cap)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise


def _become_user(spec: dict[str, Any]) -> None:
    os.setgroups(spec.get("groups") or [])
    os.setresgid(spec.get("gid", 0), spec.get("gid", 0), spec.get("gid", 0))
    os.setresuid(spec.get("uid", 0), spec.get("uid", 0), spec.get("uid", 0))


def _resolve_command(args: list[str], env: list[str]) -> str:
    if not args:
        raise StepError("", "no command specified", 125)
    cmd = args[0]
    if "/" in cmd:
        candidates = [cmd]
    else:
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for kv in env:
            if kv.startswith("PATH="):
                path = kv[5:]
        candidates = [os.path.join(d or ".", cmd) for d in path.split(":")]
    for c in candidates:
        try:
            st = os.stat(c)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) or not os.access(c, os.X_OK):
            raise StepError("", f'exec: "{cmd}": permission denied', 126)
        return c
    if "/" in cmd:
        raise StepError("", f'exec: "{cmd}": stat {cmd}: no such file or directory', 127)
    raise StepError("", f'exec: "{cmd}": executable file not found in $PATH', 127)


def _finish_and_exec(spec: dict[str, Any]) -> NoReturn:
    """Common tail of container and exec processes: rlimits, user, caps, cwd, execve."""
    env = list(spec.get("env") or [])
    args = list(spec["args"])
    path = _resolve_command(args, env)
    _apply_rlimits(spec.get("rlimits") or [])
    cwd = spec.get("cwd") or "/"
    if not os.path.isdir(cwd):
        try:
            os.makedirs(cwd, exist_ok=True)
        except OSError as e:
            raise StepError("chdir", f"{cwd}: {e.strerror}", 125) from None
    uid = int(spec.get("uid", 0))
    # The bounding set is trimmed while still root (it needs CAP_SETPCAP); setuid to a non-root
    # user then clears the permitted and effective sets, so such a user ends with none, like Docker.
    caps = spec.get("caps") or list(linux.DEFAULT_CAPABILITIES)
    _step("drop capabilities", _drop_capabilities, caps, -1)
    _step("set user", _become_user, spec)
    if uid == 0:
        _step("drop capabilities", _drop_capabilities, caps, 0)
    if spec.get("no_new_privs"):
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    try:
        os.chdir(cwd)
    except OSError as e:
        raise StepError("chdir", f"{cwd}: {e.strerror}", 125) from None
    for sig in range(1, signal.NSIG):
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        os.execve(path, args, dict(_split_env(env)))
    except OSError as e:
        code = 127 if e.errno == errno.ENOENT else 126
        raise StepError("", f'exec: "{args[0]}": {e.strerror.lower() if e.strerror else e}', code) from None


def _split_env(env: list[str]) -> list[tuple[str, str]]:
    out = []
    for kv in env:
        k, _, v = kv.partition("=")
        out.append((k, v))
    return out


def container_main(spec: dict[str, Any], fds: dict[str, int], errfd: int) -> NoReturn:
    """Run in the forked child that is already PID 1 of a new PID namespace."""
    try:
        _step("stdio", _setup_stdio, spec, fds)
        _step("join cgroup", _join_cgroups, spec.get("cgroup_procs") or [])
        ns = spec.get("namespaces") or {}
        flags = linux.CLONE_NEWNS
        for name, flag in _NS_FLAGS.items():
            if ns.get(name, "new") == "new":
                flags |= flag
        _step("unshare namespaces", linux.unshare, flags)
        for name in ("net", "ipc", "uts"):
            target = ns.get(name, "new")
            if target not in ("new", "host"):
                fd = os.open(target, os.O_RDONLY)
                _step(f"join {name} namespace", linux.setns, fd, _NS_FLAGS[name])
                os.close(fd)
        if ns.get("net", "new") == "new":
            _step("loopback up", _loopback_up)
        if fds.get("sync_r") is not None:
            # The daemon configures the network namespace now and then lets us go on.
            os.write(fds["sync_w"], b"R")
            if os.read(fds["sync_r"], 1) != b"G":
                raise StepError("network setup", "aborted by the daemon")
        if ns.get("uts", "new") == "new" and spec.get("hostname"):
            _step("set hostname", socket.sethostname, spec["hostname"])
        _prepare_rootfs(spec, fds)
        if spec.get("init"):
            spec = dict(spec, args=["/sbin/docker-init", "--", *spec["args"]])
        _finish_and_exec(spec)
    except BaseException as e:  # noqa: BLE001 - everything must become an error record
        _fail(errfd, e)


def exec_enter(spec: dict[str, Any]) -> None:
    """First half of ``orch exec``: join the container's cgroups and namespaces (then the caller forks)."""
    _join_cgroups(spec.get("cgroup_procs") or [])
    pid = spec["pid"]
    fds = {}
    for name in ("ipc", "uts", "net", "pid", "mnt"):
        fds[name] = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY)
    for name in ("ipc", "uts", "net", "pid", "mnt"):
        linux.setns(fds[name], 0)
        os.close(fds[name])


def exec_main(spec: dict[str, Any], fds: dict[str, int], errfd: int) -> NoReturn:
    """Second half of ``orch exec``, in the grandchild that lives in the container's PID namespace."""
    try:
        _step("stdio", _setup_stdio, spec, fds)
        _finish_and_exec(spec)
    except BaseException as e:  # noqa: BLE001
        _fail(errfd, e)
