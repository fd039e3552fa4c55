"""Base API viewsets: one per model, each a few lines naming queryset, serializer, filter set and prefetches.

Rows only ever come from ``Model.objects.restrict(user, "view")``; the permission for the action is then checked
on the object (RolePermission), so another school's row is 404 and a visible row without the permission is 403.
Creating needs the ``add`` permission in the target organisation; every save runs in a transaction and is
rolled back if the saved row is no longer one the user may change.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, mixins, viewsets
from rest_framework.exceptions import ErrorDetail

from houqin.core import context
from houqin.core.api import has_org_column
from houqin.core.api.filters import OrderingFilter
from houqin.core.api.pagination import KeysetPagination
from houqin.core.api.permissions import RolePermission
from houqin.core.api.schema import TenantAutoSchema
from houqin.core.auth import clear_access_cache, user_can
from houqin.core.middleware import current_org


class VisibilityLost(Exception):
    """Raised inside a save's transaction when the saved row is no longer visible to its editor."""


class TenantViewSetMixin:
    """Everything a model's API viewset needs; see ``TenantViewSet`` and ``TenantReadOnlyViewSet``.

    To offer only some actions, put this mixin *first*, then DRF's mixins (the router mounts only what exists)::

        class OrganizationViewSet(TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                                  mixins.UpdateModelMixin, viewsets.GenericViewSet): ...

    Subclasses declare ``queryset = Model.objects.all()`` (names the model for the router and the schema; rows
    still come through ``restrict()``), ``serializer_class``, ``filterset_class`` (the UI list's filter set),
    ``ordering_fields``, ``ordering`` (default sort) and ``select_related`` / ``prefetch_related`` so that a
    list costs the same number of queries at any page size.
    """

    filter_backends = [DjangoFilterBackend, OrderingFilter]
    pagination_class = KeysetPagination
    permission_classes = [RolePermission]
    schema = TenantAutoSchema()
    filterset_class = None
    ordering = "pk"
    ordering_fields: tuple[str, ...] = ()
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple = ()
    # The action a saved row must still allow its editor, else the save is rolled back.
    visibility_action = "change"
    # The permission action an ``@action(required_action="change")`` needs (houqin.core.api.permissions); DRF
    # accepts extra ``@action`` keywords only for attributes the viewset class has.
    required_action = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # DRF's mixins before this one would shadow create/perform_*: saves without the visibility re-check.
        drf_mixins = [c for c in cls.__mro__ if c.__module__ == mixins.__name__]
        if drf_mixins and cls.__mro__.index(drf_mixins[0]) < cls.__mro__.index(TenantViewSetMixin):
            raise TypeError(f"{cls.__name__}: put TenantViewSetMixin before DRF's mixins in the base classes")

    @property
    def model(self):
        return self.queryset.model

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A token-authenticated user is known only now (the middleware saw an anonymous request); the change
        # log must record who acted.
        ctx = context.current()
        ctx.user = request.user
        if self.action == "create":
            # Decided before the serializer is built: it narrows related fields to this organisation.
            self.target_org = self.get_target_org()
            ctx.org_id = self.target_org.pk

    def get_view_name(self):
        if getattr(self, "name", None):
            return self.name
        name = str(self.model._meta.verbose_name)
        return {"List": f"{name}列表", "Instance": f"{name}详情"}.get(getattr(self, "suffix", None), name)

    # --- reading -----------------------------------------------------------------------------------------------------
    def get_select_related(self) -> list:
        names = list(self.select_related)
        if has_org_column(self.model) and "org" not in names:
            names.insert(0, "org")
        return names

    def get_prefetch_related(self) -> list:
        return list(self.prefetch_related)

    def restricted_queryset(self, action: str = "view"):
        queryset = self.model.objects.restrict(self.request.user, action)
        if select := self.get_select_related():
            queryset = queryset.select_related(*select)
        if prefetch := self.get_prefetch_related():
            queryset = queryset.prefetch_related(*prefetch)
        return queryset

    def get_queryset(self):
        # Always the *view* restriction: unsafe methods then get 403 from the object check, not a revealing 404.
        return self.restricted_queryset("view")

    # --- writing -----------------------------------------------------------------------------------------------------
    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        ctx["org"] = getattr(self, "target_org", None)
        return ctx

    def get_target_org(self):
        """The organisation a new row goes to: the request body's ``org`` (an id) or the user's current one.

        The user must hold the ``add`` permission there (403); an organisation the user cannot see is answered as
        non-existent (400), exactly like an id that does not exist.
        """
        from houqin.core.models import Organization

        request, user = self.request, self.request.user
        raw = request.data.get("org") if isinstance(request.data, Mapping) else None
        if isinstance(raw, Mapping):
            raw = raw.get("id")
        if raw in (None, ""):
            org = current_org(request)
            if org is None:
                raise exceptions.ValidationError({"org": [ErrorDetail("请指定所属单位（org）。", code="required")]})
        else:
            try:
                if isinstance(raw, bool):
                    raise TypeError
                pk = int(raw)
            except (TypeError, ValueError):
                raise exceptions.ValidationError(
                    {"org": [ErrorDetail("单位编号必须是整数。", code="incorrect_type")]}) from None
            org = Organization.objects.restrict(user, "view").filter(pk=pk).first()
            if org is None:
                raise exceptions.ValidationError(
                    {"org": [ErrorDetail(f"单位“{pk}”不存在。", code="does_not_exist")]})
        if not user_can(user, "add", self.model, org_id=org.pk):
            raise exceptions.PermissionDenied("您没有在该单位新增此类记录的权限。")
        return org

    def save_checked(self, save):
        """Run ``save()`` in a transaction; roll it back if the row is then not ``visibility_action``-able."""
        user = self.request.user
        try:
            with transaction.atomic():
                instance = save()
                clear_access_cache(user)  # the save may have changed the user's own access (roles, active schools)
                if not self.model.objects.restrict(user, self.visibility_action).filter(pk=instance.pk).exists():
                    raise VisibilityLost
        except VisibilityLost:
            clear_access_cache(user)
            raise exceptions.PermissionDenied("保存后您将无权访问该记录，已取消保存。") from None
        return instance

    def perform_create(self, serializer):
        self.save_checked(serializer.save)

    def perform_update(self, serializer):
        self.save_checked(serializer.save)

    def perform_destroy(self, instance):
        with transaction.atomic():
            instance.delete()


class TenantViewSet(TenantViewSetMixin, viewsets.ModelViewSet):
    """List, retrieve, create, update and delete."""


class TenantReadOnlyViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """List and retrieve only (logs, ledgers)."""
