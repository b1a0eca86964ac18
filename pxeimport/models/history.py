"""The history of import runs: each run, each atomic install and its files, and what each item serves now."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from pxeimport.items import ItemKind, Outcome
from pxeimport.models.sources import BootSource


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
