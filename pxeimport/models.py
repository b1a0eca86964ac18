"""Boot sources and their selections; the history of import runs, installs and installed files."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from pxeimport.items import DEFAULT_LAYOUT, ItemKind, Outcome
from pxeimport.layouts import layout_choices

# Used by the fields below; migrations also name them here, their old home.
from pxeimport.validators import (
    name_validator,
    validate_arch_urls,
    validate_archive_url,
    validate_dists_url,
    validate_kernel_opts,
    validate_proxy_url,
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
        "anaconda-iso for Fedora and AlmaLinux from the boot ISO their signed checksum list names.",
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
    arch_urls = models.TextField(
        "per-architecture URLs",
        blank=True,
        validators=[validate_arch_urls],
        help_text="ubuntu-iso and anaconda-iso: per architecture whose files are elsewhere, a line: the arch, its "
        "release directory with {release} (anaconda-iso: and {basearch}), for ubuntu-iso optionally its loader "
        'archive, e.g. "arm64 https://cdimage.ubuntu.com/releases/{release}/release/ http://ports.ubuntu.com/ubuntu-ports/dists/".',
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


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Some items failed"
    ERROR = "error", "Error before any item"
    LOCKED = "locked", "Skipped: another import held the lock"
    ABANDONED = "abandoned", "Abandoned (the process died)"
    CANCELLED = "cancelled", "Cancelled (stopped by a signal)"


class Trigger(models.TextChoices):
    COMMAND = "command", "Command line / cron"
    ADMIN = "admin", "Admin"


class ImportRun(models.Model):
    """One invocation of the importer."""

    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.COMMAND)
    tftproot = models.CharField("TFTP root", max_length=500)
    pid = models.IntegerField(null=True, blank=True)
    bytes_downloaded = models.BigIntegerField(default=0)
    items_installed = models.IntegerField(default=0)
    items_unchanged = models.IntegerField(default=0)
    items_skipped = models.IntegerField(default=0)
    items_failed = models.IntegerField(default=0)
    error_summary = models.TextField(blank=True)
    # One a line: what the run found wrong without failing (pxeimport.menus.writer MenuResult.warnings).
    warnings = models.TextField(blank=True)
    # One a line: what the run did besides installing: menus written or removed, releases and arches retired,
    # kept or deleted, superseded versions removed (the command's own lines: importer.text).
    changes = models.TextField(blank=True)
    # Narrowed on the command line (--archive, --arch, --release): it retires nothing and does not speak for
    # the saved selection, so the status page's banners and colours do not follow it.
    narrowed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started"]
        permissions = [("start_import", "Can start an import from the admin")]
        indexes = [
            # "The last run" on the admin index and the list's default order.
            models.Index(fields=["-started"], name="importrun_started_idx"),
            # Marking runs a crash left "running" as abandoned, per TFTP root.
            models.Index(fields=["tftproot", "status"], name="importrun_root_status_idx"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} at {self.started:%Y-%m-%d %H:%M:%S}: {self.get_status_display()}"


# The importer's words (pxeimport.items.words), stored as their values; Outcome.PLANNED is a dry run's, never stored.
ITEM_KINDS = [(kind.value, kind.label) for kind in ItemKind]
STORED_OUTCOMES = [(o.value, o.label) for o in Outcome if o != Outcome.PLANNED]


class Install(models.Model):
    """One atomic install: a version of an arch's loader or of a release's install files went live."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="installs")
    source = models.ForeignKey(BootSource, null=True, blank=True, on_delete=models.SET_NULL)
    source_url = models.CharField("archive URL", max_length=500)
    arch = models.CharField(max_length=64)
    release = models.CharField(max_length=64, help_text="For a loader: the release it came from.")
    kind = models.CharField(max_length=16, choices=ITEM_KINDS)
    version = models.CharField(max_length=64)
    previous_version = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=500)
    installed = models.DateTimeField()

    class Meta:
        ordering = ["-installed"]
        indexes = [
            # History filtered by arch and release, newest first.
            models.Index(fields=["arch", "release", "-installed"], name="install_arch_release_idx"),
            # The installs page's default order, newest first, one page at a time.
            models.Index(fields=["-installed"], name="install_installed_idx"),
        ]

    def __str__(self) -> str:
        what = "loader" if self.kind == ItemKind.LOADER else f"{self.release} install"
        return f"{self.arch} {what} {self.version}"


class InstalledFile(models.Model):
    install = models.ForeignKey(Install, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    sha256 = models.CharField("SHA-256", max_length=64)
    size = models.BigIntegerField()
    url = models.CharField("source URL", max_length=1000)
    downloaded = models.BooleanField(help_text="False when an identical installed file was reused.")
    signed_by = models.CharField(
        "signed by",
        max_length=64,
        blank=True,
        help_text="Fingerprint of the key whose signature vouched for the file's hash; blank: checks were off.",
    )

    class Meta:
        ordering = ["install", "name"]
        constraints = [
            # Also serves the installed files page's default order (Meta.ordering), one page at a time.
            models.UniqueConstraint(fields=["install", "name"], name="installedfile_unique_per_install"),
        ]
        indexes = [
            # The installed files page's filter by name, and the list of distinct names it offers.
            models.Index(fields=["name"], name="installedfile_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.sha256[:12]}"


class ItemState(models.Model):
    """The importer's latest knowledge of one item: what is live, what upstream announces, the last error.

    One row per (source, arch, release, kind), written by every real run (records.update_item_state).
    Items named with --archive have no saved source: they are told apart by their archive URL.
    """

    source = models.ForeignKey(BootSource, null=True, blank=True, on_delete=models.CASCADE, related_name="items")
    source_url = models.CharField("archive URL", max_length=500)
    arch = models.CharField(max_length=64)
    release = models.CharField(max_length=64, help_text="For a loader: the release it comes from.")
    kind = models.CharField(max_length=16, choices=ITEM_KINDS)
    live_version = models.CharField(max_length=64, blank=True, help_text="Blank: nothing installed yet.")
    installed = models.DateTimeField(null=True, blank=True, help_text="When the live version went live.")
    checked = models.DateTimeField("last check")
    outcome = models.CharField("last outcome", max_length=16, choices=STORED_OUTCOMES)
    last_error = models.TextField(blank=True, help_text="Blank when the last check succeeded.")
    failing_since = models.DateTimeField(null=True, blank=True, help_text="The first of the checks failing in a row.")
    upstream_version = models.CharField(
        max_length=64, blank=True, help_text="What the archive's index announced at the last check; blank: unknown."
    )
    last_run = models.ForeignKey(ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    # Filters: the last check failed; upstream announced a version that is not live (see upstream_newer).
    FAILING = ~Q(last_error="")
    BEHIND = ~Q(upstream_version="") & ~Q(upstream_version=F("live_version"))

    class Meta:
        # Loaders before installs within an arch ("loader" > "install").
        ordering = ["source_url", "arch", "-kind", "release"]
        verbose_name = "item status"
        verbose_name_plural = "item status"
        constraints = [
            # records.update_item_state finds an item's row by these; the partial pair gives one row per item
            # whether or not it has a saved source (NULLs are distinct in a plain unique constraint).
            models.UniqueConstraint(
                fields=["source", "arch", "release", "kind"],
                condition=Q(source__isnull=False),
                name="itemstate_unique_per_source",
            ),
            models.UniqueConstraint(
                fields=["source_url", "arch", "release", "kind"],
                condition=Q(source__isnull=True),
                name="itemstate_unique_per_archive_url",
            ),
        ]
        indexes = [
            # The status page lists every item in Meta.ordering.
            models.Index(fields=["source_url", "arch", "-kind", "release"], name="itemstate_status_page_idx"),
        ]

    def __str__(self) -> str:
        what = "loader" if self.kind == ItemKind.LOADER else f"{self.release} install"
        return f"{self.arch} {what} from {self.source or self.source_url}"

    @property
    def upstream_newer(self) -> bool:
        """Upstream announced a version that is not live: the install of it failed (or has not run)."""
        return bool(self.upstream_version) and self.upstream_version != self.live_version


class Rack(models.Model):
    """A rack (a TFTP server fed by this region), as its reports describe it. Racks announce themselves.

    Every time here is the region's clock (when the region received or sent), never the rack's.
    """

    name = models.CharField(max_length=64, unique=True, validators=[name_validator])
    queue = models.CharField("Celery queue", max_length=200, help_text="Derived by the region from the name.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(help_text="Its last report of any kind (started, still syncing, finished).")
    last_sync = models.DateTimeField(null=True, blank=True, help_text="Its last finished sync, whatever the outcome.")
    last_sync_bytes = models.BigIntegerField(default=0, help_text="Bytes its last sync pulled from the region.")
    last_error = models.TextField(blank=True, help_text="Blank when its last sync succeeded.")
    failing_since = models.DateTimeField(null=True, blank=True)
    asked = models.DateTimeField(null=True, blank=True, help_text="When the region last asked it to converge.")
    syncing_since = models.DateTimeField(
        null=True, blank=True, help_text="When it said it started the sync it has not finished; blank when idle."
    )
    clock_offset = models.FloatField(
        null=True, blank=True, help_text="Seconds its clock was ahead of the region's web server (negative: behind)."
    )
    beyond = models.TextField(blank=True, help_text="What it serves that the region's index does not list.")

    class Meta:
        ordering = ["name"]
        permissions = [("sync_rack", "Can ask racks to sync now")]

    def __str__(self) -> str:
        return self.name


class RackItemState(models.Model):
    """What one rack serves for one item of the region's index: its last report about that item."""

    rack = models.ForeignKey(Rack, on_delete=models.CASCADE, related_name="items")
    arch = models.CharField(max_length=64)
    release = models.CharField(max_length=64, blank=True, help_text="Blank for the pre-boot loaders.")
    kind = models.CharField(max_length=16, choices=ITEM_KINDS)
    region_version = models.CharField(
        max_length=64, blank=True, help_text="The region's version the rack serves; blank: none yet."
    )
    live_version = models.CharField(max_length=64, blank=True, help_text="The rack's own version dir id.")
    synced = models.DateTimeField(null=True, blank=True, help_text="When it last converged on this item.")
    bytes_downloaded = models.BigIntegerField(default=0, help_text="Bytes its last sync of this item pulled.")
    error = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rack__name", "arch", "-kind", "release"]
        verbose_name = "rack item status"
        verbose_name_plural = "rack item status"
        constraints = [
            # The report task finds a rack's row for an item by these.
            models.UniqueConstraint(fields=["rack", "arch", "kind", "release"], name="rackitemstate_unique_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.rack} {self.arch} {self.release or 'loader'}"
