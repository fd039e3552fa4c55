"""Attachments: photos and scans on any object (repair photos, hazard before/after, certificates, invoices).

An attachment belongs to one parent row of any model (generic relation: ``content_type`` + ``object_id``) and to
the parent's organisation. Access follows the parent, never the attachment's own model permissions:

* an attachment is visible iff its parent is visible: ``Parent.objects.restrict(user, "view")``;
* adding or deleting one requires the parent to be changeable: ``Parent.objects.restrict(user, "change")``.

``Attachment.objects.restrict(user, action)`` implements exactly this (``view`` → the parent's ``view``, any other
action → the parent's ``change``), so lists, pages and the API cannot disagree. Files are written and read only
through ``houqin.core.attachments`` (the service), which checks content, re-encodes images and stores files in the
``attachments`` storage; rows are never created by hand.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import receiver

from houqin.core.models.base import ChangeLoggedModel, RestrictedQuerySet, TenantModel


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", "照片"
    SCAN = "scan", "扫描件"
    DOCUMENT = "document", "文档"


def parent_action(action: str) -> str:
    """The action on the parent that an action on its attachments needs."""
    return "view" if action == "view" else "change"


def restrict_parents(model, user, action: str):
    """``model``'s rows on which ``user`` may perform ``action``, or None when the model cannot be restricted
    (such a parent has no visible attachments: fail closed)."""
    manager = model._default_manager
    restrict = getattr(manager, "restrict", None) or getattr(manager.all(), "restrict", None)
    if restrict is None:
        return None
    return restrict(user, action)


class AttachmentQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Attachments whose parent ``user`` may view (``action == "view"``) or change (any other action).

        One query finds the parent types present; each type adds one sub-select over the parent model's own
        ``restrict``, so object rules of the parent (a teacher sees the repairs they reported) apply as well.
        """
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        wanted = parent_action(action)
        condition = Q(pk__in=[])
        for ct_id in self.order_by().values_list("content_type_id", flat=True).distinct():
            model = ContentType.objects.get_for_id(ct_id).model_class()
            parents = restrict_parents(model, user, wanted) if model is not None else None
            if parents is None:
                continue
            condition |= Q(content_type_id=ct_id, object_id__in=parents.order_by().values("pk"))
        return self.filter(condition)

    def for_object(self, obj):
        """The attachments of one parent row (no permission check: check the parent first)."""
        ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
        return self.filter(content_type=ct, object_id=obj.pk)


class Attachment(TenantModel):
    """One stored file (an image re-encoded without metadata, or a PDF as uploaded) on a parent row."""

    search_fields = ("caption", "original_name")
    changelog_exclude = (*ChangeLoggedModel.changelog_exclude, "thumb_name")

    content_type = models.ForeignKey(ContentType, verbose_name="对象类型", on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField("对象编号")
    parent = GenericForeignKey("content_type", "object_id")
    kind = models.CharField("类别", max_length=10, choices=AttachmentKind.choices, default=AttachmentKind.PHOTO)
    caption = models.CharField("说明", max_length=200, blank=True)
    # The uploader's file name, cleaned of paths and control characters; shown to people, never used on disk.
    original_name = models.CharField("原文件名", max_length=255, blank=True)
    # Random, uuid-based name in the attachments storage (e.g. "2026/03/1f0c…e2.jpg").
    stored_name = models.CharField("存储名", max_length=255, unique=True, editable=False)
    thumb_name = models.CharField("缩略图存储名", max_length=255, blank=True, editable=False)
    mime_type = models.CharField("文件类型", max_length=100, editable=False)
    size = models.PositiveBigIntegerField("大小（字节）", editable=False)
    width = models.PositiveIntegerField("宽度", null=True, blank=True, editable=False)
    height = models.PositiveIntegerField("高度", null=True, blank=True, editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, db_index=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="上传人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        verbose_name = "附件"
        verbose_name_plural = "附件"
        ordering = ["created_at", "id"]
        # Access comes from the parent row; model permissions on attachments would mean nothing.
        default_permissions = ()
        indexes = [models.Index(fields=["content_type", "object_id"], name="attachment_parent")]

    def __str__(self):
        return self.caption or self.original_name or f"附件 {self.pk}"

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")

    @property
    def display_name(self) -> str:
        return self.original_name or f"附件{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("attachments:download", args=[self.pk])

    @property
    def thumb_url(self) -> str | None:
        from django.urls import reverse

        return reverse("attachments:thumb", args=[self.pk]) if self.thumb_name else None


@receiver(post_delete, sender=Attachment, dispatch_uid="houqin.attachments.delete_files")
def _delete_files(sender, instance, using="default", **kwargs):
    """Remove the stored files once the deletion is committed (a rolled-back delete keeps them)."""
    names = [n for n in (instance.stored_name, instance.thumb_name) if n]

    def remove():
        from houqin.core.attachments import delete_stored

        delete_stored(names)

    transaction.on_commit(remove, using=using)


@receiver(post_delete, dispatch_uid="houqin.attachments.delete_with_parent")
def _delete_with_parent(sender, instance, using="default", origin=None, **kwargs):
    """A generic relation does not cascade: delete a domain row's attachments with it."""
    if not isinstance(instance, ChangeLoggedModel) or isinstance(instance, Attachment):
        return
    pk = instance.pk
    if not isinstance(pk, int):
        return
    ct = ContentType.objects.db_manager(using).get_for_model(instance, for_concrete_model=True)
    for attachment in Attachment.objects.using(using).filter(content_type=ct, object_id=pk):
        attachment.delete(using=using)
