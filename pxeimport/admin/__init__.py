"""The admin: boot sources and their selections, the import history, the Racks page, the dashboard's data.

Django's admin autodiscovery imports this package; importing its modules registers their pages.

Imports: Django, the models, lib, layouts (the release suggestions), runs (the dashboard, Import now),
racks (the Racks page), trust (a keyring gpgv can use, checked as it is saved).
"""

from pxeimport.admin import history, racks, sources  # noqa: F401  (each registers its pages)

# Nothing to import from here: Django reaches the pages through the admin site's registry.
__all__: list[str] = []
