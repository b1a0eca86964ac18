"""Shared fixtures: no internet, a TFTP root on tmp_path, a generated archive served on loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.commands import CommandResult
from tests.support.requirements import require_tool
from tools.archive import ArchiveTree
from tools.httpserver import ArchiveServer
from tools.signing import ArchiveSigner

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = host == "localhost"
        if not allowed:
            raise OSError(f"tests may not reach the network: connect to {address!r} refused")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: sockets may connect to loopback only."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Faked HTTP for unit tests (responses): only registered URLs answer; not every one must be asked."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def tftp_root(tmp_path: Path) -> Path:
    return tmp_path / "tftpboot"


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveSigner]:
    """A throwaway archive key, made once per test session with real gpg."""
    require_tool("gpg")
    require_tool("gpgv")
    key = ArchiveSigner(tmp_path_factory.mktemp("archive-key"))
    yield key
    key.close()


@pytest.fixture
def archive(tmp_path: Path, signer: ArchiveSigner) -> ArchiveTree:
    """A Debian-style archive signed by `signer` (Release lists each installer SHA256SUMS)."""
    return ArchiveTree(tmp_path / "archive", signer=signer)


@pytest.fixture
def archive_server(archive: ArchiveTree) -> Iterator[ArchiveServer]:
    with ArchiveServer(archive.root) as server:
        yield server


@pytest.fixture
def import_pxe(archive_server: ArchiveServer, tftp_root: Path, signer: ArchiveSigner) -> Any:
    """Run import_pxe_files against the loopback archive and this test's TFTP root, trusting `signer`."""

    def run(*args: str, verbosity: int = 1, keyring: Path | None = signer.keyring) -> CommandResult:
        out, err = StringIO(), StringIO()
        argv = ["--archive", archive_server.url + "dists/", "--tftproot", str(tftp_root), *args]
        if keyring is not None:
            argv += ["--keyring", str(keyring)]
        try:
            call_command("import_pxe_files", *argv, verbosity=verbosity, stdout=out, stderr=err)
            code = 0
        except CommandError as exc:
            err.write(str(exc))
            code = exc.returncode
        return CommandResult(code, out.getvalue(), err.getvalue())

    return run


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a failure: CI installs every tool the tests need."""
    if os.environ.get("CI") and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nCI skips nothing, but {len(_skipped)} test(s) skipped: {', '.join(_skipped)}")
