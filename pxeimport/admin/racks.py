"""The admin's Racks page: each rack against the region (in sync, behind, failed; since when), lag banner, Sync now."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from pxeimport.admin.history import ReadOnlyAdmin
from pxeimport.lib import redact_text
from pxeimport.models import Rack
from pxeimport.racks import lagging, publication, rack_status


@admin.register(Rack)
class RackAdmin(ReadOnlyAdmin[Rack]):
    list_display = ["name", "state", "since", "detail", "last_sync", "last_sync_bytes", "last_seen"]
    search_fields = ["name"]
    actions = ["sync_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rack]:
        return super().get_queryset(request).prefetch_related("items")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        self._current = publication()
        if request.method == "GET":
            limit = settings.PXEIMPORT_RACK_LAG_MINUTES
            for status in lagging():
                messages.warning(
                    request,
                    f"Rack {status.rack.name} has been {status.state} since {status.since:%Y-%m-%d %H:%M} UTC, "
                    f"longer than PXEIMPORT_RACK_LAG_MINUTES={limit:g}: {redact_text(status.detail)[:300]}",
                )
        return super().changelist_view(request, extra_context)

    @admin.display(description="state")
    def state(self, obj: Rack) -> str:
        return rack_status(obj, getattr(self, "_current", None)).state

    @admin.display(description="since")
    def since(self, obj: Rack) -> Any:
        return rack_status(obj, getattr(self, "_current", None)).since

    @admin.display(description="detail")
    def detail(self, obj: Rack) -> str:
        return redact_text(rack_status(obj, getattr(self, "_current", None)).detail)[:300]

    @admin.action(description="Sync now: ask the selected racks to converge")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Rack]) -> None:
        if not settings.CELERY_BROKER_URL:
            self.message_user(request, "CELERY_BROKER_URL is not set: racks cannot be asked.", messages.ERROR)
            return
        from pxeimport.racks import ask_to_converge

        for rack in queryset:
            ask_to_converge(rack.queue, f"Sync now by {request.user}")
        self.message_user(request, f"Asked {queryset.count()} rack(s) to converge.", messages.SUCCESS)
