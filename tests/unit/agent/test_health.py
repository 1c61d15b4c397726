"""Healthcheck configuration merging and the status state machine (no containers)."""

from __future__ import annotations

import pytest

from agent import health
from agent.health import Health, Result

MS = 1_000_000


def _r(code: int) -> Result:
    return Result("s", "e", code, "out")


def test_from_spec_converts_protobuf_json_strings() -> None:
    doc = health.from_spec({"test": ["CMD-SHELL", "true"], "interval": "200000000", "retries": 2})
    assert doc == {"Test": ["CMD-SHELL", "true"], "Interval": 200 * MS, "Timeout": 0, "StartPeriod": 0,
                   "StartInterval": 0, "Retries": 2}
    assert health.from_spec(None) is None


def test_merge_takes_unset_fields_from_the_image() -> None:
    image = {"Test": ["CMD", "check"], "Interval": 5000 * MS, "Retries": 7}
    merged = health.merge({"Test": [], "Interval": 0, "Timeout": 100 * MS, "Retries": 0}, image)
    assert merged is not None
    assert merged["Test"] == ["CMD", "check"] and merged["Interval"] == 5000 * MS
    assert merged["Timeout"] == 100 * MS and merged["Retries"] == 7
    assert health.merge(None, None) is None
    assert health.merge({"Test": ["NONE"]}, image)["Test"] == ["NONE"]  # type: ignore[index]


@pytest.mark.parametrize("doc", [{"Test": ["BOGUS", "x"]}, {"Test": ["CMD-SHELL"]}, {"Test": ["CMD"]},
                                 {"Test": ["CMD", "x"], "Interval": -1}, {"Test": ["CMD", "x"], "Timeout": 10},
                                 {"Test": ["CMD", "x"], "Retries": -1}])
def test_invalid_configs_are_rejected(doc: dict) -> None:
    with pytest.raises(health.HealthConfigError):
        health.merge(doc, None)


def test_probe_defaults_and_forms() -> None:
    p = health.probe_of({"Test": ["CMD-SHELL", "curl -f x"]})
    assert p is not None
    assert p.argv == ["/bin/sh", "-c", "curl -f x"]
    assert (p.interval, p.timeout, p.retries, p.start_period, p.start_interval) == (30.0, 30.0, 3, 0.0, 5.0)
    q = health.probe_of({"Test": ["CMD", "/bin/check", "-v"], "Interval": 250 * MS, "Retries": 1})
    assert q is not None and q.argv == ["/bin/check", "-v"] and q.interval == 0.25 and q.retries == 1
    assert health.probe_of({"Test": ["NONE"]}) is None
    assert health.probe_of({"Test": []}) is None
    assert health.probe_of(None) is None


def test_state_machine_retries_and_recovery() -> None:
    h = Health()
    assert h.status == "starting"
    assert h.record(_r(1), in_start_period=False, retries=3) is None
    assert h.record(_r(1), in_start_period=False, retries=3) is None
    assert h.failing_streak == 2 and h.status == "starting"
    assert h.record(_r(1), in_start_period=False, retries=3) == "unhealthy"
    assert h.record(_r(1), in_start_period=False, retries=3) is None  # no event without a change
    assert h.record(_r(0), in_start_period=False, retries=3) == "healthy"
    assert h.failing_streak == 0


def test_failures_in_the_start_period_do_not_count() -> None:
    h = Health()
    for _ in range(5):
        assert h.record(_r(1), in_start_period=True, retries=1) is None
    assert h.status == "starting" and h.failing_streak == 0
    assert len(h.log) == 5
    assert h.record(_r(0), in_start_period=True, retries=1) == "healthy"
    assert h.record(_r(1), in_start_period=True, retries=1) == "unhealthy"  # once healthy, failures count


def test_log_keeps_the_last_five() -> None:
    h = Health()
    for code in range(8):
        h.record(Result(str(code), "e", code, ""), in_start_period=False, retries=100)
    assert [e["Start"] for e in h.log] == ["3", "4", "5", "6", "7"]
    assert h.doc()["Log"][0] == {"Start": "3", "End": "e", "ExitCode": 3, "Output": ""}
