"""agent.runtime.cgroups on the real kernel: limits, membership, freezer, OOM, stats, teardown.

Everything lives under a unique parent ``orch-test-<hex>`` that a finalizer removes (killing any
process left inside) even when a test fails.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from agent.runtime.cgroups import CgroupDriver, CgroupError, Resources, V1Driver, detect

pytestmark = pytest.mark.root

MiB = 1 << 20


def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        select.select([], [], [], 0.005)  # a short poll interval, not a wait for an outcome


def tops(driver: CgroupDriver) -> list[Path]:
    return driver.hierarchies() if isinstance(driver, V1Driver) else [driver.root]


def purge(driver: CgroupDriver, parent: str) -> None:
    """Remove ``parent`` in every hierarchy, deepest first, after thawing and killing what is inside.

    Thawing comes first and everywhere: a frozen task ignores SIGKILL until it runs again, and on
    v1 the freezer state lives in a different hierarchy from most of the directories we remove.
    """
    trees = [top / parent for top in tops(driver) if (top / parent).exists()]
    dirs = [Path(dirpath) for base in trees for dirpath, _d, _f in os.walk(base, topdown=False)]
    for d in dirs:
        for state, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            if (d / state).exists():
                (d / state).write_text(value)
    for d in dirs:
        deadline = time.monotonic() + 5
        while True:
            for pid in (d / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                select.select([], [], [], 0.01)


@pytest.fixture
def driver() -> CgroupDriver:
    if os.geteuid() != 0:
        pytest.skip("needs root: cgroups are created on the real kernel")
    return detect()


@pytest.fixture
def parent(driver: CgroupDriver) -> Iterator[str]:
    name = f"orch-test-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        purge(driver, name)
        assert not any((top / name).exists() for top in tops(driver))


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
            for pipe in (p.stdin, p.stdout):
                if pipe is not None:
                    pipe.close()


def spawn_inside(procs_paths: list[str], argv: list[str], started: list[subprocess.Popen[bytes]],
                 **kw: object) -> subprocess.Popen[bytes]:
    """Start ``argv`` the way the container init joins: it writes its own pid into every procs file."""
    script = 'for f in "$@"; do echo $$ > "$f" || exit 99; done; exec ' + shlex.join(argv)
    p = subprocess.Popen(["sh", "-c", script, "sh", *procs_paths], **kw)  # type: ignore[call-overload]
    started.append(p)
    return p


def readline(p: subprocess.Popen[bytes], timeout: float = 10.0) -> str:
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    assert ready, "child did not answer"
    return p.stdout.readline().decode().strip()


def test_create_applies_limits_and_is_fast(driver: CgroupDriver, parent: str) -> None:
    res = Resources.with_cpus(0.5, memory=64 * MiB, pids_limit=64, cpu_shares=512)
    driver.create(f"{parent}/warm", res)
    times = []
    for i in range(10):
        t0 = time.perf_counter()
        driver.create(f"{parent}/c{i}", res)
        times.append(time.perf_counter() - t0)
    times.sort()
    assert times[len(times) // 2] < 0.005, f"create takes {times[len(times) // 2] * 1000:.2f} ms"
    if driver.version == 1:
        r = driver.root
        c = f"{parent}/c0"
        assert (r / "memory" / c / "memory.limit_in_bytes").read_text().strip() == str(64 * MiB)
        memsw = r / "memory" / c / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            assert memsw.read_text().strip() == str(128 * MiB)
        assert (r / "cpu" / c / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (r / "cpu" / c / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (r / "cpu" / c / "cpu.shares").read_text().strip() == "512"
        assert (r / "pids" / c / "pids.max").read_text().strip() == "64"
        host = (r / "cpuset" / "cpuset.cpus").read_text().strip()
        assert (r / "cpuset" / parent / "cpuset.cpus").read_text().strip() == host
        assert (r / "cpuset" / c / "cpuset.cpus").read_text().strip() == host
    else:
        d = driver.root / parent / "c0"
        assert (d / "memory.max").read_text().strip() == str(64 * MiB)
        assert (d / "cpu.max").read_text().strip() == "50000 100000"
        assert (d / "pids.max").read_text().strip() == "64"


def test_process_joins_by_itself_and_by_add(driver: CgroupDriver, parent: str,
                                             procs: list[subprocess.Popen[bytes]]) -> None:
    cg = driver.create(f"{parent}/c1", Resources(pids_limit=10))
    joined = spawn_inside(cg.procs_paths(), ["sleep", "60"], procs)
    eventually(lambda: joined.pid in cg.pids(), what="the child to join")
    added = subprocess.Popen(["sleep", "60"])
    procs.append(added)
    cg.add(added.pid)
    assert cg.pids() == sorted([joined.pid, added.pid])
    assert f"{parent}/c1" in Path(f"/proc/{added.pid}/cgroup").read_text()
    assert cg.stats().pids_current == 2
    with pytest.raises(CgroupError, match="cannot move process"):
        cg.add(2**22 + 1)


def test_freeze_and_thaw(driver: CgroupDriver, parent: str, procs: list[subprocess.Popen[bytes]],
                         tmp_path: Path) -> None:
    """Frozen means no progress: a counter stops while frozen and resumes after thaw.

    The task state in /proc is no evidence: since Linux 6.1 a task frozen while sleeping may
    still be reported as R or S, so the test watches what the process does instead.
    """
    cg = driver.create(f"{parent}/c1", Resources())
    counter = tmp_path / "count"
    loop = f"i=0; while true; do i=$((i+1)); echo $i > {counter}; sleep 0.01; done"
    p = spawn_inside(cg.procs_paths(), ["sh", "-c", loop], procs)
    eventually(lambda: p.pid in cg.pids(), what="the child to join")
    eventually(lambda: counter.exists() and counter.read_text().strip() != "", what="the counter to start")

    def count() -> int:
        text = counter.read_text().strip()
        return int(text) if text else -1

    cg.freeze()
    try:
        assert cg.frozen()
        if driver.version == 1:
            assert (driver.root / "freezer" / parent / "c1" / "freezer.state").read_text().strip() == "FROZEN"
        before = count()
        time.sleep(0.3)
        assert count() == before, "the counter advanced while frozen"
    finally:
        cg.thaw()  # a v1-frozen task ignores SIGKILL until thawed: thaw before the fixture kills it
    assert not cg.frozen()
    frozen_at = count()
    eventually(lambda: count() > frozen_at, what="the counter to advance again")


def test_memory_hog_is_oom_killed(driver: CgroupDriver, parent: str,
                                  procs: list[subprocess.Popen[bytes]]) -> None:
    cg = driver.create(f"{parent}/c1", Resources(memory=32 * MiB, memory_swap=32 * MiB))
    assert not cg.oom_killed()
    hog = "chunks = []\nwhile True:\n    chunks.append(b'x' * (1 << 20))\n"
    p = spawn_inside(cg.procs_paths(), [sys.executable, "-c", hog], procs)
    assert p.wait(timeout=30) == -signal.SIGKILL
    eventually(cg.oom_killed, what="oom_kill to be counted")


def test_stats_are_plausible(driver: CgroupDriver, parent: str, procs: list[subprocess.Popen[bytes]]) -> None:
    cg = driver.create(f"{parent}/c1", Resources(memory=256 * MiB, pids_limit=20))
    code = "import sys\nx = b'y' * (40 << 20)\nprint('ready', flush=True)\nsys.stdin.read()\n"
    p = spawn_inside(cg.procs_paths(), [sys.executable, "-c", code], procs,
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert readline(p) == "ready"
    s = cg.stats()
    assert 40 * MiB <= s.memory_usage <= 256 * MiB
    assert s.memory_limit == 256 * MiB
    assert s.cpu_usage_ns > 0
    assert s.system_cpu_ns > s.cpu_usage_ns
    assert s.online_cpus >= 1
    assert (s.pids_current, s.pids_limit) == (1, 20)
    if driver.version == 1:
        assert len(s.cpu_percpu_ns) >= 1 and sum(s.cpu_percpu_ns) <= s.cpu_usage_ns * 2


def test_update_a_running_container(driver: CgroupDriver, parent: str) -> None:
    cg = driver.create(f"{parent}/c1", Resources(memory=64 * MiB, pids_limit=10))
    cg.update(Resources(memory=512 * MiB, memory_swap=1024 * MiB, pids_limit=-1))
    assert cg.stats().memory_limit == 512 * MiB
    assert cg.stats().pids_limit is None
    cg.update(Resources(memory=16 * MiB, memory_swap=16 * MiB))
    assert cg.stats().memory_limit == 16 * MiB


def test_invalid_cpuset_names_setting_and_value(driver: CgroupDriver, parent: str) -> None:
    with pytest.raises(CgroupError) as err:
        driver.create(f"{parent}/c1", Resources(cpuset_cpus="99"))
    # "Numerical result out of range" on current kernels; older ones say "Invalid argument"
    assert str(err.value).startswith('invalid --cpuset-cpus "99": ')
    assert not any((top / parent / "c1").exists() for top in tops(driver))


def test_destroy_kills_frozen_processes_and_removes_everything(
    driver: CgroupDriver, parent: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    cg = driver.create(f"{parent}/c1", Resources(memory=64 * MiB))
    p = spawn_inside(cg.procs_paths(), ["sh", "-c", "sleep 60 & sleep 60"], procs)
    eventually(lambda: len(cg.pids()) >= 2, what="a process tree inside")
    cg.freeze()
    cg.destroy()
    assert p.wait(timeout=5) == -signal.SIGKILL
    assert not any((top / parent / "c1").exists() for top in tops(driver))
    cg.destroy()  # idempotent
    with pytest.raises(CgroupError, match="does not exist"):
        driver.open(f"{parent}/c1")


def test_open_readopts_an_existing_cgroup(driver: CgroupDriver, parent: str,
                                          procs: list[subprocess.Popen[bytes]]) -> None:
    cg = driver.create(f"{parent}/c1", Resources())
    p = spawn_inside(cg.procs_paths(), ["sleep", "60"], procs)
    eventually(lambda: p.pid in cg.pids(), what="the child to join")
    fresh = detect()  # as a restarted daemon would
    again = fresh.open(f"{parent}/c1")
    assert again.pids() == [p.pid]
    assert again.procs_paths() == cg.procs_paths()
    again.destroy()
    assert p.wait(timeout=5) == -signal.SIGKILL


@pytest.fixture
def hybrid_v2() -> CgroupDriver:
    """The v2 driver on a hybrid host's controller-less cgroup2 mount: core files only (no limits)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: cgroups are created on the real kernel")
    unified = Path("/sys/fs/cgroup/unified")
    if not (unified / "cgroup.freeze").exists() and not (unified / "cgroup.controllers").exists():
        pytest.skip("no cgroup2 mount at /sys/fs/cgroup/unified")
    return detect(unified)


def test_v2_core_on_the_unified_mount(hybrid_v2: CgroupDriver, procs: list[subprocess.Popen[bytes]]) -> None:
    assert hybrid_v2.version == 2
    name = f"orch-test-{uuid.uuid4().hex[:8]}"
    try:
        cg = hybrid_v2.create(f"{name}/c1", Resources())
        p = spawn_inside(cg.procs_paths(), ["sh", "-c", "sleep 60 & sleep 60"], procs)
        eventually(lambda: len(cg.pids()) >= 2, what="a process tree inside")
        cg.freeze()
        assert cg.frozen()
        # the v2 freezer parks tasks in a signal-delivery trap: state stays "S", wchan shows where
        wchan = Path(f"/proc/{p.pid}/wchan").read_text()
        assert "freezer" in wchan or "signal" in wchan, wchan
        cg.thaw()
        assert not cg.frozen()
        assert cg.stats().pids_current >= 2
        if not (hybrid_v2.root / name / "c1" / "memory.max").exists():
            with pytest.raises(CgroupError, match=r'^invalid --memory "1048576": not supported here'):
                cg.update(Resources(memory=MiB))
        cg.freeze()
        cg.destroy()  # cgroup.kill where the kernel has it; kills frozen tasks too
        assert p.wait(timeout=5) == -signal.SIGKILL
        assert not (hybrid_v2.root / name / "c1").exists()
    finally:
        purge(hybrid_v2, name)
    assert not (hybrid_v2.root / name).exists()
