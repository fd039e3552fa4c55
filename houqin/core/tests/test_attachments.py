"""Attachments (houqin.core.attachments and its pages): content checks, image re-encoding without metadata,
thumbnails, private storage (local disk and S3-compatible), permission-checked file responses, all-or-nothing
uploads, deletion, the change log and the panel on detail pages."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import include, path, reverse
from PIL import Image

import houqin.urls
from houqin.core import attachments as service
from houqin.core.context import acting_as
from houqin.core.models import ChangeLogEntry, Role, Room
from houqin.core.models.attachments import Attachment, AttachmentKind
from houqin.core.testing import factories as f

# The project's URLs with the attachment pages mounted where houqin/urls.py mounts them.
urlpatterns = [p for p in houqin.urls.urlpatterns if str(getattr(p, "pattern", "")) != "attachments/"]
urlpatterns.append(path("attachments/", include("houqin.core.views.attachments")))
pytestmark = pytest.mark.urls(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[3]
HTMX = {"HTTP_HX_REQUEST": "true"}


# --- Sample files ----------------------------------------------------------------------------------------------------
def jpeg_with_gps(size=(400, 200), orientation: int = 6) -> bytes:
    """A JPEG whose EXIF says: rotate 90° clockwise to view, taken by a camera at a GPS position, with XMP."""
    img = Image.new("RGB", size, (200, 30, 30))
    # A marker in the top-left corner, to see where it ends up after the rotation.
    img.paste((20, 20, 220), (0, 0, 40, 40))
    exif = img.getexif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 7.0)}
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=92,
             xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><GPSLatitude>31,14N</GPSLatitude></rdf:RDF>'
                 b"</x:xmpmeta>")
    return buf.getvalue()


def png_bytes(size=(60, 40), mode="RGB", color=(10, 160, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG")
    return buf.getvalue()


def pdf_bytes(padding: int = 0) -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] "
            b"/Count 0 >> endobj\n" + b"%" + b"0" * padding + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    # The browser's content type is deliberately whatever the name suggests: the server must not trust it.
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_files() -> set[str]:
    root = Path(service.get_storage().location)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def read_stored(name: str) -> bytes:
    with service.open_stored(name) as fh:
        return fh.read()


# --- Fixtures --------------------------------------------------------------------------------------------------------
@pytest.fixture
def room_a(world):
    return world.a.rooms[0]


@pytest.fixture
def room_b(world):
    return world.b.rooms[0]


@pytest.fixture
def nobody_a(world):
    """A member of school A whose role grants nothing at all (cannot even view rooms)."""
    Role.objects.create(code="test_nothing", name="无权限角色")
    return f.make_user("nobody_a", full_name="甲校无权限", org=world.a.org, roles=("test_nothing",))


def attach(parent, *files, user=None, caption="", kind=None):
    with acting_as(user):
        return service.attach(parent, list(files), user=user, caption=caption, kind=kind,
                              check_permission=user is not None)


def urls_of(parent) -> dict:
    ct = ContentType.objects.get_for_model(parent).pk
    return {"upload": reverse("attachments:upload", args=[ct, parent.pk]),
            "panel": reverse("attachments:panel", args=[ct, parent.pk])}


# --- Content checks and image processing -----------------------------------------------------------------------------
def test_jpeg_is_reencoded_upright_without_exif_gps_or_xmp(world, room_a):
    source = jpeg_with_gps((400, 200), orientation=6)
    with Image.open(io.BytesIO(source)) as original:
        assert original.getexif().get_ifd(0x8825), "the sample must carry GPS data"
    (att,) = attach(room_a, upload("IMG_0001.JPG", source), user=world.admin_a)
    data = read_stored(att.stored_name)
    assert b"TestCam" not in data and b"GPSLatitude" not in data and b"Exif" not in data
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.format == "JPEG"
        assert len(stored.getexif()) == 0
        assert not stored.getexif().get_ifd(0x8825)
        assert "xmp" not in stored.info and "icc_profile" not in stored.info and "exif" not in stored.info
        # Orientation 6 applied: the 400×200 landscape is now a 200×400 portrait, and the top-left marker is at the
        # top-right.
        assert stored.size == (200, 400)
        assert (att.width, att.height) == (200, 400)
        r, g, b = stored.convert("RGB").getpixel((190, 10))
        assert b > 150 and r < 100
    assert att.mime_type == "image/jpeg" and att.kind == AttachmentKind.PHOTO
    assert att.size == len(data) and len(att.sha256) == 64
    assert att.original_name == "IMG_0001.JPG"
    assert att.stored_name.endswith(".jpg") and "IMG_0001" not in att.stored_name


def test_large_image_is_shrunk_and_thumbnail_made(world, room_a, settings):
    settings.HOUQIN_ATTACHMENT_LONG_EDGE = 800
    buf = io.BytesIO()
    Image.new("RGB", (3000, 1500), (90, 90, 90)).save(buf, "JPEG")
    (att,) = attach(room_a, upload("big.jpg", buf.getvalue()), user=world.admin_a)
    assert (att.width, att.height) == (800, 400)
    assert att.thumb_name and att.thumb_name != att.stored_name
    with Image.open(io.BytesIO(read_stored(att.thumb_name))) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 320 and len(thumb.getexif()) == 0


def test_png_renamed_jpg_is_accepted_by_content(world, room_a):
    (att,) = attach(room_a, upload("screen.jpg", png_bytes()), user=world.admin_a)
    assert att.mime_type == "image/jpeg" and att.kind == AttachmentKind.PHOTO  # opaque PNG → JPEG
    with Image.open(io.BytesIO(read_stored(att.stored_name))) as stored:
        assert stored.format == "JPEG" and stored.size == (60, 40)


def test_transparent_png_stays_png(world, room_a):
    (att,) = attach(room_a, upload("sign.png", png_bytes(mode="RGBA", color=(0, 0, 0, 0))), user=world.admin_a)
    assert att.mime_type == "image/png" and att.stored_name.endswith(".png")
    with Image.open(io.BytesIO(read_stored(att.stored_name))) as stored:
        assert stored.format == "PNG" and stored.mode == "RGBA"
    with Image.open(io.BytesIO(read_stored(att.thumb_name))) as thumb:
        assert thumb.format == "JPEG"


def test_webp_is_accepted():
    buf = io.BytesIO()
    Image.new("RGB", (50, 50), (1, 2, 3)).save(buf, "WEBP")
    prepared = service.prepare(buf.getvalue(), name="p.webp")
    assert prepared.mime_type == "image/jpeg" and prepared.thumb


@pytest.mark.parametrize(("data", "reason"), [
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 100, "可执行程序"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "可执行程序"),
    (b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", "网页"),
    (b"  <html><img src=x onerror=alert(1)>", "网页"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "SVG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "SVG"),
    (b"PK\x03\x04" + b"\x00" * 100, "压缩包"),
    (b"GIF89a" + b"\x00" * 100, "GIF"),
    (b"just some text", "不是支持的文件类型"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "已损坏"),  # a JPEG signature with nothing behind it
])
def test_dangerous_or_unknown_content_named_jpg_is_refused(world, room_a, data, reason):
    before = stored_files()
    with pytest.raises(ValidationError) as exc:
        attach(room_a, upload("photo.jpg", data), user=world.admin_a)
    message = " ".join(exc.value.messages)
    assert "“photo.jpg”" in message and reason in message
    assert not Attachment.objects.exists()
    assert stored_files() == before


def test_heic_is_refused_with_a_hint_when_it_cannot_be_read(world, room_a):
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pillow-heif is installed: HEIC photos are read")
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    with pytest.raises(ValidationError) as exc:
        attach(room_a, upload("IMG_1234.HEIC", data), user=world.admin_a)
    assert "HEIC" in exc.value.messages[0] and "JPEG" in exc.value.messages[0]


def test_heic_is_read_when_pillow_heif_is_installed(world, room_a):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    img = Image.new("RGB", (64, 48), (10, 120, 200))
    exif = img.getexif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (31.0, 14.0, 5.0)}
    buf = io.BytesIO()
    img.save(buf, "HEIF", exif=exif.tobytes())
    (att,) = attach(room_a, upload("IMG_1234.HEIC", buf.getvalue(), "image/heic"), user=world.admin_a)
    with Image.open(io.BytesIO(read_stored(att.stored_name))) as stored:
        assert stored.format == "JPEG" and stored.size == (48, 64) and len(stored.getexif()) == 0


def test_pdf_is_accepted_as_scan_and_stored_as_is(world, room_a):
    data = pdf_bytes()
    (att,) = attach(room_a, upload("发票.jpg", data, "image/jpeg"), user=world.admin_a, caption="购置发票")
    assert att.mime_type == "application/pdf" and att.kind == AttachmentKind.SCAN
    assert read_stored(att.stored_name) == data
    assert att.thumb_name == "" and att.width is None
    assert att.caption == "购置发票" and att.original_name == "发票.jpg"


def test_oversize_file_is_refused(world, room_a, settings):
    settings.HOUQIN_ATTACHMENT_MAX_BYTES = 10_000
    with pytest.raises(ValidationError) as exc:
        attach(room_a, upload("scan.pdf", pdf_bytes(padding=20_000), "application/pdf"), user=world.admin_a)
    assert "“scan.pdf”超过大小上限" in exc.value.messages[0]
    # Without a declared size (a plain file object), the read itself stops at the limit.
    with pytest.raises(service.Rejected):
        service.prepare(io.BytesIO(pdf_bytes(padding=20_000)), name="scan.pdf")


def test_empty_file_is_refused():
    with pytest.raises(service.Rejected, match="空文件"):
        service.prepare(b"", name="a.jpg")


@pytest.mark.parametrize("dims", [(10_000, 10_000), (100_000, 100_000), (1, 2_000_000_000)])
def test_decompression_bomb_is_refused_quickly(world, room_a, dims):
    start = time.monotonic()
    with pytest.raises(ValidationError) as exc:
        attach(room_a, upload("bomb.png", png_declaring(*dims)), user=world.admin_a)
    assert time.monotonic() - start < 1.0
    assert "尺寸过大" in exc.value.messages[0]
    assert not Attachment.objects.exists()


def test_file_names_are_cleaned_and_never_used_for_storage(world, room_a):
    (att,) = attach(room_a, upload('..\\..\\etc/<b>pass"wd\x00.jpg', png_bytes()), user=world.admin_a)
    assert att.original_name == "_b_pass_wd.jpg"
    assert "pass" not in att.stored_name and ".." not in att.stored_name
    assert att.stored_name.startswith(f"{room_a.org_id}/")


def test_too_many_files_at_once(world, room_a, settings):
    settings.HOUQIN_ATTACHMENT_MAX_FILES = 2
    with pytest.raises(ValidationError, match="一次最多上传 2 个文件"):
        attach(room_a, *[upload(f"{i}.png", png_bytes()) for i in range(3)], user=world.admin_a)


def test_a_bad_file_among_several_saves_nothing(world, room_a):
    before = stored_files()
    files = [upload("ok1.jpg", jpeg_with_gps()), upload("virus.jpg", b"MZ" + b"\x00" * 200),
             upload("ok2.pdf", pdf_bytes(), "application/pdf"), upload("page.jpg", b"<html></html>")]
    with pytest.raises(ValidationError) as exc:
        attach(room_a, *files, user=world.admin_a)
    messages = exc.value.messages
    assert any("“virus.jpg”是可执行程序" in m for m in messages)
    assert any("“page.jpg”是网页" in m for m in messages)
    assert not any("ok1" in m or "ok2" in m for m in messages)
    assert any("所有文件均未保存" in m for m in messages)
    assert not Attachment.objects.exists() and stored_files() == before


def test_storage_failure_half_way_leaves_no_file_behind(world, room_a, monkeypatch):
    before = stored_files()
    storage = service.get_storage()
    real_save, calls = storage.save, []

    def failing_save(name, content, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_save(name, content, **kwargs)

    monkeypatch.setattr(storage, "save", failing_save)
    with pytest.raises(OSError):
        attach(room_a, upload("a.jpg", jpeg_with_gps()), upload("b.jpg", jpeg_with_gps()), user=world.admin_a)
    assert not Attachment.objects.exists() and stored_files() == before


# --- Storage ---------------------------------------------------------------------------------------------------------
def _assert_private_location(att):
    storage = service.get_storage()
    full = Path(storage.path(att.stored_name)).resolve()
    assert full.is_file()
    assert full.is_relative_to(Path(django_settings.DATA_DIR).resolve() / "attachments")
    assert not full.is_relative_to(Path(django_settings.STATIC_ROOT).resolve())
    assert not full.is_relative_to(Path(django_settings.MEDIA_ROOT).resolve())
    assert oct(full.stat().st_mode & 0o777) == oct(0o600)
    with pytest.raises(NotImplementedError):
        storage.url(att.stored_name)


def test_files_are_stored_under_data_dir_outside_served_paths(world, room_a, client_for):
    (att,) = attach(room_a, upload("a.png", png_bytes()), user=world.admin_a)
    _assert_private_location(att)
    client = client_for(world.admin_a)
    for url in (f"{django_settings.STATIC_URL}{att.stored_name}", f"/media/{att.stored_name}",
                f"/attachments/{att.stored_name}"):
        assert client.get(url).status_code == 404


def test_configured_attachments_storage_alias_is_used(world, room_a, settings):
    settings.STORAGES = {**settings.STORAGES,
                         "attachments": {"BACKEND": "houqin.core.attachments.PrivateFileSystemStorage"}}
    from django.core.files.storage import storages

    assert service.get_storage() is storages["attachments"]
    (att,) = attach(room_a, upload("a.png", png_bytes()), user=world.admin_a)
    _assert_private_location(att)


def test_s3_compatible_storage(world, room_a, settings, client_for, monkeypatch):
    moto = pytest.importorskip("moto")
    pytest.importorskip("storages.backends.s3")
    import boto3

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="houqin-test")
        settings.STORAGES = {**settings.STORAGES, "attachments": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "houqin-test", "region_name": "us-east-1", "access_key": "test",
                        "secret_key": "test", "location": "attachments", "file_overwrite": False,
                        "default_acl": None, "querystring_auth": True},
        }}
        before = stored_files()
        (photo, scan) = attach(room_a, upload("a.jpg", jpeg_with_gps()), upload("b.pdf", pdf_bytes()),
                               user=world.admin_a)
        keys = {o["Key"] for o in boto3.client("s3", region_name="us-east-1").list_objects_v2(
            Bucket="houqin-test")["Contents"]}
        assert keys == {f"attachments/{n}" for n in (photo.stored_name, photo.thumb_name, scan.stored_name)}
        client = client_for(world.admin_a)
        response = client.get(reverse("attachments:download", args=[scan.pk]))
        assert response.status_code == 200 and b"".join(response.streaming_content) == pdf_bytes()
        response = client.get(reverse("attachments:thumb", args=[photo.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        with Image.open(io.BytesIO(b"".join(response.streaming_content))) as thumb:
            assert len(thumb.getexif()) == 0
        assert client_for(world.admin_b).get(reverse("attachments:download", args=[scan.pk])).status_code == 404
    assert stored_files() == before  # nothing went to the local disk


def settings_in(env: dict, *names: str) -> dict:
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=str))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True,
                            env={**env, "DJANGO_SETTINGS_MODULE": "houqin.settings"},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _clean_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOUQIN_", "DJANGO_")) and k != "DATABASE_URL"}
    env["HOUQIN_DATA_DIR"] = str(tmp_path / "data")
    env["HOUQIN_STATIC_ROOT"] = str(tmp_path / "static")
    return env


def test_settings_default_to_local_disk_and_switch_to_s3(tmp_path):
    env = _clean_env(tmp_path)
    local = settings_in(env, "STORAGES", "HOUQIN_ATTACHMENTS_DIR", "HOUQIN_ATTACHMENT_MAX_BYTES")["STORAGES"]
    assert local["attachments"]["BACKEND"] == "houqin.core.attachments.PrivateFileSystemStorage"
    secret = tmp_path / "s3_secret"
    secret.write_text("s3cr3t\n", encoding="utf-8")
    s3 = settings_in({**env, "HOUQIN_S3_BUCKET": "houqin", "HOUQIN_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
                      "HOUQIN_S3_ACCESS_KEY_ID": "houqin-app", "HOUQIN_S3_SECRET_ACCESS_KEY_FILE": str(secret),
                      "HOUQIN_S3_REGION": "cn-north-1"}, "STORAGES")["STORAGES"]["attachments"]
    assert s3["BACKEND"] == "storages.backends.s3.S3Storage"
    assert s3["OPTIONS"]["bucket_name"] == "houqin"
    assert s3["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert s3["OPTIONS"]["access_key"] == "houqin-app" and s3["OPTIONS"]["secret_key"] == "s3cr3t"
    assert s3["OPTIONS"]["region_name"] == "cn-north-1"


# --- Serving and permissions ------------------------------------------------------------------------------------------
@pytest.fixture
def photo_and_scan(world, room_a):
    return attach(room_a, upload("门锁.jpg", jpeg_with_gps()), upload("验收单.pdf", pdf_bytes(), "application/pdf"),
                  user=world.admin_a, caption="维修前")


def test_file_responses_have_safe_headers(world, photo_and_scan, client_for):
    photo, scan = photo_and_scan
    client = client_for(world.admin_a)
    response = client.get(reverse("attachments:download", args=[photo.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline;") and "filename*=utf-8''%E9%97%A8" in \
        response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert response["Cache-Control"].startswith("private")
    assert b"".join(response.streaming_content) == read_stored(photo.stored_name)

    response = client.get(reverse("attachments:download", args=[scan.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"

    response = client.get(reverse("attachments:thumb", args=[photo.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert client.get(reverse("attachments:thumb", args=[scan.pk])).status_code == 404

    etag = client.get(reverse("attachments:download", args=[photo.pk]))["ETag"]
    again = client.get(reverse("attachments:download", args=[photo.pk]), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["Cache-Control"].startswith("private")


@pytest.mark.parametrize(("persona", "view", "change"), [
    ("admin_a", 200, 200), ("head_a", 200, 200), ("teacher_a", 200, 403), ("nobody_a", 404, 404),
    ("admin_b", 404, 404), ("teacher_b", 404, 404), ("bureau_admin", 200, 403), ("outsider", 404, 404),
    ("superuser", 200, 200), ("anonymous", "login", "login"),
])
def test_permission_matrix(world, room_a, photo_and_scan, client_for, nobody_a, persona, view, change):
    """Every attachment route × persona: view follows the parent's view, upload/delete the parent's change."""
    photo, _ = photo_and_scan
    user = nobody_a if persona == "nobody_a" else world.persona(persona)
    client = client_for(user)
    urls = urls_of(room_a)

    def check(response, expected):
        if expected == "login":
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), persona
        else:
            assert response.status_code == expected, (persona, response.status_code)

    for url in (reverse("attachments:download", args=[photo.pk]), reverse("attachments:thumb", args=[photo.pk]),
                urls["panel"]):
        response = client.get(url)
        check(response, view)
        if view != 200:
            assert b"\xff\xd8" not in response.content and "门锁".encode() not in response.content
    count = Attachment.objects.count()
    response = client.post(urls["upload"], {"files": [upload("new.png", png_bytes())]}, **HTMX)
    check(response, change)
    assert Attachment.objects.count() == count + (1 if change == 200 else 0)
    check(client.get(reverse("attachments:delete", args=[photo.pk])), change)
    response = client.post(reverse("attachments:delete", args=[photo.pk]), **HTMX)
    check(response, change)
    assert Attachment.objects.filter(pk=photo.pk).exists() == (change != 200)


def test_unknown_ids_are_not_found(world, room_a, client_for):
    client = client_for(world.superuser)
    ct = ContentType.objects.get_for_model(Room).pk
    assert client.get(reverse("attachments:download", args=[999999])).status_code == 404
    assert client.get(reverse("attachments:panel", args=[ct, 999999])).status_code == 404
    assert client.get(reverse("attachments:panel", args=[999999, room_a.pk])).status_code == 404
    # Attachments cannot carry attachments, and models without a restricted queryset cannot carry any.
    att_ct = ContentType.objects.get_for_model(Attachment).pk
    (att,) = attach(room_a, upload("a.png", png_bytes()), user=world.superuser)
    assert client.get(reverse("attachments:panel", args=[att_ct, att.pk])).status_code == 404
    role_ct = ContentType.objects.get_for_model(Role).pk
    assert client.get(reverse("attachments:panel", args=[role_ct, Role.objects.first().pk])).status_code == 404


def test_rows_without_one_owning_organisation_carry_no_attachments(world, client_for):
    account = world.teacher_a  # a user belongs to organisations through memberships, not to one
    with pytest.raises(ValidationError, match="此类记录不支持附件"):
        attach(account, upload("a.png", png_bytes()), user=world.superuser)
    assert render_tag(world.superuser, account).strip() == ""
    ct = ContentType.objects.get_for_model(account).pk
    assert client_for(world.superuser).get(reverse("attachments:panel", args=[ct, account.pk])).status_code == 404


def test_restricted_queryset_follows_the_parent(world, room_a, room_b, nobody_a):
    (a,) = attach(room_a, upload("a.png", png_bytes()), user=world.admin_a)
    (b,) = attach(room_b, upload("b.png", png_bytes()), user=world.admin_b)
    (org_file,) = attach(world.a.org, upload("c.pdf", pdf_bytes()), user=world.admin_a)

    def ids(user, action="view"):
        return set(Attachment.objects.restrict(user, action).values_list("pk", flat=True))

    assert ids(world.admin_a) == {a.pk, org_file.pk}
    assert ids(world.admin_a, "delete") == {a.pk, org_file.pk}
    assert ids(world.teacher_a) == {a.pk, org_file.pk}
    assert ids(world.teacher_a, "change") == set()
    assert ids(world.admin_b) == {b.pk}
    assert ids(world.bureau_admin) == {a.pk, b.pk, org_file.pk}
    assert ids(world.bureau_admin, "delete") == set()
    assert ids(nobody_a) == {org_file.pk}  # everyone sees their own organisation
    assert ids(world.outsider) == set() and ids(None) == set()
    assert ids(world.superuser) == {a.pk, b.pk, org_file.pk}
    assert a.org_id == world.a.org.pk and org_file.org_id == world.a.org.pk


def test_service_refuses_without_change_permission(world, room_a, room_b):
    with pytest.raises(PermissionDenied):
        attach(room_a, upload("a.png", png_bytes()), user=world.teacher_a)
    with pytest.raises(PermissionDenied):
        attach(room_a, upload("a.png", png_bytes()), user=world.admin_b)
    # A domain service that has decided itself (e.g. the reporter of a repair) skips the check.
    with acting_as(world.teacher_a):
        (att,) = service.attach(room_a, [upload("a.png", png_bytes())], user=world.teacher_a, check_permission=False)
    assert att.uploaded_by == world.teacher_a
    with pytest.raises(PermissionDenied):
        service.remove(att, user=world.teacher_a)


# --- Upload and delete pages ------------------------------------------------------------------------------------------
def test_htmx_multi_upload_with_a_bad_file_saves_nothing_and_says_which(world, room_a, client_for):
    before = stored_files()
    client = client_for(world.admin_a)
    response = client.post(urls_of(room_a)["upload"], {
        "files": [upload("好的.jpg", jpeg_with_gps()), upload("坏的.jpg", b"<svg onload=alert(1)></svg>"),
                  upload("扫描.pdf", pdf_bytes(), "application/pdf")],
        "caption": "完工照片",
    }, **HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert "“坏的.jpg”是 SVG 矢量图" in text and "所有文件均未保存" in text
    assert 'data-testid="attachments-empty"' in text
    assert not Attachment.objects.exists() and stored_files() == before


def test_htmx_upload_refreshes_the_panel(world, room_a, client_for):
    client = client_for(world.head_a)
    response = client.post(urls_of(room_a)["upload"], {
        "files": [upload("a.jpg", jpeg_with_gps()), upload("b.pdf", pdf_bytes(), "application/pdf")],
        "caption": "完工照片", "kind": "",
    }, **HTMX)
    assert response.status_code == 200
    text = response.content.decode()
    assert "已上传 2 个文件" in text and text.count('data-testid="attachment"') == 2
    photo, scan = Attachment.objects.order_by("pk")
    assert reverse("attachments:thumb", args=[photo.pk]) in text
    assert photo.caption == scan.caption == "完工照片"
    assert photo.uploaded_by == world.head_a and photo.org_id == room_a.org_id
    assert scan.kind == AttachmentKind.SCAN


def test_plain_upload_redirects_back_with_messages(world, room_a, client_for):
    client = client_for(world.admin_a)
    response = client.post(urls_of(room_a)["upload"], {"files": [upload("a.png", png_bytes())],
                                                       "next": room_a.get_absolute_url()})
    assert response.status_code == 302 and response["Location"] == room_a.get_absolute_url()
    response = client.post(urls_of(room_a)["upload"], {"next": "https://evil.example/"}, follow=True)
    assert "请选择要上传的文件" in response.content.decode()
    assert response.redirect_chain[-1][0] == room_a.get_absolute_url()


def test_delete_needs_confirmation_and_removes_files_after_commit(world, room_a, client_for,
                                                                  django_capture_on_commit_callbacks):
    (att,) = attach(room_a, upload("a.jpg", jpeg_with_gps()), user=world.admin_a)
    client = client_for(world.admin_a)
    page = client.get(reverse("attachments:delete", args=[att.pk]))
    assert page.status_code == 200 and "确定删除附件" in page.content.decode()
    assert Attachment.objects.filter(pk=att.pk).exists()
    names = [att.stored_name, att.thumb_name]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("attachments:delete", args=[att.pk]), {"next": room_a.get_absolute_url()})
    assert response.status_code == 302 and response["Location"] == room_a.get_absolute_url()
    assert not Attachment.objects.filter(pk=att.pk).exists()
    assert not any(service.get_storage().exists(n) for n in names)


def test_deleting_the_parent_deletes_its_attachments(world, client_for, django_capture_on_commit_callbacks):
    room = f.make_room(floor=world.a.floor, name="临时教室", number="199")
    (att,) = attach(room, upload("a.jpg", jpeg_with_gps()), user=world.admin_a)
    with django_capture_on_commit_callbacks(execute=True), acting_as(world.admin_a):
        room.delete()
    assert not Attachment.objects.filter(pk=att.pk).exists()
    assert not service.get_storage().exists(att.stored_name)


def test_purge_orphans_removes_only_old_unreferenced_files(world, room_a):
    (att,) = attach(room_a, upload("a.jpg", jpeg_with_gps()), user=world.admin_a)
    storage = service.get_storage()
    old = storage.save(f"{room_a.org_id}/2020/01/orphan.jpg", io.BytesIO(b"left behind"))
    recent = storage.save(f"{room_a.org_id}/2020/01/uploading.jpg", io.BytesIO(b"in progress"))
    a_while_ago = time.time() - 3 * 86400
    for name in (old, att.stored_name, att.thumb_name):
        os.utime(storage.path(name), (a_while_ago, a_while_ago))
    assert service.purge_orphans(dry_run=True) == [old] and storage.exists(old)
    assert service.purge_orphans() == [old]
    assert not storage.exists(old)
    assert storage.exists(recent) and storage.exists(att.stored_name) and storage.exists(att.thumb_name)
    storage.delete(recent)


def test_change_log_records_attachment_create_and_delete(world, room_a, client_for):
    client = client_for(world.admin_a)
    client.post(urls_of(room_a)["upload"], {"files": [upload("门锁.jpg", jpeg_with_gps())], "caption": "维修前"},
                **HTMX)
    att = Attachment.objects.get()
    att_ct = ContentType.objects.get_for_model(Attachment)
    room_ct = ContentType.objects.get_for_model(Room)
    created = ChangeLogEntry.objects.get(content_type=att_ct, object_id=str(att.pk), action="create")
    assert created.user == world.admin_a and created.org_id == room_a.org_id
    assert created.after["original_name"] == "门锁.jpg" and created.after["caption"] == "维修前"
    on_parent = ChangeLogEntry.objects.filter(content_type=room_ct, object_id=str(room_a.pk)).first()
    assert on_parent.action == "update" and on_parent.user == world.admin_a
    assert on_parent.changes() == [("附件", None, "新增 照片 门锁.jpg（维修前）")]

    client.post(reverse("attachments:delete", args=[att.pk]), **HTMX)
    deleted = ChangeLogEntry.objects.get(content_type=att_ct, object_id=str(att.pk), action="delete")
    assert deleted.user == world.admin_a and deleted.before["stored_name"] == att.stored_name
    on_parent = ChangeLogEntry.objects.filter(content_type=room_ct, object_id=str(room_a.pk)).first()
    assert on_parent.changes() == [("附件", "照片 门锁.jpg（维修前）", None)]
    # Shown on the parent's 变更记录 tab.
    page = client.get(reverse("core:room_changelog", args=[room_a.pk])).content.decode()
    assert "新增 照片 门锁.jpg（维修前）" in page


# --- The panel on detail pages ----------------------------------------------------------------------------------------
def render_tag(user, obj) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load attachments %}{% attachments_for object %}").render(
        Context({"request": request, "object": obj, "csrf_token": "token"}))


def test_template_tag_shows_upload_only_with_change_permission(world, room_a, photo_and_scan):
    as_admin = render_tag(world.admin_a, room_a)
    assert 'data-testid="attachment-upload"' in as_admin and 'data-testid="attachment-delete"' in as_admin
    assert 'capture="environment"' in as_admin and 'accept="image/*,application/pdf"' in as_admin
    assert "维修前" in as_admin and as_admin.count('data-testid="attachment"') == 2
    as_teacher = render_tag(world.teacher_a, room_a)
    assert as_teacher.count('data-testid="attachment"') == 2
    assert "attachment-upload" not in as_teacher and "attachment-delete" not in as_teacher
    assert render_tag(world.admin_b, room_a).strip() == ""
    assert render_tag(world.outsider, room_a).strip() == ""


def test_template_tag_query_count(world, room_a, photo_and_scan, django_assert_max_num_queries):
    user = world.admin_a
    render_tag(user, room_a)  # warm the access map and content types
    with django_assert_max_num_queries(3):
        render_tag(user, room_a)
