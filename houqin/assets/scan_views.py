"""Pages of the assets app: QR labels and print sheets of cards, the phone page behind a label's QR code, and the
school's assets settings. Their routes are spliced into houqin/assets/urls.py (namespace ``assets``); see
docs/assets-labels.md.

* Labels: ``label_urls(AssetUI, asset_label)`` — ``/assets/assets/labels/?<list filters>`` and
  ``/assets/assets/<pk>/label/`` on core's label sheets; record and list sheets from ``print_urls(AssetUI)``.
* Scan: the QR code holds ``/q/a/<token>/`` (houqin.core.qr; derived from the primary key, so renumbering a card
  changes nothing). Core's scan view hands every visitor's card to ``asset_scan_page``.
* Settings: ``/assets/settings/`` (``assets:settings``), ``Organization.settings["assets"]`` (houqin.assets.conf).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.template.loader import get_template
from django.urls import NoReverseMatch, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.views import View

from houqin.assets import actions, conf
from houqin.assets.choices import AssetStatus
from houqin.assets.forms_settings import AssetSettingsForm
from houqin.assets.models import Asset
from houqin.assets.views import AssetUI, depreciation_schools
from houqin.core import navigation, pagecache, qr
from houqin.core.auth import access_for, user_can
from houqin.core.middleware import current_org
from houqin.core.reversing import reverse_kept
from houqin.core.views import printing

SCAN_KIND = "a"  # printed on every asset label: never change it
SCAN_TEMPLATE = "assets/scan/asset.html"
LABEL_TEMPLATE = "assets/labels/sheet.html"  # core's sheet, with the long asset number fitted to its label
SETTINGS_PERM_VIEW = "assets.view_asset"

# Tabler colours of the status badge on the phone page.
STATUS_COLOURS = {
    AssetStatus.IN_USE: "green",
    AssetStatus.IDLE: "secondary",
    AssetStatus.LENT: "azure",
    AssetStatus.REPAIRING: "orange",
    AssetStatus.PENDING_DISPOSAL: "yellow",
    AssetStatus.DISPOSED: "dark",
    AssetStatus.LOST: "red",
}


# --- Labels ---------------------------------------------------------------------------------------------------------
def asset_label(request, asset) -> dict:
    """One asset label: school, number (big), name, model and acquisition date, and the card's scan URL.

    Only facts that do not change while the label is on the item: the location, department and custodian change
    with transfers, so they are on the phone page behind the QR code, not on the label."""
    extra = [asset.model, f"{asset.acquired_on:%Y-%m-%d}取得" if asset.acquired_on else ""]
    return {
        "title": asset.org.name,
        "code": asset.number,
        "name": asset.name,
        "extra": " · ".join(e for e in extra if e),
        "url": qr.scan_url_for(request, asset),
    }


# --- The phone page behind the QR code -------------------------------------------------------------------------------
def visitor_access(asset, user) -> str | None:
    """What a visitor gets of a scanned card: ``"full"`` (may view the card), ``"minimal"`` (name, number, location
    and the public actions) or None (the scan view's default: sign in, then "not found").

    * who may view the card (its school's asset roles, the bureau, a superuser): full, whatever the setting;
    * the school lets anyone scan (``assets.scan_requires_login`` false): everyone else gets the minimal page;
    * login required (the default): a signed-in member of the card's school gets the minimal page (a teacher
      reporting a fault); anonymous visitors sign in first; users of another school get "not found", exactly as
      for a forged token."""
    if user_can(user, "view", asset):
        return "full"
    if not asset.org.is_active:  # a school switched off shows nothing to anyone but who may still view it
        return None
    if not conf.scan_requires_login(asset.org):
        return "minimal"
    if user.is_authenticated and asset.org_id in access_for(user).member_org_ids:
        return "minimal"
    return None


# A school with more photographed cards than this is asked card by card.
PHOTOGRAPHED_KEPT_MAX = 5000


def _photographed(org_id: int) -> frozenset[int] | None:
    """The school's cards that have a photo with a thumbnail, kept per data version (None: too many to keep)."""
    from django.contrib.contenttypes.models import ContentType

    from houqin.core.models import Attachment

    def read():
        ids = set(Attachment.objects.filter(content_type=ContentType.objects.get_for_model(Asset), org_id=org_id)
                  .exclude(thumb_name="").order_by().values_list("object_id", flat=True).distinct()
                  [:PHOTOGRAPHED_KEPT_MAX + 1])
        return frozenset(ids) if len(ids) <= PHOTOGRAPHED_KEPT_MAX else None

    return pagecache.kept_value(("assets.photographed", org_id), read)


def _photo_id(asset) -> int | None:
    """The first photo with a thumbnail on the card: one query, none when the school's photographed cards are
    kept and this card is not among them."""
    from houqin.core.models import Attachment

    if pagecache.keeping():
        photographed = _photographed(asset.org_id)
        if photographed is not None and asset.pk not in photographed:
            return None
    return (Attachment.objects.for_object(asset).exclude(thumb_name="").order_by("created_at", "id")
            .values_list("pk", flat=True).first())


def _detail_url(asset) -> str:
    return reverse("assets:asset_detail", args=[asset.pk])


def asset_scan_page(request, asset):
    """The page a phone opens when it scans an asset label (core's scan view calls it for every visitor).

    Rendered without the context processors of the desktop layout (menu, current school, notification count),
    so it costs one query for the card (made by the scan view) and, for who may view the card, one for its photo,
    plus the signed-in user's session and access map."""
    user = request.user
    level = visitor_access(asset, user)
    if level is None:
        return None
    full = level == "full"
    buttons = actions.actions_for(asset, user, "mobile" if full else actions.PUBLIC)
    context = {
        "asset": asset,
        "full": full,
        "school": asset.org.name,
        "school_phone": getattr(asset.org, "phone", ""),
        "location": asset.room.full_name if asset.room_id else "",
        "buttons": buttons,
        "signed_in": user.is_authenticated,
        "user": user,
        "csrf_token": pagecache.csrf_token(request),
        "messages": messages.get_messages(request),
        "login_url": (f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}"
                      if not user.is_authenticated else ""),
    }
    if full:
        context.update({
            "status_colour": STATUS_COLOURS.get(asset.status, "secondary"),
            "category": asset.category.name if asset.category_id else "",
            "department": asset.department.name if asset.department_id else "",
            "custodian": asset.custodian_display,
            "depreciation": asset.depreciation(),
            "photo_id": _photo_id(asset),
            "detail_url": _detail_url(asset),
        })
    response = HttpResponse(get_template(SCAN_TEMPLATE).render(context))
    add_never_cache_headers(response)  # the page differs per visitor and changes with every command
    response["X-Robots-Tag"] = "noindex"
    return response


qr.register_kind(SCAN_KIND, "assets.asset", view=asset_scan_page)


# --- Buttons on the card's page --------------------------------------------------------------------------------------
def _route(name: str, asset) -> str:
    return reverse_kept(name, args=[asset.pk])


actions.register(actions.AssetAction(
    "print_label", "打印标签", "ti ti-qrcode", url=lambda asset: _route("assets:asset_label", asset),
    available=lambda asset, user: True, order=900, style="outline-secondary", where=("card",),
    hint="二维码标签：A4 不干胶标签纸或标签打印机"))
actions.register(actions.AssetAction(
    "print_card", "打印卡片", "ti ti-printer", url=lambda asset: _route("assets:asset_print", asset),
    available=lambda asset, user: True, order=910, style="outline-secondary", where=("card",),
    hint="A4 固定资产卡片，可加签字栏"))


# --- Settings ---------------------------------------------------------------------------------------------------------
class AssetSettingsView(LoginRequiredMixin, View):
    """校产管理设置 of one school: editable by who holds ``assets.change_asset`` there, read-only for the card readers.

    ``?org=<id>`` picks one of the schools whose cards the user may view (a bureau user); any other id is "not
    found". Without it: the current school."""

    template_name = "assets/settings.html"

    def school(self, request):
        schools = depreciation_schools(request.user)  # the schools whose cards the user may view
        if not schools:
            raise PermissionDenied("您没有查看校产管理设置的权限。")
        by_id = {str(s.pk): s for s in schools}
        wanted = request.POST.get("org") or request.GET.get("org")
        if wanted:
            school = by_id.get(str(wanted).strip())
            if school is None:
                raise Http404("单位不存在或您无权查看。")
            return schools, school
        current = current_org(request)
        return schools, by_id.get(str(getattr(current, "pk", ""))) or schools[0]

    def get(self, request):
        schools, school = self.school(request)
        form = AssetSettingsForm(initial=AssetSettingsForm.initial_for(school))
        return self.show(request, schools, school, form)

    def post(self, request):
        schools, school = self.school(request)
        if not user_can(request.user, "change", Asset, org_id=school.pk):
            raise PermissionDenied("您没有修改校产管理设置的权限（需要资产管理权限）。")
        form = AssetSettingsForm(request.POST)
        if not form.is_valid():
            return self.show(request, schools, school, form, status=200)
        conf.save_settings(school, form.cleaned_values())
        messages.success(request, f"{school.name}的校产管理设置已保存。")
        return redirect(self.url_for(request, school))

    def url_for(self, request, school) -> str:
        url = reverse("assets:settings")
        current = current_org(request)
        return url if current is not None and current.pk == school.pk else f"{url}?org={school.pk}"

    def show(self, request, schools, school, form, status: int = 200):
        can_edit = user_can(request.user, "change", Asset, org_id=school.pk)
        values = conf.current_settings(school)
        choices = {name: dict(field.choices) for name, field in form.fields.items() if hasattr(field, "choices")}
        readonly = [
            (form.fields["capitalisation_threshold"].label, f"{values['capitalisation_threshold']} 元"),
            (form.fields["depreciation_start"].label, choices["depreciation_start"].get(values["depreciation_start"],
                                                                                         values["depreciation_start"])),
            (form.fields["category_edition"].label, choices["category_edition"].get(values["category_edition"],
                                                                                     values["category_edition"])),
            (form.fields["scan_requires_login"].label,
             choices["scan_requires_login"]["true" if values["scan_requires_login"] else "false"]),
        ]
        try:
            changelog_url = reverse("core:organization_changelog", args=[school.pk])
        except NoReverseMatch:
            changelog_url = None
        context = {
            "schools": schools,
            "school": school,
            "form": form,
            "can_edit": can_edit,
            "readonly": readonly,
            "changelog_url": changelog_url,
            "list_url": reverse("assets:asset_list"),
        }
        return render(request, self.template_name, context, status=status)


navigation.add_item("assets", navigation.MenuItem("校产管理设置", "assets:settings", SETTINGS_PERM_VIEW,
                                                  "ti ti-adjustments"))


urlpatterns: list = [
    *printing.label_urls(AssetUI, asset_label, template_name=LABEL_TEMPLATE),
    *printing.print_urls(AssetUI),
    path("settings/", AssetSettingsView.as_view(), name="settings"),
]
