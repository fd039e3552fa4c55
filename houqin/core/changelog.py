"""Writes the change log (ChangeLogEntry) for every create/update/delete of a ChangeLoggedModel.

Entries are written in the same transaction as the change, so a failed request leaves no entry behind.
The "before" values come from the snapshot taken when the row was loaded (no extra query).
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from houqin.core import context
from houqin.core.models.base import ChangeLoggedModel


def _json_value(value):
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return None
    if isinstance(value, list | dict | str | int | float | bool) or value is None:
        return value
    return str(value)


def snapshot(instance, values: dict | None = None) -> dict:
    """Field values (by attname) of the instance, or of a dict of loaded values, ready for JSON."""
    exclude = set(type(instance).changelog_exclude)
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in exclude or field.attname in exclude or field.primary_key:
            continue
        if values is not None:
            if field.attname not in values:
                continue
            raw = values[field.attname]
            raw = field.to_python(raw) if raw is not None and not field.is_relation else raw
        else:
            raw = getattr(instance, field.attname)
        data[field.attname] = _json_value(raw)
    return data


def _org_id(instance):
    org_id = getattr(instance, "org_id", None)
    if org_id is None and instance._meta.model_name == "organization":
        org_id = instance.pk
    return org_id


def _write(instance, action: str, before: dict | None, after: dict | None, using: str) -> None:
    from houqin.core.models import ChangeLogEntry

    ctx = context.current()
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    ChangeLogEntry.objects.using(using).create(
        user=user,
        user_name=(user.get_full_name() if user else "系统")[:80],
        org_id=_org_id(instance) or ctx.org_id,
        request_id=ctx.request_id,
        action=action,
        content_type=ContentType.objects.db_manager(using).get_for_model(instance, for_concrete_model=True),
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        before=before,
        after=after,
    )


def log_batch(model, action: str, object_repr: str, after: dict | None, *, before: dict | None = None,
              org_id=None, using: str = "default"):
    """One entry for many rows of ``model`` written together by a bulk writer that skips ``save()`` (e.g. the cards
    an import registered): ``after`` names them (their ids and numbers), so the log still says which rows were
    created, by whom, when and in which request. ``object_id`` is left empty (the entry is about no single row).
    Every other write keeps its own entry per row (the receivers below)."""
    from houqin.core.models import ChangeLogEntry

    ctx = context.current()
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    return ChangeLogEntry.objects.using(using).create(
        user=user,
        user_name=(user.get_full_name() if user else "系统")[:80],
        org_id=org_id or ctx.org_id,
        request_id=ctx.request_id,
        action=action,
        content_type=ContentType.objects.db_manager(using).get_for_model(model, for_concrete_model=True),
        object_id="",
        object_repr=object_repr[:200],
        before=before,
        after=after,
    )


@receiver(post_save, dispatch_uid="houqin.changelog.save")
def _on_save(sender, instance, created, raw=False, using="default", update_fields=None, **kwargs):
    if raw or not isinstance(instance, ChangeLoggedModel):
        return
    after = snapshot(instance)
    loaded = getattr(instance, "_loaded_values", None)
    if created:
        _write(instance, "create", None, after, using)
    else:
        before = snapshot(instance, loaded) if loaded is not None else None
        if before is not None:
            changed = {k for k in after if before.get(k) != after[k]}
            if not changed:
                return
            before = {k: before.get(k) for k in sorted(changed)}
            after = {k: after[k] for k in sorted(changed)}
        _write(instance, "update", before, after, using)
    # Later saves of the same instance diff against what is now stored.
    instance._loaded_values = {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@receiver(post_delete, dispatch_uid="houqin.changelog.delete")
def _on_delete(sender, instance, using="default", origin=None, **kwargs):
    if not isinstance(instance, ChangeLoggedModel):
        return
    _write(instance, "delete", snapshot(instance), None, using)
