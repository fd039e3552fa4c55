from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_categories(sender, app_config=None, apps=None, using="default", **kwargs):
    """A database without national categories gets them (a flushed test database, a database built without
    migrations); otherwise nothing happens. The data migration loads them the first time."""
    from houqin.assets.categories import load_categories

    model = (apps or app_config.apps).get_model("assets", "AssetCategory")
    if not model.objects.using(using).filter(org__isnull=True).exists():
        load_categories("2010", model=model)


class AssetsConfig(AppConfig):
    name = "houqin.assets"
    label = "assets"
    verbose_name = "校产管理"

    def ready(self):
        from houqin.core import navigation

        # Idempotent (setdefault): the menu group exists before the model UIs register their entries.
        navigation.group("assets", "校产管理", "ti ti-package", 10)
        post_migrate.connect(_load_categories, sender=self, dispatch_uid="houqin.assets.load_categories")
        # The stocktake module registers the "stocktake" approval type (盘点差异处理) on import.
        # The analytics summaries listen to card changes (signals connected on import).
        from houqin.assets import (
            analytics_summary,  # noqa: F401
            stocktake,  # noqa: F401
        )
