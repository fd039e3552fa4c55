"""Central permission checks: who may do what in which organisation.

``access_for(user)`` builds, once per request, a map from permission name to the organisation ids in which
the user holds it. ``RestrictedQuerySet.restrict`` and ``RoleBackend.has_perm`` both read this map, so list
filtering and object checks can never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.backends import ModelBackend

_VIEW_ACTIONS = ("view_",)


@dataclass(frozen=True)
class Access:
    perms: dict[str, frozenset[int]]
    member_org_ids: frozenset[int]

    def orgs_for(self, perm: str) -> frozenset[int]:
        return self.perms.get(perm, frozenset())

    def has(self, perm: str, org_id: int | None = None) -> bool:
        orgs = self.orgs_for(perm)
        return bool(orgs) if org_id is None else org_id in orgs

    @property
    def all_perms(self) -> frozenset[str]:
        return frozenset(self.perms)


EMPTY_ACCESS = Access({}, frozenset())


def _is_read(perm: str) -> bool:
    return perm.split(".", 1)[-1].startswith(_VIEW_ACTIONS)


def build_access(user) -> Access:
    from houqin.core.models import Membership, Organization, OrgKind, Role

    memberships = list(
        Membership.objects.filter(user=user, org__is_active=True).values_list("org_id", "org__kind", "role_id")
    )
    if not memberships:
        return EMPTY_ACCESS
    role_ids = {m[2] for m in memberships}
    role_perms: dict[int, set[str]] = defaultdict(set)
    for role_id, app_label, codename in Role.permissions.through.objects.filter(role_id__in=role_ids).values_list(
        "role_id", "permission__content_type__app_label", "permission__codename"
    ):
        role_perms[role_id].add(f"{app_label}.{codename}")
    bureau_ids = {org_id for org_id, kind, _ in memberships if kind == OrgKind.BUREAU}
    children: dict[int, list[int]] = defaultdict(list)
    if bureau_ids:
        for child_id, parent_id in Organization.objects.filter(parent_id__in=bureau_ids, is_active=True).values_list(
            "pk", "parent_id"
        ):
            children[parent_id].append(child_id)
    perms: dict[str, set[int]] = defaultdict(set)
    for org_id, kind, role_id in memberships:
        for perm in role_perms[role_id]:
            perms[perm].add(org_id)
            if kind == OrgKind.BUREAU and _is_read(perm):
                perms[perm].update(children[org_id])
    # Everyone may see the organisations they belong to.
    perms["core.view_organization"].update(m[0] for m in memberships)
    return Access({k: frozenset(v) for k, v in perms.items()}, frozenset(m[0] for m in memberships))


def access_for(user) -> Access:
    """The user's access map, cached on the user object (one per request), and kept by the process while the
    data holds (any change to memberships, roles or organisations is a write that changes the data version)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return EMPTY_ACCESS
    cached = getattr(user, "_houqin_access", None)
    if cached is None:
        from houqin.core.pagecache import kept_value

        cached = kept_value(("access", user.pk), lambda: build_access(user))
        user._houqin_access = cached
    return cached


def clear_access_cache(user) -> None:
    if hasattr(user, "_houqin_access"):
        del user._houqin_access


_VIEWABLE_BY = "_houqin_viewable_by"


def mark_viewable(obj, user) -> None:
    """Note on a row read through ``restrict(user, "view")`` that this user may view it (this request's copy)."""
    setattr(obj, _VIEWABLE_BY, user.pk)


def known_viewable(obj, user) -> bool:
    """Whether the row was read through ``restrict(user, "view")`` in this request (no need to ask again)."""
    return user is not None and getattr(user, "pk", None) is not None and getattr(obj, _VIEWABLE_BY, None) == user.pk


def owning_org_ids(obj) -> set[int]:
    """The organisations an object belongs to (one for domain rows; a user's membership orgs for a user)."""
    from houqin.core.models import User

    if isinstance(obj, User):
        return set(obj.memberships.values_list("org_id", flat=True))
    org_id = getattr(obj, "org_id", None)
    return {org_id} if org_id is not None else set()


def user_can(user, action: str, obj_or_model, org_id: int | None = None) -> bool:
    """The one permission check: may ``user`` perform ``action`` on this object (or model, in ``org_id``)?"""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    meta = obj_or_model._meta
    perm = f"{meta.app_label}.{action}_{meta.model_name}"
    access = access_for(user)
    if isinstance(obj_or_model, type):
        return access.has(perm, org_id)
    if meta.model_name == "user":
        return _can_act_on_user(user, action, obj_or_model, access.orgs_for(perm))
    return bool(owning_org_ids(obj_or_model) & access.orgs_for(perm))


def _can_act_on_user(user, action: str, target, allowed: frozenset[int]) -> bool:
    """Seeing an account needs one shared organisation; changing it needs all of its organisations, so a
    school admin cannot reset the password of a bureau admin who also holds a role in the school."""
    if action == "view":
        return target.pk == user.pk or bool(owning_org_ids(target) & allowed)
    if target.is_superuser:
        return False
    return owning_org_ids(target) <= allowed


class RoleBackend(ModelBackend):
    """Password authentication from ModelBackend; permissions from roles held in organisations."""

    def get_user(self, user_id):
        """The signed-in user of a request, read once per data version by each process (every change to a user
        is a write that changes the version). Each request gets its own copy."""
        from houqin.core.pagecache import copy_row, kept_value

        user = kept_value(("user", str(user_id)), lambda: super(RoleBackend, self).get_user(user_id))
        return copy_row(user) if user is not None else None

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous:
            return set()
        if obj is None:
            return set(access_for(user_obj).all_perms)
        ids = owning_org_ids(obj)
        return {p for p, orgs in access_for(user_obj).perms.items() if ids & orgs}

    def has_perm(self, user_obj, perm, obj=None):
        if not user_obj.is_active:
            return False
        if user_obj.is_superuser:
            return True
        if obj is None:
            return access_for(user_obj).has(perm)
        app_label, _, codename = perm.partition(".")
        action, _, model_name = codename.partition("_")
        if obj._meta.app_label == app_label and obj._meta.model_name == model_name:
            return user_can(user_obj, action, obj)
        return bool(owning_org_ids(obj) & access_for(user_obj).orgs_for(perm))

    def has_module_perms(self, user_obj, app_label):
        return user_obj.is_active and any(p.startswith(f"{app_label}.") for p in access_for(user_obj).all_perms)
