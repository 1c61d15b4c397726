"""`orch run -it` through a real pty: prompt, resize, Ctrl-C, exit code."""

from __future__ import annotations

import pytest

from .conftest import ORCH, ROOT, Orchd

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.root


def test_run_it_is_interactive(orchd: Orchd) -> None:
    child = pexpect.spawn(ORCH[0], [*ORCH[1:], "run", "-it", "--rm", "busybox", "sh"], env=orchd.env,
                          cwd=str(ROOT), dimensions=(30, 100), timeout=20)
    try:
        child.expect(r"[#$] ")
        child.sendline("tty; stty size")
        child.expect(r"/dev/(pts/\d+|console)")
        child.expect("30 100")
        child.setwinsize(40, 120)
        child.sendline("stty size")
        child.expect("40 120")
        # Ctrl-C reaches the container's foreground process, not the CLI.
        child.sendline("echo sleep-$((2+2)); sleep 30")
        child.expect("sleep-4")
        child.sendcontrol("c")
        child.expect(r"[#$] ")
        child.sendline("echo alive-$((1+1))")
        child.expect("alive-2")
        child.sendline("exit 5")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 5


def test_exec_it(orchd: Orchd) -> None:
    name = orchd.name("eit")
    orchd.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    child = pexpect.spawn(ORCH[0], [*ORCH[1:], "exec", "-it", name, "sh"], env=orchd.env, cwd=str(ROOT),
                          timeout=20)
    try:
        child.expect(r"[#$] ")
        child.sendline("echo $$ in-container")
        child.expect(r"\d+ in-container")
        child.sendline("exit 4")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 4
    orchd.ok("rm", "-f", name)


def test_run_i_pipes_stdin(orchd: Orchd) -> None:
    r = orchd.orch("run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z", input=b"hello stdin\n")
    assert r.returncode == 0 and r.stdout == "HELLO STDIN\n"
