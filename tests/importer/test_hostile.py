"""Hostile input: names, indexes, archive URLs and a TFTP root an attacker prepared.

Names become path components, so a bad one is refused before any request or write, by the
command (exit 2), the models and the admin. A hostile index fails its item, nothing else. A
symlink planted in the TFTP root is never written or deleted through, whatever it points at.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pxeimport.lib import NAME_PATTERN, InvalidName, check_name
from pxeimport.models import BootSource, ImportRun, SelectedArch, SelectedRelease
from pxeimport.tftproot import TftpRoot
from pxeimport.trust import ChecksumIndexError, parse_sha256sums
from pxeimport.validators import validate_archive_url
from tests.support.faulty import IMAGES, fast_http, publish_both, run_import, serving
from tools.archive import ArchiveTree, netboot_files
from tools.faultserver import FaultServer

BAD_NAMES = {
    "dot-dot": "..",
    "dot": ".",
    "climbs out": "../../etc",
    "slash": "a/b",
    "absolute": "/etc",
    "NUL": "bookworm\x00",
    "65 characters": "b" * 65,
    "10000 characters": "b" * 10_000,
    "unicode letter": "bóokworm",
    "fullwidth digits": "amd\uff16\uff14",
    "trailing newline": "bookworm\n",
    "leading space": " bookworm",
    "upper case": "Bookworm",
    "leading dot": ".hidden",
    "leading dash": "-rf",
    "empty": "",
    "shell": "amd64;rm",
    "percent-encoded dots": "%2e%2e",
    "backslash": "..\\..",
}


@pytest.fixture
def faults(archive: ArchiveTree) -> Iterator[FaultServer]:
    with FaultServer(archive.root) as server:
        yield server


# Names through the command -------------------------------------------------------------------------


# An empty --current-release means "the default", as if it were not given.
COMMAND_CASES = [
    pytest.param(option, name, id=f"{option}-{key}")
    for option in ("--arch", "--release", "--current-release")
    for key, name in BAD_NAMES.items()
    if name or option != "--current-release"
]


@pytest.mark.django_db
@pytest.mark.parametrize(("option", "name"), COMMAND_CASES)
def test_the_command_refuses_a_bad_name_before_any_request_or_write(faults, tftp_root, signer, option, name):
    args = {"--arch": "amd64", "--release": "bookworm", "--current-release": "bookworm"}
    args[option] = name
    argv = [f"{key}={value}" for key, value in args.items()]  # "=": a value may start with "-"

    result = run_import(faults.url, tftp_root, signer.keyring, *argv)

    assert result.code == 2, result.stderr
    assert "name" in result.stderr and "use 1-64 characters" in result.stderr
    assert faults.requests == []
    assert not tftp_root.exists()
    assert ImportRun.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["arch", "release", "current_release"])
def test_a_bad_name_saved_behind_the_admins_back_still_stops_the_command(faults, tftp_root, field):
    BootSource.objects.all().delete()
    source = BootSource.objects.create(
        name="mirror",
        url=faults.url + "dists/",
        current_release="../../etc" if field == "current_release" else "bookworm",
    )
    SelectedArch.objects.create(source=source, name="../../etc" if field == "arch" else "amd64")
    SelectedRelease.objects.create(source=source, name="../../etc" if field == "release" else "bookworm")

    with pytest.raises(CommandError) as caught:
        call_command("import_pxe_files", "--tftproot", str(tftp_root), verbosity=0)

    assert caught.value.returncode == 2
    assert "'../../etc'" in str(caught.value)
    assert faults.requests == []
    assert not tftp_root.exists()


# Names through the models and the admin ------------------------------------------------------------

MODEL_BAD_NAMES = {k: v for k, v in BAD_NAMES.items() if k != "trailing newline"}


@pytest.mark.django_db
@pytest.mark.parametrize("name", MODEL_BAD_NAMES.values(), ids=MODEL_BAD_NAMES.keys())
def test_the_models_refuse_a_bad_name_in_every_name_field(name):
    source = BootSource(name="ok", url="http://mirror.example/dists/")
    cases = [
        (BootSource(name=name, url="http://mirror.example/dists/"), "name"),
        (SelectedArch(source=source, name=name), "name"),
        (SelectedRelease(source=source, name=name), "name"),
    ]
    if name:  # these two may be blank: "use the default"
        cases += [
            (BootSource(name="ok", url="http://mirror.example/dists/", current_release=name), "current_release"),
            (BootSource(name="ok", url="http://mirror.example/dists/", installer_dir=name), "installer_dir"),
        ]
    for model, field in cases:
        with pytest.raises(ValidationError) as caught:
            model.full_clean(exclude=["source"])
        assert field in caught.value.message_dict, (model, field)


@pytest.mark.django_db
def test_the_models_refuse_a_name_with_a_trailing_newline():
    with pytest.raises(ValidationError):
        SelectedRelease(source=BootSource(name="ok"), name="bookworm\n").full_clean(exclude=["source"])


ADMIN_FORM = {
    "name": "mirror",
    "url": "http://mirror.example/dists/",
    "layout": "debian-installer",
    "distribution": "debian",
    "installer_dir": "",
    "current_release": "",
    "enabled": "on",
    "arches-TOTAL_FORMS": "1",
    "arches-INITIAL_FORMS": "0",
    "arches-0-name": "amd64",
    "releases-TOTAL_FORMS": "1",
    "releases-INITIAL_FORMS": "0",
    "releases-0-name": "bookworm",
}


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["name", "installer_dir", "current_release", "arches-0-name", "releases-0-name"])
@pytest.mark.parametrize("name", ["../../etc", "a/b", "bóokworm", "b" * 65, "bookworm\x00"])
def test_the_admin_form_refuses_a_bad_name_in_every_name_field(admin_client, field, name):
    response = admin_client.post(reverse("admin:pxeimport_bootsource_add"), {**ADMIN_FORM, field: name})
    assert response.status_code == 200, "the form was accepted"
    assert not BootSource.objects.filter(url=ADMIN_FORM["url"]).exists()


@pytest.mark.django_db
def test_the_admin_form_itself_is_accepted_with_good_names(admin_client):
    """The refusals above are of the names, not of the form."""
    response = admin_client.post(reverse("admin:pxeimport_bootsource_add"), ADMIN_FORM)
    assert response.status_code == 302
    assert BootSource.objects.filter(url=ADMIN_FORM["url"]).exists()


# Archive URLs ---------------------------------------------------------------------------------------

BAD_URLS = ["file:///etc/", "ftp://mirror.example/debian/dists/", "gopher://x/", "javascript:alert(1)", "mirror/dists/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", BAD_URLS)
def test_an_archive_url_that_is_not_http_is_refused_by_command_and_model(url, tftp_root):
    with pytest.raises(CommandError) as caught:
        call_command("import_pxe_files", "--archive", url, "--tftproot", str(tftp_root), "--arch", "amd64")
    assert caught.value.returncode == 2
    assert "only http:// and https://" in str(caught.value)
    with pytest.raises(ValidationError):
        validate_archive_url(url)
    assert not tftp_root.exists()


# Hostile indexes --------------------------------------------------------------------------------------

NETBOOT = "netboot/ubuntu-installer/amd64"


def sums(files: dict[str, bytes], *extra: str) -> str:
    lines = [f"{hashlib.sha256(data).hexdigest()}  ./{NETBOOT}/{name}" for name, data in sorted(files.items())]
    return "\n".join([*lines, *extra]) + "\n"


H = "ab" * 32
# Each hostile index (made from the files it lists) and what the error must say.
HOSTILE_INDEXES: dict[str, tuple[Callable[[dict[str, bytes]], str], str]] = {
    "absolute path": (lambda f: sums(f, f"{H}  /etc/passwd"), "has an unsafe path '/etc/passwd'"),
    "dot-dot": (lambda f: sums(f, f"{H}  ./{NETBOOT}/../../../../../etc/x"), "has an unsafe path"),
    "backslash": (lambda f: sums(f, f"{H}  ./{NETBOOT}\\..\\x"), "has an unsafe path"),
    "NUL": (lambda f: sums(f, f"{H}  ./{NETBOOT}/linux\x00"), "has an unsafe path"),
    "same path twice, two hashes": (lambda f: sums(f, f"{H}  ./{NETBOOT}/linux"), "again with another hash"),
    "malformed hash": (lambda f: sums(f, f"{'z' * 64}  ./x"), "is not '<sha256>  <path>'"),
    "no separator": (lambda f: sums(f, H), "is not '<sha256>  <path>'"),
    "byte-order mark": (lambda f: "\ufeff" + sums(f), "line 1 is not '<sha256>  <path>'"),
    "hostile installer dir": (
        lambda f: sums(f).replace("ubuntu-installer", ".hidden"),
        "invalid installer directory name '.hidden'",
    ),
    "two installer dirs": (
        lambda f: sums(f) + sums(f).replace("ubuntu-installer", "debian-installer"),
        "several (debian-installer, ubuntu-installer)",
    ),
    "initrd missing": (
        lambda f: sums({k: v for k, v in f.items() if k != "initrd.gz"}),
        f"does not list {NETBOOT}/initrd.gz",
    ),
}


def install_pair(tftp_root: Path, release: str) -> tuple[bytes, bytes]:
    served = serving(tftp_root, release)
    return served["linux"], served["initrd.gz"]


def install_pair_of(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    return files["linux"], files["initrd.gz"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", HOSTILE_INDEXES)
def test_a_hostile_index_fails_its_release_cleanly_and_nothing_else(
    name, archive, faults, tftp_root, signer, settings, monkeypatch
):
    fast_http(settings)
    v1 = publish_both(archive, "v1")
    assert run_import(faults.url, tftp_root, signer.keyring).code == 0
    v2 = publish_both(archive, "v2")
    make, reason = HOSTILE_INDEXES[name]
    files = netboot_files("v3-bookworm")
    archive.publish("bookworm", "amd64", files, sums=make(files))  # signed, so only the parser stands guard
    faults.clear()

    result = run_import(faults.url, tftp_root, signer.keyring)

    assert result.code == 1, result.stderr
    line = next(line for line in result.stderr.splitlines() if line.startswith("amd64/bookworm install failed: "))
    assert reason in line
    if name != "hostile installer dir":  # that message names the directory, not the index's URL
        assert f"{faults.url}{IMAGES.format(release='bookworm')}SHA256SUMS" in line
    assert [r.path for r in faults.requests if "bookworm" in r.path and r.path.endswith(("/linux", ".gz"))] == []
    assert install_pair(tftp_root, "bookworm") == install_pair_of(v1["bookworm"])
    assert install_pair(tftp_root, "trixie") == install_pair_of(v2["trixie"])


@pytest.mark.django_db
def test_a_path_listed_twice_with_the_same_hash_is_harmless(archive, faults, tftp_root, signer):
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files, sums=sums(files) + sums(files))
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    assert run_import(faults.url, tftp_root, signer.keyring, *args).code == 0
    assert serving(tftp_root, "bookworm")["linux"] == files["linux"]


# A TFTP root with planted symlinks ------------------------------------------------------------------


def tree(path: Path) -> dict[str, tuple[str, bytes | str]]:
    """Everything below `path` (not following links): kind and content or link target."""
    found: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            entry = Path(dirpath) / name
            key = str(entry.relative_to(path))
            if entry.is_symlink():
                found[key] = ("link", os.readlink(entry))
            elif entry.is_dir():
                found[key] = ("dir", "")
            else:
                found[key] = ("file", entry.read_bytes())
    return found


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory outside the TFTP root that looks worth writing into (or emptying)."""
    outside = tmp_path / "elsewhere"
    (outside / "base" / "bookworm").mkdir(parents=True)
    (outside / "precious").write_bytes(b"do not touch")
    (outside / "base" / "bookworm" / "linux").write_bytes(b"not a kernel")
    (outside / "fetch-old").mkdir()
    (outside / "fetch-old" / "precious").write_bytes(b"do not delete")
    return outside


def plant(link: Path, target: Path) -> None:
    """Replace `link` (a file, dir or link) with a symlink to `target`."""
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


# Where a symlink is planted (relative to the TFTP root), and the exit the run must end with.
PLANTED = {
    "maas itself": ("maas", 2),
    "the arch dir": ("maas/amd64", 1),
    "a release dir": ("maas/amd64/base/bookworm", 1),
    "the staging dir": ("maas/.staging", 2),
    "an old staging entry": ("maas/.staging/fetch-old", 0),
    "the install pointer": ("maas/amd64/base/bookworm/install", 0),
    "the menu dir": ("maas/amd64/base/pxelinux.cfg", 1),
    "the menu file": ("maas/amd64/base/pxelinux.cfg/default", 0),
}


@pytest.mark.django_db
@pytest.mark.parametrize("where", PLANTED)
def test_a_symlink_planted_in_the_tftp_root_is_never_written_or_deleted_through(
    where, archive, faults, tftp_root, signer, elsewhere, tmp_path, settings
):
    settings.PXEIMPORT_GRACE_SECONDS = 0  # everything superseded may go at once: nothing outside may
    publish_both(archive, "v1")
    assert run_import(faults.url, tftp_root, signer.keyring).code == 0
    publish_both(archive, "v2")
    relative, code = PLANTED[where]
    plant(tftp_root / relative, elsewhere)
    outside_before = tree(elsewhere)
    around_before = {k for k in tree(tmp_path) if not k.startswith(("tftpboot", "elsewhere"))}

    result = run_import(faults.url, tftp_root, signer.keyring)

    assert result.code == code, result.stderr
    if code:
        assert "symlink" in result.stderr
    assert tree(elsewhere) == outside_before, "something was written or deleted through the link"
    assert {k for k in tree(tmp_path) if not k.startswith(("tftpboot", "elsewhere"))} == around_before


@pytest.mark.django_db
def test_a_lock_file_planted_as_a_symlink_is_a_usage_error_and_its_target_untouched(
    archive, faults, tftp_root, signer, elsewhere
):
    publish_both(archive, "v1")
    assert run_import(faults.url, tftp_root, signer.keyring).code == 0
    plant(tftp_root / "maas" / ".lock", elsewhere / "precious")
    try:
        result = run_import(faults.url, tftp_root, signer.keyring)
    finally:
        assert (elsewhere / "precious").read_bytes() == b"do not touch"
    assert result.code == 2
    assert "cannot use TFTP root" in result.stderr


@pytest.mark.django_db
def test_a_superseded_version_dir_replaced_by_a_symlink_is_not_deleted_through(
    archive, faults, tftp_root, signer, elsewhere, settings
):
    settings.PXEIMPORT_GRACE_SECONDS = 0
    publish_both(archive, "v1")
    assert run_import(faults.url, tftp_root, signer.keyring).code == 0
    release_dir = tftp_root / "maas" / "amd64" / "base" / "bookworm"
    old = release_dir / os.readlink(release_dir / "install")
    publish_both(archive, "v2")
    assert run_import(faults.url, tftp_root, signer.keyring).code == 0  # v1 is now superseded...
    publish_both(archive, "v3")
    plant(old, elsewhere)  # ...and its name points outside when garbage is collected
    before = tree(elsewhere)

    assert run_import(faults.url, tftp_root, signer.keyring).code == 0

    assert tree(elsewhere) == before


@pytest.mark.django_db
def test_a_version_dir_planted_as_a_symlink_is_never_served(archive, faults, tftp_root, signer, tmp_path):
    args = ("--arch", "amd64", "--release", "bookworm", "--current-release", "bookworm")
    files = netboot_files("v1")
    archive.publish("bookworm", "amd64", files)
    # The attacker computes the version the importer will use, and plants it, pointing outside.
    from pxeimport.tftproot import version_id

    version = version_id({n: hashlib.sha256(files[n]).hexdigest() for n in ("linux", "initrd.gz")})
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "linux").write_bytes(b"evil kernel")
    (forged / "initrd.gz").write_bytes(b"evil initrd")
    manifest = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in ("initrd.gz", "linux"))
    (forged / "SHA256SUMS").write_text(manifest)
    release_dir = tftp_root / "maas" / "amd64" / "base" / "bookworm"
    release_dir.mkdir(parents=True, exist_ok=True)
    (release_dir / f"install-{version}").symlink_to(forged)

    assert run_import(faults.url, tftp_root, signer.keyring, *args).code == 0

    assert (release_dir / "install" / "linux").read_bytes() == files["linux"]


# Properties ---------------------------------------------------------------------------------------------

SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)
SAFE_PATH = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)
DIGEST = st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64)
# Path-ish text: pieces an attacker would combine.
HOSTILE_TEXT = st.lists(st.sampled_from([*"ab./\\ *\x00\r\t\n", "é", "..", "./", "/..", "~"]), max_size=20).map("".join)


def is_safe(path: str) -> bool:
    return (
        not path.startswith("/")
        and "\\" not in path
        and "\x00" not in path
        and all(part not in ("", ".", "..") for part in path.split("/"))
        and posixpath.normpath(path) == path
        and posixpath.normpath(posixpath.join("/root", path)).startswith("/root/")
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(DIGEST, st.sampled_from(["  ", " *", " ", "\t", "   "]), HOSTILE_TEXT), max_size=8))
def test_parse_sha256sums_never_returns_an_unsafe_path(lines):
    text = "\n".join(f"{digest}{sep}{path}" for digest, sep, path in lines)
    try:
        entries = parse_sha256sums(text)
    except ChecksumIndexError:
        return
    for path, digest in entries.items():
        assert is_safe(path), path
        assert len(digest) == 64 and digest == digest.lower()


@given(st.text(max_size=200))
def test_parse_sha256sums_takes_any_text_without_crashing(text):
    try:
        entries = parse_sha256sums(text)
    except ChecksumIndexError:
        return
    assert all(is_safe(path) for path in entries)


@given(
    st.dictionaries(SAFE_PATH, DIGEST, min_size=1, max_size=10),
    st.sampled_from(["  ", " *"]),
    st.booleans(),
    st.sampled_from(["\n", "\r\n"]),
)
def test_parse_sha256sums_round_trips_a_good_index(entries, separator, dot_slash, newline):
    text = newline.join(f"{digest}{separator}{'./' if dot_slash else ''}{path}" for path, digest in entries.items())
    assert parse_sha256sums(text + newline) == {path: digest.lower() for path, digest in entries.items()}


@given(st.one_of(st.text(max_size=80), st.from_regex(NAME_PATTERN, fullmatch=True)))
def test_any_name_check_name_accepts_stays_inside_the_root(name):
    try:
        check_name("release", name)
    except InvalidName:
        return
    root = TftpRoot(Path("/srv/tftp"))
    slot = root.install_slot(name, name)
    for path in (root.base_dir(name), slot.parent, slot.version_dir("0123456789abcdef"), root.loader_slot(name).parent):
        resolved = posixpath.normpath(str(path))
        assert resolved == str(path), "the name changed the path's shape"
        assert resolved.startswith("/srv/tftp/maas/"), path
    assert slot.parent == Path("/srv/tftp/maas") / name / "base" / name


@given(st.from_regex(NAME_PATTERN, fullmatch=True).filter(lambda s: set(s) != {"."}))
def test_check_name_accepts_every_name_its_pattern_describes(name):
    assert check_name("release", name) == name
