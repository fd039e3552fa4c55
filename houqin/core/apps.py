from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "houqin.core"
    label = "core"
    verbose_name = "基础平台"

    def ready(self):
        from houqin.core import backup, changelog, checks, jobs, middleware, roles  # noqa: F401  (signal and check registration)

        roles.connect_post_migrate(self)
