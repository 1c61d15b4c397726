"""A single-node cluster in its own network namespace for the compose tests (one per module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.services.svchelpers import Cluster, busybox_tar


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/compose" in str(item.fspath):
            item.add_marker(pytest.mark.root)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, cgroups, mounts)")
    base = Path(tmp_path_factory.mktemp("compose"))
    d = Cluster(base)
    try:
        d.start()
        d.ok("image", "import", str(busybox_tar(base)), "busybox:latest")
        yield d
    finally:
        d.teardown()
