"""App configs: the admin with this project's site, and the web app shell itself."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class MaasAdminConfig(AdminConfig):
    default_site = "web.admin.MaasAdminSite"


class MaasServerConfig(AppConfig):
    name = "web"
    verbose_name = "MAAS server"
