"""A single-node cluster in its own network namespace for the compose tests (one per module)."""

from __future__ import annotations

import pytest

# The single-node cluster fixture of the service suite, one per test module here too.
from tests.integration.services.conftest import cluster  # noqa: F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration/compose" in str(item.fspath):
            item.add_marker(pytest.mark.root)
