"""A real orch daemon inside a throwaway network namespace, for the network CLI tests.

One daemon per session, started as ``nsenter --net=<host netns> orch daemon`` with its own state dir,
run dir and cgroup parent; its DNS forwarder's upstream is a dnslib server the fixture runs in the
"outside" namespace (ORCH_DNS_UPSTREAMS), never the machine's resolver. Teardown removes every
container and network through the CLI, stops the daemon and the spawner, unmounts what is left under the
state dir, removes the cgroups and deletes both namespaces -- also when tests fail.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.runtime.conftest import Orchd as RuntimeOrchd
from tests.integration.runtime.conftest import busybox_tar, eventually  # noqa: F401 - used by the tests

from .hostns import OUTSIDE_IP, HostNetns, UpstreamDns, assert_no_leftover_netns

ROOT = Path(__file__).resolve().parents[3]
ORCH = [sys.executable, "-m", "orchestrator.cli.main"]
UPSTREAM_RECORDS = {"www.example.test": "10.231.0.80"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/network_cli" in str(item.fspath):
            item.add_marker(pytest.mark.root)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="needs root (namespaces, cgroups, nftables)"))


class Orchd(RuntimeOrchd):
    """The runtime suite's daemon, in the session's host namespace, forwarding DNS to the test upstream."""

    def __init__(self, base: Path, ns: HostNetns, tag: str) -> None:
        super().__init__(base)
        self.netns = ns  # shared by the session; the hostns fixture removes it
        self.tag = tag
        self.cgroup_parent = f"orch-test-{tag}"
        self.env.update(ORCH_CGROUP_PARENT=self.cgroup_parent, ORCH_DNS_UPSTREAMS=f"{OUTSIDE_IP}:53")

    def fails(self, *args: str) -> str:
        """Run a command that must fail; returns its stderr (asserted to be one line)."""
        r = self.orch(*args)
        assert r.returncode != 0, f"orch {' '.join(args)} unexpectedly succeeded: {r.stdout}"
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected a one-line error, got: {r.stderr!r}"
        return lines[0]

    def teardown(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            ids = self.orch("ps", "-aq", timeout=30).stdout.split()
            if ids:
                self.orch("rm", "-f", *ids, timeout=60)
            custom = self.orch("network", "ls", "-q", "--filter", "type=custom").stdout.split()
            if custom:
                self.orch("network", "rm", *custom)
        ns, self.netns = self.netns, _NoNetns()
        try:
            super().teardown()
        finally:
            self.netns = ns


class _NoNetns:
    """Stands in for the namespace during the base teardown: the session fixture owns the real one."""

    def destroy(self) -> None:
        pass


@pytest.fixture(scope="session")
def hostns() -> Iterator[HostNetns]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    tag = "t" + secrets.token_hex(3)
    ns = HostNetns(tag)
    try:
        ns.create()
        yield ns
    finally:
        ns.destroy()
        assert_no_leftover_netns(tag)


@pytest.fixture(scope="session")
def upstream(hostns: HostNetns) -> Iterator[UpstreamDns]:
    server = UpstreamDns(hostns.outside_path, OUTSIDE_IP, UPSTREAM_RECORDS)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def orchd(tmp_path_factory: pytest.TempPathFactory, hostns: HostNetns, upstream: UpstreamDns) -> Iterator[Orchd]:
    base = Path(tmp_path_factory.mktemp("orchd-net"))
    d = Orchd(base, hostns, hostns.host[:-1])
    try:
        d.start()
        d.ok("image", "import", str(busybox_tar(base)), "busybox:latest")
        yield d
    finally:
        d.teardown()
