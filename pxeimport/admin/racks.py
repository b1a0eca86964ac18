"""The admin's Racks page: each rack against the region (unreachable, failed, clock skew, behind, in sync;
since when), its own page listing each item's state and reason, the banner, and Sync now (its own permission)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from pxeimport.admin.history import ReadOnlyAdmin
from pxeimport.lib import megabytes, redact_text
from pxeimport.models import Rack, RackItemState
from pxeimport.racks import banner, lagging, publication, rack_status


class RackItemInline(admin.TabularInline[RackItemState, Rack]):
    """Each item of the region's index as the rack last reported it: what it serves, and why not."""

    model = RackItemState
    fields = ("arch", "release", "kind", "region_version", "live_version", "synced", "failing_since", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "items (its last report)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="error")
    def reason(self, obj: RackItemState) -> str:
        return redact_text(obj.error)


@admin.register(Rack)
class RackAdmin(ReadOnlyAdmin[Rack]):
    list_display = ["name", "state", "since", "detail", "last_sync", "pulled", "last_seen"]
    search_fields = ["name"]
    actions = ["sync_now"]
    inlines = [RackItemInline]
    fields = (
        "name",
        "state",
        "since",
        "detail",
        "last_seen",
        "asked",
        "syncing_since",
        "last_sync",
        "pulled",
        "error",
        "clock",
        "beyond",
        "queue",
        "first_seen",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rack]:
        return super().get_queryset(request).prefetch_related("items")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        self._current = publication()
        if request.method == "GET":
            for status in lagging():
                messages.warning(request, banner(status))
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._current = publication()
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="state")
    def state(self, obj: Rack) -> str:
        return rack_status(obj, getattr(self, "_current", None)).state

    @admin.display(description="since")
    def since(self, obj: Rack) -> str:
        when = rack_status(obj, getattr(self, "_current", None)).since
        return f"{when:%Y-%m-%d %H:%M} UTC" if when else "-"

    @admin.display(description="clock offset")
    def clock(self, obj: Rack) -> str:
        if obj.clock_offset is None:
            return "-"
        return f"{obj.clock_offset:+.0f} s (its clock minus the region's web server's)"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A rack taken out of service goes from the page; one still running announces itself again.
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    @admin.display(description="detail")
    def detail(self, obj: Rack) -> str:
        return redact_text(rack_status(obj, getattr(self, "_current", None)).detail)[:300]

    @admin.display(description="last sync pulled", ordering="last_sync_bytes")
    def pulled(self, obj: Rack) -> str:
        return megabytes(obj.last_sync_bytes)

    @admin.display(description="last error")
    def error(self, obj: Rack) -> str:
        return redact_text(obj.last_error)

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("pxeimport.sync_rack")

    @admin.action(description="Sync now: ask the selected racks to converge", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Rack]) -> None:
        if not settings.CELERY_BROKER_URL:
            self.message_user(request, "CELERY_BROKER_URL is not set: racks cannot be asked.", messages.ERROR)
            return
        from pxeimport.racks import BrokerUnavailable, ask_racks

        try:
            asked = ask_racks(list(queryset), f"Sync now by {request.user}")
        except BrokerUnavailable as exc:
            self.message_user(request, f"No rack was asked: {exc}", messages.ERROR)
            return
        self.message_user(
            request,
            f"Asked {asked} rack(s) to converge. One that has not answered within "
            f"PXEIMPORT_RACK_ANSWER_SECONDS={settings.PXEIMPORT_RACK_ANSWER_SECONDS:g} is shown unreachable.",
            messages.SUCCESS,
        )
