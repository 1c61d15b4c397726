"""Shared helpers of the benchmarks: timing, statistics, hyperfine, memory probes, the results table.

Every measurement ends up as a ``Sample`` (a name and a list of milliseconds, or of any unit) and
samples measured side by side go into one ``Table``, which prints the median, min, max, the run
count and the ratio of each median to the table's baseline. Ratios taken inside one run are the
reliable part on a shared machine; absolute numbers drift with the load of other tenants.

What this module does not do: set up orch, crun or docker (``orchenv``, ``oci``, ``dockerd``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchError(Exception):
    """A benchmark could not run; the message is one line for the user."""


@dataclass
class Sample:
    """One tool's repeated measurement; ``values`` are in ``unit`` (ms unless stated)."""

    name: str
    values: list[float]
    unit: str = "ms"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def min(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def max(self) -> float:
        return max(self.values) if self.values else float("nan")

    @property
    def runs(self) -> int:
        return len(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "median": self.median, "min": self.min,
                "max": self.max, "runs": self.runs, "note": self.note}


@dataclass
class Table:
    """Samples measured side by side; ratios are medians divided by the baseline's median."""

    title: str
    samples: list[Sample] = field(default_factory=list)
    baseline: str | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, sample: Sample) -> Sample:
        self.samples.append(sample)
        return sample

    def find(self, name: str) -> Sample | None:
        return next((s for s in self.samples if s.name == name), None)

    def ratio(self, sample: Sample) -> float | None:
        base = self.find(self.baseline) if self.baseline else None
        if base is None or not base.values or not sample.values or base.unit != sample.unit or base.median == 0:
            return None
        return sample.median / base.median

    def markdown(self) -> str:
        base = f" vs {self.baseline}" if self.baseline else ""
        lines = [f"### {self.title}", "", f"| tool | median | min | max | runs | ratio{base} |",
                 "|---|---|---|---|---|---|"]
        for s in self.samples:
            r = self.ratio(s)
            name = f"{s.name} ({s.note})" if s.note else s.name
            lines.append(f"| {name} | {_fmt(s.median)} {s.unit} | {_fmt(s.min)} | {_fmt(s.max)} | {s.runs} | "
                         f"{'' if r is None else f'{r:.2f}x'} |")
        lines.extend(f"\n{n}" for n in self.notes)
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "baseline": self.baseline, "notes": self.notes,
                "samples": [dict(s.as_dict(), ratio=self.ratio(s)) for s in self.samples]}


@dataclass
class Breakdown:
    """Single values with a unit and a note each (memory deltas, import costs): no statistics."""

    title: str
    rows: list[tuple[str, float, str, str]] = field(default_factory=list)  # (what, value, unit, note)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, value: float, unit: str = "ms", note: str = "") -> None:
        self.rows.append((what, value, unit, note))

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| what | value | note |", "|---|---|---|"]
        lines += [f"| {w} | {_fmt(v)} {u} | {n} |" for w, v, u, n in self.rows]
        lines.extend(f"\n{n}" for n in self.notes)
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "notes": self.notes,
                "rows": [{"what": w, "value": v, "unit": u, "note": n} for w, v, u, n in self.rows]}


def _fmt(x: float) -> str:
    if x != x:  # NaN
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.2f}"


class Report:
    """All tables of one run, printed as they complete and optionally written out at the end."""

    def __init__(self) -> None:
        self.tables: list[Table | Breakdown] = []
        self.facts: dict[str, str] = {}

    def add(self, table: Table | Breakdown) -> None:
        self.tables.append(table)
        print(table.markdown(), flush=True)

    def markdown(self) -> str:
        head = ["## Machine and versions", ""] + [f"- {k}: {v}" for k, v in self.facts.items()] + [""]
        return "\n".join(head) + "\n" + "\n".join(t.markdown() for t in self.tables)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown())
        path.with_suffix(".json").write_text(json.dumps(
            {"facts": self.facts, "tables": [t.as_dict() for t in self.tables]}, indent=1))


@dataclass(kw_only=True)
class Run:
    """What every section gets: the report to add tables to, the mode, and the target verdicts."""

    report: Report
    quick: bool
    targets: list[str] = field(default_factory=list)

    def verdict(self, what: str, ok: bool, detail: str) -> None:
        line = f"{'MET' if ok else 'MISSED'}: {what} ({detail})"
        self.targets.append(line)
        log(line)


def log(msg: str) -> None:
    print(f"# {msg}", flush=True)


# --------------------------------------------------------------------------- timing


def time_calls(fn: Callable[[], Any], runs: int, warmup: int = 2,
               between: Callable[[], Any] | None = None) -> list[float]:
    """Milliseconds of ``runs`` calls of ``fn`` after ``warmup`` untimed ones.

    ``between`` runs untimed after each call (e.g. waiting for the container's exit and removing
    it), so one sample's teardown does not land in the next sample.
    """
    out: list[float] = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        fn()
        dt = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            out.append(dt)
        if between is not None:
            between()
    return out


def poll(pred: Callable[[], bool], timeout: float, interval: float = 0.02, what: str = "condition") -> None:
    """Wait until ``pred()`` holds; a deadline, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def run(cmd: Sequence[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command quietly; a failure becomes one BenchError line with the command's stderr."""
    p = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        err = (p.stderr or p.stdout).strip().splitlines()
        raise BenchError(f"{' '.join(cmd[:4])} failed ({p.returncode}): {err[-1] if err else ''}")
    return p


def have(prog: str) -> bool:
    return shutil.which(prog) is not None


def hyperfine(commands: Sequence[tuple[str, str]], runs: int, warmup: int = 2,
              env: dict[str, str] | None = None, rounds: int = 1) -> list[Sample]:
    """Time shell-free commands with hyperfine (``-N``); one Sample per command.

    hyperfine runs all runs of one command before the next, so a load spike from another tenant
    lands on one command only; ``rounds`` > 1 splits the runs into that many invocations, one
    after another, and pools the times, which spreads such drift over all commands.
    Falls back to subprocess timing when hyperfine is missing, so the benchmark still runs.
    """
    if rounds > 1:
        per = max(1, -(-runs // rounds))
        pooled = [Sample(name, []) for name, _ in commands]
        for _ in range(rounds):
            for acc, s in zip(pooled, hyperfine(commands, per, warmup, env), strict=True):
                acc.values.extend(s.values)
                acc.note = s.note
        return pooled
    if not have("hyperfine"):
        out = []
        for name, cmd in commands:
            argv = cmd.split()
            xs = time_calls(lambda a=argv: subprocess.run(a, stdout=subprocess.DEVNULL,  # type: ignore[misc]
                                                           stderr=subprocess.DEVNULL, env=env), runs, warmup)
            out.append(Sample(name, xs, note="subprocess timing"))
        return out
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(warmup), "--runs", str(runs),
                "--export-json", f.name]
        for name, cmd in commands:
            argv += ["-n", name, cmd]
        _run_group(argv, env, timeout=60 + 3.0 * runs * len(commands))
        data = json.load(open(f.name))
    by_cmd = {r["command"]: r for r in data["results"]}
    return [Sample(name, [t * 1000 for t in by_cmd[name]["times"]]) for name, _ in commands]


def _run_group(argv: list[str], env: dict[str, str] | None, timeout: float) -> None:
    """Run in a new process group; on timeout kill the whole group (e.g. a CLI hung in attach)."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise BenchError(f"{argv[0]} did not finish within {timeout:.0f} s (killed)") from None
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    if p.returncode != 0:
        lines = (err or out).strip().splitlines()
        raise BenchError(f"{argv[0]} failed ({p.returncode}): {lines[-1] if lines else ''}")


# --------------------------------------------------------------------------- memory


def meminfo_kb(key: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/meminfo has no {key}")


def mem_available_kb(samples: int = 3, gap: float = 0.2) -> int:
    """Median MemAvailable over a few reads: one read is at the mercy of other tenants."""
    xs = []
    for i in range(samples):
        if i:
            time.sleep(gap)
        xs.append(meminfo_kb("MemAvailable"))
    return int(statistics.median(xs))


def _proc_kb(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pid: int) -> int:
    return _proc_kb(f"/proc/{pid}/status", "VmRSS")


def pss_kb(pid: int) -> int:
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss")


def machine_facts() -> dict[str, str]:
    """Kernel, CPU, memory and tool versions, for the report header."""
    facts = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "kernel": os.uname().release,
             "cpus": str(os.cpu_count()), "MemTotal": f"{meminfo_kb('MemTotal') // 1024} MiB",
             "loadavg at start": " ".join(open("/proc/loadavg").read().split()[:3])}
    try:
        facts["cpu model"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                  if line.startswith("model name"))
    except StopIteration:
        pass
    for prog, args in (("crun", ["--version"]), ("runc", ["--version"]), ("hyperfine", ["--version"]),
                       ("dockerd", ["--version"])):
        if have(prog):
            p = run([prog, *args], check=False)
            facts[prog] = (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr) else "?"
    return facts
