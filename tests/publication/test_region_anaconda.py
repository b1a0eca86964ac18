"""A rack keeps the region's Anaconda installer tree (.treeinfo and images/install.img) in its own HTTP root, and
its menus' inst.stage2 names the rack's copy: nodes of a rack need nothing of the region's to start the
installer. The region imports an AlmaLinux stand-in (tools/anaconda_iso.py) with the anaconda-iso layout and
publishes; the rack imports with --layout region. Real gpg and gpgv, real HTTP servers on loopback.
"""

from __future__ import annotations

import hashlib
import json
import re
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from pxeimport.publication import HTTP_DIR, INDEX
from tests.support.region import run
from tests.support.requirements import require_tool
from tests.support.tree import base, install_dir
from tools.anaconda_iso import IsoDirectory, boot_iso
from tools.faultserver import FaultServer
from tools.httpserver import ArchiveServer

pytestmark = pytest.mark.django_db
REGION_HTTP_URL = "http://region.example.org/pxe"
STAGE2 = b"AlmaLinux install.img stand-in\n" * 512


def test_a_rack_keeps_the_installer_tree_and_its_menus_name_its_own_copy(tmp_path, settings, signer):
    require_tool("xorriso")
    upstream = tmp_path / "upstream"
    iso = boot_iso(tmp_path / "AlmaLinux-9.5-x86_64-boot.iso", "AlmaLinux", "9.5", b"kernel\n", b"initrd\n", STAGE2)
    directory = IsoDirectory(upstream, "almalinux/9/isos/x86_64", signer)
    directory.add(iso.name, iso)
    directory.write_list()
    (tmp_path / "publish").mkdir()
    (tmp_path / "rack-http").mkdir()
    settings.PXEIMPORT_REGION_GNUPGHOME = tmp_path / "region-gnupg"
    settings.PXEIMPORT_PUBLISH_URL = "http://127.0.0.1/"
    settings.PXEIMPORT_HTTP_BACKOFF = 0
    settings.CELERY_BROKER_URL = ""
    keyring = tmp_path / "region.gpg"
    call_command("export_region_keyring", str(keyring), stdout=StringIO())
    pairs = ["--arch", "amd64", "--release", "9"]
    with (
        FaultServer(upstream) as mirror,
        ArchiveServer(tmp_path / "publish") as region,
        ArchiveServer(tmp_path / "rack-http") as rack_http,
    ):
        settings.PXEIMPORT_PUBLISH_ROOT = tmp_path / "publish"
        settings.PXEIMPORT_HTTP_ROOT, settings.PXEIMPORT_HTTP_URL = str(tmp_path / "region-http"), REGION_HTTP_URL
        argv = ["--layout", "anaconda-iso", "--archive", mirror.url + "almalinux/", "--keyring", str(signer.keyring)]
        assert run(*argv, "--tftproot", str(tmp_path / "region-tftp"), *pairs).code == 0
        text = (tmp_path / "publish" / INDEX).read_text()
        index = json.loads(text[text.index("{") : text.rindex("}") + 1])
        tree = f"almalinux/9/{hashlib.sha256(iso.read_bytes()).hexdigest()[:16]}"
        install = next(i for i in index["items"] if i["kind"] == "install")
        assert sorted(f["path"] for f in install["http_files"]) == [f"{tree}/.treeinfo", f"{tree}/images/install.img"]

        settings.PXEIMPORT_PUBLISH_ROOT = None
        settings.PXEIMPORT_HTTP_ROOT, settings.PXEIMPORT_HTTP_URL = str(tmp_path / "rack-http"), rack_http.url + "boot"
        argv = ["--layout", "region", "--archive", region.url, "--keyring", str(keyring)]
        result = run(*argv, "--tftproot", str(tmp_path / "rack-tftp"), *pairs)

        assert result.code == 0, result.stderr
        kept = tmp_path / "rack-http" / "images" / tree
        assert (kept / "images" / "install.img").read_bytes() == STAGE2
        assert "mainimage = images/install.img" in (kept / ".treeinfo").read_text()
        menu = (base(tmp_path / "rack-tftp", "amd64") / "grub" / "grub.cfg").read_text()
        assert set(re.findall(r"inst\.stage2=(\S+)", menu)) == {f"{rack_http.url}boot/images/{tree}/"}
        assert (install_dir(tmp_path / "rack-tftp", "amd64", "9") / "linux").read_bytes() == b"kernel\n"
        # What the rack's nodes fetch, from the rack's own web server.
        image = requests.get(f"{rack_http.url}images/{tree}/images/install.img", timeout=30)
        assert image.content == STAGE2
        # Its bytes crossed once: the version's install.img, whose SHA-256 the HTTP root's copy shares.
        pulled = [r.path for r in region.requests]
        assert len([p for p in pulled if p.endswith("/install.img")]) == 1, pulled
        assert not [p for p in pulled if p.startswith(f"/{HTTP_DIR}/")]
