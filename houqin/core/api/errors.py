"""One error format for the whole API:

    {"error": {"code": "invalid", "message": "提交的数据有误。", "fields": {"name": [{"code": "required",
                                                                                 "message": "该字段是必填项。"}]}}}
"""

from django.core.exceptions import PermissionDenied, ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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
        return {k: _fields(v) for k, v in detail.items()}
    if isinstance(detail, list):
        if all(isinstance(d, exceptions.ErrorDetail) for d in detail):
            return [{"code": d.code, "message": str(d)} for d in detail]
        return [_fields(d) for d in detail]
    return [{"code": getattr(detail, "code", "invalid"), "message": str(detail)}]


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, ProtectedError | RestrictedError):
        return Response({"error": {"code": "protected", "message": "仍有其他记录引用该对象，无法删除。"}},
                        status=status.HTTP_409_CONFLICT)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = _fields(detail)
        response.data = {"error": {"code": "invalid", "message": "提交的数据有误。", "fields": fields}}
    else:
        code = getattr(exc, "default_code", "error")
        detail = getattr(exc, "detail", None)
        message = MESSAGES.get(code) or (str(detail) if detail else "请求失败。")
        response.data = {"error": {"code": code, "message": message}}
    return response
