"""Attachments service: check uploaded files by content, re-encode images without metadata, make thumbnails,
store files in the ``attachments`` storage, and attach them to any row (docs/attachments.md).

    from houqin.core import attachments

    attachments.attach(work_order, request.FILES.getlist("photos"), user=request.user, caption="完工照片")

* Types are decided by the file's first bytes, never by its name or the browser's content type: JPEG, PNG, WebP
  (and AVIF/HEIC when this Pillow can read them) are images; ``%PDF-`` is a scan. Everything else (programs,
  web pages, SVG, archives, Office files) is refused with a message in Chinese that names the file.
* Images are decoded with a pixel limit checked before decoding (decompression bombs), turned upright from their
  EXIF orientation, converted to sRGB, shrunk to a long edge of ``HOUQIN_ATTACHMENT_LONG_EDGE`` and written again
  as JPEG (PNG when they have transparency) with no metadata at all: no EXIF, GPS, XMP or ICC profile. A JPEG
  thumbnail is made alongside. PDFs are stored as uploaded.
* ``attach`` is all-or-nothing: every file is checked before anything is stored; if one is bad, nothing is saved
  and the ``ValidationError`` lists each bad file and why.
* Stored names are random (``<org id>/<year>/<month>/<uuid>.<ext>``); the uploader's file name is kept, cleaned,
  for display only. Files are read back only by the permission-checked views in houqin.core.views.attachments.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import logging
import re
import unicodedata
import uuid
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property

from houqin.core import context
from houqin.core.auth import known_viewable
from houqin.core.models.attachments import Attachment, AttachmentKind, restrict_parents
from houqin.core.models.base import ChangeLoggedModel

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "attachments"
DEFAULTS = {
    "HOUQIN_ATTACHMENT_MAX_BYTES": 15 * 1024 * 1024,
    "HOUQIN_ATTACHMENT_MAX_PIXELS": 60_000_000,
    "HOUQIN_ATTACHMENT_MAX_FILES": 10,
    "HOUQIN_ATTACHMENT_LONG_EDGE": 2560,
    "HOUQIN_ATTACHMENT_THUMB_EDGE": 320,
    "HOUQIN_ATTACHMENT_JPEG_QUALITY": 85,
}
SUPPORTED_TEXT = "JPEG、PNG、WebP 图片或 PDF 扫描件"
# The <input accept> of upload forms; the server decides by content whatever the browser sends.
ACCEPT = "image/jpeg,image/png,image/webp,image/heic,image/heif,image/avif,application/pdf,image/*"


def setting(name: str):
    return getattr(settings, name, DEFAULTS[name])


# --- Storage -----------------------------------------------------------------------------------------------------
@deconstructible(path="houqin.core.attachments.PrivateFileSystemStorage")
class PrivateFileSystemStorage(FileSystemStorage):
    """Local-disk storage for attachments: ``HOUQIN_ATTACHMENTS_DIR`` (default ``DATA_DIR/attachments``), outside
    every served path. Files and folders are readable by the app's user only, and there is no public URL: files
    are served by the permission-checked views alone."""

    def __init__(self, location=None, file_permissions_mode=0o600, directory_permissions_mode=0o700, **kwargs):
        kwargs.pop("base_url", None)
        super().__init__(location=location, base_url=None, file_permissions_mode=file_permissions_mode,
                         directory_permissions_mode=directory_permissions_mode, **kwargs)

    @cached_property
    def base_location(self):
        default = getattr(settings, "HOUQIN_ATTACHMENTS_DIR", None) or settings.DATA_DIR / "attachments"
        return self._value_or_setting(self._location, default)

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting in ("HOUQIN_ATTACHMENTS_DIR", "DATA_DIR"):
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)

    def url(self, name):
        raise NotImplementedError("Attachments have no public URL; they are served only after a permission check.")


_fallback_storage = None


def get_storage():
    """The ``attachments`` storage of ``STORAGES`` (local disk by default, S3-compatible when configured)."""
    global _fallback_storage
    if STORAGE_ALIAS in settings.STORAGES:
        return storages[STORAGE_ALIAS]
    if _fallback_storage is None:
        _fallback_storage = PrivateFileSystemStorage()
    return _fallback_storage


def delete_stored(names) -> None:
    storage = get_storage()
    for name in names:
        if not name:
            continue
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 — a missing or locked file must not break the deletion of its row
            logger.warning("Could not delete attachment file %s", name, exc_info=True)


def open_stored(name: str):
    return get_storage().open(name, "rb")


# --- Content checks -------------------------------------------------------------------------------------------------
JPEG, PNG, WEBP, HEIC, AVIF, PDF = "jpeg", "png", "webp", "heic", "avif", "pdf"
IMAGE_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", HEIC: "HEIF", AVIF: "AVIF"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """The supported type of a file from its first bytes (None: not supported)."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in AVIF_BRANDS:
            return AVIF
        if brand in HEIF_BRANDS:
            return HEIC
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def _refusal(head: bytes) -> str:
    """Why a file of an unsupported type is refused (the reason only; the caller names the file)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"MZ") or head.startswith(b"\x7fELF") or head[:4] in (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return "是可执行程序，不能上传"
    if head.startswith(b"#!"):
        return "是脚本文件，不能上传"
    if b"<svg" in text or (text.startswith(b"<?xml") and b"svg" in text):
        return "是 SVG 矢量图，其中可能含有脚本，不能上传；请导出为 PNG 或 JPEG 后再上传"
    if text.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<?xml", b"<")):
        return "是网页或 XML 文件，不能上传"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return f"是压缩包或 Office 文档，不能上传；请导出为 PDF 后再上传（仅支持 {SUPPORTED_TEXT}）"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "是 GIF 动图，不支持；请使用 JPEG 或 PNG"
    if head.startswith(b"BM") or head[:4] in (b"II*\x00", b"MM\x00*"):
        return "是 BMP/TIFF 图片，不支持；请转换为 JPEG 或 PNG 后再上传"
    return f"不是支持的文件类型（仅支持 {SUPPORTED_TEXT}）"


def _heif_supported() -> bool:
    """Whether HEIC photos can be decoded here (only with the optional pillow-heif package)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def _avif_supported() -> bool:
    from PIL import features

    return bool(features.check("avif"))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE = re.compile(r'[<>:"|?*]')


def clean_filename(name: str | None) -> str:
    """The uploader's file name for display: no folders, control characters or reserved characters, ≤ 200
    characters with the extension kept."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", _CONTROL.sub("", name)).strip().strip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else name[:200]
    return name


@dataclass
class Prepared:
    """A checked and processed file, ready to store."""

    original_name: str
    kind: str
    mime_type: str
    ext: str
    data: bytes
    sha256: str
    width: int | None = None
    height: int | None = None
    thumb: bytes | None = None

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")


class Rejected(Exception):
    """One file refused, with the reason in Chinese (without the file name)."""


def _read_limited(upload, limit: int) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise Rejected(f"超过大小上限（{filesizeformat(size)}，最大 {filesizeformat(limit)}）")
    if isinstance(upload, bytes | bytearray):
        data = bytes(upload)
    else:
        if hasattr(upload, "seek"):
            with contextlib.suppress(OSError, ValueError):
                upload.seek(0)
        data = upload.read(limit + 1)
    if len(data) > limit:
        raise Rejected(f"超过大小上限（最大 {filesizeformat(limit)}）")
    if not data:
        raise Rejected("是空文件")
    return data


def prepare(upload, *, name: str | None = None, kind: str | None = None) -> Prepared:
    """Check and process one uploaded file (an UploadedFile, a File or bytes). Raises ``Rejected``."""
    original = clean_filename(name if name is not None else getattr(upload, "name", ""))
    data = _read_limited(upload, setting("HOUQIN_ATTACHMENT_MAX_BYTES"))
    detected = sniff(data[:32])
    if detected is None:
        raise Rejected(_refusal(data[:512]))
    if detected == PDF:
        kind = kind if kind in (AttachmentKind.SCAN, AttachmentKind.DOCUMENT) else AttachmentKind.SCAN
        return Prepared(original, kind, "application/pdf", "pdf", data, hashlib.sha256(data).hexdigest())
    if detected == HEIC and not _heif_supported():
        raise Rejected("是 HEIC 格式照片，本系统暂不能读取；请在手机相机设置中选择“兼容性最佳”（JPEG），"
                       "或转换为 JPEG 后再上传")
    if detected == AVIF and not _avif_supported():
        raise Rejected("是 AVIF 格式图片，本系统暂不能读取；请转换为 JPEG 后再上传")
    kind = kind if kind in AttachmentKind.values else AttachmentKind.PHOTO
    return _prepare_image(original, data, detected, kind)


def _open_image(data: bytes, detected: str):
    from PIL import Image

    max_pixels = setting("HOUQIN_ATTACHMENT_MAX_PIXELS")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[detected]])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow's own limit (MAX_IMAGE_PIXELS) is above ours: the image is too large either way.
            raise Rejected(f"图片尺寸过大（最大 {max_pixels // 10000} 万像素）") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise Rejected("图片文件已损坏或无法识别") from exc
    width, height = img.size
    # Checked on the declared size, before a single pixel is decoded.
    if width <= 0 or height <= 0 or width * height > max_pixels:
        img.close()
        raise Rejected(f"图片尺寸过大（{width}×{height} 像素，最大 {max_pixels // 10000} 万像素）")
    return img


def _to_srgb(img):
    """The image in RGB or RGBA, with its ICC profile (e.g. Display P3 from a phone) applied so that the profile
    can be dropped, as a new image made from the pixels alone: no metadata of the original can follow it."""
    from PIL import Image

    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    icc = img.info.get("icc_profile")
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif img.mode == "F":
        img = img.convert("L")
    if img.mode not in ("RGB", "RGBA", "CMYK"):
        img = img.convert("RGBA" if has_alpha else "RGB")
    if icc:
        try:
            from PIL import ImageCms

            converted = ImageCms.profileToProfile(
                img, ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB"),
                outputMode="RGBA" if img.mode == "RGBA" else "RGB",
            )
            if converted is not None:
                img = converted
        except Exception:  # noqa: BLE001 — a broken or mismatched profile is dropped; the pixels stay as they are
            logger.info("Ignoring an unusable ICC profile", exc_info=True)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGB")
    return Image.frombytes(img.mode, img.size, img.tobytes())


def _flatten(img):
    from PIL import Image

    if img.mode == "RGB":
        return img
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A"))
    return background


def _encode(img, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", optimize=True)
    else:
        img.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
    return buf.getvalue()


def _prepare_image(original: str, data: bytes, detected: str, kind: str) -> Prepared:
    from PIL import Image, ImageOps

    long_edge = setting("HOUQIN_ATTACHMENT_LONG_EDGE")
    img = _open_image(data, detected)
    try:
        if detected == JPEG:
            # Decode at 1/2, 1/4 or 1/8 scale when the result is shrunk anyway (less memory and time).
            img.draft("RGB", (long_edge, long_edge))
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img.load()
        upright = ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("图片尺寸过大") from exc
    except (OSError, SyntaxError, ValueError, TypeError) as exc:
        raise Rejected("图片文件已损坏或无法识别") from exc
    finally:
        img.close()
    clean = _to_srgb(upright)
    clean.thumbnail((long_edge, long_edge), Image.Resampling.LANCZOS)
    quality = setting("HOUQIN_ATTACHMENT_JPEG_QUALITY")
    if clean.mode == "RGBA" and clean.getchannel("A").getextrema()[0] < 255:
        out, mime, ext = _encode(clean, "PNG", quality), "image/png", "png"
    else:
        clean = _flatten(clean)
        out, mime, ext = _encode(clean, "JPEG", quality), "image/jpeg", "jpg"
    thumb_edge = setting("HOUQIN_ATTACHMENT_THUMB_EDGE")
    small = _flatten(clean.copy())
    small.thumbnail((thumb_edge, thumb_edge), Image.Resampling.LANCZOS)
    thumb = _encode(small, "JPEG", 80)
    return Prepared(original, kind, mime, ext, out, hashlib.sha256(out).hexdigest(), clean.width, clean.height,
                    thumb)


# --- Parents and permissions -----------------------------------------------------------------------------------------
def parent_org_id(parent) -> int | None:
    """The one organisation a parent row belongs to (None: the row cannot carry attachments)."""
    if parent._meta.model_name == "organization":
        return parent.pk
    org_id = getattr(parent, "owning_org_id", None)
    if org_id is not None:
        return org_id
    field = getattr(parent, "org_field", None)
    if field == "pk":
        return parent.pk
    if field and "__" not in field:
        return getattr(parent, f"{field}_id", None)
    return None


def supports(parent) -> bool:
    """Whether a row can carry attachments: saved, an integer key, one owning organisation, a restricted queryset."""
    return (parent is not None and isinstance(parent.pk, int) and not isinstance(parent, Attachment)
            and parent_org_id(parent) is not None
            and hasattr(type(parent)._default_manager.all(), "restrict"))


def parent_allows(user, parent, action: str) -> bool:
    """Whether ``user`` may ``view`` the parent row, or ``change`` it (which adding/deleting attachments needs)."""
    if parent is None or parent.pk is None:
        return False
    if action == "view" and known_viewable(parent, user):
        return True
    parents = restrict_parents(type(parent), user, action)
    return parents is not None and parents.filter(pk=parent.pk).exists()


def resolve_parent(content_type_id, object_id):
    """The parent row named in a URL, or None (unknown type, a type that cannot carry attachments, no such row).
    No permission check: call ``parent_allows`` next."""
    try:
        ct = ContentType.objects.get_for_id(int(content_type_id))
    except (ContentType.DoesNotExist, ValueError, TypeError):
        return None
    model = ct.model_class()
    if model is None or model is Attachment or not hasattr(model._default_manager.all(), "restrict"):
        return None
    parent = model._base_manager.filter(pk=object_id).first()
    return parent if parent is not None and supports(parent) else None


def content_type_id_of(parent) -> int:
    return ContentType.objects.get_for_model(parent, for_concrete_model=True).pk


def panel_url(parent) -> str | None:
    """The URL of the row's photo and attachment panel, or None when the row cannot carry attachments. Record pages
    load the panel into their 照片与附件 tab when it is opened (the panel checks who may view and change)."""
    from houqin.core.reversing import reverse_kept

    if not supports(parent):
        return None
    return reverse_kept("attachments:panel", args=[content_type_id_of(parent), parent.pk])


def _log_on_parent(parent, before, after) -> None:
    """An entry in the parent's change log, so that its 变更记录 shows attachments added and removed."""
    if not isinstance(parent, ChangeLoggedModel):
        return
    from houqin.core.models import ChangeLogEntry

    ctx = context.current()
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    ChangeLogEntry.objects.create(
        user=user,
        user_name=(user.get_full_name() if user else "系统")[:80],
        org_id=parent_org_id(parent) or ctx.org_id,
        request_id=ctx.request_id,
        action="update",
        content_type=ContentType.objects.get_for_model(parent, for_concrete_model=True),
        object_id=str(parent.pk),
        object_repr=str(parent)[:200],
        before={"附件": before},
        after={"附件": after},
    )


def _describe(attachments) -> str:
    return "；".join(f"{a.get_kind_display()} {a.display_name}" + (f"（{a.caption}）" if a.caption else "")
                    for a in attachments)[:1000]


# --- Attaching and removing ------------------------------------------------------------------------------------------
def _stored_name(org_id: int, ext: str) -> str:
    now = timezone.now()
    return f"{org_id}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{ext}"


def check_files(files, *, kind: str | None = None) -> list[Prepared]:
    """Check and process every file; raise one ValidationError naming each bad file (nothing is stored)."""
    files = list(files)
    if not files:
        raise ValidationError("请选择要上传的文件。", code="empty")
    limit = setting("HOUQIN_ATTACHMENT_MAX_FILES")
    if len(files) > limit:
        raise ValidationError(f"一次最多上传 {limit} 个文件，本次选择了 {len(files)} 个。", code="too_many")
    prepared, errors = [], []
    for index, upload in enumerate(files, start=1):
        name = clean_filename(getattr(upload, "name", "")) or f"第 {index} 个文件"
        try:
            prepared.append(prepare(upload, kind=kind))
        except Rejected as exc:
            errors.append(ValidationError(f"“{name}”{exc}。", code="rejected"))
    if errors:
        if len(files) > 1:
            errors.append(ValidationError("所有文件均未保存，请去掉或更换有问题的文件后重新上传。",
                                          code="nothing_saved"))
        raise ValidationError(errors)
    return prepared


def attach(parent, files, *, user=None, caption: str = "", kind: str | None = None,
           check_permission: bool = True) -> list[Attachment]:
    """Attach ``files`` (UploadedFile, File or bytes) to ``parent``, all or nothing.

    ``check_permission``: the user must be able to change the parent (``PermissionDenied`` otherwise). A domain
    service that has already decided (e.g. the reporter of a repair adding photos while reporting) passes False.
    Raises ``ValidationError`` (Chinese messages naming each bad file) when any file is refused.
    """
    if parent is None or parent.pk is None:
        raise ValidationError("附件只能添加到已保存的记录上。")
    if not supports(parent):
        raise ValidationError("此类记录不支持附件。")
    org_id = parent_org_id(parent)
    if check_permission and not parent_allows(user, parent, "change"):
        raise PermissionDenied("您没有给此记录添加附件的权限。")
    caption = (caption or "").strip()[:200]
    prepared = check_files(files, kind=kind)
    storage = get_storage()
    stored: list[str] = []
    ct = ContentType.objects.get_for_model(parent, for_concrete_model=True)
    uploader = user if getattr(user, "is_authenticated", False) else None
    try:
        rows = []
        for item in prepared:
            name = storage.save(_stored_name(org_id, item.ext), ContentFile(item.data))
            stored.append(name)
            thumb_name = ""
            if item.thumb is not None:
                thumb_name = storage.save(name.rsplit(".", 1)[0] + "_thumb.jpg", ContentFile(item.thumb))
                stored.append(thumb_name)
            rows.append(Attachment(
                org_id=org_id, content_type=ct, object_id=parent.pk, kind=item.kind, caption=caption,
                original_name=item.original_name, stored_name=name, thumb_name=thumb_name, mime_type=item.mime_type,
                size=len(item.data), width=item.width, height=item.height, sha256=item.sha256, uploaded_by=uploader,
            ))
        with transaction.atomic():
            for row in rows:
                row.save()  # one by one: each writes its change-log entry
            _log_on_parent(parent, None, f"新增 {_describe(rows)}")
    except BaseException:
        delete_stored(stored)
        raise
    return rows


def remove(attachment: Attachment, *, user=None, check_permission: bool = True) -> None:
    """Delete one attachment (row now, files once the deletion is committed). Needs change on the parent."""
    parent = attachment.parent
    if check_permission and not parent_allows(user, parent, "change"):
        raise PermissionDenied("您没有删除此附件的权限。")
    with transaction.atomic():
        description = _describe([attachment])
        attachment.delete()
        if parent is not None:
            _log_on_parent(parent, description, None)


def _walk(storage, folder: str = ""):
    dirs, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for sub in dirs:
        yield from _walk(storage, f"{folder}/{sub}" if folder else sub)


def purge_orphans(*, older_than: datetime.timedelta = datetime.timedelta(days=1), dry_run: bool = False) -> list[str]:
    """Delete stored files that no attachment row names (left behind when a caller's transaction rolled back
    after ``attach`` had stored them), if older than ``older_than`` (so that uploads in progress are safe).
    Returns the names found. Suitable for a periodic job."""
    storage = get_storage()
    known = set(Attachment.objects.values_list("stored_name", flat=True))
    known |= set(Attachment.objects.exclude(thumb_name="").values_list("thumb_name", flat=True))
    cutoff = timezone.now() - older_than
    orphans = []
    try:
        names = list(_walk(storage))
    except FileNotFoundError:
        return []
    for name in names:
        if name in known:
            continue
        try:
            if storage.get_modified_time(name) > cutoff:
                continue
        except (FileNotFoundError, NotImplementedError):
            continue
        orphans.append(name)
    if not dry_run:
        delete_stored(orphans)
    return orphans


def attachments_of(parent):
    """The attachments of one parent row, oldest first (no permission check: check the parent first)."""
    return Attachment.objects.for_object(parent).select_related("uploaded_by")
