"""Backup and restore (houqin.core.backup, docs/backup.md) on SQLite and PostgreSQL.

The drill: back up while writer threads keep inserting and updating rows, restore the archive into a fresh
database, and check that the integrity check passes and that the row count and checksum of every table match the
manifest. Also: a damaged archive is refused before anything changes, retention keeps the newest archives, a
restore without --yes outside a terminal is refused, and the daily backup is a registered periodic job.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.utils import timezone

from houqin.core import backup, jobs, pagecache
from houqin.core.models import Room
from houqin.core.models.jobs import Job, JobStatus, PeriodicJobState
from houqin.core.testing.factories import make_building, make_bureau, make_campus, make_school

WRITERS = 3


# --- Helpers -----------------------------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Attachment and media folders of this test (so that restores never touch the session's folders)."""
    folders = {"attachments": tmp_path / "data" / "attachments", "media": tmp_path / "data" / "media"}
    (folders["attachments"] / "7" / "2026" / "03").mkdir(parents=True)
    (folders["attachments"] / "7" / "2026" / "03" / "报修照片.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(4096))
    (folders["attachments"] / "7" / "2026" / "03" / "验收单.pdf").write_bytes(b"%PDF-1.7\n" + b"x" * 1000)
    os.chmod(folders["attachments"] / "7" / "2026" / "03" / "验收单.pdf", 0o600)
    folders["media"].mkdir(parents=True)
    (folders["media"] / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"p" * 500)
    monkeypatch.setattr(backup, "file_roots", lambda: dict(folders))
    return folders


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _school_with_rooms(count: int = 200):
    bureau = make_bureau()
    school = make_school(bureau, "备份测试小学")
    campus = make_campus(school)
    building = make_building(campus)
    rooms = []
    for i in range(count):
        room = Room(org_id=school.pk, campus=campus, building=building, number=f"{i:03d}", name=f"教室{i}")
        room.refresh_search_index()
        rooms.append(room)
    Room.objects.bulk_create(rooms)
    return school, campus


def _writer(index: int, org_id: int, campus_id: int, stop: threading.Event, counts: list[int],
            errors: list[BaseException]) -> None:
    """Insert and update rooms through this thread's own connection until told to stop."""
    try:
        i = 0
        while not stop.is_set():
            with transaction.atomic():
                room = Room.objects.create(org_id=org_id, campus_id=campus_id, name=f"写入{index}-{i}")
                Room.objects.filter(pk=room.pk).update(capacity=i % 60, number=f"W{index}{i}")
            counts[index] += 1
            i += 1
            time.sleep(0.001)
    except BaseException as exc:  # noqa: BLE001 — reported by the test
        errors.append(exc)
    finally:
        connections.close_all()


@pytest.fixture
def fresh_database():
    """Settings of a new, empty database of the configured vendor (removed afterwards)."""
    current = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        directory = Path(current["NAME"]).parent / f"restore-{secrets.token_hex(4)}"
        directory.mkdir()
        yield {**current, "NAME": str(directory / "restored.sqlite3")}
        for item in directory.iterdir():
            item.unlink()
        directory.rmdir()
        return
    name = f"{current['NAME']}_restore_{secrets.token_hex(4)}"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**current, "NAME": name}
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _content_after_flip(compressed: bytes, offset: int, compress_type: int) -> bytes | None:
    """The member's content once the byte at ``offset`` of its compressed data is flipped (None: unreadable)."""
    damaged = bytearray(compressed)
    damaged[offset] ^= 0xFF
    if compress_type == zipfile.ZIP_STORED:
        return bytes(damaged)
    try:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        return inflater.decompress(bytes(damaged)) + inflater.flush()
    except zlib.error:
        return None


def _flip_byte_in_member(archive: Path, member: str) -> None:
    """Flip one byte in the middle of ``member``'s compressed data, at a place where it changes the content: a
    flip inside deflate data can, rarely, decode to the same bytes, which is no damage at all."""
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
        content = zf.read(member)
    data = bytearray(archive.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length
    compressed = bytes(data[start:start + info.compress_size])
    offset = next(offset for offset in range(info.compress_size // 2, info.compress_size)
                  if _content_after_flip(compressed, offset, info.compress_type) != content)
    data[start + offset] ^= 0xFF
    archive.write_bytes(bytes(data))


def _rewrite_manifest(archive: Path, destination: Path, change) -> None:
    """Copy an archive with a changed manifest whose checksum in the comment is updated to match."""
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(destination, "w") as new:
        for info in old.infolist():
            if info.filename != backup.MANIFEST_NAME:
                new.writestr(info, old.read(info))
        manifest = json.loads(old.read(backup.MANIFEST_NAME))
        change(manifest)
        data = json.dumps(manifest).encode()
        new.writestr(backup.MANIFEST_NAME, data)
        new.comment = backup.COMMENT_PREFIX + backup.hashlib.sha256(data).hexdigest().encode()


def _before_restore_leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.parent.glob("*before-restore*")]


# --- The drill ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_drill_backup_under_writers_then_restore_into_a_fresh_database(tmp_path, roots, fresh_database):
    school, campus = _school_with_rooms()
    stop, counts, errors = threading.Event(), [0] * WRITERS, []
    threads = [threading.Thread(target=_writer, args=(i, school.pk, campus.pk, stop, counts, errors))
               for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while min(counts) < 5 and not errors and time.monotonic() < deadline:
            time.sleep(0.01)
        assert min(counts) >= 5, f"writers did not get going: {counts} {errors}"
        written_before = sum(counts)
        started = time.monotonic()
        result = backup.create_backup(output_dir=tmp_path / "backups", keep=0)
        backup_seconds = time.monotonic() - started
        written_during = sum(counts) - written_before
        after_backup = sum(counts)
        while sum(counts) < after_backup + WRITERS and not errors and time.monotonic() < deadline + 30:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert written_during > 0, "no writes overlapped the backup"

    manifest = result.manifest
    tables = manifest["database"]["tables"]
    assert manifest["database"]["vendor"] == connection.vendor
    assert manifest["app"] == "houqin" and manifest["app_version"]
    assert manifest["database"]["migrations"]["core"].startswith("0")
    assert tables["core_room"]["rows"] >= 200 + written_before
    assert tables["core_room"]["rows"] < Room.objects.count()  # the writers went on after the snapshot
    assert manifest["files"]["attachments"] == {"included": True, "files": 2, "bytes": 4099 + 1009}
    assert manifest["files"]["media"]["files"] == 1
    assert result.path.name.startswith("houqin-backup-") and result.path.suffix == ".zip"
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert not list((tmp_path / "backups").glob(".houqin-backup-*"))  # no temporary files left behind

    restored_roots = {"attachments": tmp_path / "restored" / "attachments", "media": tmp_path / "restored" / "media"}
    started = time.monotonic()
    restored = backup.restore_backup(result.path, database=fresh_database, roots=restored_roots)
    restore_seconds = time.monotonic() - started
    assert restored.ok, restored.summary()
    assert restored.integrity == [] and restored.mismatches == []

    # An independent look at the restored database: integrity, and every table's rows and checksum.
    check = backup.check_database(fresh_database)
    assert check.integrity == []
    assert set(check.tables) == set(tables)
    assert backup.compare_tables(tables, check.tables) == []
    assert check.migrations == manifest["database"]["migrations"]
    for name in ("attachments", "media"):
        assert _tree(restored_roots[name]) == _tree(roots[name])
    pdf = restored_roots["attachments"] / "7" / "2026" / "03" / "验收单.pdf"
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600

    # The checksums do look at the data: one changed value shows up in exactly that table.
    _execute(fresh_database, "UPDATE core_room SET name = 'changed' WHERE id = (SELECT min(id) FROM core_room)")
    assert backup.compare_tables(tables, backup.check_database(fresh_database).tables) == [
        "数据表 core_room 内容校验和不一致"
    ]
    print(f"\n[{connection.vendor}] backup {backup_seconds:.2f}s ({written_during} writes during it), "
          f"restore {restore_seconds:.2f}s, {result.row_count} rows in {result.table_count} tables")


def _execute(database: dict, statement: str) -> None:
    if database["ENGINE"].endswith("sqlite3"):
        con = sqlite3.connect(database["NAME"])
        with con:
            con.execute(statement)
        con.close()
        return
    with backup._pg_connect(database) as conn:
        conn.execute(statement)


# --- Restoring the configured database with the command ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_commands_bring_back_the_data_and_files(tmp_path, roots):
    school, campus = _school_with_rooms(20)
    out = io.StringIO()
    call_command("backup", "--output", str(tmp_path / "backups"), stdout=out)
    assert "备份完成" in out.getvalue()
    archive = backup.list_backups(tmp_path / "backups")[0]
    names = set(Room.objects.values_list("name", flat=True))

    Room.objects.filter(name__in=["教室1", "教室2"]).delete()
    Room.objects.create(org_id=school.pk, campus=campus, name="备份之后新建")
    (roots["attachments"] / "7" / "2026" / "03" / "报修照片.jpg").write_bytes(b"overwritten")
    (roots["attachments"] / "later.jpg").write_bytes(b"added after the backup")
    caches[pagecache.CACHE_ALIAS].set("page:kept-before-the-restore", (b"<p>old</p>", []), 60)

    out = io.StringIO()
    call_command("restore", str(archive), "--yes", stdout=out)
    # Pages kept for the database as it was must not be served over the restored one.
    assert caches[pagecache.CACHE_ALIAS].get("page:kept-before-the-restore") is None
    assert "完整性检查：通过" in out.getvalue() and "完全一致" in out.getvalue()
    assert set(Room.objects.values_list("name", flat=True)) == names
    assert (roots["attachments"] / "7" / "2026" / "03" / "报修照片.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert not (roots["attachments"] / "later.jpg").exists()
    kept = _before_restore_leftovers(roots["attachments"])
    assert any((p / "later.jpg").exists() for p in kept)  # what was replaced is kept aside
    check = backup.check_database(connection.settings_dict)
    assert check.integrity == []
    assert backup.compare_tables(backup.read_manifest(archive)["database"]["tables"], check.tables) == []
    Room.objects.create(org_id=school.pk, campus=campus, name="恢复之后还能写入")
    if connection.vendor == "sqlite":
        for leftover in _before_restore_leftovers(Path(connection.settings_dict["NAME"])):
            leftover.unlink()


# --- Refusals ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("damage", ["database member", "manifest", "truncated"])
def test_a_damaged_archive_is_refused_and_nothing_changes(tmp_path, roots, damage):
    _school_with_rooms(10)
    archive = backup.create_backup(output_dir=tmp_path, keep=0).path
    manifest = backup.read_manifest(archive)
    if damage == "database member":
        _flip_byte_in_member(archive, manifest["database"]["member"])
    elif damage == "manifest":
        _flip_byte_in_member(archive, backup.MANIFEST_NAME)
    else:
        archive.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    rooms = Room.objects.count()
    files_before = {name: _tree(root) for name, root in roots.items()}

    with pytest.raises(CommandError) as refused:
        call_command("restore", str(archive), "--yes", stdout=io.StringIO())
    assert "已损坏" in str(refused.value) and "未做任何更改" in str(refused.value)
    assert Room.objects.count() == rooms
    assert {name: _tree(root) for name, root in roots.items()} == files_before
    database_file = Path(connection.settings_dict["NAME"]) if connection.vendor == "sqlite" else roots["media"]
    assert _before_restore_leftovers(database_file, *roots.values()) == []
    assert not list(roots["attachments"].parent.glob(".*restoring*"))


@pytest.mark.django_db(transaction=True)
def test_an_archive_from_the_other_vendor_is_refused(tmp_path, roots):
    _school_with_rooms(5)
    archive = backup.create_backup(output_dir=tmp_path, keep=0).path
    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    forged = tmp_path / "houqin-backup-20260101-000000.zip"
    _rewrite_manifest(archive, forged, lambda m: m["database"].update(vendor=other))
    rooms = Room.objects.count()
    with pytest.raises(backup.BackupError, match="不能直接恢复"):
        backup.restore_backup(forged)
    with pytest.raises(CommandError, match="不能直接恢复"):
        call_command("restore", str(forged), "--yes", stdout=io.StringIO())
    assert Room.objects.count() == rooms


@pytest.mark.django_db
def test_restore_without_yes_outside_a_terminal_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    with pytest.raises(CommandError, match="--yes"):
        call_command("restore", str(tmp_path / "houqin-backup-20260101-000000.zip"), stdout=io.StringIO())


def test_archive_members_must_stay_inside_their_folders():
    assert backup._safe_member("files/attachments/1/2026/03/a.jpg")
    assert backup._safe_member(backup.SQLITE_MEMBER)
    for name in ("../etc/passwd", "/etc/passwd", "files/attachments/../../x", "files/other/x", "files\\attachments\\x",
                 "database/other.sqlite3"):
        assert not backup._safe_member(name), name


# --- Retention and the daily job ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_retention_keeps_the_newest_archives(tmp_path, roots):
    directory = tmp_path / "backups"
    directory.mkdir()
    old = [directory / f"houqin-backup-2020010{day}-023000.zip" for day in range(1, 6)]
    for path in old:
        path.write_bytes(b"old")
    unrelated = directory / "notes.txt"
    unrelated.write_text("keep me")
    stale_partial = directory / ".houqin-backup-20200101-023000-abcd.zip.partial"
    stale_partial.write_bytes(b"half")
    os.utime(stale_partial, (time.time() - 2 * 86400,) * 2)

    result = backup.create_backup(output_dir=directory, keep=3)
    remaining = backup.list_backups(directory)
    assert remaining == [result.path, old[4], old[3]]
    assert sorted(result.pruned) == old[:3]
    assert unrelated.exists() and not stale_partial.exists()
    assert backup.create_backup(output_dir=directory, keep=0).pruned == []  # 0 keeps everything
    assert len(backup.list_backups(directory)) == 4


def test_the_daily_backup_is_a_registered_periodic_job():
    definition, schedule = jobs.PERIODIC["houqin.core.backup.scheduled_backup"]
    assert definition is backup.scheduled_backup
    assert schedule.describe() == "每天 02:30"
    # What the worker does at start-up (load every app's jobs) must register it too.
    code = ("import django; django.setup(); from django.utils.module_loading import autodiscover_modules; "
            "autodiscover_modules('tasks'); from houqin.core import jobs; "
            "print('houqin.core.backup.scheduled_backup' in jobs.PERIODIC)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "houqin.settings"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert output.stdout.strip() == "True", output.stderr


@pytest.mark.django_db(transaction=True)
def test_the_daily_backup_job_writes_an_archive_prunes_and_logs(tmp_path, roots, settings):
    settings.HOUQIN_BACKUP_DIR = tmp_path / "backups"
    settings.HOUQIN_BACKUP_KEEP = 2
    (tmp_path / "backups").mkdir()
    for day in (1, 2):
        (tmp_path / "backups" / f"houqin-backup-2020010{day}-023000.zip").write_bytes(b"old")
    _school_with_rooms(5)
    now = timezone.now()
    jobs.sync_periodic_states(now)
    state = PeriodicJobState.objects.get(name="houqin.core.backup.scheduled_backup")
    PeriodicJobState.objects.filter(pk=state.pk).update(next_run_at=now - timedelta(minutes=1))
    PeriodicJobState.objects.exclude(pk=state.pk).update(enabled=False)

    claimed = jobs.claim_due_periodic(now)
    assert [j.name for j in claimed] == ["houqin.core.backup.scheduled_backup"]
    assert jobs.run_pending(max_tasks=1) == 1
    job_row = Job.objects.get(pk=claimed[0].pk)
    assert job_row.status == JobStatus.SUCCEEDED, job_row.traceback
    remaining = backup.list_backups(tmp_path / "backups")
    assert [p.name for p in remaining] == [job_row.result["path"].rsplit("/", 1)[-1],
                                           "houqin-backup-20200102-023000.zip"]
    assert "已写入" in job_row.log and remaining[0].name in job_row.log
    assert "houqin-backup-20200101-023000.zip" in job_row.log  # the pruned archive is named
    assert job_row.result["pruned"] == ["houqin-backup-20200101-023000.zip"]
    backup.verify_archive(remaining[0])
