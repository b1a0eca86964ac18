"""The admin site: Django's, with the latest import run shown on the index page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse


class MaasAdminSite(admin.AdminSite):
    site_header = "MAAS PXE import"
    site_title = "MAAS PXE import"
    index_title = "Boot sources and import history"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        from pxeimport.models import ImportRun

        context = {"last_run": ImportRun.objects.first(), **(extra_context or {})}
        return super().index(request, context)
