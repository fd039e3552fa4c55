"""Users, roles and memberships. A user holds roles in one or more organisations (see houqin.core.roles)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Permission, UserManager
from django.db import models

from houqin.core.models.base import ChangeLoggedModel, RestrictedQuerySet, SearchableModel, TimeStampedModel


class UserQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Users are visible through their memberships: a school admin sees the users of their school."""
        from houqin.core.auth import access_for

        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        org_ids = access_for(user).orgs_for(f"core.{action}_user")
        visible = models.Q(memberships__org_id__in=sorted(org_ids)) if org_ids else models.Q(pk__in=[])
        if action == "view":
            visible |= models.Q(pk=user.pk)
        return self.filter(visible).distinct()


class HouqinUserManager(UserManager.from_queryset(UserQuerySet)):
    pass


class User(ChangeLoggedModel, SearchableModel, AbstractUser):
    """A person who signs in. ``full_name`` is the Chinese name shown everywhere (姓名)."""

    org_field = "memberships__org"
    search_fields = ("full_name", "username", "phone")

    full_name = models.CharField("姓名", max_length=40, blank=True)
    phone = models.CharField("手机号", max_length=20, blank=True)
    default_org = models.ForeignKey(
        "core.Organization", verbose_name="默认单位", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = HouqinUserManager()

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"
        ordering = ["username"]

    def __str__(self):
        return self.full_name or self.username

    @property
    def roles_display(self) -> str:
        """Role names (prefetch ``memberships__role`` and ``memberships__org`` in lists)."""
        names = [f"{m.role.name}" for m in self.memberships.all()]
        return "、".join(dict.fromkeys(names))

    def get_full_name(self):
        return self.full_name or self.username

    def get_short_name(self):
        return self.full_name or self.username


class RoleScope(models.TextChoices):
    BUREAU = "bureau", "教育局"
    SCHOOL = "school", "学校"


class Role(TimeStampedModel):
    """A named permission set (系统管理员, 总务主任, 维修工 …), defined in houqin.core.roles and synced on migrate."""

    code = models.CharField("代码", max_length=40, unique=True)
    name = models.CharField("角色名称", max_length=40)
    scope = models.CharField("适用范围", max_length=10, choices=RoleScope.choices, default=RoleScope.SCHOOL)
    description = models.CharField("说明", max_length=200, blank=True)
    sort_order = models.PositiveSmallIntegerField("排序", default=0)
    permissions = models.ManyToManyField(Permission, verbose_name="权限", blank=True, related_name="+")

    class Meta:
        verbose_name = "角色"
        verbose_name_plural = "角色"
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name


class MembershipQuerySet(RestrictedQuerySet):
    pass


class Membership(ChangeLoggedModel, TimeStampedModel):
    """One role held by one user in one organisation."""

    org_field = "org"

    user = models.ForeignKey(User, verbose_name="用户", on_delete=models.CASCADE, related_name="memberships")
    org = models.ForeignKey(
        "core.Organization", verbose_name="单位", on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.ForeignKey(Role, verbose_name="角色", on_delete=models.PROTECT, related_name="memberships")

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = "角色分配"
        verbose_name_plural = "角色分配"
        ordering = ["org", "role__sort_order", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "org", "role"], name="membership_unique")]

    def __str__(self):
        return f"{self.user} · {self.org} · {self.role}"


class LoginAttempt(models.Model):
    """A failed sign-in, kept for throttling (per account and per IP address)."""

    username = models.CharField(max_length=150, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    attempted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "登录失败记录"
        verbose_name_plural = "登录失败记录"

    def __str__(self):
        return f"{self.username} @ {self.ip_address} {self.attempted_at:%Y-%m-%d %H:%M}"
