from django.apps import AppConfig


class RepairsConfig(AppConfig):
    name = "houqin.repairs"
    label = "repairs"
    verbose_name = "报修维修"

    def ready(self):
        from houqin.core import approvals, navigation
        from houqin.repairs import integrations, services

        # Idempotent (setdefault): the menu group exists before the model UIs register their entries.
        navigation.group("repairs", "报修维修", "ti ti-tool", 20)
        # 外修 quotes go through core's approval engine; its decision moves the order on.
        approvals.connect("outside_repair", model="repairs.workorder", on_approved=services.outside_approved,
                          on_rejected=services.outside_refused, on_withdrawn=services.outside_refused)
        # The 报修 button on asset cards and their phone/public pages, the room QR page, the asset analytics.
        integrations.connect_all()
