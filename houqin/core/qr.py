"""QR codes and the stable scan URLs printed in them.

A printed label lives for years on a door or a desk, so what its QR code holds must never change while the
object exists: not when a room is renumbered, an asset recoded or the server moved behind another proxy. The
code therefore holds ``<public base>/q/<kind>/<token>/``, where

* ``kind`` is a short code registered per model (``r`` → ``core.room``, ``a`` → ``assets.asset``);
* ``token`` is the object's primary key in base 62 followed by a 10-character signature (HMAC-SHA256 of the
  model label and the key, truncated to ~59 bits). The key never changes and the signature makes tokens
  unguessable: walking ``/q/r/1``, ``/q/r/2`` … finds nothing.

Resolving a token (``resolve``) checks the signature in constant time and looks the row up through
``restrict(user, "view")``, so a valid token of another school's row is "not found" like any other.

The signing key is ``HOUQIN_QR_SECRET`` if set, else ``SECRET_KEY``; tokens signed with a key listed in
``SECRET_KEY_FALLBACKS`` still resolve, so the secret key can be rotated without reprinting every label.

    >>> svg = qr_svg("https://houqin.example.cn/q/r/1AbCdEfGhIj/")     # inline <svg>, no XML declaration
    >>> png = qr_png_bytes("https://…", scale=8)
    >>> url = scan_url_for(request, room)                               # absolute URL for the room's label
"""

from __future__ import annotations

import hmac
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import segno
from django.apps import apps
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.crypto import salted_hmac
from django.utils.safestring import SafeString, mark_safe

ERROR_LEVEL = "m"  # 15 % of the code may be dirty or torn and it still reads
SALT = "houqin.qr.scan"
SIGNATURE_LENGTH = 10
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
# The key in its one canonical form (no leading zeros, at most 11 digits = 64 bits), then the signature.
TOKEN_RE = re.compile(rf"^(?:0|[1-9A-Za-z][0-9A-Za-z]{{0,10}})[0-9A-Za-z]{{{SIGNATURE_LENGTH}}}$")
KIND_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")


# --- QR images ----------------------------------------------------------------------------------------------------
def make(data: str) -> segno.QRCode:
    """The QR code of ``data``: error correction M (raised to a higher level when it costs no extra size)."""
    return segno.make(data, error=ERROR_LEVEL, micro=False)


def qr_svg(data: str, *, scale: float = 1, border: int = 2, dark: str = "#000", size: bool = False) -> SafeString:
    """An inline ``<svg>`` of the QR code of ``data``, safe to put into a page as is.

    Without ``size`` the SVG has only a ``viewBox`` (one unit per module), so CSS sizes it (``width: 24mm``);
    with ``size`` it carries width and height of ``scale`` pixels per module. The SVG contains path data
    only — never ``data`` itself — so no text of the encoded URL needs escaping. ``border`` is the quiet zone
    in modules (the standard asks for 4; 2 reads reliably on labels with a white margin around them)."""
    if not re.fullmatch(r"#[0-9a-fA-F]{3,8}|[a-z]{3,20}", dark):
        raise ValueError("dark must be a colour like #000 or black")
    svg = make(data).svg_inline(scale=scale, border=border, dark=dark, omitsize=not size, svgclass="qr",
                                lineclass="qr-line")
    return mark_safe(svg.strip())  # noqa: S308 — segno's output: path data and the colour checked above


def qr_png_bytes(data: str, *, scale: int = 8, border: int = 4, dark: str = "#000") -> bytes:
    """The QR code of ``data`` as a PNG (for .docx/.xlsx documents and downloads)."""
    buffer = io.BytesIO()
    make(data).save(buffer, kind="png", scale=scale, border=border, dark=dark)
    return buffer.getvalue()


# --- Base 62 ----------------------------------------------------------------------------------------------------
def b62encode(number: int, width: int = 0) -> str:
    if number < 0:
        raise ValueError("only non-negative numbers")
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    text = "".join(reversed(digits)) or "0"
    return text.rjust(width, "0")


def b62decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + _INDEX[char]
    return number


# --- Kinds: which models have scan URLs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanKind:
    """A model whose objects get scan URLs.

    ``view(request, obj)``: the page behind the QR code for *every* visitor (signed in or not, whatever their
    rights): the scan view resolves the token without any restriction (the object comes with its ModelUI's
    ``select_related``) and hands the object over. The view applies its own rules (e.g. the assets app's phone
    page: full card for who may view it, a minimal page for the others, depending on a school setting) and may
    return ``None`` to fall back to the default behaviour below. Only objects whose token verified reach it.

    ``public_view(request, obj)``: the page shown to a visitor who may not view the object (anonymous, or
    signed in without access), which may consult the school's own setting and return ``None`` to fall back to
    the default (sign in, then "not found").

    Default (neither set, or both returned ``None``): a signed-in user who may view the object is sent to its
    page; anyone else signs in first, and then gets "not found"."""

    code: str
    model_label: str  # "core.room" (label_lower)
    public_view: Callable | None = None
    view: Callable | None = None

    @property
    def model(self):
        return apps.get_model(self.model_label)


KINDS: dict[str, ScanKind] = {}


def register_kind(code: str, model_label: str, *, public_view: Callable | None = None,
                  view: Callable | None = None) -> ScanKind:
    """Give a model scan URLs under ``/q/<code>/``. The code is printed on labels: never change or reuse it.

    ``view`` / ``public_view``: see ``ScanKind``. Registering the same code and model again replaces the views."""
    model_label = model_label.lower()
    if not KIND_RE.match(code):
        raise ValueError(f"scan kind {code!r}: 1–8 lowercase letters or digits, starting with a letter")
    existing = KINDS.get(code)
    if existing is not None and existing.model_label != model_label:
        raise ValueError(f"scan kind {code!r} is already used by {existing.model_label}")
    kind = ScanKind(code, model_label, public_view, view)
    KINDS[code] = kind
    return kind


def kind_for(model_or_obj) -> ScanKind | None:
    label = model_or_obj._meta.label_lower
    return next((k for k in KINDS.values() if k.model_label == label), None)


# --- Tokens -----------------------------------------------------------------------------------------------------
def _secrets() -> list[str]:
    primary = getattr(settings, "HOUQIN_QR_SECRET", "") or settings.SECRET_KEY
    return [primary, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]


def _signature(model_label: str, pk: int, secret: str) -> str:
    digest = salted_hmac(SALT, f"{model_label.lower()}:{pk}", secret=secret, algorithm="sha256").digest()
    return b62encode(int.from_bytes(digest[:8], "big") % 62**SIGNATURE_LENGTH, SIGNATURE_LENGTH)


def make_token(model_label: str, pk: int) -> str:
    """The token of row ``pk`` of ``model_label``: base-62 key + 10-character signature (e.g. ``G7x0Pq3kLmZa``)."""
    pk = int(pk)
    return b62encode(pk) + _signature(model_label, pk, _secrets()[0])


def token_for(obj) -> str:
    return make_token(obj._meta.label_lower, obj.pk)


def read_token(model_label: str, token: str) -> int | None:
    """The primary key a token stands for, or None if it is malformed or its signature is wrong."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None
    pk = b62decode(token[:-SIGNATURE_LENGTH])
    given = token[-SIGNATURE_LENGTH:]
    ok = False
    for secret in _secrets():  # every key is tried: the time taken does not tell which one matched
        ok |= hmac.compare_digest(given, _signature(model_label, pk, secret))
    return pk if ok else None


def resolve(code: str, token: str, queryset=None):
    """The object behind ``/q/<code>/<token>/``, from ``queryset`` (default: all rows), or None.

    Pass ``Model.objects.restrict(user, "view")`` as the queryset: a row the user may not see is None, like
    a forged token."""
    kind = KINDS.get(code)
    if kind is None:
        return None
    pk = read_token(kind.model_label, token)
    if pk is None:
        return None
    queryset = kind.model._default_manager.all() if queryset is None else queryset
    # One row by its key: the model's default ordering (often several columns) would only cost compiling time.
    return queryset.filter(pk=pk).order_by("pk").first()


# --- URLs ---------------------------------------------------------------------------------------------------------
def public_base(request_or_base) -> str:
    """Scheme and host the QR codes point to: ``HOUQIN_PUBLIC_URL`` if set (recommended: labels outlive a
    proxy change), else the given base URL string, else the request's own."""
    configured = getattr(settings, "HOUQIN_PUBLIC_URL", "")
    if configured:
        return configured.rstrip("/")
    if isinstance(request_or_base, str):
        return request_or_base.rstrip("/")
    return request_or_base.build_absolute_uri("/").rstrip("/")


def scan_path(kind: str, token: str) -> str:
    """``/q/<kind>/<token>/`` (through the URLconf's ``scan`` route, so a script prefix is kept)."""
    try:
        return reverse("scan", kwargs={"kind": kind, "token": token})
    except NoReverseMatch:  # the route is not mounted (a management command, a test URLconf)
        return f"/q/{kind}/{token}/"


def scan_url(request_or_base, kind: str, token: str) -> str:
    """The absolute scan URL ``<base>/q/<kind>/<token>/`` (``request_or_base``: a request or ``"https://…"``)."""
    return public_base(request_or_base) + scan_path(kind, token)


def scan_url_for(request_or_base, obj) -> str:
    """The scan URL of an object of a registered kind."""
    kind = kind_for(obj)
    if kind is None:
        raise LookupError(f"{obj._meta.label} has no scan kind: call houqin.core.qr.register_kind first")
    return scan_url(request_or_base, kind.code, token_for(obj))


# Core's own kinds. Codes are printed on labels: never change or reuse one.
register_kind("r", "core.room")
