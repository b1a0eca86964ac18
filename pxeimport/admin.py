"""The admin: pick boot sources, arches and releases; read the import history (read-only)."""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.html import format_html

from pxeimport.models import (
    BootSource,
    ImportRun,
    Install,
    InstalledFile,
    RunStatus,
    SelectedArch,
    SelectedRelease,
)
from pxeimport.releases import DISTRIBUTIONS, ReleaseDataError, known_releases

_M = TypeVar("_M", bound=Model)

COMMON_ARCHES = ("amd64", "i386", "arm64", "armhf", "ppc64el", "s390x", "riscv64")


class SuggestingTextInput(forms.TextInput):
    """A text box with an HTML datalist of suggestions: pick one, or type any valid name."""

    template_name = "pxeimport/widgets/datalist.html"

    def __init__(self, suggestions: list[tuple[str, str]], list_id: str) -> None:
        super().__init__(attrs={"list": list_id, "autocomplete": "off"})
        self.suggestions = suggestions

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["suggestions"] = self.suggestions
        return context


def release_suggestions() -> list[tuple[str, str]]:
    """(codename, "codename (Name version) — Distribution, supported") from distro-info."""
    suggestions = []
    for distribution in DISTRIBUTIONS:
        try:
            releases = known_releases(distribution)
        except ReleaseDataError:
            continue  # Typing a name still works; the command reports the data problem.
        for r in releases:
            support = "supported" if r.supported else "unsupported"
            suggestions.append((r.codename, f"{r.label} — {distribution.title()}, {support}"))
    return suggestions


class SelectedReleaseForm(forms.ModelForm[SelectedRelease]):
    class Meta:
        model = SelectedRelease
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget = SuggestingTextInput(release_suggestions(), "release-suggestions")
        self.fields["name"].help_text = "A codename from distro-info, or any name your mirror has."


class SelectedArchForm(forms.ModelForm[SelectedArch]):
    class Meta:
        model = SelectedArch
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget = SuggestingTextInput([(a, a) for a in COMMON_ARCHES], "arch-suggestions")


class SelectedArchInline(admin.TabularInline[SelectedArch, BootSource]):
    model = SelectedArch
    form = SelectedArchForm
    extra = 1


class SelectedReleaseInline(admin.TabularInline[SelectedRelease, BootSource]):
    model = SelectedRelease
    form = SelectedReleaseForm
    extra = 1


@admin.register(BootSource)
class BootSourceAdmin(admin.ModelAdmin[BootSource]):
    list_display = ["name", "url", "layout", "distribution", "enabled", "arch_list", "release_list"]
    list_filter = ["enabled", "layout", "distribution"]
    search_fields = ["name", "url"]
    inlines = [SelectedArchInline, SelectedReleaseInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("arches", "releases")

    @admin.display(description="architectures")
    def arch_list(self, obj: BootSource) -> str:
        return ", ".join(a.name for a in obj.arches.all()) or "default (amd64, i386)"

    @admin.display(description="releases")
    def release_list(self, obj: BootSource) -> str:
        return ", ".join(r.name for r in obj.releases.all()) or "default (supported releases)"


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


STATUS_COLOURS = {
    RunStatus.SUCCEEDED: "#2e7d32",
    RunStatus.FAILED: "#c62828",
    RunStatus.ERROR: "#c62828",
    RunStatus.ABANDONED: "#c62828",
    RunStatus.LOCKED: "#ef6c00",
    RunStatus.RUNNING: "#1565c0",
}


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
        "bytes_downloaded",
        "duration",
    ]
    list_filter = ["status", "trigger", "started"]
    date_hierarchy = "started"
    inlines = [InstallInline]
    list_per_page = 50

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ImportRun) -> str:
        colour = STATUS_COLOURS.get(RunStatus(obj.status), "#555")
        return format_html('<strong style="color: {}">{}</strong>', colour, obj.get_status_display())

    @admin.display(description="duration")
    def duration(self, obj: ImportRun) -> str:
        if obj.finished is None:
            return "-"
        return f"{(obj.finished - obj.started).total_seconds():.1f} s"


@admin.register(Install)
class InstallAdmin(ReadOnlyAdmin[Install]):
    list_display = ["installed", "arch", "release", "kind", "version", "previous_version", "source_url", "run"]
    list_filter = ["arch", "release", "kind", "run__status"]
    list_select_related = ["run"]
    search_fields = ["version", "files__sha256"]
    inlines = [InstalledFileInline]
    list_per_page = 50


@admin.register(InstalledFile)
class InstalledFileAdmin(ReadOnlyAdmin[InstalledFile]):
    list_display = ["name", "sha256", "size", "downloaded", "arch", "release", "installed"]
    list_filter = ["install__arch", "install__release", "install__run__status", "name"]
    list_select_related = ["install"]
    search_fields = ["sha256", "url"]
    list_per_page = 100

    @admin.display(ordering="install__arch")
    def arch(self, obj: InstalledFile) -> str:
        return obj.install.arch

    @admin.display(ordering="install__release")
    def release(self, obj: InstalledFile) -> str:
        return obj.install.release

    @admin.display(ordering="install__installed")
    def installed(self, obj: InstalledFile) -> Any:
        return obj.install.installed
