from django.conf import settings
from django.db import models


class ChangeAction(models.TextChoices):
    CREATE = "create", "新增"
    UPDATE = "update", "修改"
    DELETE = "delete", "删除"


class ChangeLogQuerySet(models.QuerySet):
    """Append-only: bulk update and delete are refused (a migration or a DBA may still purge by retention)."""

    def update(self, **kwargs):
        raise PermissionError("变更记录不可修改")

    def delete(self):
        raise PermissionError("变更记录不可删除")

    def restrict(self, user, action: str = "view"):
        from houqin.core.auth import access_for

        if action != "view" or user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        org_ids = access_for(user).orgs_for("core.view_changelogentry")
        return self.filter(org_id__in=sorted(org_ids)) if org_ids else self.none()


class ChangeLogEntry(models.Model):
    """One create/update/delete of a domain row: who, when, which request, and field values before/after."""

    org_field = "org"

    time = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    user_name = models.CharField("操作人姓名", max_length=80, blank=True)
    org = models.ForeignKey(
        "core.Organization", verbose_name="单位", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_id = models.CharField("请求编号", max_length=40, blank=True, db_index=True)
    action = models.CharField("操作", max_length=10, choices=ChangeAction.choices)
    content_type = models.ForeignKey("contenttypes.ContentType", verbose_name="对象类型", on_delete=models.PROTECT)
    object_id = models.CharField("对象编号", max_length=40)
    object_repr = models.CharField("对象", max_length=200)
    before = models.JSONField("修改前", null=True, blank=True)
    after = models.JSONField("修改后", null=True, blank=True)

    objects = ChangeLogQuerySet.as_manager()

    class Meta:
        verbose_name = "变更记录"
        verbose_name_plural = "变更记录"
        ordering = ["-time", "-id"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "-time"], name="changelog_object"),
            models.Index(fields=["org", "-time"], name="changelog_org_time"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("变更记录不可修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("变更记录不可删除")

    @property
    def model_label(self) -> str:
        model = self.content_type.model_class()
        return str(model._meta.verbose_name) if model else self.content_type.model

    def changes(self) -> list[tuple[str, object, object]]:
        """(field label, before, after) for each field that differs, as people read them: choice labels,
        related objects by name, 是/否 for booleans."""
        before, after = self.before or {}, self.after or {}
        model = self.content_type.model_class()
        fields = {}
        if model is not None:
            for f in model._meta.concrete_fields:
                fields[f.attname] = f
        keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
        rows = []
        for key in keys:
            old, new = before.get(key), after.get(key)
            if old == new and self.action == "update":
                continue
            if self.action != "update" and old in (None, "") and new in (None, ""):
                continue  # a new or deleted row: leave out the fields that were empty
            field = fields.get(key)
            label = str(field.verbose_name) if field is not None else key
            rows.append((label, _display(field, old), _display(field, new)))
        return rows


def _display(field, value):
    if value is None or field is None:
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if field.is_relation and field.related_model is not None:
        obj = field.related_model._base_manager.filter(pk=value).first()
        return f"{obj}" if obj is not None else f"#{value}（已删除）"
    return value
