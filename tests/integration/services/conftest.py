"""The single-node cluster fixture for the service tests (helpers live in ``svchelpers``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .svchelpers import Cluster, busybox_tar


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, cgroups, mounts)")
    base = Path(tmp_path_factory.mktemp("cluster"))
    d = Cluster(base)
    try:
        d.start()
        d.ok("image", "import", str(busybox_tar(base)), "busybox:latest")
        yield d
    finally:
        d.teardown()
