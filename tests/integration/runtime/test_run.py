"""`orch run` and friends against a real daemon: namespaces, cgroups, mounts, exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import Orchd, cgroup_dirs, eventually, mounts_under

pytestmark = pytest.mark.root


def inspect(d: Orchd, name: str) -> dict:
    return json.loads(d.ok("inspect", name))[0]


def test_pid1_is_the_command_and_host_processes_are_invisible(orchd: Orchd) -> None:
    out = orchd.ok("run", "--rm", "busybox", "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'")
    pid1, nprocs = out.split()
    assert pid1 == "1"
    # sh itself, ls and grep: nothing from the host.
    assert int(nprocs) <= 4


def test_exit_code_and_hostname(orchd: Orchd) -> None:
    r = orchd.orch("run", "--rm", "--hostname", "box-one", "busybox", "sh", "-c", "hostname; exit 7")
    assert r.returncode == 7
    assert r.stdout.strip() == "box-one"


def test_default_hostname_is_short_id(orchd: Orchd) -> None:
    name = orchd.name("hn")
    out = orchd.ok("run", "--name", name, "busybox", "hostname").strip()
    assert inspect(orchd, name)["Id"].startswith(out)
    orchd.ok("rm", name)


def test_mounts_dev_and_caps(orchd: Orchd) -> None:
    out = orchd.ok("run", "--rm", "busybox", "sh", "-c",
                   "ls /dev; grep CapEff /proc/self/status; touch /sys/x 2>&1; cat /etc/hostname")
    for node in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm"):
        assert node in out.split()
    cap_eff = int(next(ln for ln in out.splitlines() if ln.startswith("CapEff")).split()[1], 16)
    assert cap_eff == 0xA80425FB  # Docker's default capability set
    assert "Read-only file system" in out


def test_user_and_groups_from_image(orchd: Orchd) -> None:
    out = orchd.ok("run", "--rm", "-u", "app", "busybox", "id")
    assert "uid=1000(app)" in out and "gid=1000(app)" in out and "1001(extra)" in out
    r = orchd.orch("run", "--rm", "-u", "nosuchuser", "busybox", "id")
    assert r.returncode != 0 and "nosuchuser" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_memory_hog_is_oom_killed(orchd: Orchd) -> None:
    name = orchd.name("oom")
    r = orchd.orch("run", "--name", name, "-m", "16m", "busybox", "sh", "-c", "head -c 200m /dev/zero | tail")
    assert r.returncode == 137
    st = inspect(orchd, name)["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    orchd.ok("rm", name)


def test_fork_bomb_stops_at_pids_limit(orchd: Orchd) -> None:
    r = orchd.orch("run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c",
                   "for i in $(seq 30); do sleep 2 & done; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null; wait",
                   timeout=60)
    assert "can't fork" in r.stderr or "Resource temporarily unavailable" in r.stderr


def test_read_only_rootfs_refuses_writes(orchd: Orchd) -> None:
    r = orchd.orch("run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
                   "touch /scratch/ok && echo tmpfs-ok; touch /x")
    assert r.returncode != 0
    assert "tmpfs-ok" in r.stdout
    assert "Read-only file system" in r.stderr


def test_bind_and_named_volumes_outlive_the_container(orchd: Orchd, tmp_path: Path) -> None:
    vol = orchd.name("vol")
    host = tmp_path / "bind"
    host.mkdir()
    orchd.ok("run", "--rm", "-v", f"{host}:/data", "-v", f"{vol}:/v", "busybox", "sh", "-c",
             "echo bound > /data/f; echo named > /v/f")
    assert (host / "f").read_text() == "bound\n"
    out = orchd.ok("run", "--rm", "-v", f"{vol}:/v:ro", "busybox", "sh", "-c", "cat /v/f; touch /v/g 2>&1; true")
    assert "named" in out and "Read-only file system" in out
    assert vol in orchd.ok("volume", "ls", "-q").split()
    orchd.ok("volume", "rm", vol)


def test_missing_bind_source_is_a_one_line_error(orchd: Orchd) -> None:
    r = orchd.orch("run", "--rm", "--mount", "type=bind,source=/nonexistent-orch,target=/x", "busybox", "true")
    assert r.returncode == 125
    assert "bind source path does not exist" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_rm_leaves_nothing(orchd: Orchd) -> None:
    name = orchd.name("rm")
    orchd.ok("run", "--rm", "--name", name, "-m", "32m", "busybox", "true")
    assert name not in orchd.ok("ps", "-a", "--format", "{{.Names}}").split()
    containers = orchd.state / "containers"
    assert not any(containers.iterdir()) or all(
        json.loads((p / "container.json").read_text())["name"] != name for p in containers.iterdir())
    assert not [m for m in mounts_under(orchd.state) if name in m]
    for d in cgroup_dirs(orchd.cgroup_parent):
        assert not list(d.iterdir()) or all(not c.is_dir() for c in d.iterdir()), list(d.iterdir())


def test_bad_input_is_a_one_line_error_with_docker_exit_codes(orchd: Orchd) -> None:
    name = orchd.name("keep")
    orchd.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    cases = [
        (["run", "--rm", "busybox:nope", "true"], 125, "No such image"),
        (["run", "--rm", "-m", "lots", "busybox", "true"], 125, "invalid argument \"lots\""),
        (["run", "--rm", "busybox", "no-such-cmd"], 127, "executable file not found"),
        (["run", "--rm", "busybox", "/etc/passwd"], 126, "permission denied"),
        (["run", "--name", name, "busybox", "true"], 125, "already in use"),
        (["run", "--rm", "--ulimit", "nofile=999999:999999", "busybox", "true"], 125, "hard limit"),
        (["stop", "no-such-container-x"], 1, "No such container"),
    ]
    for args, code, text in cases:
        r = orchd.orch(*args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert text in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert inspect(orchd, name)["State"]["Running"] is True  # nothing running was disturbed
    orchd.ok("rm", "-f", name)


def test_init_reaps_and_is_pid1(orchd: Orchd) -> None:
    out = orchd.ok("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert out.startswith("/sbin/docker-init")


def test_env_workdir_entrypoint_and_ulimit(orchd: Orchd, tmp_path: Path) -> None:
    envf = tmp_path / "env"
    envf.write_text("FROM_FILE=yes\n# comment\n")
    out = orchd.ok("run", "--rm", "-e", "A=1", "--env-file", str(envf), "-w", "/tmp/work", "--ulimit",
                   "nofile=512:1024", "--entrypoint", "sh", "busybox", "-c",
                   "echo $A $FROM_FILE; pwd; ulimit -n")
    assert out.split() == ["1", "yes", "/tmp/work", "512"]


def test_cpu_and_memory_limits_reach_the_cgroup(orchd: Orchd) -> None:
    name = orchd.name("lim")
    orchd.ok("run", "-d", "--name", name, "-m", "64m", "--cpus", "0.5", "-c", "512", "--cpuset-cpus", "0",
             "busybox", "sleep", "300")
    cid = inspect(orchd, name)["Id"]
    root = Path("/sys/fs/cgroup")
    assert int((root / "memory" / orchd.cgroup_parent / cid / "memory.limit_in_bytes").read_text()) == 64 << 20
    assert int((root / "cpu" / orchd.cgroup_parent / cid / "cpu.cfs_quota_us").read_text()) == 50000
    assert int((root / "cpu" / orchd.cgroup_parent / cid / "cpu.shares").read_text()) == 512
    assert (root / "cpuset" / orchd.cgroup_parent / cid / "cpuset.cpus").read_text().strip() == "0"
    out = orchd.ok("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", name)
    assert name in out and "64MiB" in out
    orchd.ok("rm", "-f", name)


def test_stop_sends_signal_then_kills_after_grace(orchd: Orchd) -> None:
    name = orchd.name("stop")
    # busybox sleep as PID 1 ignores SIGTERM: stop must fall back to SIGKILL after the grace period.
    orchd.ok("run", "-d", "--name", name, "--stop-timeout", "1", "busybox", "sleep", "300")
    orchd.ok("stop", name)
    st = inspect(orchd, name)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 137
    name2 = orchd.name("trap")
    orchd.ok("run", "-d", "--name", name2, "busybox", "sh", "-c",
             "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done")
    eventually(lambda: inspect(orchd, name2)["State"]["Running"])
    orchd.ok("stop", "-t", "5", name2)
    assert inspect(orchd, name2)["State"]["ExitCode"] == 0
    assert "got-term" in orchd.ok("logs", name2)
    orchd.ok("rm", name, name2)


def test_restart_policy_on_failure(orchd: Orchd) -> None:
    name = orchd.name("rp")
    orchd.ok("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3")
    eventually(lambda: inspect(orchd, name)["RestartCount"] == 2 and inspect(orchd, name)["State"]["Status"] == "exited",
               timeout=20)
    assert orchd.ok("logs", name).count("run") == 3
    orchd.ok("rm", name)


def test_logs_tail_timestamps_and_rotation(orchd: Orchd) -> None:
    name = orchd.name("logs")
    orchd.ok("run", "--name", name, "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
             "for i in $(seq 1 300); do echo line-$i; echo err-$i >&2; done")
    # stdout and stderr are separate pipes, so their interleaving in the log is not fixed; the
    # last two entries are two of the last lines written, split over the two streams.
    r = orchd.orch("logs", "--tail", "2", name)
    tail = (r.stdout + r.stderr).split()
    assert len(tail) == 2 and set(tail) <= {"line-299", "err-299", "line-300", "err-300"}
    r = orchd.orch("logs", "-t", "--tail", "1", name)
    stamped = (r.stdout + r.stderr).strip()
    assert stamped[:4].isdigit() and stamped.split()[1] in ("line-300", "err-300")
    r = orchd.orch("logs", "--tail", "0", name)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    cid = inspect(orchd, name)["Id"]
    logdir = orchd.state / "containers" / cid
    files = sorted(p.name for p in logdir.iterdir() if "json.log" in p.name)
    assert files == [f"{cid}-json.log", f"{cid}-json.log.1"]
    assert all(p.stat().st_size <= 2048 for p in logdir.iterdir() if "json.log" in p.name)
    orchd.ok("rm", name)


def test_exec_env_workdir_user(orchd: Orchd) -> None:
    name = orchd.name("exec")
    orchd.ok("run", "-d", "--name", name, "-e", "BASE=1", "busybox", "sleep", "300")
    out = orchd.ok("exec", "-e", "X=2", "-w", "/tmp", "-u", "app", name, "sh", "-c", "echo $BASE $X; pwd; id -u")
    assert out.split() == ["1", "2", "/tmp", "1000"]
    r = orchd.orch("exec", name, "sh", "-c", "exit 9")
    assert r.returncode == 9
    r = orchd.orch("exec", name, "nope")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    orchd.ok("rm", "-f", name)


def test_ps_filters_and_format(orchd: Orchd) -> None:
    a, b = orchd.name("psa"), orchd.name("psb")
    orchd.ok("run", "-d", "--name", a, "-l", "tier=web", "busybox", "sleep", "300")
    orchd.ok("run", "--name", b, "busybox", "true")
    running = orchd.ok("ps", "--format", "{{.Names}}").split()
    assert a in running and b not in running
    assert b in orchd.ok("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}").split()
    assert orchd.ok("ps", "-q", "--filter", "label=tier=web").split() == [inspect(orchd, a)["Id"][:12]]
    assert orchd.ok("inspect", "-f", "{{.State.Running}} {{.Config.Labels.tier}}", a).strip() == "true web"
    orchd.ok("rm", "-f", a, b)


def test_volume_commands(orchd: Orchd) -> None:
    v = orchd.name("v")
    assert orchd.ok("volume", "create", "--label", "k=v", v).strip() == v
    doc = json.loads(orchd.ok("volume", "inspect", v))[0]
    assert doc["Name"] == v and doc["Labels"] == {"k": "v"} and os.path.isdir(doc["Mountpoint"])
    name = orchd.name("vu")
    orchd.ok("run", "-d", "--name", name, "-v", f"{v}:/data", "busybox", "sleep", "300")
    r = orchd.orch("volume", "rm", v)
    assert r.returncode == 1 and "in use" in r.stderr
    orchd.ok("rm", "-f", name)
    orchd.ok("volume", "rm", v)
    assert v not in orchd.ok("volume", "ls", "-q").split()


def test_stop_knows_whether_pid1_handles_the_stop_signal(orchd: Orchd) -> None:
    from agent.runtime.engine import _pid1_catches

    plain, trapping = orchd.name("plain"), orchd.name("trapper")
    orchd.ok("run", "-d", "--name", plain, "busybox", "sleep", "300")
    orchd.ok("run", "-d", "--name", trapping, "busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
    eventually(lambda: _pid1_catches(inspect(orchd, trapping)["State"]["Pid"], 15))
    # sleep as PID 1 has no SIGTERM handler: the kernel drops the signal, so stop escalates at once.
    assert not _pid1_catches(inspect(orchd, plain)["State"]["Pid"], 15)
    orchd.ok("rm", "-f", plain, trapping)
