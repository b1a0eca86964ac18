"""A mirror of ISO directories for the layouts that take an ISO from a signed checksum file (anaconda-iso,
opensuse-iso): an empty directory the tests fill, served on loopback with index pages and byte ranges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.faultserver import FaultServer


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    return tmp_path / "upstream"


@pytest.fixture
def server(upstream: Path) -> Iterator[FaultServer]:
    upstream.mkdir(exist_ok=True)
    with FaultServer(upstream, ranges=True) as running:
        yield running
