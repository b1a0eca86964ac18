"""The admin: boot sources and their selections, the import history, the Racks page, the dashboard's data.

Django's admin autodiscovery imports this package; importing its modules registers their pages.
"""

from pxeimport.admin import history, racks  # noqa: F401  (each registers its pages)
