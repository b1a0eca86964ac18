"""The admin's import history, read-only (runs, installs, installed files, item states), and Import now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from pxeimport.lib import megabytes, redact_text, redact_url
from pxeimport.models import (
    ImportRun,
    Install,
    InstalledFile,
    ItemState,
    RunStatus,
)
from pxeimport.runs import dashboard, start_import

if TYPE_CHECKING:
    pass

_M = TypeVar("_M", bound=Model)


class ReadOnlyAdmin(admin.ModelAdmin[_M]):
    """History is written by the importer only."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class InstallInline(admin.TabularInline[Install, ImportRun]):
    model = Install
    fields = ("installed", "arch", "release", "kind", "version", "previous_version")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class InstalledFileInline(admin.TabularInline[InstalledFile, Install]):
    model = InstalledFile
    fields = ("name", "sha256", "size", "downloaded", "url")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin[ImportRun]):
    list_display = [
        "started",
        "status_badge",
        "trigger",
        "items_installed",
        "items_unchanged",
        "items_skipped",
        "items_failed",
        "downloaded",
        "duration",
    ]
    list_filter = ["status", "trigger", "started"]
    date_hierarchy = "started"
    inlines = [InstallInline]
    list_per_page = 50

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ImportRun) -> str:
        return dashboard.status_badge(obj)

    @admin.display(description="duration")
    def duration(self, obj: ImportRun) -> str:
        return dashboard.duration(obj)

    @admin.display(description="downloaded", ordering="bytes_downloaded")
    def downloaded(self, obj: ImportRun) -> str:
        return megabytes(obj.bytes_downloaded)

    def get_urls(self) -> list[URLPattern]:
        import_now = self.admin_site.admin_view(self.import_now_view)
        return [path("import-now/", import_now, name="pxeimport_importrun_import_now"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"can_start_import": request.user.has_perm("pxeimport.start_import"), **(extra_context or {})}
        return super().changelist_view(request, context)

    def import_now_view(self, request: HttpRequest) -> HttpResponse:
        """POST: start `import_pxe_files --trigger admin` in the background, say so, go back."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("pxeimport.start_import"):
            raise PermissionDenied
        running = ImportRun.objects.filter(status=RunStatus.RUNNING).first()
        try:
            started = start_import()
        except OSError as exc:
            self.message_user(request, f"Could not start an import: {exc}", messages.ERROR)
        else:
            message = (
                f"Import started in the background (pid {started.pid}). It appears in the history when it "
                f"finishes; its output goes to {started.log}."
            )
            if running is not None:
                message += (
                    f" An import started {running.started:%Y-%m-%d %H:%M:%S} is still running: this one will find "
                    "the TFTP root locked and stop, recorded as such."
                )
            self.message_user(request, message, messages.SUCCESS)
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure()):
            back = reverse(f"{self.admin_site.name}:status")
        return HttpResponseRedirect(back)


@admin.register(Install)
class InstallAdmin(ReadOnlyAdmin[Install]):
    list_display = ["installed", "arch", "release", "kind", "version", "previous_version", "archive_url", "run"]
    list_filter = ["arch", "release", "kind", "run__status"]
    list_select_related = ["run"]
    search_fields = ["version", "files__sha256"]
    inlines = [InstalledFileInline]
    list_per_page = 50
    # Counting the whole table for "N total" is one more scan per page; the filtered count is enough.
    show_full_result_count = False

    @admin.display(description="archive URL", ordering="source_url")
    def archive_url(self, obj: Install) -> str:
        return redact_url(obj.source_url)


@admin.register(InstalledFile)
class InstalledFileAdmin(ReadOnlyAdmin[InstalledFile]):
    list_display = ["name", "sha256", "size_mb", "downloaded", "arch", "release", "installed"]
    list_filter = ["install__arch", "install__release", "install__run__status", "name"]
    list_select_related = ["install"]
    search_fields = ["sha256", "url"]
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description="size", ordering="size")
    def size_mb(self, obj: InstalledFile) -> str:
        return megabytes(obj.size)

    @admin.display(ordering="install__arch")
    def arch(self, obj: InstalledFile) -> str:
        return obj.install.arch

    @admin.display(ordering="install__release")
    def release(self, obj: InstalledFile) -> str:
        return obj.install.release

    @admin.display(ordering="install__installed")
    def installed(self, obj: InstalledFile) -> Any:
        return obj.install.installed


class ItemFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("failing", "Last check failed"), ("behind", "Upstream has a newer version")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ItemState]) -> QuerySet[ItemState]:
        if self.value() == "failing":
            return queryset.filter(ItemState.FAILING)
        if self.value() == "behind":
            return queryset.filter(ItemState.BEHIND)
        return queryset


@admin.register(ItemState)
class ItemStateAdmin(ReadOnlyAdmin[ItemState]):
    """Every item the importer has checked; the status page shows the same at a glance."""

    list_display = [
        "source_name",
        "arch",
        "release",
        "kind",
        "live_version",
        "checked",
        "outcome",
        "upstream",
        "error",
    ]
    list_filter = [ItemFilter, "outcome", "kind", "arch", "release", "source"]
    list_select_related = ["source"]
    search_fields = ["arch", "release", "live_version", "upstream_version", "last_error"]

    @admin.display(description="source", ordering="source__name")
    def source_name(self, obj: ItemState) -> str:
        return obj.source.name if obj.source else redact_url(obj.source_url)

    @admin.display(description="upstream", ordering="upstream_version")
    def upstream(self, obj: ItemState) -> str:
        """The version upstream announces, and whether it is newer than the live one (one column, to fit)."""
        if not obj.upstream_version:
            return "-"
        return f"{obj.upstream_version} (newer)" if obj.upstream_newer else obj.upstream_version

    @admin.display(description="last error")
    def error(self, obj: ItemState) -> str:
        """The first 160 characters (the item's page has all of it)."""
        said = redact_text(obj.last_error)
        return said if len(said) <= 160 else said[:159] + "…"

    actions = ["forget"]

    @admin.action(description="Forget the selected item states (the next run that checks an item records it anew)")
    def forget(self, request: HttpRequest, queryset: QuerySet[ItemState]) -> None:
        """Item states are the importer's memory, not history: an operator may drop rows that no longer matter
        (a one-off --archive run, a release long deselected). Runs and installs are kept."""
        count, _ = queryset.delete()
        self.message_user(request, f"Forgot {count} item state(s).", messages.SUCCESS)
