"""Fewer indexes to update on every card and event written (an import writes 100,000 of each).

* The single-column indexes Django gives a foreign key are dropped where a composite index starts with the same
  column: ``asset.org`` (the four ``(org, …)`` indexes), ``assetevent.org`` (``(org, code, time)``) and
  ``assetevent.asset`` (``(asset, time)``).
* ``asset.custodian`` and ``assetevent.reverses`` are empty on most rows: only the rows that have one are indexed.

Only indexes change. Django's SQLite backend would rebuild both tables (five times) to drop an index of a foreign
key, so the database side drops them by name instead, on SQLite as on PostgreSQL.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FOREIGN_KEY_INDEXES = [("asset", "org"), ("asset", "custodian"), ("assetevent", "org"), ("assetevent", "asset"),
                       ("assetevent", "reverses")]


def _single_column_indexes(schema_editor, model, column: str) -> list[str]:
    """The plain indexes on ``column`` alone (the partial ones of this migration do not exist yet, or any more, when
    this runs: they are added after it and removed before it is reversed)."""
    with schema_editor.connection.cursor() as cursor:
        found = schema_editor.connection.introspection.get_constraints(cursor, model._meta.db_table)
    return [name for name, info in found.items()
            if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == [column]]


def drop_foreign_key_indexes(apps, schema_editor):
    for model_name, field_name in FOREIGN_KEY_INDEXES:
        model = apps.get_model("assets", model_name)
        column = model._meta.get_field(field_name).column
        for name in _single_column_indexes(schema_editor, model, column):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_foreign_key_indexes(apps, schema_editor):
    for model_name, field_name in FOREIGN_KEY_INDEXES:
        model = apps.get_model("assets", model_name)
        field = model._meta.get_field(field_name)
        if not _single_column_indexes(schema_editor, model, field.column):
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


def _fk(to, **options):
    return models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to=to, db_index=False, **options)


class Migration(migrations.Migration):
    dependencies = [
        ("assets", "0005_analyticssummary"),
        ("core", "0006_data_version"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="asset", name="custodian",
                    field=_fk(settings.AUTH_USER_MODEL, blank=True, null=True, related_name="+",
                              help_text="留空则由存放地点的责任人保管（如班级财产由班主任保管）",
                              verbose_name="使用人/保管人"),
                ),
                migrations.AlterField(
                    model_name="asset", name="org",
                    field=_fk("core.organization", related_name="+", verbose_name="所属单位"),
                ),
                migrations.AlterField(
                    model_name="assetevent", name="asset",
                    field=_fk("assets.asset", related_name="events", verbose_name="资产"),
                ),
                migrations.AlterField(
                    model_name="assetevent", name="org",
                    field=_fk("core.organization", related_name="+", verbose_name="所属单位"),
                ),
                migrations.AlterField(
                    model_name="assetevent", name="reverses",
                    field=_fk("assets.assetevent", blank=True, null=True, related_name="reversed_by",
                              verbose_name="冲销的记录"),
                ),
            ],
            database_operations=[migrations.RunPython(drop_foreign_key_indexes, create_foreign_key_indexes)],
        ),
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(condition=models.Q(("custodian__isnull", False)), fields=["custodian"],
                               name="asset_custodian"),
        ),
        migrations.AddIndex(
            model_name="assetevent",
            index=models.Index(condition=models.Q(("reverses__isnull", False)), fields=["reverses"],
                               name="assetevent_reverses"),
        ),
    ]
