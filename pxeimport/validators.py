"""Validators of what the admin's forms accept: names, URLs, kernel options, proxies.

Each says what to type instead. Kernel options are checked as the boot menus check them
(pxeimport.menus.syntax), so what the admin accepts an import can write.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from pxeimport.items import parse_arch_urls
from pxeimport.lib import NAME_PATTERN
from pxeimport.menus import BadKernelOptions, check_entry_fits, check_kernel_opts
from pxeimport.tftproot import MAAS_DIR

name_validator = RegexValidator(
    NAME_PATTERN,
    "Use 1-64 characters from a-z 0-9 . + _ -, starting with a letter or digit.",
)


def validate_archive_url(value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ValidationError("The archive URL must start with http:// or https://.")


def validate_package_repo(value: str) -> None:
    """An http(s) URL that can stand on a kernel command line: no blanks, quotes or menu syntax; {release}
    and {basearch} are the only braces."""
    if not value.startswith(("http://", "https://")):
        raise ValidationError("The package repository URL must start with http:// or https://.")
    bare = value.replace("{release}", "").replace("{basearch}", "")
    if not re.fullmatch(r"[A-Za-z0-9._~:/?#\[\]@!&()*+,=%-]+", bare):
        raise ValidationError(
            "The package repository URL goes on the kernel command line: no blanks, quotes, backslashes, "
            "; $ ` or braces other than {release} and {basearch}."
        )


def validate_kernel_opts(value: str) -> None:
    """What the boot menus accept (pxeimport.menus.syntax): one line of printable ASCII, nothing that could end
    the menu line or start another (no newlines, quotes, backslashes, ; $ ` { })."""
    try:
        # A generous release and arch name (codenames are under 12 characters); each run checks the real ones.
        check_entry_fits("r" * 24, check_kernel_opts(value), f"/{MAAS_DIR}/{'a' * 16}/base")
    except BadKernelOptions as exc:
        raise ValidationError(str(exc)) from exc


def validate_sha256(value: str) -> None:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise ValidationError("Give a SHA-256 as 64 hexadecimal digits (what sha256sum prints).")


def validate_dists_url(value: str) -> None:
    if not value.startswith(("http://", "https://")) or not value.endswith("/dists/"):
        raise ValidationError("Give the package archive's http:// or https:// URL ending with dists/.")


def validate_arch_urls(value: str) -> None:
    try:
        parse_arch_urls(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def validate_proxy_url(value: str) -> None:
    """http(s)://[user:password@]host[:port][/]: what requests and the http_proxy variables take."""
    problem = "Give a proxy URL like http://proxy.example:3128 or http://user:password@proxy.example:3128/."
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValidationError(problem)
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValidationError(problem) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(problem)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValidationError("A proxy URL names a host and port only: no path, query or fragment.")
