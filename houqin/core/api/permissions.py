from rest_framework.permissions import SAFE_METHODS, BasePermission

from houqin.core.auth import user_can

ACTIONS = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


def action_for(method: str) -> str:
    return "view" if method in SAFE_METHODS else ACTIONS.get(method, "change")


class RolePermission(BasePermission):
    """The API applies the same role check as the UI: signed in, and the model permission for the action
    (object-level checks run against the object's organisation)."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj):
        return user_can(request.user, action_for(request.method), obj)
