"""App configs: the admin with this project's site, and the web app shell itself."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class MaasAdminConfig(AdminConfig):
    default_site = "maasserver.admin.MaasAdminSite"


class MaasServerConfig(AppConfig):
    name = "maasserver"
    verbose_name = "MAAS server"
