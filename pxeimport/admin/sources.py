"""The admin's boot sources: pick an upstream and its layout, the arches and releases, each checked as it is saved."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import QuerySet
from django.http import HttpRequest

from pxeimport.layouts import (
    DISTRIBUTIONS,
    LayoutError,
    ReleaseDataError,
    arch_problem,
    get_layout,
    known_releases,
    release_problem,
)
from pxeimport.lib import redact_text, redact_url, restore_password
from pxeimport.models import (
    BootSource,
    SelectedArch,
    SelectedRelease,
)
from pxeimport.runs import DEFAULT_ARCHES, claimed_elsewhere
from pxeimport.trust import keyring_problem

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

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

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if (problem := release_problem(name)) is not None:
            raise forms.ValidationError(problem)
        return name


class SelectedArchForm(forms.ModelForm[SelectedArch]):
    class Meta:
        model = SelectedArch
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget = SuggestingTextInput([(a, a) for a in COMMON_ARCHES], "arch-suggestions")
        self.fields["name"].help_text = RETIRING_HELP.format(what="architecture (its menus and loaders too)")

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if (problem := arch_problem(name)) is not None:
            raise forms.ValidationError(problem)
        return name


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
    ("Trust", {"fields": ["keyring", "iso_sha256", "skip_signature_checks", "allow_expired_indexes"]}),
    ("Network and boot", {"fields": ["proxy", "kernel_opts"]}),
    (
        "ISO layouts (ubuntu-iso, anaconda-iso, opensuse-iso)",
        {"fields": ["loader_archive", "arch_urls", "iso_base_url", "package_repo"]},
    ),
]


BOOT_SOURCE_FIELDS = [f.name for f in BootSource._meta.concrete_fields if f.editable and not f.primary_key]


# The fields only some layouts read (the others ignore them): the form shows each for those layouts only.
LAYOUT_FIELDS = {
    "installer_dir": ["debian-installer"],
    "loader_archive": ["ubuntu-iso"],
    "arch_urls": ["ubuntu-iso", "anaconda-iso", "opensuse-iso"],
    "package_repo": ["anaconda-iso", "opensuse-iso"],
    "iso_sha256": ["anaconda-iso"],
    "iso_base_url": ["ubuntu-iso"],
}


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
        if "layout" in self.fields:
            self.fields["layout"].widget.attrs["data-fields"] = json.dumps(LAYOUT_FIELDS)

    class Media:
        js = ["pxeimport/layout_fields.js"]

    def clean_keyring(self) -> str:
        """A keyring gpgv can use on this machine (the web process's user reads it as the import's would)."""
        keyring: str = self.cleaned_data["keyring"].strip()
        if keyring:
            problem = keyring_problem(Path(keyring))
            if problem is not None:
                raise forms.ValidationError(f"{keyring}: {problem}")
        return keyring

    def clean_proxy(self) -> str:
        proxy: str = self.cleaned_data["proxy"]
        return restore_password(proxy, self.instance.proxy) if self.instance.proxy else proxy

    def clean(self) -> dict[str, Any]:
        """An enabled source may not select an (arch, release) another enabled source feeds (issue 20)."""
        cleaned = super().clean() or {}
        if cleaned.get("enabled"):
            arches, releases = _submitted(self.data, "arches"), _submitted(self.data, "releases")
            layout, distribution = cleaned.get("layout") or "", cleaned.get("distribution") or ""
            loaders = bool(cleaned.get("feeds_loaders"))
            clashes = claimed_elsewhere(self.instance.pk, arches, releases, layout, distribution, loaders)
        else:
            clashes = []
        # A keyring the field refused is said there; the layout's need of one is then not said again.
        keyring = cleaned.get("keyring") or ("refused" if "keyring" in self.errors else "")
        # URL fields the form refused are said there; what the layout would say of them is then not said.
        urls = {} if {"url", "package_repo", "arch_urls"} & set(self.errors) else cleaned
        problems = fits_layout(
            cleaned.get("layout") or "", _submitted(self.data, "arches"), _submitted(self.data, "releases"), keyring,
            urls=(urls.get("url") or "", urls.get("package_repo") or "", urls.get("arch_urls") or ""),
        )  # fmt: skip
        if clashes or problems:
            raise forms.ValidationError([*clashes, *problems])
        return cleaned


def fits_layout(
    layout: str, arches: list[str], releases: list[str], keyring: str, urls: tuple[str, str, str] = ("", "", "")
) -> list[str]:
    """What a source of `layout` cannot do as filled in, one sentence each: an arch the layout does not
    import, no releases where it has no default, a release it cannot import, no keyring where Debian's and
    Ubuntu's never sign it, URLs it cannot work with (`urls`: its URL, package repository, per-arch URLs)."""
    try:
        chosen = get_layout(layout)
    except LayoutError:
        return []
    problems = []
    wrong = [a for a in arches or DEFAULT_ARCHES if chosen.arches and a not in chosen.arches]
    if wrong:
        default = "" if arches else f" (no architecture selected means {', '.join(DEFAULT_ARCHES)}: select some)"
        problems.append(f"{layout} imports {', '.join(chosen.arches)}, not {', '.join(wrong)}{default}")
    if not releases and chosen.names_releases:
        problems.append(f"{layout} has no default releases (distro-info knows none of its): select them")
    problems += [problem for release in releases if (problem := chosen.release_problem(release))]
    if chosen.own_keyring and not keyring:
        problems.append(f"{layout} needs a keyring: {chosen.own_keyring}")
    problems += [said] if (said := chosen.source_problem(*urls)) else []
    return problems


def _submitted(data: Any, prefix: str) -> list[str]:
    """The names an inline formset of the same page submits (its rows not marked for deletion)."""
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS", 0))
    except ValueError:
        return []
    names = (data.get(f"{prefix}-{i}-name", "").strip() for i in range(total) if not data.get(f"{prefix}-{i}-DELETE"))
    return [name for name in names if name]


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
    actions = ["check_source"]

    @admin.action(
        description="Check source: read its signed indexes now (a dry run of its selection)", permissions=["change"]
    )
    def check_source(self, request: HttpRequest, queryset: QuerySet[BootSource]) -> None:
        """`import_pxe_files --dry-run --source NAME` for each selected source (at most CHECKED): whether its
        keyring verifies its indexes, what it offers, what a run would fetch; its lines, redacted, as messages."""
        for source in queryset[:CHECKED]:
            code, lines = dry_run(source.name)
            said = "; ".join(redact_text(line) for line in lines[:CHECK_LINES]) or "nothing said"
            level = messages.SUCCESS if code == 0 else messages.ERROR
            verdict = "checked" if code == 0 else f"not usable as it is (exit {code})"
            self.message_user(request, f"Boot source {source.name!r} {verdict}: {said}", level)

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


# Check source: how many sources one click checks (each reads its indexes over the network), and lines shown.
CHECKED = 5
CHECK_LINES = 14


def dry_run(name: str) -> tuple[int, list[str]]:
    """`import_pxe_files --dry-run --source NAME` in this process: its exit status and non-blank lines."""
    out, err = StringIO(), StringIO()
    try:
        call_command("import_pxe_files", "--dry-run", "--source", name, stdout=out, stderr=err, verbosity=1)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, [line.strip() for line in (err.getvalue() + "\n" + out.getvalue()).splitlines() if line.strip()]
