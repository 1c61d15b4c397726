"""One cgroup per container, behind one interface with a cgroup v1 and a cgroup v2 driver.

What this module does: create a container's cgroup with its resource limits, hand the container
init the ``cgroup.procs`` files it must join, change limits of a running container (``docker
update``), freeze/thaw, report OOM kills and usage statistics, and tear the cgroup down again.
What it does not do: decide limits (the executor translates the task spec into ``Resources``),
spawn processes (the init writes its own pid into ``procs_paths()`` before exec), or use systemd.

Layout of one container cgroup ``orch/<id>`` (the parent, here ``orch``, is any relative path;
``orch lab`` uses one per simulated host, like ``orch-lab-m1``)::

    v1 (one hierarchy per controller)            v2 (one unified tree)
    /sys/fs/cgroup/memory/orch/<id>/             /sys/fs/cgroup/orch/<id>/
    /sys/fs/cgroup/cpu/orch/<id>/                    cgroup.procs, memory.max, cpu.max, ...
    /sys/fs/cgroup/cpuset/orch/<id>/  ...        parents get "+memory +cpu ..." in
    each with its own cgroup.procs               cgroup.subtree_control

Two kernel rules shape the code: a v1 cpuset cgroup accepts no process until its ``cpuset.cpus``
and ``cpuset.mems`` are set (so they are copied down from the parent), and a v2 controller's files
appear in a child only when every ancestor enables it in ``cgroup.subtree_control``. Parents are
prepared once per driver; the hot path of ``create`` is a few ``mkdir`` calls and small writes,
because container start has a budget of about 10 ms.

Errors: every failure is a ``CgroupError`` with a one-line message; a rejected limit names the
Docker flag and the value, e.g. ``invalid --cpuset-cpus "99": Numerical result out of range``.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = Path("/sys/fs/cgroup")
DEFAULT_PERIOD = 100_000  # microseconds, Docker's and the kernel's default CFS period
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "blkio", "devices")
V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")
DESTROY_TIMEOUT = 5.0
FREEZE_TIMEOUT = 5.0
_V1_UNLIMITED = 1 << 62  # anything above this in memory.limit_in_bytes means "no limit"


class CgroupError(Exception):
    """A cgroup operation failed; the message is one line meant for the user."""


# --------------------------------------------------------------------------- values


@dataclass
class Resources:
    """Container limits in Docker's units; ``None`` means "leave as is" (defaults on create).

    memory_swap is Docker's total of memory plus swap (-1 = unlimited swap); when only memory is
    given on create it defaults to twice the memory, as ``docker run -m`` does. pids_limit of 0 or
    -1 means unlimited. cpu_quota/cpu_period are CFS microseconds (see ``cpus_to_quota``).
    """

    memory: int | None = None
    memory_swap: int | None = None
    memory_reservation: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    blkio_weight: int | None = None

    @classmethod
    def with_cpus(cls, cpus: float, **others: object) -> Resources:
        """Resources for ``--cpus N`` (plus any other fields), as Docker translates it."""
        quota, period = cpus_to_quota(cpus)
        return cls(cpu_quota=quota, cpu_period=period, **others)  # type: ignore[arg-type]

    def create_swap(self) -> int | None:
        """memory+swap to set on create: Docker's default is twice the memory."""
        if self.memory_swap is not None:
            return self.memory_swap
        if self.memory is not None and self.memory > 0:
            return 2 * self.memory
        return None

    def validate(self) -> None:
        if (
            self.memory is not None
            and self.memory > 0
            and self.memory_swap is not None
            and self.memory_swap > 0
            and self.memory_swap < self.memory
        ):
            raise CgroupError(
                f"invalid --memory-swap {self.memory_swap}: must be at least --memory {self.memory}"
            )
        if self.cpu_period is not None and not 1000 <= self.cpu_period <= 1_000_000:
            raise CgroupError(f"invalid --cpu-period {self.cpu_period}: must be between 1000 and 1000000")
        if self.blkio_weight is not None and self.blkio_weight != 0 and not 10 <= self.blkio_weight <= 1000:
            raise CgroupError(f"invalid --blkio-weight {self.blkio_weight}: must be between 10 and 1000")


def cpus_to_quota(cpus: float, period: int = DEFAULT_PERIOD) -> tuple[int, int]:
    """``--cpus 1.5`` -> (quota 150000, period 100000)."""
    if cpus <= 0:
        raise CgroupError(f"invalid --cpus {cpus}: must be greater than 0")
    return round(cpus * period), period


def shares_to_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000), the mapping runc uses."""
    if shares == 0:
        return 100
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """v1 blkio.weight (10..1000) -> v2 io.weight (1..10000), the mapping runc uses."""
    return 1 + ((weight - 10) * 9999) // 990


@dataclass
class Stats:
    """One sample of a container's usage, enough for ``docker stats`` (memory and CPU %)."""

    memory_usage: int = 0
    memory_limit: int = 0  # the host's total memory when unlimited
    memory_cache: int = 0  # page cache charged to the container
    memory_inactive_file: int = 0  # what the Docker CLI subtracts from usage
    cpu_usage_ns: int = 0
    cpu_percpu_ns: list[int] = field(default_factory=list)  # empty when the kernel has no per-cpu data
    system_cpu_ns: int = 0  # all CPUs of the host, from /proc/stat, for Docker's CPU % formula
    online_cpus: int = 0
    pids_current: int = 0
    pids_limit: int | None = None  # None = unlimited
    blkio_read_bytes: int = 0
    blkio_write_bytes: int = 0


# --------------------------------------------------------------------------- file helpers

_FLAGS = {
    "memory": "--memory",
    "memory_swap": "--memory-swap",
    "memory_reservation": "--memory-reservation",
    "cpu_quota": "--cpus",
    "cpu_period": "--cpu-period",
    "cpu_shares": "--cpu-shares",
    "cpuset_cpus": "--cpuset-cpus",
    "cpuset_mems": "--cpuset-mems",
    "pids_limit": "--pids-limit",
    "blkio_weight": "--blkio-weight",
}


def _write(path: Path, value: str, setting: str | None = None, shown: object = None) -> None:
    """Write one value with a single write(2), as the kernel wants; map errors to CgroupError."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno == errno.ENOENT:
            reason = f"not supported here ({path.name} missing)"
        if setting is not None:
            flag = _FLAGS.get(setting, setting)
            raise CgroupError(f'invalid {flag} "{value if shown is None else shown}": {reason}') from None
        raise CgroupError(f"cannot write {value!r} to {path}: {reason}") from None


def _read(path: Path) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise CgroupError(f"cannot read {path}: {e.strerror}") from None


def _read_or(path: Path, default: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _int_or(path: Path, default: int) -> int:
    text = _read_or(path, "")
    try:
        return int(text)
    except ValueError:
        return default


def _keyed(path: Path) -> dict[str, int]:
    """Parse ``key value`` lines (memory.stat, cpu.stat, memory.events, memory.oom_control)."""
    out: dict[str, int] = {}
    for line in _read_or(path, "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _read_pids(path: Path) -> set[int]:
    return {int(tok) for tok in _read_or(path, "").split()}


def _rel(path: str) -> str:
    """Validate a cgroup path relative to the hierarchy root (``orch/<id>``)."""
    parts = path.strip("/").split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise CgroupError(f"invalid cgroup path {path!r}: want a relative path like 'orch/<container-id>'")
    return "/".join(parts)


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` with a short backoff until true or the deadline passes."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _host_memory(proc: Path) -> int:
    for line in _read_or(proc / "meminfo", "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _system_cpu_ns(proc: Path) -> int:
    """Sum of the first seven fields of /proc/stat's ``cpu`` line, in ns (Docker's system usage)."""
    for line in _read_or(proc / "stat", "").splitlines():
        if line.startswith("cpu "):
            jiffies = sum(int(v) for v in line.split()[1:8])
            return jiffies * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def _kill(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _rmdir(path: Path, timeout: float) -> None:
    """Remove one cgroup directory; a missing one is fine, EBUSY is retried (tasks still exiting)."""
    def gone() -> bool:
        try:
            os.rmdir(path)
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise CgroupError(f"cannot remove cgroup {path}: {e.strerror}") from None
            return False
        return True

    if not _wait(gone, timeout):
        raise CgroupError(f"cannot remove cgroup {path}: still busy after {timeout:g} s")


# --------------------------------------------------------------------------- interface


class Cgroup(ABC):
    """A container's cgroup; ``path`` is relative to the hierarchy root, e.g. ``orch/<id>``."""

    def __init__(self, path: str, proc: Path) -> None:
        self.path = path
        self._proc = proc

    @abstractmethod
    def procs_paths(self) -> list[str]:
        """Every cgroup.procs file a process must write its pid (or "0") to in order to join."""

    @abstractmethod
    def pids(self) -> list[int]: ...

    @abstractmethod
    def update(self, res: Resources) -> None:
        """Change limits of a live cgroup; fields left ``None`` are not touched."""

    @abstractmethod
    def freeze(self) -> None: ...

    @abstractmethod
    def thaw(self) -> None: ...

    @abstractmethod
    def frozen(self) -> bool: ...

    @abstractmethod
    def oom_killed(self) -> bool:
        """True once the kernel OOM killer has killed a process of this cgroup."""

    @abstractmethod
    def stats(self) -> Stats: ...

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def _dirs(self) -> list[Path]:
        """The cgroup's directories, to be removed deepest-last-created first."""

    def add(self, pid: int) -> None:
        for procs in self.procs_paths():
            try:
                fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, str(pid).encode())
                finally:
                    os.close(fd)
            except OSError as e:
                raise CgroupError(f"cannot move process {pid} into cgroup {self.path}: {e.strerror}") from None

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process in the cgroup (processes that exit meanwhile are ignored)."""
        _kill(set(self.pids()), sig)

    def _kill_for_destroy(self) -> None:
        self.kill_all(signal.SIGKILL)

    def destroy(self, timeout: float = DESTROY_TIMEOUT) -> None:
        """SIGKILL what is left, wait until empty, remove every directory. Safe to repeat."""
        if not self.exists():
            return
        self._kill_for_destroy()

        def empty() -> bool:
            left = self.pids()
            if left:
                _kill(set(left), signal.SIGKILL)
            return not left

        if not _wait(empty, timeout):
            raise CgroupError(f"cgroup {self.path} still has processes {self.pids()} after {timeout:g} s")
        deadline = time.monotonic() + timeout
        for d in self._dirs():
            _rmdir(d, max(0.1, deadline - time.monotonic()))


class CgroupDriver(ABC):
    """Creates and re-opens container cgroups under one cgroupfs root."""

    version: int
    name = "cgroupfs"

    def __init__(self, root: Path = DEFAULT_ROOT, proc: Path = Path("/proc")) -> None:
        self.root = Path(root)
        self.proc = Path(proc)
        self._prepared: set[str] = set()  # parents already checked/created by this driver

    @abstractmethod
    def create(self, path: str, res: Resources) -> Cgroup: ...

    @abstractmethod
    def open(self, path: str) -> Cgroup:
        """Re-adopt an existing cgroup (after a daemon restart); CgroupError if it is gone."""


def detect(root: Path = DEFAULT_ROOT, proc: Path = Path("/proc")) -> CgroupDriver:
    """v2 if ``root`` is a cgroup2 mount (or a tree that looks like one), else v1."""
    root = Path(root)
    if _mount_type(root, proc) == "cgroup2" or (root / "cgroup.controllers").exists():
        return V2Driver(root, proc)
    return V1Driver(root, proc)


def _mount_type(root: Path, proc: Path) -> str | None:
    fstype = None
    for line in _read_or(proc / "self" / "mounts", "").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == str(root):
            fstype = parts[2]  # the last mount on a path is the visible one
    return fstype


# --------------------------------------------------------------------------- v1


class V1Driver(CgroupDriver):
    """cgroup v1: one hierarchy per controller (co-mounted ones share a directory)."""

    version = 1

    def __init__(self, root: Path = DEFAULT_ROOT, proc: Path = Path("/proc")) -> None:
        super().__init__(root, proc)
        self.mounts: dict[str, Path] = {}
        for ctrl in V1_CONTROLLERS:
            d = self.root / ctrl
            if d.is_dir():
                self.mounts[ctrl] = Path(os.path.realpath(d))
        if not self.mounts:
            raise CgroupError(f"no cgroup v1 controllers mounted under {self.root}")

    def hierarchies(self) -> list[Path]:
        return list(dict.fromkeys(self.mounts.values()))

    def create(self, path: str, res: Resources) -> Cgroup:
        rel = _rel(path)
        res.validate()
        parent = rel.rpartition("/")[0]
        if parent not in self._prepared:
            self._prepare(parent)
        cg = V1Cgroup(self, rel)
        created = False
        for top in self.hierarchies():
            try:
                os.mkdir(top / rel)
                created = True
            except FileExistsError:
                pass
            except FileNotFoundError:  # the parent vanished since we prepared it
                self._prepared.discard(parent)
                self._prepare(parent)
                os.makedirs(top / rel, exist_ok=True)
                created = True
            except OSError as e:
                raise CgroupError(f"cannot create cgroup {top / rel}: {e.strerror}") from None
        try:
            if "cpuset" in self.mounts:
                _inherit_cpuset(self.mounts["cpuset"] / rel, res.cpuset_cpus is None, res.cpuset_mems is None)
            cg._apply(res, creating=True)
        except CgroupError:
            if created:  # never tear down a cgroup that already existed (and may hold processes)
                cg.destroy()
            raise
        return cg

    def _prepare(self, parent: str) -> None:
        """Create the parent chain in every hierarchy; give new cpuset levels their parent's cpus/mems."""
        if parent:
            parts = parent.split("/")
            for top in self.hierarchies():
                for i in range(1, len(parts) + 1):
                    d = top / "/".join(parts[:i])
                    try:
                        os.mkdir(d)
                    except FileExistsError:
                        pass
                    except OSError as e:
                        raise CgroupError(f"cannot create cgroup {d}: {e.strerror}") from None
                    if self.mounts.get("cpuset") == top:
                        _inherit_cpuset(d, True, True)
        self._prepared.add(parent)

    def open(self, path: str) -> Cgroup:
        cg = V1Cgroup(self, _rel(path))
        if not cg.exists():
            raise CgroupError(f"cgroup {path} does not exist")
        return cg


def _inherit_cpuset(d: Path, cpus: bool, mems: bool) -> None:
    """A v1 cpuset cgroup starts empty and then refuses tasks: copy what is unset from the parent."""
    for name, wanted in (("cpuset.cpus", cpus), ("cpuset.mems", mems)):
        if wanted and not _read_or(d / name, ""):
            _write(d / name, _read(d.parent / name))


class V1Cgroup(Cgroup):
    def __init__(self, driver: V1Driver, path: str) -> None:
        super().__init__(path, driver.proc)
        self.driver = driver
        self.dir = {ctrl: top / path for ctrl, top in driver.mounts.items()}
        self._procs = [str(top / path / "cgroup.procs") for top in driver.hierarchies()]

    def procs_paths(self) -> list[str]:
        return list(self._procs)

    def exists(self) -> bool:
        return any(os.path.isdir(os.path.dirname(p)) for p in self._procs)

    def _dirs(self) -> list[Path]:
        return [Path(os.path.dirname(p)) for p in self._procs]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self._procs:
            found |= _read_pids(Path(procs))
        return sorted(found)

    def _file(self, ctrl: str, name: str) -> Path:
        d = self.dir.get(ctrl)
        if d is None:
            raise CgroupError(f"the {ctrl} cgroup controller is not mounted under {self.driver.root}")
        return d / name

    def update(self, res: Resources) -> None:
        res.validate()
        self._apply(res, creating=False)

    def _apply(self, res: Resources, creating: bool) -> None:
        self._apply_memory(res, creating)
        if res.memory_reservation is not None:
            _write(self._file("memory", "memory.soft_limit_in_bytes"), str(res.memory_reservation),
                   "memory_reservation")
        if res.cpu_period is not None:
            _write(self._file("cpu", "cpu.cfs_period_us"), str(res.cpu_period), "cpu_period")
        if res.cpu_quota is not None:
            quota = res.cpu_quota if res.cpu_quota > 0 else -1
            period = res.cpu_period or DEFAULT_PERIOD
            _write(self._file("cpu", "cpu.cfs_quota_us"), str(quota), "cpu_quota",
                   f"{quota / period:g}" if quota > 0 else "unlimited")
        if res.cpu_shares is not None and res.cpu_shares != 0:
            _write(self._file("cpu", "cpu.shares"), str(res.cpu_shares), "cpu_shares")
        if res.cpuset_cpus is not None:
            _write(self._file("cpuset", "cpuset.cpus"), res.cpuset_cpus, "cpuset_cpus")
        if res.cpuset_mems is not None:
            _write(self._file("cpuset", "cpuset.mems"), res.cpuset_mems, "cpuset_mems")
        if res.pids_limit is not None:
            value = "max" if res.pids_limit <= 0 else str(res.pids_limit)
            _write(self._file("pids", "pids.max"), value, "pids_limit", res.pids_limit)
        if res.blkio_weight:
            f = self._file("blkio", "blkio.weight")
            if not f.exists():
                f = f.with_name("blkio.bfq.weight")
            _write(f, str(res.blkio_weight), "blkio_weight")

    def _apply_memory(self, res: Resources, creating: bool) -> None:
        """Set memory and memory+swap in an order the kernel accepts (memsw may never be < memory)."""
        mem = res.memory
        swap = res.create_swap() if creating else res.memory_swap
        if mem is None and swap is None:
            return
        limit = self._file("memory", "memory.limit_in_bytes")
        memsw = limit.with_name("memory.memsw.limit_in_bytes")
        has_swap = memsw.exists()  # swap accounting may be off (swapaccount=0)
        if not has_swap or swap is None:
            if mem is not None and has_swap and not creating and mem > 0:
                current = _int_or(memsw, -1)
                if 0 < current < _V1_UNLIMITED and mem > current:
                    raise CgroupError(
                        f'invalid --memory "{mem}": larger than the current --memory-swap {current}; '
                        "set --memory-swap too"
                    )
            if mem is not None:
                _write(limit, str(mem), "memory")
            return
        current_mem = _int_or(limit, -1)
        raising = swap == -1 or mem is None or mem == -1 or current_mem < 0 or mem > current_mem
        if raising and not creating:
            _write(memsw, str(swap), "memory_swap")
            if mem is not None:
                _write(limit, str(mem), "memory")
        else:
            if mem is not None:
                _write(limit, str(mem), "memory")
            if not (creating and swap == -1):  # a new cgroup is already unlimited
                _write(memsw, str(swap), "memory_swap")

    def freeze(self) -> None:
        state = self._file("freezer", "freezer.state")

        def frozen() -> bool:
            if _read(state) == "FROZEN":
                return True
            _write(state, "FROZEN")  # re-ask: freezing can stall on tasks in uninterruptible sleep
            return False

        _write(state, "FROZEN")
        if not _wait(frozen, FREEZE_TIMEOUT):
            _write(state, "THAWED")
            raise CgroupError(f"cannot freeze cgroup {self.path}: still freezing after {FREEZE_TIMEOUT:g} s")

    def thaw(self) -> None:
        _write(self._file("freezer", "freezer.state"), "THAWED")

    def frozen(self) -> bool:
        return _read_or(self._file("freezer", "freezer.state"), "THAWED") == "FROZEN"

    def oom_killed(self) -> bool:
        return _keyed(self._file("memory", "memory.oom_control")).get("oom_kill", 0) > 0

    def _kill_for_destroy(self) -> None:
        self.kill_all(signal.SIGKILL)
        if "freezer" in self.dir and self.frozen():
            self.thaw()  # a frozen task does not act on SIGKILL until it runs again

    def stats(self) -> Stats:
        s = Stats()
        host = _host_memory(self._proc)
        if "memory" in self.dir:
            m = self.dir["memory"]
            s.memory_usage = _int_or(m / "memory.usage_in_bytes", 0)
            limit = _int_or(m / "memory.limit_in_bytes", 0)
            s.memory_limit = host if (limit <= 0 or limit >= _V1_UNLIMITED or (host and limit > host)) else limit
            ms = _keyed(m / "memory.stat")
            s.memory_cache = ms.get("total_cache", ms.get("cache", 0))
            s.memory_inactive_file = ms.get("total_inactive_file", ms.get("inactive_file", 0))
        if "cpuacct" in self.dir:
            a = self.dir["cpuacct"]
            s.cpu_usage_ns = _int_or(a / "cpuacct.usage", 0)
            s.cpu_percpu_ns = [int(v) for v in _read_or(a / "cpuacct.usage_percpu", "").split()]
        s.system_cpu_ns = _system_cpu_ns(self._proc)
        if "cpuset" in self.dir:
            s.online_cpus = _count_cpus(_read_or(self.dir["cpuset"] / "cpuset.effective_cpus", ""))
        s.online_cpus = s.online_cpus or len(s.cpu_percpu_ns) or (os.cpu_count() or 1)
        if "pids" in self.dir:
            p = self.dir["pids"]
            s.pids_current = _int_or(p / "pids.current", 0)
            s.pids_limit = _pids_limit(_read_or(p / "pids.max", "max"))
        else:
            s.pids_current = len(self.pids())
        if "blkio" in self.dir:
            s.blkio_read_bytes, s.blkio_write_bytes = _blkio_v1(self.dir["blkio"])
        return s


def _count_cpus(spec: str) -> int:
    """Count the CPUs in a list like ``0-3,6``."""
    n = 0
    for part in filter(None, spec.split(",")):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def _pids_limit(text: str) -> int | None:
    return None if text in ("max", "") else int(text)


def _blkio_v1(d: Path) -> tuple[int, int]:
    """Sum Read/Write bytes over devices; prefer the throttle file, which counts every device."""
    for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive"):
        text = _read_or(d / name, "")
        if text:
            rd = wr = 0
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] == "Read":
                    rd += int(parts[2])
                elif len(parts) == 3 and parts[1] == "Write":
                    wr += int(parts[2])
            return rd, wr
    return 0, 0


# --------------------------------------------------------------------------- v2


class V2Driver(CgroupDriver):
    """cgroup v2: one tree; controllers are enabled top-down through cgroup.subtree_control."""

    version = 2

    def create(self, path: str, res: Resources) -> Cgroup:
        rel = _rel(path)
        res.validate()
        parent = rel.rpartition("/")[0]
        if parent not in self._prepared:
            self._prepare(parent)
        d = self.root / rel
        created = True
        try:
            os.mkdir(d)
        except FileExistsError:
            created = False
        except FileNotFoundError:  # the parent vanished since we prepared it
            self._prepared.discard(parent)
            self._prepare(parent)
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise CgroupError(f"cannot create cgroup {d}: {e.strerror}") from None
        cg = V2Cgroup(self, rel)
        try:
            cg._apply(res, creating=True)
        except CgroupError:
            if created:  # never tear down a cgroup that already existed (and may hold processes)
                cg.destroy()
            raise
        return cg

    def _prepare(self, parent: str) -> None:
        """Create the parent chain and enable the controllers we use at every level above the child."""
        parts = parent.split("/") if parent else []
        for i in range(len(parts) + 1):
            d = self.root.joinpath(*parts[:i])
            if i:
                try:
                    os.mkdir(d)
                except FileExistsError:
                    pass
                except OSError as e:
                    raise CgroupError(f"cannot create cgroup {d}: {e.strerror}") from None
            available = set(_read_or(d / "cgroup.controllers", "").split())
            enabled = set(_read_or(d / "cgroup.subtree_control", "").split())
            missing = [c for c in V2_CONTROLLERS if c in available and c not in enabled]
            if missing:
                _write(d / "cgroup.subtree_control", " ".join("+" + c for c in missing))
        self._prepared.add(parent)

    def open(self, path: str) -> Cgroup:
        cg = V2Cgroup(self, _rel(path))
        if not cg.exists():
            raise CgroupError(f"cgroup {path} does not exist")
        return cg


class V2Cgroup(Cgroup):
    def __init__(self, driver: V2Driver, path: str) -> None:
        super().__init__(path, driver.proc)
        self.driver = driver
        self.dir = driver.root / path

    def procs_paths(self) -> list[str]:
        return [str(self.dir / "cgroup.procs")]

    def exists(self) -> bool:
        return self.dir.is_dir()

    def _dirs(self) -> list[Path]:
        return [self.dir]

    def pids(self) -> list[int]:
        return sorted(_read_pids(self.dir / "cgroup.procs"))

    def update(self, res: Resources) -> None:
        res.validate()
        self._apply(res, creating=False)

    def _apply(self, res: Resources, creating: bool) -> None:
        d = self.dir
        mem = res.memory
        if mem is not None:
            _write(d / "memory.max", "max" if mem <= 0 else str(mem), "memory", mem)
        swap = res.create_swap() if creating else res.memory_swap
        if swap is not None and (d / "memory.swap.max").exists():
            if swap < 0:
                value = "max"
            else:
                base = mem if mem is not None else _int_or(d / "memory.max", 0)
                value = str(max(0, swap - base))
            if not (creating and value == "max"):
                _write(d / "memory.swap.max", value, "memory_swap", swap)
        if res.memory_reservation is not None:
            _write(d / "memory.low", str(res.memory_reservation), "memory_reservation")
        if res.cpu_quota is not None or res.cpu_period is not None:
            cur_quota, _, cur_period = _read_or(d / "cpu.max", f"max {DEFAULT_PERIOD}").partition(" ")
            period = res.cpu_period or int(cur_period or DEFAULT_PERIOD)
            quota = cur_quota if res.cpu_quota is None else ("max" if res.cpu_quota <= 0 else str(res.cpu_quota))
            shown = "unlimited" if quota == "max" else f"{int(quota) / period:g}"
            _write(d / "cpu.max", f"{quota} {period}", "cpu_quota", shown)
        if res.cpu_shares is not None and res.cpu_shares != 0:
            _write(d / "cpu.weight", str(shares_to_weight(res.cpu_shares)), "cpu_shares", res.cpu_shares)
        if res.cpuset_cpus is not None:
            _write(d / "cpuset.cpus", res.cpuset_cpus, "cpuset_cpus")
        if res.cpuset_mems is not None:
            _write(d / "cpuset.mems", res.cpuset_mems, "cpuset_mems")
        if res.pids_limit is not None:
            value = "max" if res.pids_limit <= 0 else str(res.pids_limit)
            _write(d / "pids.max", value, "pids_limit", res.pids_limit)
        if res.blkio_weight:
            f = d / "io.bfq.weight"
            if f.exists():
                _write(f, str(res.blkio_weight), "blkio_weight")
            else:
                _write(d / "io.weight", f"default {blkio_to_io_weight(res.blkio_weight)}", "blkio_weight",
                       res.blkio_weight)

    def freeze(self) -> None:
        _write(self.dir / "cgroup.freeze", "1")
        if not _wait(self.frozen, FREEZE_TIMEOUT):
            _write(self.dir / "cgroup.freeze", "0")
            raise CgroupError(f"cannot freeze cgroup {self.path}: still freezing after {FREEZE_TIMEOUT:g} s")

    def thaw(self) -> None:
        _write(self.dir / "cgroup.freeze", "0")

    def frozen(self) -> bool:
        return _keyed(self.dir / "cgroup.events").get("frozen", 0) == 1

    def oom_killed(self) -> bool:
        return _keyed(self.dir / "memory.events").get("oom_kill", 0) > 0

    def _kill_for_destroy(self) -> None:
        kill = self.dir / "cgroup.kill"  # Linux 5.14+: kills everything, frozen or not, atomically
        if kill.exists():
            try:
                _write(kill, "1")
                return
            except CgroupError:
                pass
        self.kill_all(signal.SIGKILL)
        if self.frozen():
            self.thaw()

    def stats(self) -> Stats:
        d = self.dir
        s = Stats()
        host = _host_memory(self._proc)
        s.memory_usage = _int_or(d / "memory.current", 0)
        limit = _read_or(d / "memory.max", "max")
        s.memory_limit = host if limit == "max" else min(int(limit), host or int(limit))
        ms = _keyed(d / "memory.stat")
        s.memory_cache = ms.get("file", 0)
        s.memory_inactive_file = ms.get("inactive_file", 0)
        s.cpu_usage_ns = _keyed(d / "cpu.stat").get("usage_usec", 0) * 1000
        s.system_cpu_ns = _system_cpu_ns(self._proc)
        s.online_cpus = _count_cpus(_read_or(d / "cpuset.cpus.effective", "")) or (os.cpu_count() or 1)
        s.pids_current = _int_or(d / "pids.current", 0) if (d / "pids.current").exists() else len(self.pids())
        s.pids_limit = _pids_limit(_read_or(d / "pids.max", "max"))
        for line in _read_or(d / "io.stat", "").splitlines():
            for tok in line.split()[1:]:
                key, _, val = tok.partition("=")
                if key == "rbytes":
                    s.blkio_read_bytes += int(val)
                elif key == "wbytes":
                    s.blkio_write_bytes += int(val)
        return s
