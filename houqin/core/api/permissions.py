"""The API's permission check: the same roles as the UI (houqin.core.auth.user_can).

A list or create request needs the model permission for its action in at least one organisation (else 403). An
object request is decided by the object alone: objects come from the *view*-restricted queryset, so a row the
user cannot see is 404 whoever asks (its existence never shows), and a visible row without the permission for
the action in its organisation is 403.

A custom viewset action names the permission it needs: ``@action(detail=True, methods=["post"],
required_action="change")``; otherwise the HTTP method decides (GET → view, POST → add, PUT/PATCH → change,
DELETE → delete).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from houqin.core.auth import owning_org_ids, user_can

ACTIONS = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


def action_for(method: str) -> str:
    return "view" if method in SAFE_METHODS else ACTIONS.get(method, "change")


def required_action(request, view) -> str:
    return getattr(view, "required_action", None) or action_for(request.method)


def _handled(request, view) -> bool:
    method = request.method.lower()
    return method in getattr(view, "http_method_names", ()) and hasattr(view, method)


def _is_object_request(view) -> bool:
    kwargs = getattr(view, "kwargs", None) or {}
    return (getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", "pk")) in kwargs


class RolePermission(BasePermission):
    message = "您没有此操作的权限。"

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        model = getattr(getattr(view, "queryset", None), "model", None)
        if model is None or not _handled(request, view):
            return True  # views without a model decide themselves; an unsupported method gets its 405
        if _is_object_request(view):
            return True  # decided per object: 404 if the row is not visible, else has_object_permission
        return user_can(user, required_action(request, view), model)

    def has_object_permission(self, request, view, obj):
        action = required_action(request, view)
        if action == "view" and not owning_org_ids(obj):
            # A shared row (a national category: no school owns it) came from the view-restricted queryset, so the
            # user may see it wherever they hold the view permission, as in the list.
            return user_can(request.user, "view", type(obj))
        return user_can(request.user, action, obj)
