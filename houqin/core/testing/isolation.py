"""The tenant-isolation matrix: every route of a model × {anonymous, other school, same school without the
permission, permitted user, bureau, superuser}. Used by houqin/core/tests/test_isolation.py for every registered
ModelUI and API viewset; the functions return a list of failure messages (empty: all good) so that one run
reports every broken cell at once.

Expectations for the other school, the bureau, outsiders and anonymous visitors are absolute (they do not
depend on the code under test). For same-school personas they follow the permission map (``user_can``): the
views must agree with it, answering 200 when it allows, 403 when the user can see the object but not act on it,
and 404 when the user cannot even see it.
"""

from __future__ import annotations

import io
import json
import logging
import re
from contextlib import contextmanager

from django.conf import settings
from django.forms import ModelMultipleChoiceField
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse

from houqin.core.auth import access_for, user_can
from houqin.core.testing.registry import MissingFactory, factory_for
from houqin.core.testing.routes import OBJECT_ACTIONS, SHOWING_ACTIONS, UI_ACTIONS, Route, api_model, api_viewset

LOGIN = "login"  # expected: a redirect to the sign-in page
PERM_ACTION = {"list": "view", "export": "view", "detail": "view", "changelog": "view", "add": "add",
               "edit": "change", "delete": "delete", "print_list": "view", "print": "view", "labels": "view",
               "label": "view"}
# A bureau creates its own accounts and their roles in the bureau; every other model is read-only for a bureau.
BUREAU_MAY_ADD = frozenset({"core.user", "core.membership"})
SAME_SCHOOL = ("admin_a", "head_a", "teacher_a")


def label_for(model) -> str:
    """The text the object of school A carries, which must never appear in another school's responses."""
    return f"隔离{model._meta.model_name}甲标记"


def body_text(response) -> str:
    """A response's content as text; an .xlsx is flattened to its cell values."""
    raw = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        return xlsx_text(raw)
    return raw.decode("utf-8", errors="replace")


def xlsx_text(raw: bytes) -> str:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(raw), read_only=True)
    return "\n".join("\t".join("" if v is None else str(v) for v in row)
                     for ws in wb.worksheets for row in ws.iter_rows(values_only=True))


@contextmanager
def quiet_request_log():
    """Hundreds of expected 403s and 404s need not each log a warning with a traceback (errors still log)."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def row_state(obj) -> list:
    return list(type(obj)._base_manager.filter(pk=obj.pk).values())


class Recorder:
    """Runs requests and collects every expectation that does not hold."""

    def __init__(self, world, client_for, subject: str):
        self.world, self.client_for, self.subject = world, client_for, subject
        self.failures: list[str] = []
        self.login_url = resolve_url(settings.LOGIN_URL)

    def fail(self, message: str) -> None:
        self.failures.append(f"{self.subject}: {message}")

    def request(self, persona: str, method: str, url: str, data=None, json_body: bool = False, **extra):
        with quiet_request_log():
            return self._request(persona, method, url, data, json_body, **extra)

    def _request(self, persona, method, url, data, json_body, **extra):
        client = self.client_for(self.world.persona(persona))
        if json_body:
            return getattr(client, method.lower())(url, data=json.dumps(data or {}), content_type="application/json",
                                                   **extra)
        if method == "GET":
            return client.get(url, **extra)
        return getattr(client, method.lower())(url, data=data or {}, **extra)

    def expect(self, persona: str, method: str, url: str, expected, *, data=None, json_body=False, contains=None,
               absent=None, unchanged=None, **extra):
        """Request ``url`` as ``persona`` and check the status (an int, a tuple of ints or LOGIN), text that must
        (``contains``) or must not (``absent``) appear, and that ``unchanged`` (a model instance) was not modified."""
        before = row_state(unchanged) if unchanged is not None else None
        try:
            response = self.request(persona, method, url, data=data, json_body=json_body, **extra)
        except Exception as exc:  # noqa: BLE001 — a crash is a failure of this cell, not of the whole matrix
            self.fail(f"{method} {url} as {persona} raised {type(exc).__name__}: {exc}")
            return None
        status = response.status_code
        where = f"{method} {url} as {persona}"
        if expected == LOGIN:
            location = response.get("Location", "")
            if status != 302 or not location.startswith(self.login_url):
                self.fail(f"{where}: expected a redirect to {self.login_url}, got {status} {location}")
        elif isinstance(expected, tuple):
            if status not in expected:
                self.fail(f"{where}: expected one of {expected}, got {status}")
        elif status != expected:
            self.fail(f"{where}: expected {expected}, got {status}")
        if contains is not None or absent is not None:
            text = body_text(response) if 200 <= status < 300 else ""
            if contains is not None and 200 <= status < 300 and contains not in text:
                self.fail(f"{where}: the response does not show {contains!r} (positive control)")
            if absent is not None and absent in text:
                self.fail(f"{where}: LEAK — the response shows {absent!r}, which belongs to school A")
        if unchanged is not None and row_state(unchanged) != before:
            self.fail(f"{where}: the object was modified or deleted")
        return response


def _factory_object(recorder: Recorder, model):
    try:
        factory = factory_for(model)
    except MissingFactory as exc:
        recorder.fail(str(exc))
        return None
    return factory.make(recorder.world.a, label_for(model))


# --- ModelUI routes ---------------------------------------------------------------------------------------------------
def ui_actions(ui) -> list[str]:
    """The actions of UI_ACTIONS whose route this ModelUI really serves."""
    actions = []
    for action in UI_ACTIONS:
        try:
            reverse(ui.url_name(action), args=[1] if action in OBJECT_ACTIONS else [])
        except NoReverseMatch:
            continue
        actions.append(action)
    return actions


def edit_form_data(ui, obj, user, org) -> dict:
    """POST data that would save ``obj`` with a changed text field (so that a missing check would show)."""
    form = ui.form_class(instance=obj, user=user, org=org)
    data = {}
    changed = False
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, ModelMultipleChoiceField) or isinstance(value, list | tuple):
            data[name] = [str(v) for v in value or ()]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is None:
            data[name] = ""
        else:
            data[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
        if not changed and not field.disabled and isinstance(value, str) and name not in ("password1", "password2"):
            data[name] = f"{value[: max(0, getattr(field, 'max_length', None) or 40) - 3]}已篡改"
            changed = True
    return data


def check_ui_isolation(ui, world, client_for) -> list[str]:
    """Every route of one ModelUI × every persona; returns the failures."""
    rec = Recorder(world, client_for, ui.model._meta.label)
    obj = _factory_object(rec, ui.model)
    if obj is None:
        return rec.failures
    actions = ui_actions(ui)
    if "list" not in actions:
        rec.fail(f"{ui.url_name('list')} is not in the URLconf: add urls_for({ui.app_label()!r}) to the app's urls.py")
        return rec.failures
    label = label_for(ui.model)
    model_label = ui.model._meta.label_lower
    perm = {a: f"{ui.app_label()}.{PERM_ACTION[a]}_{ui.model_name()}" for a in actions}
    urls = {a: reverse(ui.url_name(a), args=[obj.pk] if a in OBJECT_ACTIONS else []) for a in actions}
    post_data = {}
    if "edit" in actions:
        try:
            post_data = edit_form_data(ui, obj, world.admin_a, world.a.org)
        except Exception as exc:  # noqa: BLE001 — reported; the matrix goes on with empty POST data
            rec.fail(f"building {ui.form_class.__name__} for an existing object raised {type(exc).__name__}: {exc}")
    a_org = world.a.org.pk

    # Anonymous: every route sends to the sign-in page; posts change nothing.
    for action in actions:
        rec.expect("anonymous", "GET", urls[action], LOGIN)
    for action in ("edit", "delete"):
        if action in actions:
            rec.expect("anonymous", "POST", urls[action], LOGIN, data=post_data, unchanged=obj)

    # Other school: school A's object does not exist; lists, exports and add forms do not show it.
    for action in actions:
        url = urls[action]
        if action in OBJECT_ACTIONS:
            rec.expect("admin_b", "GET", url, 404)
        else:
            rec.expect("admin_b", "GET", url, (200, 403), absent=label)
    for action in ("edit", "delete"):
        if action in actions:
            rec.expect("admin_b", "POST", urls[action], 404, data=post_data, unchanged=obj)

    # No role anywhere: refused lists and forms, and the object does not exist (edit and delete go through the
    # same lookup as the detail page, checked for every persona above and below).
    for action in ("list", "export", "add", "detail", "delete", "print_list", "print"):
        if action in actions:
            rec.expect("outsider", "POST" if action == "delete" else "GET", urls[action],
                       404 if action in OBJECT_ACTIONS else 403, unchanged=obj if action == "delete" else None)

    # Bureau: reads every school, writes none (except its own accounts).
    for action in actions:
        url = urls[action]
        if action in SHOWING_ACTIONS:
            rec.expect("bureau_admin", "GET", url, 200, contains=label)
        elif PERM_ACTION[action] == "view":
            rec.expect("bureau_admin", "GET", url, 200)
        elif action == "add":
            rec.expect("bureau_admin", "GET", url, 200 if model_label in BUREAU_MAY_ADD else 403)
        elif action in ("edit", "delete"):
            rec.expect("bureau_admin", "GET", url, 403)
            rec.expect("bureau_admin", "POST", url, 403, data=post_data, unchanged=obj)

    # Same school: the views answer as the permission map says. One permitted persona per route (the first of
    # SAME_SCHOOL that may) must get 200; every persona that may not gets 403 (or 404 if it cannot even see it).
    permitted = {}
    for persona in SAME_SCHOOL:
        user = world.persona(persona)
        access = access_for(user)
        can_view_obj = user_can(user, "view", obj)
        for action in actions:
            url = urls[action]
            if action in OBJECT_ACTIONS:
                allowed = user_can(user, PERM_ACTION[action], obj)
                expected = 200 if allowed else (403 if can_view_obj else 404)
            elif action == "add":
                allowed = access.has(perm[action], (user.default_org_id or a_org))
                expected = 200 if allowed else 403
            else:
                allowed = access.has(perm[action], a_org)
                expected = 200 if allowed else 403
            if allowed:
                if action in permitted:
                    continue
                permitted[action] = persona
            shows = label if expected == 200 and action in SHOWING_ACTIONS else None
            rec.expect(persona, "GET", url, expected, contains=shows)
            if action in ("edit", "delete") and not allowed:
                rec.expect(persona, "POST", url, expected, data=post_data, unchanged=obj)
    if "list" not in permitted:
        rec.fail("no persona of school A may list it, so the matrix proves nothing: give a role the view permission")

    if "detail" in actions:
        rec.expect("superuser", "GET", urls["detail"], 200, contains=label)

    # Last: a permitted persona really deletes it.
    if "delete" in actions:
        deleter = permitted.get("delete", "superuser")
        rec.expect(deleter, "POST", urls["delete"], 302)
        if type(obj)._base_manager.filter(pk=obj.pk).exists():
            rec.fail(f"POST {urls['delete']} as {deleter} did not delete the object")
    return rec.failures


# --- Staged import routes (houqin.core.views.imports.import_urls) ---------------------------------------------------
IMPORT_SUFFIXES = ("", "_template", "_preview", "_commit", "_done", "_cancel")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def import_view(callback):
    """(importer, base URL name) of a staged-import page, or None for any other route."""
    try:
        from houqin.core.views.imports import ImportView
    except ImportError:  # pragma: no cover — the import pages are optional
        return None
    view_class = getattr(callback, "view_class", None)
    if view_class is None or not issubclass(view_class, ImportView):
        return None
    initkwargs = getattr(callback, "view_initkwargs", {})
    return initkwargs.get("importer") or view_class.importer, initkwargs.get("url_name") or view_class.url_name


def import_groups(routes: list[Route]) -> dict[str, dict[str, Route]]:
    """{base name (namespaced): {suffix: route}} of the staged-import routes."""
    groups: dict[str, dict[str, Route]] = {}
    for route in routes:
        _, base = import_view(route.callback)
        namespace = route.name.rsplit(":", 1)[0] + ":" if ":" in route.name else ""
        suffix = route.name[len(namespace) + len(base):]
        groups.setdefault(namespace + base, {})[suffix] = route
    return groups


def check_import_isolation(base: str, routes: dict[str, Route], world, client_for) -> list[str]:
    """An importer's pages × every persona. School A's staged upload must be invisible to school B (404), and
    committing or cancelling it as school B changes nothing."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from houqin.core.importing.limits import Limits
    from houqin.core.importing.template import build_template

    rec = Recorder(world, client_for, f"import {base}")
    importer, _ = import_view(next(iter(routes.values())).callback)
    missing = sorted(set(IMPORT_SUFFIXES) - set(routes))
    if missing:
        rec.fail(f"missing import routes: {missing}")
        return rec.failures
    upload, template = reverse(base), reverse(f"{base}_template")
    model = importer.model
    for url in (upload, template):
        rec.expect("anonymous", "GET", url, LOGIN)
        rec.expect("outsider", "GET", url, 403)
        for persona in ("teacher_a", "head_a", "admin_a", "admin_b", "bureau_admin"):
            user = world.persona(persona)
            allowed = user_can(user, "add", model, org_id=user.default_org_id)
            if allowed and persona in ("teacher_a", "head_a"):
                continue
            rec.expect(persona, "GET", url, 200 if allowed else 403)
    # School A stages an upload (the blank template is a valid file), as the first persona of A who may import.
    uploader = next((p for p in ("admin_a", "head_a")
                     if user_can(world.persona(p), "add", model, org_id=world.a.org.pk)), None)
    if uploader is None:
        rec.fail("no persona of school A may import it, so the matrix proves nothing")
        return rec.failures
    content = build_template(importer, Limits.from_settings())
    upload_file = SimpleUploadedFile("导入.xlsx", content, content_type="application/octet-stream")
    response = rec.request(uploader, "POST", upload, data={"file": upload_file})
    token = UUID_RE.search(response.get("Location", "") or "")
    if response.status_code != 302 or token is None:
        rec.fail(f"staging the blank template as {uploader} answered {response.status_code}; cannot check the token "
                 "pages")
        return rec.failures
    token = token.group(0)
    count = model._base_manager.count()
    # Answers that tell school B nothing: not found, a method the page does not take, (GET of the commit URL) a
    # redirect to the preview, which is itself not found — or, when admin_b may not import these rows at all, 403.
    refused_b = () if user_can(world.admin_b, "add", model, org_id=world.b.org.pk) else (403,)
    for suffix in ("_preview", "_commit", "_done", "_cancel"):
        url = reverse(f"{base}{suffix}", kwargs={"token": token})
        for method in ("GET", "POST"):
            rec.expect("anonymous", method, url, LOGIN)
            quiet = (302, 404, 405) if (suffix, method) == ("_commit", "GET") else (404, 405)
            rec.expect("admin_b", method, url, (*quiet, *refused_b))
            rec.expect("outsider", method, url, (403, 405))
    if model._base_manager.count() != count:
        rec.fail("school B's requests changed school A's rows")
    rec.expect(uploader, "GET", reverse(f"{base}_preview", kwargs={"token": token}), 200)
    other_token = reverse(f"{base}_preview", kwargs={"token": "00000000-0000-4000-8000-000000000000"})
    rec.expect(uploader, "GET", other_token, 404)
    return rec.failures


# --- API routes -----------------------------------------------------------------------------------------------------
API_DENIED = (401, 403)
UNSAFE = ("put", "patch", "delete", "post")


def lookup_kwarg(route: Route) -> str | None:
    cls = api_viewset(route.callback)
    name = getattr(cls, "lookup_url_kwarg", None) or getattr(cls, "lookup_field", "pk")
    return name if re.search(rf"\(\?P<{name}>|<(\w+:)?{name}>", route.pattern) else None


def _json(response):
    try:
        return json.loads(body_text(response))
    except ValueError:
        return body_text(response)


def check_api_isolation(model, routes: list[Route], world, client_for) -> list[str]:
    """Every API route serving ``model`` × every persona; returns the failures."""
    rec = Recorder(world, client_for, f"API {model._meta.label}")
    label = label_for(model)
    accept = {"HTTP_ACCEPT": "application/json"}
    collection = [r for r in routes if lookup_kwarg(r) is None and "get" in r.callback.actions]
    members = [r for r in routes if lookup_kwarg(r) is not None]
    collection_urls = {r.name: reverse(r.name) for r in collection}

    # What school B sees before school A's object exists: afterwards it must be exactly the same (no counts).
    before = {}
    for name, url in collection_urls.items():
        response = rec.request("admin_b", "GET", url, **accept)
        before[name] = (response.status_code, _json(response))

    obj = _factory_object(rec, model)
    if obj is None:
        return rec.failures
    views_a = [p for p in SAME_SCHOOL if user_can(world.persona(p), "view", obj)]
    if not views_a:
        rec.fail("no persona of school A may view it, so the matrix proves nothing")

    for route in collection:
        url = collection_urls[route.name]
        rec.expect("anonymous", "GET", url, API_DENIED, **accept)
        response = rec.expect("admin_b", "GET", url, (200, 403), absent=label, **accept)
        if response is not None and (response.status_code, _json(response)) != before[route.name]:
            rec.fail(f"GET {url} as admin_b: LEAK — the response changed when school A's row was added")
        rec.expect("outsider", "GET", url, (200, 403), absent=label, **accept)
        if route.name.endswith("-list"):
            rec.expect("bureau_admin", "GET", url, 200, contains=label, **accept)
            for persona in views_a[:1]:
                rec.expect(persona, "GET", url, 200, contains=label, **accept)

    for route in members:
        url = reverse(route.name, kwargs={lookup_kwarg(route): obj.pk})
        methods = [m.upper() for m in route.callback.actions]
        unsafe_data = {"name": "已篡改", "note": "已篡改"}
        for method in methods:
            json_body = method.lower() in UNSAFE
            data = unsafe_data if json_body else None
            kwargs = {"data": data, "json_body": json_body, "unchanged": obj, **accept}
            rec.expect("anonymous", method, url, API_DENIED, **kwargs)
            rec.expect("admin_b", method, url, 404, **kwargs)
            # Someone with no role anywhere may be refused outright (403) or told "not found" (404), as long as
            # the answer is the same whether the row exists or not.
            response = rec.expect("outsider", method, url, (403, 404), **kwargs)
            missing = reverse(route.name, kwargs={lookup_kwarg(route): obj.pk + 100000})
            other = rec.request("outsider", method, missing, data=data, json_body=json_body, **accept)
            if response is not None and response.status_code != other.status_code:
                rec.fail(f"{method} {url} as outsider: LEAK — {response.status_code} for an existing row, "
                         f"{other.status_code} for a missing one")
            if not route.name.endswith("-detail"):
                continue  # extra actions: only the cross-school rules above are generic
            if method in ("GET", "HEAD"):
                rec.expect("bureau_admin", method, url, 200, contains=label if method == "GET" else None, **accept)
                for persona in views_a[:1]:
                    rec.expect(persona, method, url, 200, contains=label if method == "GET" else None, **accept)
            else:
                rec.expect("bureau_admin", method, url, 403, **kwargs)
                action = {"PUT": "change", "PATCH": "change", "DELETE": "delete"}.get(method, "change")
                for persona in SAME_SCHOOL:
                    user = world.persona(persona)
                    if not user_can(user, action, obj):
                        rec.expect(persona, method, url, 403 if persona in views_a else 404, **kwargs)
    return rec.failures


def api_routes_by_model(routes: list[Route]) -> dict:
    grouped: dict = {}
    for route in routes:
        grouped.setdefault(api_model(route.callback), []).append(route)
    return grouped
