"""The admin's security: staff logins only, CSRF enforced on every POST, safe headers and
cookies, and production settings that `manage.py check --deploy` passes (PXEIMPORT_HTTPS)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.http.response import HttpResponseBase
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from pxeimport.models import BootSource, ImportRun, RunStatus

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def run() -> ImportRun:
    return ImportRun.objects.create(started=timezone.now(), status=RunStatus.SUCCEEDED, tftproot="/srv/tftp")


def admin_pages(run: ImportRun) -> list[tuple[str, bool]]:
    """Each page of the admin, and whether a superuser may open it (history cannot be added to or
    deleted): the site's own pages and, for every registered model, each of its views."""
    superuser = RequestFactory().get("/")
    superuser.user = User(is_staff=True, is_superuser=True, is_active=True)
    source = BootSource.objects.first()
    assert source is not None
    objects = {BootSource: source, ImportRun: run}
    pages = [(reverse(name), True) for name in ("admin:index", "admin:status")]
    pages.append((reverse("admin:app_list", args=["pxeimport"]), True))
    for model, model_admin in admin.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages += [
            (reverse(f"{info}_changelist"), True),
            (reverse(f"{info}_add"), model_admin.has_add_permission(superuser)),
        ]
        if model in objects:
            obj = objects[model]
            pages += [
                (reverse(f"{info}_change", args=[obj.pk]), True),
                (reverse(f"{info}_history", args=[obj.pk]), True),
                (reverse(f"{info}_delete", args=[obj.pk]), model_admin.has_delete_permission(superuser, obj)),
            ]
    return pages


def every_admin_url(run: ImportRun) -> list[str]:
    return [url for url, _ in admin_pages(run)]


def login_redirect(response: HttpResponseBase) -> bool:
    return response.status_code == 302 and str(response["Location"]).startswith(reverse("admin:login"))


# Who gets in -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_no_admin_page_answers_an_anonymous_visitor(client, run):
    urls = every_admin_url(run)
    assert len(urls) > 20
    for url in urls:
        assert login_redirect(client.get(url)), url


@pytest.mark.django_db
def test_no_admin_page_answers_a_logged_in_user_who_is_not_staff(client, run):
    client.force_login(User.objects.create_user("visitor", password="x" * 20))
    for url in every_admin_url(run):
        assert login_redirect(client.get(url)), url


@pytest.mark.django_db
def test_staff_without_permissions_can_open_no_model_page(client, run):
    client.force_login(User.objects.create_user("clerk", password="x" * 20, is_staff=True))
    assert client.get(reverse("admin:index")).status_code == 200
    for url in every_admin_url(run):
        if url not in (reverse("admin:index"),):
            assert client.get(url).status_code in (403, 404), url


@pytest.mark.django_db
def test_a_superuser_can_open_every_page_but_those_that_would_change_history(admin_client, run):
    """The refusals above are of the visitors, not of broken pages."""
    for url, allowed in admin_pages(run):
        assert admin_client.get(url).status_code == (200 if allowed else 403), url


# CSRF ---------------------------------------------------------------------------------------------

SOURCE_FORM = {
    "name": "mirror",
    "url": "http://mirror.example/dists/",
    "layout": "debian-installer",
    "distribution": "debian",
    "enabled": "on",
    "arches-TOTAL_FORMS": "0",
    "arches-INITIAL_FORMS": "0",
    "releases-TOTAL_FORMS": "0",
    "releases-INITIAL_FORMS": "0",
}


@pytest.fixture
def csrf_client(admin_user) -> Client:
    """A superuser's browser, with CSRF checks on (the test client skips them unless told)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


def token(client: Client, url: str) -> str:
    """The CSRF token a form page hands out (and its cookie, kept by the client)."""
    client.get(url)
    return str(client.cookies["csrftoken"].value)


@pytest.fixture
def started(monkeypatch) -> list[str]:
    """Calls to start a background import from the admin (recorded, not run)."""
    calls: list[str] = []

    def start_import(trigger: str = "admin") -> object:
        calls.append(trigger)
        return type("Started", (), {"pid": 4242, "log": Path("/dev/null")})()

    monkeypatch.setattr("pxeimport.admin.history.start_import", start_import)
    return calls


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused(csrf_client):
    response = csrf_client.post(reverse("admin:pxeimport_bootsource_add"), SOURCE_FORM)
    assert response.status_code == 403
    assert not BootSource.objects.filter(name="mirror").exists()


@pytest.mark.django_db
def test_a_post_with_a_forged_csrf_token_is_refused(csrf_client):
    url = reverse("admin:pxeimport_bootsource_add")
    token(csrf_client, url)
    response = csrf_client.post(url, {**SOURCE_FORM, "csrfmiddlewaretoken": "x" * 64})
    assert response.status_code == 403
    assert not BootSource.objects.filter(name="mirror").exists()


@pytest.mark.django_db
def test_a_post_with_the_csrf_token_goes_through(csrf_client):
    url = reverse("admin:pxeimport_bootsource_add")
    response = csrf_client.post(url, {**SOURCE_FORM, "csrfmiddlewaretoken": token(csrf_client, url)})
    assert response.status_code == 302
    assert BootSource.objects.filter(name="mirror").exists()


@pytest.mark.django_db
def test_deleting_a_source_without_the_csrf_token_is_refused(csrf_client):
    source = BootSource.objects.first()
    assert source is not None
    response = csrf_client.post(reverse("admin:pxeimport_bootsource_delete", args=[source.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert BootSource.objects.filter(pk=source.pk).exists()


@pytest.mark.django_db
def test_logging_in_without_the_csrf_token_is_refused(admin_user):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("admin:login"), {"username": admin_user.username, "password": "password"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logging_out_takes_a_post(csrf_client):
    assert csrf_client.get(reverse("admin:logout")).status_code == 405
    assert "_auth_user_id" in csrf_client.session


# Import now ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_now_without_the_csrf_token_starts_nothing(csrf_client, started):
    response = csrf_client.post(reverse("admin:pxeimport_importrun_import_now"))
    assert response.status_code == 403
    assert started == []


@pytest.mark.django_db
def test_import_now_with_the_csrf_token_starts_one_import(csrf_client, started):
    page = reverse("admin:status")
    response = csrf_client.post(
        reverse("admin:pxeimport_importrun_import_now"), {"csrfmiddlewaretoken": token(csrf_client, page)}
    )
    assert response.status_code == 302
    assert started == ["admin"]


@pytest.mark.django_db
def test_import_now_takes_a_post(admin_client, started):
    assert admin_client.get(reverse("admin:pxeimport_importrun_import_now")).status_code == 405
    assert started == []


@pytest.mark.django_db
def test_import_now_is_refused_to_anonymous_visitors_and_to_staff_without_the_permission(client, started):
    assert login_redirect(client.post(reverse("admin:pxeimport_importrun_import_now")))
    clerk = User.objects.create_user("clerk", password="x" * 20, is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_importrun"))
    client.force_login(clerk)
    assert client.post(reverse("admin:pxeimport_importrun_import_now")).status_code == 403
    assert started == []


@pytest.mark.django_db
def test_import_now_never_redirects_off_the_site(admin_client, started):
    for evil in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        response = admin_client.post(reverse("admin:pxeimport_importrun_import_now"), {"next": evil})
        assert response["Location"] == reverse("admin:status"), evil


# Headers and cookies --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_pages_send_the_safe_headers(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_the_session_cookie_is_http_only_and_same_site(admin_user):
    client = Client()
    client.post(reverse("admin:login"), {"username": admin_user.username, "password": "password"})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_an_unknown_page_shows_no_debug_information(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"URLconf" not in response.content and b"Traceback" not in response.content


@pytest.mark.django_db
def test_with_https_on_plain_http_is_redirected_and_https_gets_hsts(settings, admin_client):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    plain = admin_client.get(reverse("admin:index"))
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = admin_client.get(reverse("admin:index"), secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"


# Production settings ----------------------------------------------------------------------------------

PRODUCTION = {"DEBUG": "false", "ALLOWED_HOSTS": "maas.example.com", "PXEIMPORT_HTTPS": "true"}


def manage(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run with only these variables of ours set (a long random SECRET_KEY unless given)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PXEIMPORT_", "DEBUG", "ALLOWED_HOSTS"))}
    clean.update({"SECRET_KEY": secrets.token_urlsafe(50), "PYTHONDONTWRITEBYTECODE": "1", **env})
    return subprocess.run([sys.executable, *argv], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60)


def check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    return manage("manage.py", "check", "--deploy", "--fail-level", "WARNING", **env)


@pytest.mark.slow
def test_check_deploy_is_clean_with_the_production_settings():
    result = check_deploy(**PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"PXEIMPORT_HTTPS": "false"}, "security.W004"),  # no HSTS
        ({"PXEIMPORT_HTTPS": "false"}, "security.W008"),  # no redirect to HTTPS
        ({"PXEIMPORT_HTTPS": "false"}, "security.W012"),  # session cookie over HTTP
        ({"PXEIMPORT_HTTPS": "false"}, "security.W016"),  # CSRF cookie over HTTP
        ({"DEBUG": "true"}, "security.W018"),
        ({"SECRET_KEY": "short"}, "security.W009"),
    ],
)
def test_check_deploy_fails_when_a_production_setting_is_missing(change, warning):
    result = check_deploy(**{**PRODUCTION, **change})
    assert result.returncode != 0
    assert warning in result.stderr


SHOW = (
    "import json, settings as s; print(json.dumps({k: getattr(s, k, None) for k in ["
    "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
    "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER']}))"
)


@pytest.mark.slow
def test_pxeimport_https_turns_on_secure_cookies_redirects_and_a_years_hsts():
    result = manage("-c", SHOW, PXEIMPORT_HTTPS="true")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": None,
    }


@pytest.mark.slow
def test_the_https_variables_are_off_by_default_and_parsed_strictly():
    default = json.loads(manage("-c", SHOW).stdout)
    assert default["SESSION_COOKIE_SECURE"] is False and default["SECURE_HSTS_SECONDS"] == 0
    tuned = manage(
        "-c", SHOW, PXEIMPORT_HTTPS="true", PXEIMPORT_HSTS_SECONDS="600", PXEIMPORT_TRUST_X_FORWARDED_PROTO="true"
    )
    shown = json.loads(tuned.stdout)
    assert shown["SECURE_HSTS_SECONDS"] == 600
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    bad = manage("-c", SHOW, PXEIMPORT_HTTPS="sometimes")
    assert bad.returncode != 0 and "PXEIMPORT_HTTPS" in bad.stderr
