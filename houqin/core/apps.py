from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "houqin.core"
    label = "core"
    verbose_name = "基础平台"

    def ready(self):
        from houqin.core import backup, changelog, checks, jobs, middleware, roles  # noqa: F401  (signal and check registration)

        roles.connect_post_migrate(self)

        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from houqin.core import pagecache

        connection_created.connect(pagecache.watch, dispatch_uid="houqin.pagecache.watch")
        post_migrate.connect(pagecache.ensure_version_row, sender=self, dispatch_uid="houqin.pagecache.row")
