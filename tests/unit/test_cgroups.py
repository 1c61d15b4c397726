"""Unit tests of agent.runtime.cgroups against a fake cgroupfs in a temp directory.

A real cgroupfs fills a new directory with control files on mkdir and lets rmdir remove a
directory that still shows files. ``FakeKernel`` imitates exactly that (by wrapping os.mkdir and
os.rmdir for paths under the fake root), so the drivers run unmodified against plain files.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from agent.runtime import cgroups
from agent.runtime.cgroups import (
    CgroupError,
    Resources,
    V1Driver,
    V2Driver,
    blkio_to_io_weight,
    cpus_to_quota,
    detect,
    shares_to_weight,
)

V1_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712",
        "memory.memsw.limit_in_bytes": "9223372036854771712",
        "memory.soft_limit_in_bytes": "9223372036854771712",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.usage_in_bytes": "0",
        "memory.stat": "cache 0\n",
    },
    "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.shares": "1024"},
    "cpuacct": {"cpuacct.usage": "0", "cpuacct.usage_percpu": "0 0 "},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.effective_cpus": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {"blkio.bfq.weight": "100", "blkio.throttle.io_service_bytes_recursive": "Total 0\n"},
    "devices": {},
}

V2_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "memory.max": "max",
        "memory.swap.max": "max",
        "memory.low": "0",
        "memory.current": "0",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
        "memory.stat": "anon 0\nfile 0\n",
    },
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "io": {"io.weight": "default 100", "io.stat": ""},
}


class FakeKernel:
    """Populates directories created under ``root`` with the files the real kernel would show."""

    def __init__(self, root: Path, version: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.version = version
        self.mkdirs: list[Path] = []
        real_mkdir, real_rmdir = os.mkdir, os.rmdir

        def mkdir(path: object, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
            real_mkdir(path, mode)  # type: ignore[arg-type]
            p = Path(os.fspath(path))  # type: ignore[arg-type]
            if self._inside(p):
                self.mkdirs.append(p)
                self.populate(p)

        def rmdir(path: object, *, dir_fd: int | None = None) -> None:
            p = Path(os.fspath(path))  # type: ignore[arg-type]
            if self._inside(p) and p.is_dir():
                if any(c.is_dir() for c in p.iterdir()):
                    raise OSError(16, "Device or resource busy")
                for c in p.iterdir():
                    c.unlink()
            real_rmdir(p)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "rmdir", rmdir)

    def _inside(self, p: Path) -> bool:
        return os.path.realpath(p).startswith(os.path.realpath(self.root) + os.sep)

    def populate(self, d: Path) -> None:
        rel = Path(os.path.realpath(d)).relative_to(os.path.realpath(self.root))
        files: dict[str, str] = {}
        if self.version == 1:
            files["cgroup.procs"] = ""
            for ctrl in rel.parts[0].split(","):
                files.update(V1_FILES[ctrl])
        else:
            enabled = [t.lstrip("+") for t in (d.parent / "cgroup.subtree_control").read_text().split()]
            files = {
                "cgroup.procs": "",
                "cgroup.controllers": " ".join(enabled),
                "cgroup.subtree_control": "",
                "cgroup.events": "populated 0\nfrozen 0\n",
                "cgroup.freeze": "0",
                "cgroup.kill": "",
                "cpu.stat": "usage_usec 0\n",
            }
            for ctrl in enabled:
                files.update(V2_FILES[ctrl])
        for name, text in files.items():
            (d / name).write_text(text)


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mounts").write_text("proc /proc proc rw 0 0\n")
    (proc / "meminfo").write_text("MemTotal:        1000000 kB\nMemFree:   5 kB\n")
    (proc / "stat").write_text("cpu  100 0 50 800 10 0 0 0 0 0\ncpu0 50 0 25 400 5 0 0 0 0 0\n")
    return proc


@pytest.fixture
def v1(tmp_path: Path, fake_proc: Path, monkeypatch: pytest.MonkeyPatch) -> V1Driver:
    root = tmp_path / "cgroup"
    root.mkdir()
    kernel = FakeKernel(root, 1, monkeypatch)
    for ctrl in ("memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "blkio", "devices"):
        os.mkdir(root / ctrl)
    (root / "cpu").symlink_to("cpu,cpuacct")
    (root / "cpuacct").symlink_to("cpu,cpuacct")
    (root / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    kernel.mkdirs.clear()
    driver = detect(root, fake_proc)
    assert isinstance(driver, V1Driver)
    return driver


@pytest.fixture
def v2(tmp_path: Path, fake_proc: Path, monkeypatch: pytest.MonkeyPatch) -> V2Driver:
    root = tmp_path / "cgroup"
    root.mkdir()
    FakeKernel(root, 2, monkeypatch)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("")
    driver = detect(root, fake_proc)
    assert isinstance(driver, V2Driver)
    return driver


def read(p: Path) -> str:
    return p.read_text().strip()


# --------------------------------------------------------------------------- value translation


def test_cpus_to_quota_uses_docker_period() -> None:
    assert cpus_to_quota(1.5) == (150000, 100000)
    assert cpus_to_quota(0.01) == (1000, 100000)
    r = Resources.with_cpus(0.5, memory=1 << 20)
    assert (r.cpu_quota, r.cpu_period, r.memory) == (50000, 100000, 1 << 20)
    with pytest.raises(CgroupError, match="--cpus"):
        cpus_to_quota(0)


def test_shares_to_weight_matches_runc_formula() -> None:
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(512) == 1 + (510 * 9999) // 262142


def test_blkio_weight_to_io_weight() -> None:
    assert blkio_to_io_weight(10) == 1
    assert blkio_to_io_weight(1000) == 10000
    assert blkio_to_io_weight(500) == 4950


def test_swap_defaults_to_twice_memory() -> None:
    assert Resources(memory=100).create_swap() == 200
    assert Resources(memory=100, memory_swap=-1).create_swap() == -1
    assert Resources(memory=100, memory_swap=100).create_swap() == 100
    assert Resources().create_swap() is None


def test_validate_rejects_swap_below_memory() -> None:
    with pytest.raises(CgroupError, match="--memory-swap"):
        Resources(memory=200, memory_swap=100).validate()
    with pytest.raises(CgroupError, match="--cpu-period"):
        Resources(cpu_period=10).validate()


@pytest.mark.parametrize("bad", ["", "/orch/x", "orch/../x", "orch//x", "./x"])
def test_rejects_bad_paths(v1: V1Driver, bad: str) -> None:
    with pytest.raises(CgroupError, match="invalid cgroup path"):
        v1.create(bad, Resources())


# --------------------------------------------------------------------------- detection


def test_detect_by_mount_table(tmp_path: Path, fake_proc: Path) -> None:
    root = tmp_path / "cg2"
    root.mkdir()
    (fake_proc / "self" / "mounts").write_text(f"cgroup2 {root} cgroup2 rw 0 0\n")
    d = detect(root, fake_proc)
    assert (d.version, d.name) == (2, "cgroupfs")


def test_detect_v1(v1: V1Driver) -> None:
    assert (v1.version, v1.name) == (1, "cgroupfs")
    # co-mounted cpu,cpuacct is one hierarchy, reached through both names
    assert v1.mounts["cpu"] == v1.mounts["cpuacct"]
    assert len(v1.hierarchies()) == 7


def test_v1_without_controllers_is_an_error(tmp_path: Path, fake_proc: Path) -> None:
    with pytest.raises(CgroupError, match="no cgroup v1 controllers"):
        V1Driver(tmp_path, fake_proc)


# --------------------------------------------------------------------------- v1 driver


def test_v1_create_writes_limits(v1: V1Driver) -> None:
    res = Resources.with_cpus(1.5, memory=64 << 20, pids_limit=100, cpu_shares=512, blkio_weight=300,
                              memory_reservation=32 << 20)
    cg = v1.create("orch/c1", res)
    mem = v1.root / "memory" / "orch" / "c1"
    cpu = v1.root / "cpu,cpuacct" / "orch" / "c1"
    assert read(mem / "memory.limit_in_bytes") == str(64 << 20)
    assert read(mem / "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(mem / "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(cpu / "cpu.cfs_period_us") == "100000"
    assert read(cpu / "cpu.cfs_quota_us") == "150000"
    assert read(cpu / "cpu.shares") == "512"
    assert read(v1.root / "pids" / "orch" / "c1" / "pids.max") == "100"
    assert read(v1.root / "blkio" / "orch" / "c1" / "blkio.bfq.weight") == "300"
    assert sorted(cg.procs_paths()) == sorted(
        str(v1.root / h / "orch" / "c1" / "cgroup.procs")
        for h in ("memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "blkio", "devices")
    )


def test_v1_cpuset_is_copied_down_the_parent_chain(v1: V1Driver) -> None:
    v1.create("orch-lab-m1/sub/c1", Resources())
    for rel in ("orch-lab-m1", "orch-lab-m1/sub", "orch-lab-m1/sub/c1"):
        d = v1.root / "cpuset" / rel
        assert (read(d / "cpuset.cpus"), read(d / "cpuset.mems")) == ("0-1", "0"), rel


def test_v1_cpuset_explicit_value_wins_but_mems_are_inherited(v1: V1Driver) -> None:
    v1.create("orch/c1", Resources(cpuset_cpus="1"))
    d = v1.root / "cpuset" / "orch" / "c1"
    assert (read(d / "cpuset.cpus"), read(d / "cpuset.mems")) == ("1", "0")


def test_v1_parents_are_prepared_once(v1: V1Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    v1.create("orch/c1", Resources())
    calls: list[str] = []
    monkeypatch.setattr(v1, "_prepare", lambda parent: calls.append(parent))
    v1.create("orch/c2", Resources())
    assert calls == []
    assert (v1.root / "memory" / "orch" / "c2").is_dir()


def test_v1_swap_accounting_off_skips_memsw(v1: V1Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(V1_FILES["memory"], "memory.memsw.limit_in_bytes")
    v1.create("orch/c1", Resources(memory=1 << 20))
    d = v1.root / "memory" / "orch" / "c1"
    assert read(d / "memory.limit_in_bytes") == str(1 << 20)
    assert not (d / "memory.memsw.limit_in_bytes").exists()


def test_v1_invalid_value_names_the_flag(v1: V1Driver) -> None:
    cg = v1.create("orch/c1", Resources())
    target = v1.root / "cpuset" / "orch" / "c1" / "cpuset.cpus"
    target.unlink()
    target.mkdir()  # opening a directory for writing fails, like the kernel rejecting the value
    with pytest.raises(CgroupError, match=r'^invalid --cpuset-cpus "99": Is a directory$'):
        cg.update(Resources(cpuset_cpus="99"))


def test_v1_failed_create_removes_the_cgroup(v1: V1Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(V1_FILES["pids"], "pids.max")
    with pytest.raises(CgroupError, match=r'^invalid --pids-limit "5": not supported here \(pids.max missing\)$'):
        v1.create("orch/c1", Resources(pids_limit=5))
    for h in v1.hierarchies():
        assert not (h / "orch" / "c1").exists()


def test_v1_update_changes_only_given_fields(v1: V1Driver) -> None:
    cg = v1.create("orch/c1", Resources(memory=100 << 20, pids_limit=10))
    mem = v1.root / "memory" / "orch" / "c1"
    cg.update(Resources(memory=300 << 20, memory_swap=-1))
    assert read(mem / "memory.limit_in_bytes") == str(300 << 20)
    assert read(mem / "memory.memsw.limit_in_bytes") == "-1"
    cg.update(Resources(pids_limit=-1))
    assert read(v1.root / "pids" / "orch" / "c1" / "pids.max") == "max"
    assert read(mem / "memory.limit_in_bytes") == str(300 << 20)


def test_v1_update_memory_above_current_swap_is_refused(v1: V1Driver) -> None:
    cg = v1.create("orch/c1", Resources(memory=100, memory_swap=150))
    with pytest.raises(CgroupError, match=r'invalid --memory "200": larger than the current --memory-swap'):
        cg.update(Resources(memory=200))


def test_v1_update_order_keeps_memsw_above_memory(v1: V1Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = v1.create("orch/c1", Resources(memory=100, memory_swap=200))
    mem = v1.root / "memory" / "orch" / "c1"
    writes: list[str] = []
    real_write = cgroups._write

    def spy(path: Path, value: str, setting: str | None = None, shown: object = None) -> None:
        # the kernel refuses memory > memsw at every moment, so check the invariant on each write
        writes.append(path.name)
        real_write(path, value, setting, shown)
        lim = int(read(mem / "memory.limit_in_bytes"))
        sw = int(read(mem / "memory.memsw.limit_in_bytes"))
        assert sw == -1 or lim <= sw

    monkeypatch.setattr(cgroups, "_write", spy)
    cg.update(Resources(memory=1000, memory_swap=2000))
    assert writes == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    writes.clear()
    cg.update(Resources(memory=10, memory_swap=20))
    assert writes == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_v1_freeze_thaw_and_oom(v1: V1Driver) -> None:
    cg = v1.create("orch/c1", Resources())
    assert not cg.frozen()
    cg.freeze()
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()
    assert not cg.oom_killed()
    (v1.root / "memory" / "orch" / "c1" / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    )
    assert cg.oom_killed()


def test_v1_stats(v1: V1Driver) -> None:
    cg = v1.create("orch/c1", Resources(pids_limit=20))
    mem = v1.root / "memory" / "orch" / "c1"
    acct = v1.root / "cpu,cpuacct" / "orch" / "c1"
    (mem / "memory.usage_in_bytes").write_text("5000000\n")
    (mem / "memory.stat").write_text("cache 100\ntotal_cache 4096\ntotal_inactive_file 2048\n")
    (acct / "cpuacct.usage").write_text("3000\n")
    (acct / "cpuacct.usage_percpu").write_text("1000 2000 \n")
    (v1.root / "pids" / "orch" / "c1" / "pids.current").write_text("3\n")
    (v1.root / "blkio" / "orch" / "c1" / "blkio.throttle.io_service_bytes_recursive").write_text(
        "8:0 Read 10\n8:0 Write 20\n8:16 Read 1\n8:16 Write 2\nTotal 33\n"
    )
    (v1.root / "cpuset" / "orch" / "c1" / "cpuset.effective_cpus").write_text("0-1\n")
    s = cg.stats()
    assert s.memory_usage == 5000000
    assert s.memory_limit == 1000000 * 1024  # unlimited -> host total
    assert (s.memory_cache, s.memory_inactive_file) == (4096, 2048)
    assert (s.cpu_usage_ns, s.cpu_percpu_ns) == (3000, [1000, 2000])
    assert s.system_cpu_ns == 960 * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert s.online_cpus == 2
    assert (s.pids_current, s.pids_limit) == (3, 20)
    assert (s.blkio_read_bytes, s.blkio_write_bytes) == (11, 22)
    cg.update(Resources(memory=1 << 20))
    assert cg.stats().memory_limit == 1 << 20


def test_v1_pids_union_and_kill_all(v1: V1Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = v1.create("orch/c1", Resources())
    (v1.root / "memory" / "orch" / "c1" / "cgroup.procs").write_text("10\n11\n")
    (v1.root / "pids" / "orch" / "c1" / "cgroup.procs").write_text("11\n12\n")
    assert cg.pids() == [10, 11, 12]
    killed: list[tuple[int, int]] = []

    def kill(pid: int, sig: int) -> None:
        killed.append((pid, sig))
        if pid == 12:
            raise ProcessLookupError

    monkeypatch.setattr(os, "kill", kill)
    cg.kill_all(signal.SIGTERM)
    assert sorted(killed) == [(10, signal.SIGTERM), (11, signal.SIGTERM), (12, signal.SIGTERM)]


def test_v1_add_writes_every_procs_file(v1: V1Driver) -> None:
    cg = v1.create("orch/c1", Resources())
    cg.add(4242)
    assert all(read(Path(p)) == "4242" for p in cg.procs_paths())


def test_v1_destroy_is_idempotent_and_open_readopts(v1: V1Driver) -> None:
    v1.create("orch/c1", Resources(memory=1 << 20))
    cg = v1.open("orch/c1")
    assert read(v1.root / "memory" / "orch" / "c1" / "memory.limit_in_bytes") == str(1 << 20)
    cg.destroy()
    cg.destroy()
    for h in v1.hierarchies():
        assert not (h / "orch" / "c1").exists()
        assert (h / "orch").is_dir()  # the shared parent stays
    with pytest.raises(CgroupError, match="does not exist"):
        v1.open("orch/c1")


def test_v1_destroy_times_out_when_processes_stay(v1: V1Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = v1.create("orch/c1", Resources())
    (v1.root / "memory" / "orch" / "c1" / "cgroup.procs").write_text("777\n")
    monkeypatch.setattr(os, "kill", lambda pid, sig: None)
    with pytest.raises(CgroupError, match=r"still has processes \[777\]"):
        cg.destroy(timeout=0.05)


# --------------------------------------------------------------------------- v2 driver


def test_v2_create_enables_controllers_and_writes_limits(v2: V2Driver) -> None:
    res = Resources.with_cpus(0.5, memory=64 << 20, memory_swap=96 << 20, pids_limit=0, cpu_shares=1024,
                              cpuset_cpus="0", memory_reservation=1 << 20, blkio_weight=500)
    cg = v2.create("orch-lab-m1/c1", res)
    want = "+cpuset +cpu +io +memory +pids"
    assert read(v2.root / "cgroup.subtree_control") == want
    assert read(v2.root / "orch-lab-m1" / "cgroup.subtree_control") == want
    d = v2.root / "orch-lab-m1" / "c1"
    assert read(d / "memory.max") == str(64 << 20)
    assert read(d / "memory.swap.max") == str(32 << 20)
    assert read(d / "memory.low") == str(1 << 20)
    assert read(d / "cpu.max") == "50000 100000"
    assert read(d / "cpu.weight") == "39"
    assert read(d / "cpuset.cpus") == "0"
    assert read(d / "pids.max") == "max"
    assert read(d / "io.weight") == "default 4950"
    assert cg.procs_paths() == [str(d / "cgroup.procs")]


def test_v2_default_swap_is_memory_sized(v2: V2Driver) -> None:
    v2.create("orch/c1", Resources(memory=10 << 20))
    assert read(v2.root / "orch" / "c1" / "memory.swap.max") == str(10 << 20)


def test_v2_update_quota_keeps_period(v2: V2Driver) -> None:
    cg = v2.create("orch/c1", Resources(cpu_quota=20000, cpu_period=50000))
    cg.update(Resources(cpu_quota=100000))
    assert read(v2.root / "orch" / "c1" / "cpu.max") == "100000 50000"
    cg.update(Resources(cpu_quota=-1))
    assert read(v2.root / "orch" / "c1" / "cpu.max") == "max 50000"


def test_v2_freeze_waits_for_events(v2: V2Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    cg = v2.create("orch/c1", Resources())
    d = v2.root / "orch" / "c1"
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    cg.freeze()
    assert read(d / "cgroup.freeze") == "1"
    assert cg.frozen()
    cg.thaw()
    assert read(d / "cgroup.freeze") == "0"
    (d / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    monkeypatch.setattr(cgroups, "FREEZE_TIMEOUT", 0.05)
    with pytest.raises(CgroupError, match="still freezing"):
        cg.freeze()
    assert read(d / "cgroup.freeze") == "0"  # a failed freeze does not leave it half frozen


def test_v2_oom_and_stats(v2: V2Driver) -> None:
    cg = v2.create("orch/c1", Resources(memory=1 << 30, pids_limit=7))
    d = v2.root / "orch" / "c1"
    assert not cg.oom_killed()
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed()
    (d / "memory.current").write_text("123456\n")
    (d / "memory.stat").write_text("anon 100\nfile 8192\ninactive_file 4096\n")
    (d / "cpu.stat").write_text("usage_usec 250\nuser_usec 200\nsystem_usec 50\n")
    (d / "pids.current").write_text("2\n")
    (d / "io.stat").write_text("8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n")
    s = cg.stats()
    assert (s.memory_usage, s.memory_limit) == (123456, 1000000 * 1024)  # 1 GiB > host total
    assert (s.memory_cache, s.memory_inactive_file) == (8192, 4096)
    assert (s.cpu_usage_ns, s.cpu_percpu_ns) == (250_000, [])
    assert s.online_cpus == 2
    assert (s.pids_current, s.pids_limit) == (2, 7)
    assert (s.blkio_read_bytes, s.blkio_write_bytes) == (101, 202)


def test_v2_destroy_uses_cgroup_kill(v2: V2Driver) -> None:
    cg = v2.create("orch/c1", Resources())
    d = v2.root / "orch" / "c1"
    kill_file = d / "cgroup.kill"
    seen: list[str] = []
    real_write = cgroups._write

    def spy(path: Path, value: str, setting: str | None = None, shown: object = None) -> None:
        seen.append(f"{path.name}={value}")
        real_write(path, value, setting, shown)

    mp = pytest.MonkeyPatch()
    mp.setattr(cgroups, "_write", spy)
    try:
        cg.destroy()
    finally:
        mp.undo()
    assert seen == [f"{kill_file.name}=1"]
    assert not d.exists()
    cg.destroy()
