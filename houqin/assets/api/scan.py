"""API of the assets app: scan. Imported by houqin/assets/api/views.py; ScanActions is mixed into
``AssetViewSet`` (command endpoints on a card), other viewsets register themselves on the router here.

* ``GET /api/assets/assets/{id}/qr/`` — the card's scan URL and QR code (JSON with an inline SVG;
  ``?image=svg`` or ``?image=png&scale=8`` for the image itself). Same rights as reading the card.
* ``/api/assets/settings/`` — the assets settings of the schools whose cards the user may read (list), and of one
  school (``/api/assets/settings/{org}/``: GET, PUT, PATCH; changing needs ``assets.change_asset`` there).
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response

from houqin.assets import conf
from houqin.assets.forms_settings import (
    DEPRECIATION_START_CHOICES,
    MAX_THRESHOLD,
    edition_choices,
    money_text,
    threshold_error,
)
from houqin.assets.models import Asset
from houqin.core import context, qr
from houqin.core.api.fields import LabelledChoiceField
from houqin.core.api.router import router
from houqin.core.api.schema import TenantAutoSchema
from houqin.core.api.serializers import OrgBriefSerializer
from houqin.core.auth import access_for, user_can
from houqin.core.models import Organization

PNG_SCALES = range(1, 41)
IMAGE_KINDS = ("svg", "png")


# --- QR code of a card ----------------------------------------------------------------------------------------------
class AssetQrSerializer(serializers.Serializer):
    """资产标签二维码：扫码地址由卡片的内部编号派生并签名，资产编号变更后不变。"""

    id = serializers.IntegerField(label="卡片编号")
    number = serializers.CharField(label="资产编号")
    name = serializers.CharField(label="资产名称")
    token = serializers.CharField(label="扫码令牌")
    scan_url = serializers.URLField(label="扫码地址", help_text="二维码中的地址：/q/a/<令牌>/")
    svg = serializers.CharField(label="二维码 SVG", help_text="可直接嵌入网页的 <svg>（只含 viewBox，用 CSS 设置大小）")


def _bad_param(name: str, message: str, code: str = "invalid"):
    return exceptions.ValidationError({name: [ErrorDetail(message, code=code)]})


class ScanActions:
    """Mixed into AssetViewSet: the card's QR code."""

    @extend_schema(
        summary="资产标签二维码",
        parameters=[
            OpenApiParameter("image", str, enum=list(IMAGE_KINDS),
                             description="返回图片而不是 JSON：svg（矢量，适合排版打印）或 png"),
            OpenApiParameter("scale", int, description="PNG 每个码元的像素数，1–40，默认 8"),
        ],
        responses={200: AssetQrSerializer,
                   (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="SVG 图片"),
                   (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG 图片")},
    )
    @action(detail=True, methods=["get"], url_path="qr", url_name="qr")
    def qr_code(self, request, *args, **kwargs):
        """卡片的扫码地址和二维码。与查看卡片的权限相同；扫码后打开的页面见 /q/a/<令牌>/。"""
        asset = self.get_object()
        url = qr.scan_url_for(request, asset)
        image = request.query_params.get("image", "")
        if image and image not in IMAGE_KINDS:
            raise _bad_param("image", "image 只能是 svg 或 png。", "invalid_choice")
        if image:
            return self._qr_image(asset, url, image, request.query_params.get("scale"))
        data = {"id": asset.pk, "number": asset.number, "name": asset.name, "token": qr.token_for(asset),
                "scan_url": url, "svg": str(qr.qr_svg(url))}
        return Response(AssetQrSerializer(data).data)

    @staticmethod
    def _qr_image(asset, url: str, image: str, raw_scale) -> HttpResponse:
        scale = 8
        if raw_scale not in (None, ""):
            try:
                scale = int(raw_scale)
            except ValueError:
                scale = 0
            if scale not in PNG_SCALES:
                raise _bad_param("scale", "scale 必须是 1 到 40 之间的整数。")
        filename = f"asset-{asset.number or asset.pk}.{image}"
        if image == "png":
            response = HttpResponse(qr.qr_png_bytes(url, scale=scale), content_type="image/png")
        else:
            buffer = io.BytesIO()
            qr.make(url).save(buffer, kind="svg", scale=scale, border=4, xmldecl=True)
            response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def perform_content_negotiation(self, request, force=False):
        # ``?image=png`` answers with the image whatever the Accept header (an <img> asks for image/*).
        if getattr(self, "action", None) == "qr_code" and request.query_params.get("image"):
            force = True
        return super().perform_content_negotiation(request, force)


# --- School settings ----------------------------------------------------------------------------------------------
class AssetSettingsSerializer(serializers.Serializer):
    """一所学校的校产管理设置（Organization.settings["assets"]）。"""

    org = OrgBriefSerializer(read_only=True, label="学校")
    capitalisation_threshold = serializers.DecimalField(
        label="固定资产单价起点（元）", max_digits=12, decimal_places=2, coerce_to_string=True,
        help_text=f"大于 0、不超过 {MAX_THRESHOLD:,} 元；只影响今后登记的卡片",
        error_messages={"invalid": "请输入金额，如 1000 或 1500.00。", "required": "请填写固定资产单价起点。",
                        "max_decimal_places": "金额最多保留两位小数。", "max_digits": "金额过大，请检查。",
                        "max_whole_digits": "金额过大，请检查。"})
    depreciation_start = LabelledChoiceField(
        label="折旧起始月份", choices=DEPRECIATION_START_CHOICES,
        error_messages={"invalid_choice": "折旧起始月份只能是 same_month 或 next_month。"})
    category_edition = LabelledChoiceField(label="资产分类标准版本", choices=edition_choices(),
                                           error_messages={"invalid_choice": "系统中没有这个分类标准版本。"})
    scan_requires_login = serializers.BooleanField(label="扫码需要登录",
                                                   error_messages={"invalid": "请填写 true 或 false。"})
    can_change = serializers.BooleanField(read_only=True, label="当前用户可修改")

    class Meta:
        # Names the choice components of the schema (AssetSettingsDepreciationStartEnum…) as a model's would be
        # (houqin.core.api.schema); the settings are a section of Organization.settings, not a model of their own.
        model = type("AssetSettings", (), {"__doc__": "schema name only: not a model"})

    def validate_capitalisation_threshold(self, value):
        if message := threshold_error(value):
            raise serializers.ValidationError(message, code="invalid")
        return value


def _settings_schools(user) -> list:
    """The schools whose assets settings ``user`` may read: those whose cards they may view."""
    schools = Organization.objects.schools().filter(is_active=True)
    if not user.is_superuser:
        schools = schools.filter(pk__in=sorted(access_for(user).orgs_for("assets.view_asset")))
    return list(schools.order_by("name"))


class AssetSettingsPageSerializer(serializers.Serializer):
    """各学校的校产管理设置（学校不多，一页返回全部；next、previous 总是 null）。"""

    next = serializers.URLField(allow_null=True, label="下一页")
    previous = serializers.URLField(allow_null=True, label="上一页")
    results = AssetSettingsSerializer(many=True, label="各学校的设置")


ORG_PARAMETER = OpenApiParameter("org", int, OpenApiParameter.PATH, description="学校编号")


class SettingsSchema(TenantAutoSchema):
    """The list answers one page object (``{"next", "previous", "results"}``), not a bare array."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


@extend_schema_view(
    list=extend_schema(operation_id="assets_settings_list", summary="校产管理设置列表",
                       description="当前用户可查看资产卡片的各学校的校产管理设置。",
                       responses=AssetSettingsPageSerializer),
    retrieve=extend_schema(summary="校产管理设置详情", parameters=[ORG_PARAMETER], responses=AssetSettingsSerializer),
    update=extend_schema(summary="修改校产管理设置", parameters=[ORG_PARAMETER], request=AssetSettingsSerializer,
                         responses=AssetSettingsSerializer),
    partial_update=extend_schema(summary="修改校产管理设置（部分字段）", parameters=[ORG_PARAMETER],
                                 request=AssetSettingsSerializer, responses=AssetSettingsSerializer),
)
@extend_schema(tags=["校产管理 · 校产管理设置"])
class AssetSettingsViewSet(viewsets.ViewSet):
    """校产管理设置：固定资产单价起点、折旧起始月份、资产分类标准版本、扫码是否需要登录。
    有资产卡片查看权限即可读取；修改需要该校的资产管理权限（assets.change_asset），修改记入学校的变更记录。"""

    lookup_field = "org"
    lookup_value_regex = r"[0-9]+"
    # No serializer_class: the serializer's Meta.model is only a name for the schema, and the isolation tests read a
    # viewset's model from its serializer. This viewset has no model (its routes are in isolation_routes_scan.py).
    schema = SettingsSchema()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        context.current().user = request.user  # token auth is known only now: the change log records who acted

    def _data(self, org) -> dict:
        values = conf.current_settings(org)
        return {**values, "org": org, "capitalisation_threshold": conf.capitalisation_threshold(org),
                "can_change": user_can(self.request.user, "change", Asset, org_id=org.pk)}

    def _school(self, org: str):
        school = next((s for s in _settings_schools(self.request.user) if str(s.pk) == str(org)), None)
        if school is None:
            raise exceptions.NotFound()
        return school

    def list(self, request):
        schools = _settings_schools(request.user)
        if not schools:
            raise exceptions.PermissionDenied("您没有查看校产管理设置的权限。")
        results = [AssetSettingsSerializer(self._data(s)).data for s in schools]
        return Response({"next": None, "previous": None, "results": results})

    def retrieve(self, request, org=None):
        return Response(AssetSettingsSerializer(self._data(self._school(org))).data)

    def update(self, request, org=None):
        return self._save(request, org, partial=False)

    def partial_update(self, request, org=None):
        return self._save(request, org, partial=True)

    def _save(self, request, org, *, partial: bool):
        school = self._school(org)
        if not user_can(request.user, "change", Asset, org_id=school.pk):
            raise exceptions.PermissionDenied("您没有修改该校校产管理设置的权限。")
        if not isinstance(request.data, Mapping):
            raise exceptions.ValidationError({"non_field_errors": [ErrorDetail("请提交 JSON 对象。", code="invalid")]})
        serializer = AssetSettingsSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        if "capitalisation_threshold" in values:
            values["capitalisation_threshold"] = money_text(values["capitalisation_threshold"])
        if values:
            school = conf.save_settings(school, values)
        return Response(AssetSettingsSerializer(self._data(school)).data)


router.register("assets/settings", AssetSettingsViewSet, basename="assets-settings")
