"""Boot sources and their selections: what an operator picks in the admin (archive, layout, arches, releases)."""

from __future__ import annotations

from django.db import models

from pxeimport.items import DEFAULT_LAYOUT
from pxeimport.layouts import layout_choices
from pxeimport.validators import (
    name_validator,
    validate_arch_urls,
    validate_archive_url,
    validate_dists_url,
    validate_kernel_opts,
    validate_package_repo,
    validate_proxy_url,
    validate_sha256,
)


class Distribution(models.TextChoices):
    UBUNTU = "ubuntu", "Ubuntu"
    DEBIAN = "debian", "Debian"
    OTHER = "other", "Other (name releases explicitly)"


class BootSource(models.Model):
    """An archive mirror and its layout, with the arches and releases to import from it."""

    name = models.CharField(max_length=64, unique=True, validators=[name_validator])
    url = models.CharField(
        "archive URL",
        max_length=500,
        validators=[validate_archive_url],
        help_text="debian-installer: the archive's dists/ URL, e.g. http://archive.ubuntu.com/ubuntu/dists/ or "
        "a Debian mirror's .../debian/dists/; ubuntu-netboot and ubuntu-iso: the directory above <codename>/, "
        "e.g. https://releases.ubuntu.com/; anaconda-iso: the directory above <release>/isos/, e.g. "
        "https://repo.almalinux.org/almalinux/, or a template with {release} and {basearch}; "
        "region: the region's PXEIMPORT_PUBLISH_URL.",
    )
    layout = models.CharField(
        max_length=32,
        choices=layout_choices(),
        default=DEFAULT_LAYOUT,
        help_text="Which releases each layout offers: debian-installer for Debian and Ubuntu up to 20.04; "
        "ubuntu-netboot for Ubuntu 23.10 and later where the tarball is signed; "
        "ubuntu-iso for Ubuntu 20.04 and later from the signed live-server ISO; "
        "anaconda-iso for Fedora and AlmaLinux from the boot ISO their signed checksum list names; "
        "opensuse-iso for openSUSE Leap 15 and Tumbleweed from the NET ISO its signed .sha256 names.",
    )
    distribution = models.CharField(
        max_length=16,
        choices=Distribution.choices,
        default=Distribution.UBUNTU,
        help_text="Whose release list (distro-info) supplies the default releases.",
    )
    installer_dir = models.CharField(
        "installer directory",
        max_length=64,
        blank=True,
        validators=[name_validator],
        help_text="e.g. ubuntu-installer or debian-installer; blank: found from the archive's SHA256SUMS.",
    )
    current_release = models.CharField(
        max_length=64,
        blank=True,
        validators=[name_validator],
        help_text="The release whose pre-boot loader is installed; blank: the newest selected release.",
    )
    feeds_loaders = models.BooleanField(
        "feeds the pre-boot loaders",
        default=True,
        help_text="Install this source's pre-boot loaders (pxelinux, shim, GRUB) for its architectures. One enabled "
        "source per architecture may: untick it on the others (their kernels boot through that one's loaders).",
    )
    keyring = models.CharField(
        max_length=500,
        blank=True,
        help_text=(
            "OpenPGP keyring file (as gpgv --keyring takes it) that signs this archive; blank: the "
            "distribution's, /usr/share/keyrings/ubuntu-archive-keyring.gpg (package ubuntu-keyring) or "
            "/usr/share/keyrings/debian-archive-keyring.gpg (package debian-archive-keyring)."
        ),
    )
    skip_signature_checks = models.BooleanField(
        default=False,
        help_text="Trust this archive's SHA256SUMS unsigned (private mirrors only). Every run warns.",
    )
    allow_expired_indexes = models.BooleanField(
        "allow expired indexes",
        default=False,
        help_text=(
            "Accept a signed Release past its Valid-Until date (a frozen private mirror only; apt refuses "
            "it, as a mirror that stopped syncing or replays old files serves such a Release). Every run warns."
        ),
    )
    iso_base_url = models.CharField(
        "ISO mirror URL",
        max_length=500,
        blank=True,
        validators=[validate_archive_url],
        help_text="ubuntu-netboot and ubuntu-iso: the directory nodes download the live-server ISO from at boot "
        "(a local mirror); blank: PXEIMPORT_HTTP_URL's verified copy if set, else the release directory upstream.",
    )
    loader_archive = models.CharField(
        "loader archive URL",
        max_length=500,
        blank=True,
        validators=[validate_dists_url],
        help_text="ubuntu-iso only: the signed package archive the pre-boot loaders (shim, GRUB, pxelinux) come "
        "from, its dists/ URL, e.g. http://archive.ubuntu.com/ubuntu/dists/.",
    )
    iso_sha256 = models.CharField(
        "pinned ISO SHA-256",
        max_length=64,
        blank=True,
        validators=[validate_sha256],
        help_text="anaconda-iso: import only the boot ISO with this SHA-256 (the checksum list must name it with "
        "it), signed list or not: the one way to take an ISO from an unsigned list (CentOS Stream, Rocky Linux).",
    )
    package_repo = models.CharField(
        "package repository URL",
        max_length=500,
        blank=True,
        validators=[validate_package_repo],
        help_text="opensuse-iso and anaconda-iso: the package repository nodes install from (install=, "
        "inst.repo=), {release} and {basearch} filled in; blank: opensuse-iso the release's repo/oss/ on the "
        "source's mirror, anaconda-iso the one its installer image names.",
    )
    arch_urls = models.TextField(
        "per-architecture URLs",
        blank=True,
        validators=[validate_arch_urls],
        help_text="ubuntu-iso, anaconda-iso and opensuse-iso: per architecture whose files are elsewhere, a line: "
        "the arch, its release directory with {release} (anaconda-iso, opensuse-iso: and {basearch}), for "
        'ubuntu-iso optionally its loader archive, e.g. "arm64 https://cdimage.ubuntu.com/releases/{release}/release/ http://ports.ubuntu.com/ubuntu-ports/dists/".',
    )
    proxy = models.CharField(
        "HTTP proxy",
        max_length=500,
        blank=True,
        validators=[validate_proxy_url],
        help_text=(
            "HTTP proxy for this source, e.g. http://proxy.example:3128; blank: http_proxy/https_proxy/no_proxy "
            "from the environment. A password in it is never shown again."
        ),
    )
    kernel_opts = models.CharField(
        "kernel options",
        max_length=500,
        blank=True,
        validators=[validate_kernel_opts],
        help_text="Extra kernel options for every release of this source.",
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SelectedArch(models.Model):
    source = models.ForeignKey(BootSource, on_delete=models.CASCADE, related_name="arches")
    name = models.CharField("architecture", max_length=64, validators=[name_validator])

    class Meta:
        ordering = ["source", "name"]
        verbose_name = "selected architecture"
        constraints = [
            # Each arch once per source; the importer reads the selection by source.
            models.UniqueConstraint(fields=["source", "name"], name="selectedarch_unique_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.name}"


class SelectedRelease(models.Model):
    source = models.ForeignKey(BootSource, on_delete=models.CASCADE, related_name="releases")
    name = models.CharField("release", max_length=64, validators=[name_validator])
    kernel_opts = models.CharField(
        "kernel options",
        max_length=500,
        blank=True,
        validators=[validate_kernel_opts],
        help_text="Extra kernel options for this release (after the source's).",
    )

    class Meta:
        ordering = ["source", "name"]
        verbose_name = "selected release"
        constraints = [
            models.UniqueConstraint(fields=["source", "name"], name="selectedrelease_unique_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.name}"
