"""The pxeimport Django app."""

from django.apps import AppConfig


class PxeImportConfig(AppConfig):
    name = "pxeimport"
    verbose_name = "PXE import"
    default_auto_field = "django.db.models.BigAutoField"
