"""A fresh database has the Ubuntu archive as its one boot source, as the 2012 script defaulted to."""

from django.db import migrations

DEFAULT = {
    "name": "ubuntu",
    "url": "http://archive.ubuntu.com/ubuntu/dists/",
    "layout": "debian-installer",
    "distribution": "ubuntu",
    "installer_dir": "ubuntu-installer",
}


def add_default_source(apps, schema_editor):
    BootSource = apps.get_model("pxeimport", "BootSource")
    if not BootSource.objects.exists():
        BootSource.objects.create(**DEFAULT)


def remove_default_source(apps, schema_editor):
    BootSource = apps.get_model("pxeimport", "BootSource")
    BootSource.objects.filter(name=DEFAULT["name"], url=DEFAULT["url"]).delete()


class Migration(migrations.Migration):
    dependencies = [("pxeimport", "0001_initial")]
    operations = [migrations.RunPython(add_default_source, remove_default_source)]
