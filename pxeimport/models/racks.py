"""Racks a region feeds, as their reports describe them, and what each serves of the region's index."""

from __future__ import annotations

from django.db import models

from pxeimport.models.history import ITEM_KINDS
from pxeimport.validators import name_validator


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
    kernel_opts = models.TextField(  # noqa: DJ001 (None: not reported, which "" would not say: no options)
        null=True,
        blank=True,
        help_text="The kernel options of the index it took this item from (its menus carry them); "
        "null: its rack worker does not report them.",
    )
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
