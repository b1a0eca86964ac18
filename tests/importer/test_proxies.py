"""Proxies: a source's own, or http_proxy from the environment, and errors that say which was used."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pxeimport.models import BootSource
from tests.support.tree import install_dir
from tools.archive import netboot_files

pytestmark = pytest.mark.django_db


class ForwardProxy:
    """A plain HTTP forward proxy on loopback that records what it was asked for."""

    def __init__(self) -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen.append(self.path)
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("if-none-match", "accept-encoding")}
                try:
                    with opener.open(urllib.request.Request(self.path, headers=headers), timeout=10) as upstream:
                        body, status, upstream_headers = upstream.read(), upstream.status, upstream.headers
                except urllib.error.HTTPError as exc:
                    body, status, upstream_headers = exc.read(), exc.code, exc.headers
                self.send_response(status)
                for name in ("ETag", "Last-Modified"):
                    if upstream_headers.get(name):
                        self.send_header(name, upstream_headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with ForwardProxy() as running:
        yield running


ARGS = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")


def saved_source(url: str, keyring: str, proxy: str) -> BootSource:
    BootSource.objects.all().delete()
    source = BootSource.objects.create(
        name="mirror", url=url, distribution="debian", keyring=keyring, proxy=proxy, current_release="bookworm"
    )
    source.arches.create(name="amd64")
    source.releases.create(name="bookworm")
    return source


def test_a_sources_own_proxy_carries_its_requests(archive, archive_server, tftp_root, signer, proxy):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    saved_source(archive_server.url + "dists/", str(signer.keyring), proxy.url)

    call_command("import_pxe_files", "--tftproot", str(tftp_root), verbosity=0)

    assert (install_dir(tftp_root, "amd64", "bookworm") / "linux").read_bytes() == netboot_files("v1")["linux"]
    assert any(seen.endswith("/InRelease") for seen in proxy.seen)
    assert any(seen.endswith("/linux") for seen in proxy.seen)


def test_http_proxy_from_the_environment_is_honoured(archive, import_pxe, tftp_root, proxy, monkeypatch):
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    monkeypatch.setenv("http_proxy", proxy.url)

    assert import_pxe(*ARGS).code == 0

    assert any(seen.endswith("/initrd.gz") for seen in proxy.seen)


def test_an_error_through_a_proxy_names_the_proxy_without_its_password(
    archive, archive_server, tftp_root, signer, settings
):
    settings.PXEIMPORT_HTTP_RETRIES = 0
    archive.publish("bookworm", "amd64", netboot_files("v1"))
    saved_source(archive_server.url + "dists/", str(signer.keyring), "http://operator:s3cret@127.0.0.1:9")
    err = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("import_pxe_files", "--tftproot", str(tftp_root), stderr=err, verbosity=0)

    assert failed.value.returncode == 1
    assert "through proxy http://operator:***@127.0.0.1:9" in err.getvalue()
    assert "s3cret" not in err.getvalue()
