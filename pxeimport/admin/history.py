"""The admin: pick boot sources, arches and releases; read the import history (read-only); start an import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from pxeimport.layouts import DISTRIBUTIONS, ReleaseDataError, known_releases
from pxeimport.lib import redact_url, restore_password
from pxeimport.models import (
    BootSource,
    ImportRun,
    Install,
    InstalledFile,
    ItemState,
    RunStatus,
    SelectedArch,
    SelectedRelease,
)
from pxeimport.runs import dashboard, start_import

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

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


# Which is which (issue 12 item 11): deselecting retires, vanishing upstream does not.
RETIRING_HELP = (
    "Deleting a {what} here retires it: the next import from the saved selection takes it off the boot "
    "menus, and its files are deleted after the grace period (PXEIMPORT_GRACE_SECONDS). A run narrowed "
    "with --arch, --release or --archive retires nothing. A selected release that vanished upstream "
    "(its import fails) stays in the menus and on disk."
)


class SelectedReleaseForm(forms.ModelForm[SelectedRelease]):
    class Meta:
        model = SelectedRelease
        fields = ["name", "kernel_opts"]
        widgets = {"kernel_opts": forms.TextInput(attrs={"size": 40})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget = SuggestingTextInput(release_suggestions(), "release-suggestions")
        self.fields["name"].help_text = (
            "A codename from distro-info, or any name your mirror has. " + RETIRING_HELP.format(what="release")
        )


class SelectedArchForm(forms.ModelForm[SelectedArch]):
    class Meta:
        model = SelectedArch
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget = SuggestingTextInput([(a, a) for a in COMMON_ARCHES], "arch-suggestions")
        self.fields["name"].help_text = RETIRING_HELP.format(what="architecture (its menus and loaders too)")


class SelectedArchInline(admin.TabularInline[SelectedArch, BootSource]):
    model = SelectedArch
    form = SelectedArchForm
    extra = 1


class SelectedReleaseInline(admin.TabularInline[SelectedRelease, BootSource]):
    model = SelectedRelease
    form = SelectedReleaseForm
    extra = 1


# The boot source form's groups; an editable field not named here is shown in a last group, "More".
BOOT_SOURCE_FIELDSETS: _FieldsetSpec = [
    (None, {"fields": ["name", "url", "layout", "distribution", "installer_dir", "current_release", "enabled"]}),
    ("Trust", {"fields": ["keyring", "skip_signature_checks", "allow_expired_indexes"]}),
    ("Network and boot", {"fields": ["proxy", "kernel_opts"]}),
    ("Ubuntu live-server ISO (ubuntu-iso layout)", {"fields": ["loader_archive", "arch_urls", "iso_base_url"]}),
]


BOOT_SOURCE_FIELDS = [f.name for f in BootSource._meta.concrete_fields if f.editable and not f.primary_key]


class BootSourceForm(forms.ModelForm[BootSource]):
    """The proxy's password is never sent to the browser: the box shows it as ***, and *** saved back
    (with the same user name) keeps the stored password."""

    class Meta:
        model = BootSource
        fields = BOOT_SOURCE_FIELDS
        widgets = {"kernel_opts": forms.TextInput(attrs={"size": 80})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.proxy:
            self.initial["proxy"] = redact_url(self.instance.proxy)

    def clean_proxy(self) -> str:
        proxy: str = self.cleaned_data["proxy"]
        return restore_password(proxy, self.instance.proxy) if self.instance.proxy else proxy


@admin.register(BootSource)
class BootSourceAdmin(admin.ModelAdmin[BootSource]):
    form = BootSourceForm
    list_display = [
        "name",
        "archive_url",
        "layout",
        "distribution",
        "enabled",
        "arch_list",
        "release_list",
        "proxy_url",
    ]
    list_filter = ["enabled", "layout", "distribution"]
    search_fields = ["name", "url"]
    inlines = [SelectedArchInline, SelectedReleaseInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("arches", "releases")

    def get_fieldsets(self, request: HttpRequest, obj: BootSource | None = None) -> _FieldsetSpec:
        grouped = set(flatten_fieldsets(BOOT_SOURCE_FIELDSETS))
        more = [name for name in BOOT_SOURCE_FIELDS if name not in grouped]
        return [*BOOT_SOURCE_FIELDSETS, *([("More", {"fields": more})] if more else [])]

    @admin.display(description="archive URL", ordering="url")
    def archive_url(self, obj: BootSource) -> str:
        return redact_url(obj.url)

    @admin.display(description="HTTP proxy", ordering="proxy")
    def proxy_url(self, obj: BootSource) -> str:
        return redact_url(obj.proxy) or "from the environment"

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
        return dashboard.status_badge(obj)

    @admin.display(description="duration")
    def duration(self, obj: ImportRun) -> str:
        return dashboard.duration(obj)

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
    list_display = ["name", "sha256", "size", "downloaded", "arch", "release", "installed"]
    list_filter = ["install__arch", "install__release", "install__run__status", "name"]
    list_select_related = ["install"]
    search_fields = ["sha256", "url"]
    list_per_page = 100
    show_full_result_count = False

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
        "installed",
        "checked",
        "outcome",
        "upstream_version",
        "upstream_newer",
        "last_error",
    ]
    list_filter = [ItemFilter, "outcome", "kind", "arch", "release", "source"]
    list_select_related = ["source"]
    search_fields = ["arch", "release", "live_version", "upstream_version", "last_error"]

    @admin.display(description="source", ordering="source__name")
    def source_name(self, obj: ItemState) -> str:
        return obj.source.name if obj.source else redact_url(obj.source_url)

    @admin.display(description="upstream newer", boolean=True)
    def upstream_newer(self, obj: ItemState) -> bool:
        return obj.upstream_newer
