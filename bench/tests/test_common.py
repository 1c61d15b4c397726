"""Pure tests of the benchmark helpers (no root, no daemon): statistics, ratios, parsing."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from bench import common, importprof
from bench.common import Breakdown, Report, Run, Sample, Table


def test_sample_statistics() -> None:
    s = Sample("x", [3.0, 1.0, 2.0, 10.0])
    assert (s.median, s.min, s.max, s.runs) == (2.5, 1.0, 10.0, 4)
    assert math.isnan(Sample("empty", []).median)


def test_table_ratio_against_baseline_and_unit_mismatch() -> None:
    t = Table("t", baseline="crun")
    t.add(Sample("crun", [10.0, 10.0]))
    orch = t.add(Sample("orch", [5.0, 5.0]))
    kb = t.add(Sample("mem", [5.0], unit="kB"))
    assert t.ratio(orch) == 0.5
    assert t.ratio(kb) is None  # never divide ms by kB
    md = t.markdown()
    assert "| orch | 5.00 ms | 5.00 | 5.00 | 2 | 0.50x |" in md
    assert "ratio vs crun" in md


def test_table_without_baseline_has_empty_ratio() -> None:
    t = Table("t")
    s = t.add(Sample("a", [1.0]))
    assert t.ratio(s) is None
    assert t.markdown().splitlines()[-1].endswith("| 1 |  |")


def test_report_writes_markdown_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = Report()
    r.facts["kernel"] = "6.18"
    bd = Breakdown("mem")
    bd.add("rss growth", 7.5, "kB", "per container")
    r.add(bd)
    out = tmp_path / "r.md"
    r.write(out)
    assert "| rss growth | 7.50 kB | per container |" in out.read_text()
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["tables"][0]["rows"][0]["value"] == 7.5
    assert "### mem" in capsys.readouterr().out


def test_run_verdict_lines(capsys: pytest.CaptureFixture[str]) -> None:
    run = Run(report=Report(), quick=True)
    run.verdict("fast", True, "1 ms")
    run.verdict("small", False, "2 MiB")
    assert run.targets == ["MET: fast (1 ms)", "MISSED: small (2 MiB)"]


def test_time_calls_skips_warmup_and_runs_between() -> None:
    calls: list[str] = []
    xs = common.time_calls(lambda: calls.append("f"), runs=3, warmup=2, between=lambda: calls.append("b"))
    assert len(xs) == 3 and all(x >= 0 for x in xs)
    assert calls == ["f", "b"] * 5


def test_poll_times_out_with_a_clear_message() -> None:
    with pytest.raises(common.BenchError, match="waiting for nothing"):
        common.poll(lambda: False, 0.05, interval=0.01, what="nothing")


def test_hyperfine_fallback_and_real(monkeypatch: pytest.MonkeyPatch) -> None:
    cmds = [("true", "/bin/true"), ("false-ish", "/bin/true --version")]
    if common.have("hyperfine"):
        got = common.hyperfine(cmds, runs=3, warmup=0, rounds=2)
        assert [s.name for s in got] == ["true", "false-ish"]
        assert [s.runs for s in got] == [4, 4]  # ceil(3/2) per round, two rounds
    monkeypatch.setattr(common, "have", lambda prog: False)
    got = common.hyperfine(cmds[:1], runs=2, warmup=0)
    assert got[0].runs == 2 and got[0].note == "subprocess timing"


def test_run_group_kills_on_timeout() -> None:
    with pytest.raises(common.BenchError, match="did not finish"):
        common._run_group(["sleep", "5"], None, timeout=0.2)
    with pytest.raises(common.BenchError, match="failed"):
        common._run_group(["false"], None, timeout=5)


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |     _b
import time:       200 |        300 |   a.sub
import time:       400 |        700 | a
import time:        50 |         50 | c
"""


def test_importtime_parsing_depths_top_level_and_children() -> None:
    rows = importprof.parse(IMPORTTIME)
    assert [(d, c.module) for d, c in rows] == [(2, "_b"), (1, "a.sub"), (0, "a"), (0, "c")]
    top = importprof.top_level(rows)
    assert [(c.module, c.cumulative_ms) for c in top] == [("a", 0.7), ("c", 0.05)]
    assert [c.module for c in importprof.children(rows, "a")] == ["a.sub"]
    assert importprof.children(rows, "missing") == []


def test_importtime_against_a_real_interpreter() -> None:
    p = subprocess.run(["python3", "-X", "importtime", "-c", "import json"], capture_output=True, text=True)
    rows = importprof.parse(p.stderr)
    assert any(c.module == "json" and d == 0 for d, c in rows)
