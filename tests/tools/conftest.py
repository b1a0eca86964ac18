"""The soak's world for its tests: a signed archive on loopback, the saved selection, a first clean import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.soak.world import World, close, make_world


@pytest.fixture
def world(tmp_path: Path, settings) -> Iterator[World]:
    settings.PXEIMPORT_GRACE_SECONDS = 0
    settings.PXEIMPORT_HTTP_RETRIES = 0
    settings.PXEIMPORT_HTTP_BACKOFF = 0
    made = make_world(tmp_path)
    assert made.run().code == 0
    yield made
    close(made)
