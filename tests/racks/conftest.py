"""The racks' tests share one site: a region and its racks as real processes over RabbitMQ (tools.racksite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.requirements import require_rabbitmq, require_tool
from tools.archive import ArchiveTree, netboot_files
from tools.httpserver import ArchiveServer
from tools.racksite import Site


@pytest.fixture
def site(tmp_path: Path, archive: ArchiveTree, archive_server: ArchiveServer, signer) -> Iterator[Site]:
    broker = require_rabbitmq()
    require_tool("gpg")
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    built = Site(tmp_path, archive_server, signer.keyring, broker)
    try:
        yield built
    finally:
        built.close()
        for log in sorted(tmp_path.glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name} ---\n{text[-3000:]}")
