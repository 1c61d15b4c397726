"""`attach` and the Ctrl-P Ctrl-Q detach sequence, driven through a real pty."""

from __future__ import annotations

import json

import pytest

from .conftest import ORCH, ROOT, Orchd

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.root


def _running(orchd: Orchd, name: str) -> bool:
    return bool(json.loads(orchd.ok("inspect", name))[0]["State"]["Running"])


def test_attach_sees_output_and_detaches(orchd: Orchd) -> None:
    name = orchd.name("att")
    orchd.ok("run", "-d", "-it", "--name", name, "busybox", "sh", "-c",
             "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.1; done")
    child = pexpect.spawn(ORCH[0], [*ORCH[1:], "attach", name], env=orchd.env, cwd=str(ROOT), timeout=20)
    try:
        child.expect(r"tick-\d+")
        child.expect(r"tick-\d+")
        child.sendcontrol("p")
        child.sendcontrol("q")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert _running(orchd, name)
    orchd.ok("rm", "-f", name)


def test_run_it_detaches_with_ctrl_p_ctrl_q(orchd: Orchd) -> None:
    name = orchd.name("runit")
    child = pexpect.spawn(ORCH[0], [*ORCH[1:], "run", "-it", "--name", name, "busybox", "sh"], env=orchd.env,
                          cwd=str(ROOT), timeout=20)
    try:
        child.expect(r"[#$] ")
        child.sendline("echo before-$((1+1))")
        child.expect("before-2")
        child.sendcontrol("p")
        child.sendcontrol("q")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert _running(orchd, name)
    # and a later attach gets the same shell back
    child = pexpect.spawn(ORCH[0], [*ORCH[1:], "attach", name], env=orchd.env, cwd=str(ROOT), timeout=20)
    try:
        # like a user: press Enter to get a fresh prompt (the attach resize makes the shell redraw)
        child.sendline("")
        child.expect(r"[#$] ")
        child.sendline("echo again-$((2+1))")
        child.expect("again-3")
        child.sendline("exit 7")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 7
    orchd.ok("rm", "-f", name)


def test_attach_to_stopped_container_fails(orchd: Orchd) -> None:
    name = orchd.name("attstop")
    orchd.ok("create", "--name", name, "busybox", "true")
    r = orchd.orch("attach", name)
    assert r.returncode == 1 and "start it first" in r.stderr
    orchd.ok("rm", name)
