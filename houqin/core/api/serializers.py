"""API serializers: the base ``TenantSerializer`` and the serializers of the core models."""

from __future__ import annotations

import copy
import re

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import get_error_detail
from rest_framework.validators import UniqueValidator

from houqin.core import models as m
from houqin.core.api import has_org_column
from houqin.core.api.fields import BriefRelatedField, BriefSlugRelatedField, LabelledChoiceField
from houqin.core.models.users import RoleScope


class OrgBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.Organization
        fields = ["id", "name"]


class RoleBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.Role
        fields = ["code", "name"]


class UserBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.User
        fields = ["id", "username", "full_name"]


class OrgField(BriefRelatedField):
    """The owning organisation: written as an id (on create only), read as ``{"id", "name"}``."""

    brief_serializer = OrgBriefSerializer

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "所属单位")
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", m.Organization.objects.all())
            kwargs.setdefault("help_text", "新增时可指定单位编号（默认为当前单位）；创建后不能更改。")
        super().__init__(**kwargs)


class TenantSerializer(serializers.ModelSerializer):
    """Base serializer of a row owned by an organisation.

    - ``org`` is the owner, read as ``{"id", "name"}``; on create the viewset decides it (``context["org"]``:
      the request's ``org`` or the user's current school) and it can never change afterwards.
    - Every writable related field only accepts rows the requesting user may view *and* that belong to the same
      organisation as the object, so an id of another school's row is a field error ("对象不存在"), never a leak.
    - The model's ``full_clean()`` runs (field checks, ``clean()``, unique and check constraints), and its Chinese
      messages come back as field errors.
    - Choices read as ``{"value", "label"}``.
    """

    serializer_choice_field = LabelledChoiceField

    org = OrgField(required=False)
    display = serializers.CharField(source="__str__", read_only=True, label="显示名称")

    # Model fields left out of full_clean() (e.g. a password set after validation).
    model_validation_exclude: tuple[str, ...] = ()

    # --- related-field narrowing ----------------------------------------------------------------------------------
    @property
    def requesting_user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def target_org_id(self) -> int | None:
        """The organisation the object belongs to (or will belong to, when creating)."""
        instance = self.instance
        if instance is not None and not isinstance(instance, list | tuple) and hasattr(instance, "_meta"):
            org_id = getattr(instance, "org_id", None)
            if org_id is not None:
                return org_id
        return getattr(self.context.get("org"), "pk", None)

    def narrow_queryset(self, name: str, queryset, user, org_id: int | None):
        """Rows a related field may point to: visible to ``user`` and of the object's organisation."""
        model = queryset.model
        restrict = getattr(getattr(model, "objects", None), "restrict", None)
        if restrict is not None:
            queryset = queryset.filter(pk__in=restrict(user, "view").values("pk"))
        if org_id is not None and name != "org":
            if issubclass(model, m.User):
                queryset = queryset.filter(memberships__org_id=org_id).distinct()
            elif getattr(model, "org_field", None) == "org":
                queryset = queryset.filter(org_id=org_id)
        return queryset

    def get_fields(self):
        fields = super().get_fields()
        user = self.requesting_user
        org_id = self.target_org_id()
        for name, field in fields.items():
            relation = getattr(field, "child_relation", field)
            if isinstance(relation, serializers.RelatedField) and not field.read_only and relation.queryset is not None:
                relation.queryset = self.narrow_queryset(name, relation.queryset, user, org_id)
            # Uniqueness is checked by the model (full_clean) with its own Chinese message.
            if any(isinstance(v, UniqueValidator) for v in field.validators):
                field.validators = [v for v in field.validators if not isinstance(v, UniqueValidator)]
        return fields

    def get_validators(self):
        # Unique-together and constraints are checked by full_clean(); DRF's validators would make ``org``
        # a required input and duplicate the messages.
        return []

    # --- validation -----------------------------------------------------------------------------------------------
    def validate_org(self, value):
        if self.instance is not None and value is not None and value.pk != getattr(self.instance, "org_id", None):
            raise serializers.ValidationError("不能更改所属单位。", code="immutable")
        return value

    def build_instance(self, attrs):
        """An unsaved copy of the object with ``attrs`` applied, for the model's own validation."""
        model = self.Meta.model
        names = {f.name for f in model._meta.concrete_fields}
        values = {k: v for k, v in attrs.items() if k in names}
        if self.instance is None:
            instance = model(**values)
            org = self.context.get("org")
            if org is not None and "org" in names:
                instance.org = org
        else:
            instance = copy.copy(self.instance)
            for key, value in values.items():
                setattr(instance, key, value)
        return instance

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = self.build_instance(attrs)
        try:
            instance.full_clean(exclude=self.model_validation_exclude)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None
        return attrs

    def create(self, validated_data):
        if has_org_column(self.Meta.model):
            org = self.context.get("org")
            assert org is not None, "the viewset puts the target organisation into the serializer context"
            validated_data["org"] = org
        return super().create(validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("org", None)
        return super().update(instance, validated_data)


AUDIT_FIELDS = ["created_at", "updated_at"]


# --- Organisations ------------------------------------------------------------------------------------------------
class OrganizationSerializer(TenantSerializer):
    parent = BriefRelatedField(brief_serializer=OrgBriefSerializer, read_only=True, label="上级教育局")

    class Meta:
        model = m.Organization
        fields = ["id", "display", "kind", "name", "short_name", "code", "parent", "address", "phone",
                  "principal_name", "pupil_count", "staff_count", "is_active", *AUDIT_FIELDS]


# --- Places -------------------------------------------------------------------------------------------------------
class CampusSerializer(TenantSerializer):
    class Meta:
        model = m.Campus
        fields = ["id", "org", "display", "name", "code", "address", "area_m2", *AUDIT_FIELDS]


class BuildingSerializer(TenantSerializer):
    class Meta:
        model = m.Building
        fields = ["id", "org", "display", "campus", "name", "code", "use", "floors_above", "floors_below",
                  "built_year", "floor_area_m2", *AUDIT_FIELDS]


class FloorSerializer(TenantSerializer):
    class Meta:
        model = m.Floor
        fields = ["id", "org", "display", "building", "level", "name", *AUDIT_FIELDS]


class RoomSerializer(TenantSerializer):
    class Meta:
        model = m.Room
        fields = ["id", "org", "display", "campus", "building", "floor", "number", "name", "room_type", "area_m2",
                  "capacity", "responsible", "department", "is_active", "note", *AUDIT_FIELDS]


# --- School structure ---------------------------------------------------------------------------------------------
class DepartmentSerializer(TenantSerializer):
    class Meta:
        model = m.Department
        fields = ["id", "org", "display", "name", "kind", "code", "head", "phone", "is_active", *AUDIT_FIELDS]


class SchoolClassSerializer(TenantSerializer):
    class Meta:
        model = m.SchoolClass
        fields = ["id", "org", "display", "grade", "number", "name", "head_teacher", "pupil_count", "home_room",
                  "is_active", *AUDIT_FIELDS]


class SchoolYearSerializer(TenantSerializer):
    class Meta:
        model = m.SchoolYear
        fields = ["id", "org", "display", "name", "start_date", "end_date", *AUDIT_FIELDS]


class TermSerializer(TenantSerializer):
    class Meta:
        model = m.Term
        fields = ["id", "org", "display", "school_year", "kind", "name", "start_date", "end_date", *AUDIT_FIELDS]


# --- Users and roles ----------------------------------------------------------------------------------------------
class MembershipBriefSerializer(serializers.ModelSerializer):
    org = BriefRelatedField(brief_serializer=OrgBriefSerializer, read_only=True)
    role = BriefSlugRelatedField(brief_serializer=RoleBriefSerializer, slug_field="code", read_only=True)

    class Meta:
        model = m.Membership
        fields = ["id", "org", "role"]


def _roles_for(org):
    return m.Role.objects.filter(scope=RoleScope.BUREAU if getattr(org, "is_bureau", False) else RoleScope.SCHOOL)


# Django's Chinese catalogue lacks some password validator messages (e.g. the minimum length one); by error code:
PASSWORD_MESSAGES = {
    "password_too_short": "密码太短，至少需要 {min_length} 个字符。",
    "password_too_similar": "密码与{verbose_name}太相似。",
    "password_too_common": "这个密码太常见了。",
    "password_entirely_numeric": "密码不能全是数字。",
}


def _chinese_password_errors(exc: DjangoValidationError) -> list:
    details = []
    for error, detail in zip(exc.error_list, get_error_detail(exc), strict=True):
        if not re.search(r"[\u4e00-\u9fff]", str(detail)) and error.code in PASSWORD_MESSAGES:
            detail = ErrorDetail(PASSWORD_MESSAGES[error.code].format(**(error.params or {})), code=error.code)
        details.append(detail)
    return details


class UserSerializer(TenantSerializer):
    """An account. The password is write-only (checked by Django's password validators) and never returned.

    Creating an account needs ``roles`` (role codes) in the target organisation: an account without a role there
    would be invisible to the one who created it. Later role changes go through ``/api/core/memberships/``.
    """

    org = OrgField(required=False, write_only=True,
                   help_text="新账号所属单位的编号（默认为当前单位）；角色分配在此单位。")
    password = serializers.CharField(write_only=True, required=False, trim_whitespace=False, label="密码",
                                     style={"input_type": "password"},
                                     help_text="新建账号时必填；修改时不填表示不改。至少 8 位，不能全是数字。")
    roles = serializers.SlugRelatedField(slug_field="code", queryset=m.Role.objects.all(), many=True,
                                         write_only=True, required=False, label="本单位角色",
                                         help_text="角色代码，如 teacher、school_admin；仅新建账号时使用。")
    memberships = serializers.SerializerMethodField(label="角色分配")

    model_validation_exclude = ("password",)

    class Meta:
        model = m.User
        fields = ["id", "display", "username", "full_name", "phone", "email", "is_active", "default_org",
                  "last_login", "date_joined", "memberships", "org", "password", "roles"]
        read_only_fields = ["default_org", "last_login", "date_joined"]

    def validate_org(self, value):
        return value  # only says where a new account's roles go; an account itself belongs to no one school

    def narrow_queryset(self, name, queryset, user, org_id):
        if name == "roles":
            return _roles_for(self.context.get("org"))
        return super().narrow_queryset(name, queryset, user, org_id)

    @extend_schema_field(MembershipBriefSerializer(many=True))
    def get_memberships(self, obj):
        """The user's roles in the organisations the requester may see role assignments of."""
        visible = getattr(obj, "visible_memberships", None)
        if visible is None:
            visible = m.Membership.objects.restrict(self.requesting_user, "view").filter(user=obj).select_related(
                "org", "role")
        return MembershipBriefSerializer(visible, many=True, context=self.context).data

    def validate(self, attrs):
        creating = self.instance is None
        password = attrs.get("password")
        if creating and not password:
            raise serializers.ValidationError({"password": ["新建账号必须设置密码。"]}, code="required")
        if creating and not attrs.get("roles"):
            raise serializers.ValidationError({"roles": ["新建账号至少需要一个本单位角色。"]}, code="required")
        if not creating and "roles" in attrs:
            raise serializers.ValidationError({"roles": ["修改角色请使用角色分配接口（/api/core/memberships/）。"]})
        attrs = super().validate(attrs)
        if password:
            try:
                password_validation.validate_password(password, self.build_instance(attrs))
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": _chinese_password_errors(exc)}) from None
        return attrs

    def create(self, validated_data):
        org = self.context["org"]
        roles = validated_data.pop("roles")
        password = validated_data.pop("password")
        validated_data.pop("org", None)
        user = m.User(**validated_data, default_org=org)
        user.set_password(password)
        user.save()
        for role in roles:
            m.Membership.objects.create(user=user, org=org, role=role)
        return user

    def update(self, instance, validated_data):
        password = validated_data.pop("password", None)
        if password:
            instance.set_password(password)
        return super().update(instance, validated_data)


class MembershipSerializer(TenantSerializer):
    user = BriefRelatedField(brief_serializer=UserBriefSerializer, queryset=m.User.objects.all(), label="用户")
    role = BriefSlugRelatedField(brief_serializer=RoleBriefSerializer, slug_field="code",
                                 queryset=m.Role.objects.all(), label="角色", help_text="角色代码，如 teacher")

    class Meta:
        model = m.Membership
        fields = ["id", "org", "display", "user", "role", *AUDIT_FIELDS]

    def narrow_queryset(self, name, queryset, user, org_id):
        if name == "role":
            return _roles_for(self.context.get("org"))
        if name == "user":
            # Any account the requester manages may be given a role (as in the UI's role assignment form).
            return m.User.objects.restrict(user, "change")
        return super().narrow_queryset(name, queryset, user, org_id)


# --- Change log ---------------------------------------------------------------------------------------------------
class ChangeLogEntrySerializer(TenantSerializer):
    org = OrgField(read_only=True)
    content_type = serializers.SerializerMethodField(label="对象类型代码")
    model_label = serializers.CharField(read_only=True, label="对象类型")

    class Meta:
        model = m.ChangeLogEntry
        fields = ["id", "time", "action", "user", "user_name", "org", "request_id", "content_type", "model_label",
                  "object_id", "object_repr", "before", "after"]
        read_only_fields = fields

    def get_content_type(self, obj) -> str:
        return f"{obj.content_type.app_label}.{obj.content_type.model}"
