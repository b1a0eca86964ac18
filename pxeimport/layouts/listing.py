"""The file names a web server's directory index page links to (Apache's and nginx's autoindex, Python's
http.server), for layouts whose signed list has a name that changes with each compose (Fedora's
Fedora-Server-41-1.4-x86_64-CHECKSUM).

The page is not signed and is only read for names: what a name leads to is verified as any index is
(its signature), so a forged page can at most hide a file or point at another signed list.
"""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

# A file name as mirrors publish them (Fedora-Server-41-1.4-x86_64-CHECKSUM, Rocky-9.5-x86_64-boot.iso).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,254}")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def listed_names(page: str) -> list[str]:
    """The names of the files directly in the listed directory, in page order, each once.

    Links with a query (Apache's sort links, ?C=N;O=D), to another directory, to a subdirectory or
    up, and names other than letters, digits and . _ + ~ - (starting with a letter or digit) are left out.
    """
    parser = _Links()
    parser.feed(page)
    parser.close()
    names: list[str] = []
    for href in parser.hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or parts.query or parts.fragment:
            continue
        path = unquote(parts.path)
        if not path or path.endswith("/") or posixpath.dirname(path) not in ("", "."):
            continue
        name = posixpath.basename(path)
        if _NAME.fullmatch(name) and name not in names:
            names.append(name)
    return names
