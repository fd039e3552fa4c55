"""Base classes every domain model stands on: tenancy, restricted querysets, change logging, pinyin search."""

from __future__ import annotations

from django.db import models

from houqin.core.search import build_search_index


class RestrictedQuerySet(models.QuerySet):
    """A queryset that can narrow itself to what one user may do.

    ``Model.objects.restrict(user, "view")`` is the only way views and API viewsets obtain rows. The
    organisations a user may act in come from ``houqin.core.auth.access_for`` (one query per request);
    ``org_field`` on the model names the path to the owning organisation.
    """

    def restrict(self, user, action: str = "view"):
        org_ids = restricted_org_ids(self.model, user, action)
        if org_ids is None:
            return self
        if not org_ids:
            return self.none()
        return self.filter(**{f"{self.model.org_field}__in": sorted(org_ids)})


def restricted_org_ids(model, user, action: str = "view") -> frozenset[int] | None:
    """The organisations whose rows of ``model`` ``restrict(user, action)`` keeps: None for every row (a superuser),
    empty for none (signed out, inactive, no role that grants it)."""
    from houqin.core.auth import access_for

    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return None
    return frozenset(access_for(user).orgs_for(f"{model._meta.app_label}.{action}_{model._meta.model_name}"))


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        abstract = True


class ChangeLoggedModel(models.Model):
    """Models whose create/update/delete is written to the change log (houqin.core.changelog).

    ``changelog_exclude`` names fields left out of the snapshots (timestamps, derived search columns).
    """

    changelog_exclude: tuple[str, ...] = ("created_at", "updated_at", "search_index", "password", "last_login")

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Keep the loaded values so the change log can show "before" without another query.
        instance._loaded_values = dict(zip(field_names, values, strict=True))
        return instance


class SearchableModel(models.Model):
    """Adds a derived ``search_index`` column: the text of ``search_fields`` plus its pinyin and initials,
    so that 'dn' and 'diannao' both find 电脑 with one indexed-friendly ``icontains``."""

    search_fields: tuple[str, ...] = ("name",)
    search_index = models.TextField(editable=False, blank=True, default="")

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.refresh_search_index()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "search_index" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "search_index"]
        super().save(*args, **kwargs)

    def refresh_search_index(self) -> None:
        self.search_index = build_search_index(str(getattr(self, f) or "") for f in self.search_fields)


class AppendOnlyQuerySet(RestrictedQuerySet):
    """A ledger's rows: added, never changed or removed (a mistake is corrected by a reversing entry)."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model.ledger_name}不可修改")

    def delete(self):
        raise PermissionError(f"{self.model.ledger_name}不可删除")


class AppendOnlyModel(models.Model):
    """An append-only ledger (an asset's history, a work order's transitions): saving an existing row, deleting one
    and queryset ``update()``/``delete()`` raise ``PermissionError`` naming ``ledger_name``."""

    ledger_name = "记录"

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"{self.ledger_name}不可修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{self.ledger_name}不可删除")


class TenantModel(ChangeLoggedModel, SearchableModel, TimeStampedModel):
    """A domain row owned by one organisation (a school, a kindergarten or a bureau).

    Subclasses get ``org``, timestamps, the change log, pinyin search and ``objects.restrict()``.
    """

    org_field = "org"

    org = models.ForeignKey(
        "core.Organization", verbose_name="所属单位", on_delete=models.PROTECT, related_name="+", db_index=True
    )

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def owning_org_id(self) -> int | None:
        return self.org_id
