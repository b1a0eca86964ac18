"""The admin's stylesheets arrive when it is served the ways the README offers: `make serve` and nginx.

`make serve` is runserver with DEBUG off after collectstatic; WhiteNoise serves the files. The
contrib nginx site serves them from STATIC_ROOT itself. Both are run for real here, and a real
Chromium loads the login page and must get every stylesheet and apply it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nginx import running_nginx, site_with
from tests.support.requirements import require_tool
from tests.support.web import CHROMIUM, CHROMIUM_ARGS, free_port, wait_for

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
SITE = PROJECT / "contrib" / "nginx" / "pxeimport-admin"
STATIC_ROOT = PROJECT / "var" / "static"


def manage_env(tmp_path: Path) -> dict[str, str]:
    """The environment `make serve` has: no DEBUG, our settings, a database of this test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "PXEIMPORT_", "DATABASE_URL"))}
    env |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'admin.sqlite3'}", "DJANGO_SETTINGS_MODULE": "settings"}
    return env


@pytest.fixture
def served_as_make_serve(tmp_path: Path) -> Iterator[str]:
    """`make static` then `make serve`'s runserver, with DEBUG off; yields its base URL."""
    env = manage_env(tmp_path)
    for args in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=env, check=True, timeout=120)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/admin/login/", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def stylesheets_applied(url: str) -> tuple[list[tuple[str, int, str]], str]:
    """Each stylesheet the login page loads (URL, status, Content-Type), and the header's computed colour."""
    if not Path(CHROMIUM).exists():
        require_tool("chromium")
    from playwright.sync_api import sync_playwright

    sheets: list[tuple[str, int, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on(
                "response",
                lambda r: (
                    sheets.append((r.url, r.status, r.headers.get("content-type", "")))
                    if r.request.resource_type == "stylesheet"
                    else None
                ),
            )
            page.goto(f"{url}/admin/login/")
            page.wait_for_load_state("networkidle")
            colour = page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor")
        finally:
            browser.close()
    return sheets, str(colour)


def assert_styled(sheets: list[tuple[str, int, str]], colour: str) -> None:
    assert any(u.endswith("/static/admin/css/base.css") for u, _, _ in sheets), sheets
    assert all(status == 200 and ctype.startswith("text/css") for _, status, ctype in sheets), sheets
    # base.css paints the header; unstyled, it is transparent.
    assert colour not in ("", "rgba(0, 0, 0, 0)", "transparent"), colour


def test_make_serve_with_debug_off_serves_the_admin_stylesheets(served_as_make_serve: str):
    assert_styled(*stylesheets_applied(served_as_make_serve))


def test_the_contrib_nginx_site_serves_the_stylesheets_and_proxies_the_rest(served_as_make_serve: str, tmp_path: Path):
    port = free_port()
    app_port = served_as_make_serve.rsplit(":", 1)[1]
    site = site_with(
        SITE,
        (
            ("listen 80;", f"listen 127.0.0.1:{port};"),
            ("/srv/pxeimport/var/static/", f"{STATIC_ROOT}/"),
            ("http://127.0.0.1:8000", f"http://127.0.0.1:{app_port}"),
        ),
    )
    with running_nginx(site, tmp_path) as server:
        wait_for(f"http://127.0.0.1:{port}/admin/login/", server)
        sheets, colour = stylesheets_applied(f"http://127.0.0.1:{port}")
        assert_styled(sheets, colour)
        log = (tmp_path / "access.log").read_text()
        assert "/static/admin/css/base.css" in log
