"""Fixtures of the network integration tests (helpers live in netlab.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from agent.network.ipam import Ipam

from .netlab import Lab, World


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/network" in str(item.fspath) and os.geteuid() != 0:
            item.add_marker(
                pytest.mark.skip(reason="NEEDS ROOT: network integration tests create namespaces")
            )


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        lab.cleanup()
    leftovers = (
        [n for n in os.listdir("/run/netns") if n.startswith(lab.prefix)]
        if os.path.isdir("/run/netns")
        else []
    )
    assert not leftovers, f"namespaces left behind: {leftovers}"


@pytest.fixture
def host(lab: Lab) -> str:
    """The namespace standing in for the host the agent runs on."""
    return lab.netns("h")


@pytest.fixture
def world(lab: Lab, host: str) -> Iterator[World]:
    with tempfile.TemporaryDirectory(prefix="orchnet") as www:
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("hello\n")
        yield World(lab, host, Ipam(), www)
