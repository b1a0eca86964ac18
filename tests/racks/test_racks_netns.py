"""Racks in network namespaces of their own (ip netns, a veth pair each way to the host) follow the region.

Inside its namespace a rack has only `lo` and its veth end: the host's loopback (the upstream
archive, RabbitMQ, anything bound to 127.0.0.1) is out of its reach. The region serves its publish
root on the veth's host address, and RabbitMQ (on 127.0.0.1, where `guest` may connect) is relayed
there by a TCP forwarder: the rack reaches the region over HTTP and AMQP and nothing else bound
there. No packet filter is installed here (neither nft nor iptables), so a host service bound to
every address would be reachable too; the test shows the upstream is not.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.requirements import require_rabbitmq, require_tool, skip_or_fail
from tests.support.tree import install_dir
from tools.archive import ArchiveTree, netboot_files
from tools.httpserver import ArchiveServer
from tools.racksite import Site, wait_until
from tools.tcpforward import TcpForwarder

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def namespace() -> Iterator[tuple[str, str]]:
    """(namespace name, the host's address on its veth), removed afterwards; skip (CI: fail) where none can be made."""
    require_tool("ip")
    if os.geteuid() != 0:
        skip_or_fail("network namespaces need root")
    token = secrets.token_hex(4)
    name, host_end, ns_end = f"pxr-{token}", f"pxh{token}", f"pxn{token}"
    subnet = f"10.{200 + int(token[:2], 16) % 50}.{int(token[2:4], 16)}"
    try:
        ip("netns", "add", name)
    except subprocess.CalledProcessError as exc:
        skip_or_fail(f"cannot make a network namespace here: {exc.stderr.strip()}")
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        ip("link", "set", ns_end, "netns", name)
        ip("addr", "add", f"{subnet}.1/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        for args in (
            ("addr", "add", f"{subnet}.2/30", "dev", ns_end),
            ("link", "set", ns_end, "up"),
            ("link", "set", "lo", "up"),
        ):
            ip("netns", "exec", name, "ip", *args)
        yield name, f"{subnet}.1"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)  # takes its veth end, and the pair, along
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)


def reachable_from(namespace: str, host: str, port: int) -> bool:
    probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=3).close()"
    return (
        subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", probe], capture_output=True).returncode
        == 0
    )


def test_racks_in_their_own_namespaces_converge_over_http_and_amqp_and_cannot_reach_upstream(
    tmp_path: Path, archive: ArchiveTree, archive_server: ArchiveServer, signer, namespace
):
    broker = require_rabbitmq()
    require_tool("gpg")
    name, host = namespace
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    site = Site(tmp_path, archive_server, signer.keyring, broker, region_host=host)
    try:
        with TcpForwarder(host, ("127.0.0.1", 5672)) as amqp:
            rack_broker = f"amqp://guest:guest@{host}:{amqp.address[1]}//"
            site.region_import()
            site.start_region_worker()
            for rack in ("n1", "n2"):
                site.start_rack(rack, prefix=["ip", "netns", "exec", name], broker=rack_broker)
            wait_until("both racks converge", lambda: site.racks_in_sync(["n1", "n2"]), 90)

            upstream_port = int(archive_server.url.rsplit(":", 1)[1].strip("/"))
            assert not reachable_from(name, "127.0.0.1", upstream_port)
            assert not reachable_from(name, host, upstream_port)
            assert reachable_from(name, host, amqp.address[1])

            # A new version upstream: the region imports it, the wake-up crosses the namespaces, both follow.
            archive.publish("bookworm", "amd64", netboot_files("v2"))
            site.region_import()
            wait_until("both racks converge to v2", lambda: site.racks_in_sync(["n1", "n2"]), 90)
            region = install_dir(site.region_root, "amd64", "bookworm")
            for rack in ("n1", "n2"):
                served = install_dir(site.rack_root(rack), "amd64", "bookworm")
                assert (served / "initrd.gz").read_bytes() == (region / "initrd.gz").read_bytes()
            for rack in ("n1", "n2"):
                site.stop(f"rack-{rack}")
    finally:
        site.close()
