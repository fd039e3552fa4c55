"""One error format for the whole API:

    {"error": {"code": "invalid", "message": "提交的数据有误。", "fields": {"name": [{"code": "required",
                                                                                 "message": "该字段是必填项。"}]}}}

``fields`` is present only for validation errors (400); the other errors carry ``code`` and ``message``.
Django's ValidationError (model ``clean()``), Http404, PermissionDenied, protected deletes and integrity
conflicts are all answered in this format, never as a 500.
"""

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

MESSAGES = {
    "not_authenticated": "请先登录。",
    "authentication_failed": "身份验证失败。",
    "permission_denied": "您没有此操作的权限。",
    "not_found": "未找到。",
    "method_not_allowed": "不支持该请求方法。",
    "throttled": "请求过于频繁，请稍后再试。",
    "parse_error": "请求内容格式错误。",
    "unsupported_media_type": "不支持的内容类型。",
    "not_acceptable": "无法提供请求的格式。",
}


def _fields(detail):
    if isinstance(detail, dict):
        return {(api_settings.NON_FIELD_ERRORS_KEY if k == NON_FIELD_ERRORS else k): _fields(v)
                for k, v in detail.items()}
    if isinstance(detail, list):
        if all(isinstance(d, exceptions.ErrorDetail | str) for d in detail):
            return [{"code": getattr(d, "code", "invalid"), "message": str(d)} for d in detail]
        return [_fields(d) for d in detail]
    return [{"code": getattr(detail, "code", "invalid"), "message": str(detail)}]


def error_response(code: str, message: str, http_status: int) -> Response:
    set_rollback()
    return Response({"error": {"code": code, "message": message}}, status=http_status)


def _message(exc) -> str:
    code = getattr(exc, "default_code", "error")
    detail = getattr(exc, "detail", None)
    if isinstance(exc, exceptions.Throttled):
        return f"请求过于频繁，请在 {exc.wait:.0f} 秒后再试。" if exc.wait else MESSAGES["throttled"]
    # A view that raised with its own (Chinese) message keeps it; DRF's stock texts get ours.
    if detail and str(detail) != str(exc.default_detail) and isinstance(detail, str):
        return str(detail)
    return MESSAGES.get(code) or (str(detail) if detail else "请求失败。")


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*(exc.args[:1] if exc.args else ()))
    elif isinstance(exc, ProtectedError | RestrictedError):
        return error_response("protected", "仍有其他记录引用该对象，无法删除。", status.HTTP_409_CONFLICT)
    elif isinstance(exc, IntegrityError):
        return error_response("conflict", "数据与现有记录冲突，请刷新后重试。", status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
        response.data = {"error": {"code": "invalid", "message": "提交的数据有误。", "fields": _fields(detail)}}
    else:
        response.data = {"error": {"code": getattr(exc, "default_code", "error"), "message": _message(exc)}}
    return response
