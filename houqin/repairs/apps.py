from django.apps import AppConfig


class RepairsConfig(AppConfig):
    name = "houqin.repairs"
    label = "repairs"
    verbose_name = "报修维修"

    def ready(self):
        from houqin.core import navigation

        # Idempotent (setdefault): the menu group exists before the model UIs register their entries.
        navigation.group("repairs", "报修维修", "ti ti-tool", 20)
