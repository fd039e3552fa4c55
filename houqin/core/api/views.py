"""API of the core models, the current user (``/api/me/``), tokens (``/api/auth/token/``) and the API docs."""

from __future__ import annotations

import json

from django.db.models import Prefetch
from django.templatetags.static import static
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from houqin.core import filtersets as fs
from houqin.core import models as m
from houqin.core.api import serializers as s
from houqin.core.api.errors import error_response
from houqin.core.api.router import router
from houqin.core.api.viewsets import TenantReadOnlyViewSet, TenantViewSet, TenantViewSetMixin, current_org
from houqin.core.auth import access_for
from houqin.core.throttling import authenticate_throttled

# --- Organisations ------------------------------------------------------------------------------------------------


class OrganizationViewSet(TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Schools and bureaus are created by the installation's superuser; here they are read and edited."""

    queryset = m.Organization.objects.all()
    serializer_class = s.OrganizationSerializer
    filterset_class = fs.OrganizationFilterSet
    select_related = ("parent",)
    ordering_fields = ("name", "code", "kind", "updated_at")


# --- Places -------------------------------------------------------------------------------------------------------


class CampusViewSet(TenantViewSet):
    queryset = m.Campus.objects.all()
    serializer_class = s.CampusSerializer
    filterset_class = fs.CampusFilterSet
    ordering_fields = ("name", "code", "updated_at")


class BuildingViewSet(TenantViewSet):
    queryset = m.Building.objects.all()
    serializer_class = s.BuildingSerializer
    filterset_class = fs.BuildingFilterSet
    select_related = ("campus",)
    ordering_fields = ("name", "code", "use", "built_year", "updated_at")


class FloorViewSet(TenantViewSet):
    queryset = m.Floor.objects.all()
    serializer_class = s.FloorSerializer
    filterset_class = fs.FloorFilterSet
    select_related = ("building__campus",)
    ordering_fields = ("level", "name", "updated_at")


class RoomViewSet(TenantViewSet):
    queryset = m.Room.objects.all()
    serializer_class = s.RoomSerializer
    filterset_class = fs.RoomFilterSet
    select_related = ("campus", "building")
    ordering_fields = ("name", "number", "room_type", "capacity", "area_m2", "updated_at")


# --- School structure ---------------------------------------------------------------------------------------------


class DepartmentViewSet(TenantViewSet):
    queryset = m.Department.objects.all()
    serializer_class = s.DepartmentSerializer
    filterset_class = fs.DepartmentFilterSet
    ordering_fields = ("name", "code", "kind", "updated_at")


class SchoolClassViewSet(TenantViewSet):
    queryset = m.SchoolClass.objects.all()
    serializer_class = s.SchoolClassSerializer
    filterset_class = fs.SchoolClassFilterSet
    ordering_fields = ("grade", "number", "name", "pupil_count", "updated_at")


class SchoolYearViewSet(TenantViewSet):
    queryset = m.SchoolYear.objects.all()
    serializer_class = s.SchoolYearSerializer
    filterset_class = fs.SchoolYearFilterSet
    ordering = "-start_date"
    ordering_fields = ("name", "start_date", "end_date")


class TermViewSet(TenantViewSet):
    queryset = m.Term.objects.all()
    serializer_class = s.TermSerializer
    filterset_class = fs.TermFilterSet
    ordering = "-start_date"
    ordering_fields = ("name", "start_date", "end_date")


# --- Users and roles ----------------------------------------------------------------------------------------------


class UserViewSet(TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                  mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Accounts are disabled (``is_active: false``), never deleted: the change log refers to them."""

    queryset = m.User.objects.all()
    serializer_class = s.UserSerializer
    filterset_class = fs.UserFilterSet
    ordering = "username"
    ordering_fields = ("username", "full_name", "date_joined", "last_login")

    def get_prefetch_related(self):
        visible = m.Membership.objects.restrict(self.request.user, "view").select_related("org", "role")
        return [Prefetch("memberships", queryset=visible, to_attr="visible_memberships")]

    def check_object_permissions(self, request, obj):
        super().check_object_permissions(request, obj)
        user = request.user
        if request.method in SAFE_METHODS or user.is_superuser:
            return
        # An account that also belongs elsewhere (a bureau, another school) is managed by all of its
        # organisations, so one school cannot change another's administrator (e.g. reset their password).
        if obj.is_superuser:
            raise exceptions.PermissionDenied("不能修改系统超级管理员的账号。")
        orgs = set(m.Membership.objects.filter(user=obj).values_list("org_id", flat=True))
        if not orgs <= access_for(user).orgs_for("core.change_user"):
            raise exceptions.PermissionDenied("该账号还属于您无权管理的单位，不能在此修改。")


class MembershipViewSet(TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """A role held by a user in an organisation: granted (POST) and withdrawn (DELETE), never edited."""

    queryset = m.Membership.objects.all()
    serializer_class = s.MembershipSerializer
    filterset_class = fs.MembershipFilterSet
    select_related = ("user", "role")
    ordering_fields = ("created_at",)
    visibility_action = "view"


# --- Change log ---------------------------------------------------------------------------------------------------


class ChangeLogEntryViewSet(TenantReadOnlyViewSet):
    """Append-only: entries are written by the system, never through the API."""

    queryset = m.ChangeLogEntry.objects.all()
    serializer_class = s.ChangeLogEntrySerializer
    filterset_class = fs.ChangeLogFilterSet
    select_related = ("content_type",)
    ordering = "-pk"
    ordering_fields = ("time",)


router.register("core/organizations", OrganizationViewSet)
router.register("core/campuses", CampusViewSet)
router.register("core/buildings", BuildingViewSet)
router.register("core/floors", FloorViewSet)
router.register("core/rooms", RoomViewSet)
router.register("core/departments", DepartmentViewSet)
router.register("core/classes", SchoolClassViewSet)
router.register("core/school-years", SchoolYearViewSet)
router.register("core/terms", TermViewSet)
router.register("core/users", UserViewSet)
router.register("core/memberships", MembershipViewSet)
router.register("core/changelog", ChangeLogEntryViewSet)


# --- Current user -------------------------------------------------------------------------------------------------


class MeOrgRolesSerializer(serializers.Serializer):
    org = s.OrgBriefSerializer()
    roles = s.RoleBriefSerializer(many=True)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    is_superuser = serializers.BooleanField(help_text="系统超级管理员拥有全部权限（permissions 中不再逐项列出）")
    current_org = s.OrgBriefSerializer(allow_null=True, help_text="当前工作单位：新增记录默认属于此单位")
    memberships = MeOrgRolesSerializer(many=True, help_text="各单位中担任的角色")
    permissions = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="权限 → 拥有该权限的单位编号，如 {\"core.view_room\": [2, 3]}；教育局的查看权限覆盖其下属学校")


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="当前用户", description="当前登录用户、其在各单位的角色，以及按单位列出的权限。",
                   responses=MeSerializer, tags=["账号"])
    def get(self, request):
        user = request.user
        grouped: dict[int, dict] = {}
        memberships = m.Membership.objects.filter(user=user, org__is_active=True).select_related("org", "role")
        for ms in memberships.order_by("org__kind", "org__name", "role__sort_order"):
            grouped.setdefault(ms.org_id, {"org": ms.org, "roles": []})["roles"].append(ms.role)
        data = {
            "id": user.pk,
            "username": user.username,
            "full_name": user.full_name,
            "email": user.email,
            "phone": user.phone,
            "is_superuser": user.is_superuser,
            "current_org": current_org(request),
            "memberships": list(grouped.values()),
            "permissions": {perm: sorted(orgs) for perm, orgs in sorted(access_for(user).perms.items())},
        }
        return Response(MeSerializer(data).data)


# --- Tokens -------------------------------------------------------------------------------------------------------


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(label="用户名")
    password = serializers.CharField(label="密码", trim_whitespace=False, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="之后的请求带上请求头 Authorization: Token <token>")
    user = s.UserBriefSerializer()


class TokenThrottle(AnonRateThrottle):
    scope = "auth_token"
    rate = "30/min"


class TokenView(APIView):
    """Exchange a username and password for an API token (POST), or revoke one's token (DELETE).

    Failed passwords count towards the same per-account and per-address limits as the sign-in page
    (houqin.core.throttling); requests are also rate-limited.
    """

    throttle_classes = [TokenThrottle]

    def _posting(self) -> bool:
        return getattr(getattr(self, "request", None), "method", None) == "POST"

    def get_authenticators(self):
        # POST carries the credentials itself: no session (and no CSRF token) is involved.
        return [] if self._posting() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._posting() else [IsAuthenticated()]

    def get_throttles(self):
        return super().get_throttles() if self._posting() else []

    @extend_schema(summary="获取令牌", request=TokenRequestSerializer, auth=[], tags=["账号"],
                   responses={200: TokenResponseSerializer,
                              400: OpenApiResponse(description="用户名或密码不正确"),
                              429: OpenApiResponse(description="失败次数过多或请求过于频繁")})
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, decision = authenticate_throttled(request._request, data.validated_data["username"],
                                                data.validated_data["password"])
        if not decision:
            response = error_response("too_many_failures", decision.message, status.HTTP_429_TOO_MANY_REQUESTS)
            response["Retry-After"] = str(decision.retry_after_s)
            return response
        if user is None:
            raise exceptions.ValidationError(
                {"non_field_errors": [exceptions.ErrorDetail("用户名或密码不正确。", code="invalid_credentials")]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key, "user": s.UserBriefSerializer(user).data})

    @extend_schema(summary="注销令牌", description="删除当前用户的令牌；之后需重新获取。", request=None, tags=["账号"],
                   responses={204: None})
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Schema and docs ----------------------------------------------------------------------------------------------


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema (YAML; ``?format=json`` for JSON)."""


class DocsView(SpectacularSwaggerView):
    """Swagger UI served from this server's static files (drf-spectacular-sidecar): schools run on intranets,
    so the page loads nothing from a CDN and never calls an online validator."""

    url_name = "api:schema"
    title = "智慧后勤 API 文档"

    @staticmethod
    def _swagger_ui_resource(filename):
        return static(f"drf_spectacular_sidecar/swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon():
        return static("drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png")

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if isinstance(spectacular_settings.SWAGGER_UI_SETTINGS, dict):
            response.data["settings"] = json.dumps({**spectacular_settings.SWAGGER_UI_SETTINGS, "validatorUrl": None},
                                                   indent=2)
        return response

