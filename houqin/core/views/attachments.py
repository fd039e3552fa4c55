"""Attachment pages: the photo/attachment panel of a detail page, upload, delete, and the permission-checked file
and thumbnail responses. URLs: ``urlpatterns`` below, mounted at ``attachments/``.

Every view finds the parent row first and asks the parent's own ``restrict``: a parent the user cannot view is
"not found" (404, whichever school it belongs to); adding or deleting needs ``change`` on the parent (403 when the
user can see it but not change it). Files are never served from a static or media URL.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from houqin.core import attachments as service
from houqin.core.models.attachments import Attachment, AttachmentKind
from houqin.core.views.generic import htmx_partial

logger = logging.getLogger(__name__)

PANEL_TEMPLATE = "core/includes/attachments.html"
FILE_CSP = "default-src 'none'; sandbox"


# --- The panel -------------------------------------------------------------------------------------------------------
def panel_context(request, parent, *, errors=None, notice: str = "") -> dict:
    """What core/includes/attachments.html needs for one parent row (empty when the user cannot view it)."""
    user = getattr(request, "user", None)
    if parent is None or not service.supports(parent) or not service.parent_allows(user, parent, "view"):
        return {"visible": False}
    ct_id = service.content_type_id_of(parent)
    can_change = service.parent_allows(user, parent, "change")
    try:
        next_url = parent.get_absolute_url()
    except Exception:  # noqa: BLE001 — a parent without a page: forms come back to the panel itself
        next_url = ""
    return {
        "visible": True,
        "request": request,
        "parent": parent,
        "attachments": list(service.attachments_of(parent)),
        "can_change": can_change,
        "panel_id": f"attachments-{ct_id}-{parent.pk}",
        "panel_url": reverse("attachments:panel", args=[ct_id, parent.pk]),
        "upload_url": reverse("attachments:upload", args=[ct_id, parent.pk]),
        "next_url": next_url,
        "errors": list(errors or ()),
        "notice": notice,
        "kinds": AttachmentKind.choices,
        "accept": service.ACCEPT,
        "max_size": filesizeformat(service.setting("HOUQIN_ATTACHMENT_MAX_BYTES")),
        "max_files": service.setting("HOUQIN_ATTACHMENT_MAX_FILES"),
    }


def _render_panel(request, parent, **kwargs):
    return render(request, PANEL_TEMPLATE, panel_context(request, parent, **kwargs))


def _visible_parent(request, content_type_id, object_id, action: str = "view"):
    """The parent row if the user may view it (404 otherwise); 403 if ``action`` is change and not allowed."""
    parent = service.resolve_parent(content_type_id, object_id)
    if parent is None or not service.parent_allows(request.user, parent, "view"):
        raise Http404("记录不存在或您无权查看。")
    if action != "view" and not service.parent_allows(request.user, parent, "change"):
        raise PermissionDenied("您没有修改此记录附件的权限。")
    return parent


def _visible_attachment(request, pk: int, action: str = "view"):
    attachment = Attachment.objects.filter(pk=pk).first()
    if attachment is None:
        raise Http404("附件不存在或您无权查看。")
    parent = _visible_parent(request, attachment.content_type_id, attachment.object_id, action)
    return attachment, parent


def _back(request, parent, fallback: str) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    try:
        return parent.get_absolute_url()
    except Exception:  # noqa: BLE001
        return fallback


@login_required
@require_GET
def panel(request, content_type_id: int, object_id: int):
    """The panel alone (refreshed by HTMX after an upload or a deletion)."""
    return _render_panel(request, _visible_parent(request, content_type_id, object_id))


@login_required
@require_POST
def upload(request, content_type_id: int, object_id: int):
    parent = _visible_parent(request, content_type_id, object_id, "change")
    files = request.FILES.getlist("files")
    kind = request.POST.get("kind") or None
    if kind is not None and kind not in AttachmentKind.values:
        kind = None
    try:
        added = service.attach(parent, files, user=request.user, caption=request.POST.get("caption", ""), kind=kind)
    except ValidationError as exc:
        errors = exc.messages
        if htmx_partial(request):
            return _render_panel(request, parent, errors=errors)
        for message in errors:
            messages.error(request, message)
        return redirect(_back(request, parent, reverse("attachments:panel", args=[content_type_id, object_id])))
    notice = f"已上传 {len(added)} 个文件。"
    if htmx_partial(request):
        return _render_panel(request, parent, notice=notice)
    messages.success(request, notice)
    return redirect(_back(request, parent, reverse("attachments:panel", args=[content_type_id, object_id])))


@login_required
@require_http_methods(["GET", "POST"])
def delete(request, pk: int):
    """GET: a confirmation page (for browsers without scripts); POST: delete."""
    attachment, parent = _visible_attachment(request, pk, "change")
    if request.method == "GET":
        return render(request, "core/attachment_delete.html",
                      {"attachment": attachment, "parent": parent, "cancel_url": _back(request, parent, "/")})
    label = attachment.display_name
    service.remove(attachment, user=request.user)
    notice = f"已删除附件：{label}"
    if htmx_partial(request):
        return _render_panel(request, parent, notice=notice)
    messages.success(request, notice)
    ct_id = service.content_type_id_of(parent)
    return redirect(_back(request, parent, reverse("attachments:panel", args=[ct_id, parent.pk])))


# --- Files ------------------------------------------------------------------------------------------------------------
def download_name(attachment: Attachment, thumb: bool = False) -> str:
    """The name the browser saves the file under: the uploader's name with the extension of what is stored."""
    ext = "jpg" if thumb else attachment.stored_name.rsplit(".", 1)[-1]
    original = attachment.original_name
    stem = original.rsplit(".", 1)[0] if "." in original else original
    stem = stem or f"附件{attachment.pk}"
    return f"{stem}{'_缩略图' if thumb else ''}.{ext}"


def _file_response(request, attachment: Attachment, *, thumb: bool):
    name = attachment.thumb_name if thumb else attachment.stored_name
    if not name:
        raise Http404("此附件没有缩略图。")
    etag = f'"{attachment.sha256[:32]}{"-t" if thumb else ""}"'
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "private, max-age=3600",
        "Vary": "Cookie",
        "Cross-Origin-Resource-Policy": "same-origin",
        "ETag": etag,
    }
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
        for key, value in headers.items():
            response[key] = value
        return response
    try:
        handle = service.open_stored(name)
    except (FileNotFoundError, OSError) as exc:
        logger.error("Attachment %s: stored file %s is missing", attachment.pk, name)
        raise Http404("附件文件已丢失，请联系管理员。") from exc
    mime = "image/jpeg" if thumb else attachment.mime_type
    inline = thumb or attachment.is_image
    response = FileResponse(handle, content_type=mime, as_attachment=not inline,
                            filename=download_name(attachment, thumb))
    for key, value in headers.items():
        response[key] = value
    return response


@login_required
@require_GET
def download(request, pk: int):
    attachment, _ = _visible_attachment(request, pk)
    return _file_response(request, attachment, thumb=False)


@login_required
@require_GET
def thumb(request, pk: int):
    attachment, _ = _visible_attachment(request, pk)
    return _file_response(request, attachment, thumb=True)


app_name = "attachments"

urlpatterns = [
    path("<int:pk>/", download, name="download"),
    path("<int:pk>/thumb/", thumb, name="thumb"),
    path("<int:pk>/delete/", delete, name="delete"),
    path("for/<int:content_type_id>/<int:object_id>/", panel, name="panel"),
    path("upload/<int:content_type_id>/<int:object_id>/", upload, name="upload"),
]
