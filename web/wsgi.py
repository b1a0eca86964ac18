"""WSGI entry point (gunicorn web.wsgi:application, contrib/systemd/pxeimport-web.service).

A bad setting, or a file of the service's state its user cannot read, is one line on stderr and exit 2, as
from manage.py: gunicorn (with --preload, so the app loads once, in its master) would otherwise print the
traceback of every worker that fails to boot and exit 3, which systemd would retry for ever.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    sys.stderr.write(f"pxeimport web: bad configuration: {exc}; not started\n")
    sys.exit(2)
except PermissionError as exc:
    sys.stderr.write(
        f"pxeimport web: permission denied: {exc.filename or exc}: run it as the service user; not started\n"
    )
    sys.exit(2)
