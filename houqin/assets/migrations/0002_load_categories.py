"""Load the national asset categories (GB/T 14885-2010) into a fresh database. Later changes of the data file are
applied with ``houqin load_asset_categories``."""

from django.db import migrations


def load(apps, schema_editor):
    from houqin.assets.categories import load_categories

    load_categories("2010", model=apps.get_model("assets", "AssetCategory"))


class Migration(migrations.Migration):
    dependencies = [("assets", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
