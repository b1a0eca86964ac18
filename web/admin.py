"""The admin site: Django's, as the operator's dashboard: warnings and the last run on the index, a status page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from pxeimport.lib import redact_text
from pxeimport.models import ImportRun
from pxeimport.runs import dashboard

# How many runs the status page lists; the rest are a click away in the run history.
LATEST_RUNS = 10


class MaasAdminSite(admin.AdminSite):
    site_header = "MAAS PXE import"
    site_title = "MAAS PXE import"
    index_title = "Boot sources and import history"
    # The app list is one click away (the header's links); the lists need the width at 1366 px.
    enable_nav_sidebar = False

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [path("status/", self.admin_view(self.status_view), name="status"), *super().get_urls()]

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        last_run = ImportRun.objects.first()
        context = {
            "last_run": last_run,
            "last_run_error": redact_text(last_run.error_summary) if last_run else "",
            "banners": dashboard.health().banners,
            **(extra_context or {}),
        }
        return super().index(request, context)

    def status_view(self, request: HttpRequest) -> TemplateResponse:
        """Every item's live version, last check and error; the latest runs; an "Import now" button."""
        if not request.user.has_perm("pxeimport.view_importrun"):
            raise PermissionDenied
        state = dashboard.health()
        rows, others = dashboard.item_rows(state.last_tried)
        context = {
            **self.each_context(request),
            "title": "Import status",
            "banners": state.banners,
            "rows": rows,
            "others": others,
            # The counts follow the last run of the saved selection: rows it did not check are only shown.
            "checked": sum(1 for r in rows if not r.not_checked_lately),
            "failing": sum(1 for r in rows if r.state.last_error and not r.not_checked_lately),
            "behind": sum(1 for r in rows if r.state.upstream_newer and not r.not_checked_lately),
            "runs": [
                (run, dashboard.status_badge(run), dashboard.duration(run))
                for run in ImportRun.objects.all()[:LATEST_RUNS]
            ],
            "can_start_import": request.user.has_perm("pxeimport.start_import"),
            "tftproot": dashboard.configured_root().path,
            "tftproot_text": str(dashboard.configured_root().path),
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/status.html", context)
