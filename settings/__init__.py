"""Django settings, read from the environment (django-environ); SQLite and a local TFTP root work with none set."""

from __future__ import annotations

import os
import pwd
import re
import secrets
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from pxeimport.menus import MAX_MENU_TIMEOUT

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# One environment file for every process of an installed service, whatever starts it (its systemd units,
# cron, manage.py run by hand, Import now): PXEIMPORT_ENV_FILE, by default /etc/default/pxeimport, read when
# it exists. A variable already in the process's environment wins over the file.
ENV_FILE = Path(os.environ.get("PXEIMPORT_ENV_FILE", "/etc/default/pxeimport"))
if ENV_FILE.is_file():
    # django-environ skips a file it cannot open without a word: every setting would silently be a default.
    if not os.access(ENV_FILE, os.R_OK):
        _me = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() != 0 else "<the service user>"
        raise ImproperlyConfigured(
            f"{ENV_FILE} is not readable by {_me} (uid {os.geteuid()}): as root, give it to the service user's "
            f"group: chgrp {_me} {ENV_FILE}; chmod 640 {ENV_FILE}"
        )
    environ.Env.read_env(str(ENV_FILE), overwrite=False)
# Where the service keeps its state (the secret key, the default SQLite database, the region's key, logs):
# var/ in the checkout by default; an installed service sets it (e.g. /var/lib/pxeimport), owned by its user.
VAR_DIR = Path(env.str("PXEIMPORT_VAR_DIR", default=str(BASE_DIR / "var"))).absolute()


def _setting(name: str, cast: Any, default: Any) -> Any:
    """`env(name)` cast, with a clear ImproperlyConfigured (not a traceback) for a bad value."""
    try:
        return env.get_value(name, cast=cast, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{name}={env.str(name, default='')!r} is not a valid {cast.__name__}") from exc


def _secret_key() -> str:
    """SECRET_KEY from the environment, else a random key kept in var/ (made on first use)."""
    if "SECRET_KEY" in env.ENVIRON:
        return str(env("SECRET_KEY"))
    path = VAR_DIR / "secret_key"
    try:
        if not path.exists():
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(50))
        return path.read_text().strip()
    except PermissionError as exc:
        # Made 0600 by whoever ran first (root, by hand): the service user cannot read it.
        raise ImproperlyConfigured(
            f"{exc.filename or path} is not readable or writable by uid {os.geteuid()}: give it to the user that "
            f"runs pxeimport (chown -R <user>: {VAR_DIR}), or set SECRET_KEY in the environment"
        ) from exc


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = _setting("ALLOWED_HOSTS", list, ["localhost", "127.0.0.1", "[::1]"])


# The admin over HTTPS. Off by default (`make serve` is plain HTTP on loopback); on, cookies are
# HTTPS-only, plain HTTP is redirected and browsers are told to use HTTPS only (HSTS), so
# `manage.py check --deploy` is clean (tests/web/test_web_security.py).
def _switch(name: str) -> bool:
    """An on/off variable, strictly: a typo must not quietly turn a protection off."""
    value = env.str(name, default="false").strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid bool (use true or false)")
    return value in ("true", "1", "yes", "on")


DEBUG = _switch("DEBUG")
PXEIMPORT_HTTPS = _switch("PXEIMPORT_HTTPS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = PXEIMPORT_HTTPS
SECURE_HSTS_SECONDS = _setting("PXEIMPORT_HSTS_SECONDS", int, 365 * 24 * 3600) if PXEIMPORT_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PXEIMPORT_HTTPS
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured(f"PXEIMPORT_HSTS_SECONDS must be >= 0, not {SECURE_HSTS_SECONDS}")
# Behind a proxy that ends TLS (nginx), Django sees plain HTTP; it may trust the proxy's
# X-Forwarded-Proto only when told the proxy sets it (else any client could claim HTTPS).
if _switch("PXEIMPORT_TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS preload asks browser makers to hard-code HTTPS for the whole domain, for good: the
# domain owner's decision, not an application default. The other deploy checks stay on.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

try:
    DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'pxeimport.sqlite3'}")}
except (ValueError, KeyError) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL Django can use: {exc}") from exc
if DATABASES["default"].get("ENGINE") not in set(environ.Env.DB_SCHEMES.values()):
    raise ImproperlyConfigured(
        f"DATABASE_URL={env.str('DATABASE_URL', default='')!r} names no database Django knows; "
        "use e.g. sqlite:////path/db.sqlite3 or postgres://user@host:5432/name"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Wait for a writer rather than fail at once when the admin and an import overlap.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Each transaction takes the write lock as it begins: two processes that read, then write (an import and the
    # region worker storing a rack's report) then wait for each other, where a reader that must become a writer
    # behind another writer fails at once with "database is locked", whatever the timeout (SQLite's deadlock).
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # A file, not memory, so tests can share the test database with a manage.py subprocess.
    # Per process, so two test runs side by side do not share one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

# Where the TFTP server's files live; the 2012 script's default.
PXEIMPORT_TFTPROOT = Path(_setting("PXEIMPORT_TFTPROOT", str, "/var/lib/tftpboot"))
# How long a superseded version dir stays after the pointer moved off it, for nodes mid-boot.
PXEIMPORT_GRACE_SECONDS = _setting("PXEIMPORT_GRACE_SECONDS", int, 3600)
# How many downloads (and items) run at once: one connection each.
PXEIMPORT_JOBS = _setting("PXEIMPORT_JOBS", int, 4)
# Seconds a boot menu waits before booting its default entry with no key press; 0 boots it at once.
# No "wait for ever": pxelinux reads 0 that way and GRUB -1, so no value means it in both.
PXEIMPORT_MENU_TIMEOUT = _setting("PXEIMPORT_MENU_TIMEOUT", int, 5)
if not 0 <= PXEIMPORT_MENU_TIMEOUT <= MAX_MENU_TIMEOUT:
    raise ImproperlyConfigured(
        f"PXEIMPORT_MENU_TIMEOUT must be 0 (boot the default at once) to {MAX_MENU_TIMEOUT} seconds "
        f"(pxelinux's longest timeout), not {PXEIMPORT_MENU_TIMEOUT}"
    )
# The entry a node boots when nobody chooses: "local" (the local disk: LOCALBOOT 0 / GRUB's exit), a menu
# label ("bookworm", "noble-hwe"), or unset for the current release's entry.
PXEIMPORT_MENU_DEFAULT = _setting("PXEIMPORT_MENU_DEFAULT", str, "")
if PXEIMPORT_MENU_DEFAULT and not re.fullmatch(r"[a-z0-9][a-z0-9.+_-]{0,80}", PXEIMPORT_MENU_DEFAULT):
    raise ImproperlyConfigured(
        f"PXEIMPORT_MENU_DEFAULT must be 'local' or a boot menu label such as 'bookworm' or 'noble-hwe', "
        f"not {PXEIMPORT_MENU_DEFAULT!r}"
    )
PXEIMPORT_HTTP_TIMEOUT = _setting("PXEIMPORT_HTTP_TIMEOUT", float, 60.0)
PXEIMPORT_HTTP_RETRIES = _setting("PXEIMPORT_HTTP_RETRIES", int, 3)
# Seconds before the first HTTP retry, doubled for each further one (pxeimport.fetching.client.FetchSettings.backoff).
PXEIMPORT_HTTP_BACKOFF = _setting("PXEIMPORT_HTTP_BACKOFF", float, 0.5)
if PXEIMPORT_HTTP_BACKOFF < 0:
    raise ImproperlyConfigured(f"PXEIMPORT_HTTP_BACKOFF must be >= 0, not {PXEIMPORT_HTTP_BACKOFF}")
PXEIMPORT_MAX_FILE_BYTES = _setting("PXEIMPORT_MAX_FILE_BYTES", int, 4 << 30)
# A directory a web server serves, and the URL nodes reach it at: where verified files nodes fetch over
# HTTP are kept (the live-server ISO of the ubuntu-iso layout; pxeimport.tftproot.httproot). Both or neither.
PXEIMPORT_HTTP_ROOT = _setting("PXEIMPORT_HTTP_ROOT", str, "") or None
PXEIMPORT_HTTP_URL = _setting("PXEIMPORT_HTTP_URL", str, "") or None
if bool(PXEIMPORT_HTTP_ROOT) != bool(PXEIMPORT_HTTP_URL):
    raise ImproperlyConfigured("set both PXEIMPORT_HTTP_ROOT and PXEIMPORT_HTTP_URL, or neither")
if PXEIMPORT_HTTP_URL and not PXEIMPORT_HTTP_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"PXEIMPORT_HTTP_URL must be an http:// or https:// URL, not {PXEIMPORT_HTTP_URL!r}")
# The admin warns when no import has finished for this long: cron or the timer is broken. Daily runs
# with up to an hour's random delay, plus slack.
PXEIMPORT_STALE_HOURS = _setting("PXEIMPORT_STALE_HOURS", float, 26.0)
if PXEIMPORT_STALE_HOURS <= 0:
    raise ImproperlyConfigured(f"PXEIMPORT_STALE_HOURS must be > 0, not {PXEIMPORT_STALE_HOURS}")
if PXEIMPORT_GRACE_SECONDS < 0 or PXEIMPORT_HTTP_TIMEOUT <= 0 or PXEIMPORT_HTTP_RETRIES < 0:
    raise ImproperlyConfigured(
        "PXEIMPORT_GRACE_SECONDS and PXEIMPORT_HTTP_RETRIES must be >= 0, PXEIMPORT_HTTP_TIMEOUT > 0"
    )

INSTALLED_APPS = [
    # First, so its templates (admin/index.html) override the admin's own.
    "web.apps.MaasServerConfig",
    "web.apps.MaasAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # runserver leaves static files to WhiteNoise, so `make serve` serves them as production does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "pxeimport",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The admin's CSS and icons from STATIC_ROOT (`manage.py collectstatic`, which `make serve` runs).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "web.urls"
WSGI_APPLICATION = "web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # {% load pxeimport_sizes %}: sizes as the command says them (web/sizes.py).
            "libraries": {"pxeimport_sizes": "web.sizes"},
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# One date format everywhere (settings/formats/en): the admin's columns as the command's lines and banners.
FORMAT_MODULE_PATH = ["settings.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic also writes .gz and .br copies; WhiteNoise serves them to clients that accept them.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PXEIMPORT_LOG_LEVEL = _setting("PXEIMPORT_LOG_LEVEL", str, "WARNING").upper()
if PXEIMPORT_LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"PXEIMPORT_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {PXEIMPORT_LOG_LEVEL!r}"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # "LEVEL logger: message" on stderr: no timestamp (journald and cron add theirs), a "<N>" priority
    # prefix when stderr is the journal, passwords in URLs masked (web/logs.py).
    "formatters": {"plain": {"()": "web.logs.JournalFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        # The command reports outcomes itself; the log carries warnings and errors for cron mail and the
        # journal, e.g. each failed item with its source, arch, release, URL and reason.
        "pxeimport": {"handlers": ["console"], "level": PXEIMPORT_LOG_LEVEL},
        # Server errors (500s, with their tracebacks) from the admin, whether DEBUG is on or off.
        "django": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# Many TFTP servers (docs/operator/region-and-racks.md). None of this is used when unset: one machine as before.
# On the region: where import_pxe_files publishes the signed index and links to version dirs, and its URL.
PXEIMPORT_PUBLISH_ROOT = Path(_p) if (_p := _setting("PXEIMPORT_PUBLISH_ROOT", str, "")) else None
PXEIMPORT_PUBLISH_URL = _setting("PXEIMPORT_PUBLISH_URL", str, "")
if PXEIMPORT_PUBLISH_ROOT is not None and not PXEIMPORT_PUBLISH_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"PXEIMPORT_PUBLISH_ROOT is set, so PXEIMPORT_PUBLISH_URL must be the http(s) URL serving it, "
        f"not {PXEIMPORT_PUBLISH_URL!r}"
    )
# Version dirs an index named stay this long after a newer index replaced it: racks mid-sync still fetch them.
PXEIMPORT_PUBLISH_KEEP_SECONDS = _setting("PXEIMPORT_PUBLISH_KEEP_SECONDS", int, 24 * 3600)
# The region's signing key (made on first use; `manage.py export_region_keyring FILE` exports the public part).
PXEIMPORT_REGION_GNUPGHOME = Path(_setting("PXEIMPORT_REGION_GNUPGHOME", str, str(VAR_DIR / "region-gnupg")))
# RabbitMQ, on the region and every rack: wake-ups and reports only, never file bytes. "": no broker.
CELERY_BROKER_URL = _setting("CELERY_BROKER_URL", str, "")
# The region's queue (rack reports, the safety net) and the prefix of each rack's own queue. "" (the default):
# named after the region's key id, so two regions on one broker never share a queue (pxeimport.racks.queues).
PXEIMPORT_REGION_QUEUE = _setting("PXEIMPORT_REGION_QUEUE", str, "")
PXEIMPORT_RACK_QUEUE_PREFIX = _setting("PXEIMPORT_RACK_QUEUE_PREFIX", str, "")
# The safety net: every this many seconds the region worker asks every rack to converge.
PXEIMPORT_RACK_SYNC_SECONDS = _setting("PXEIMPORT_RACK_SYNC_SECONDS", float, 900.0)
# The admin's banner: a rack behind the region (or failing) for longer than this.
PXEIMPORT_RACK_LAG_MINUTES = _setting("PXEIMPORT_RACK_LAG_MINUTES", float, 60.0)
# A rack asked to converge that has not answered (not even "started") within this many seconds is unreachable.
PXEIMPORT_RACK_ANSWER_SECONDS = _setting("PXEIMPORT_RACK_ANSWER_SECONDS", float, 120.0)
# A rack whose clock and the region's web server's disagree by more than this is shown with "clock skew".
PXEIMPORT_RACK_CLOCK_SKEW_SECONDS = _setting("PXEIMPORT_RACK_CLOCK_SKEW_SECONDS", float, 300.0)
# /metrics: a bearer token for Prometheus; "" means staff sessions only.
PXEIMPORT_METRICS_TOKEN = _setting("PXEIMPORT_METRICS_TOKEN", str, "")
if (
    PXEIMPORT_PUBLISH_KEEP_SECONDS < 0
    or min(
        PXEIMPORT_RACK_SYNC_SECONDS,
        PXEIMPORT_RACK_LAG_MINUTES,
        PXEIMPORT_RACK_ANSWER_SECONDS,
        PXEIMPORT_RACK_CLOCK_SKEW_SECONDS,
    )
    <= 0
):
    raise ImproperlyConfigured(
        "PXEIMPORT_PUBLISH_KEEP_SECONDS must be >= 0; PXEIMPORT_RACK_SYNC_SECONDS, PXEIMPORT_RACK_LAG_MINUTES, "
        "PXEIMPORT_RACK_ANSWER_SECONDS and PXEIMPORT_RACK_CLOCK_SKEW_SECONDS > 0"
    )
