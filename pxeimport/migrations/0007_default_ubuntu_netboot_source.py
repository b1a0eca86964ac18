"""A fresh database imports something bootable today: Ubuntu's current netboot layout, amd64, the LTS releases.

The debian-installer Ubuntu source of 0002 stays, disabled: Ubuntu stopped publishing those images
after 20.04. A database that has other sources, or changed that one, is left as it is.
"""

from django.db import migrations

OLD = {"name": "ubuntu", "url": "http://archive.ubuntu.com/ubuntu/dists/", "layout": "debian-installer"}
NEW = {
    "name": "ubuntu-netboot",
    "url": "https://releases.ubuntu.com/",
    "layout": "ubuntu-netboot",
    "distribution": "ubuntu",
}
# Supported LTS releases that have netboot tarballs (23.10 and later), as of this migration.
RELEASES = ("noble", "resolute")


def add_netboot_source(apps, schema_editor):
    BootSource = apps.get_model("pxeimport", "BootSource")
    sources = list(BootSource.objects.all())
    if len(sources) != 1 or any(getattr(sources[0], k) != v for k, v in OLD.items()):
        return
    if sources[0].arches.exists() or sources[0].releases.exists():
        return
    BootSource.objects.filter(pk=sources[0].pk).update(enabled=False)
    source = BootSource.objects.create(**NEW)
    source.arches.create(name="amd64")
    for release in RELEASES:
        source.releases.create(name=release)


def remove_netboot_source(apps, schema_editor):
    BootSource = apps.get_model("pxeimport", "BootSource")
    BootSource.objects.filter(name=NEW["name"], url=NEW["url"]).delete()
    BootSource.objects.filter(**OLD).update(enabled=True)


class Migration(migrations.Migration):
    dependencies = [("pxeimport", "0006_ubuntu_netboot_layout")]
    operations = [migrations.RunPython(add_netboot_source, remove_netboot_source)]
