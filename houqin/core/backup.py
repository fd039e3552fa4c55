"""Backup and restore of the database and the stored files (docs/backup.md).

    houqin backup [--output DIR] [--keep N]       # one archive per run, old ones pruned
    houqin restore ARCHIVE [--yes]                 # verify, restore, check

One backup is one ZIP file, ``houqin-backup-YYYYMMDD-HHMMSS.zip``, in ``HOUQIN_BACKUP_DIR`` (default
``DATA_DIR/backups``). It holds:

* ``database/houqin.sqlite3`` — a consistent copy made with SQLite's online backup API while the application
  keeps writing (a WAL reader sees one snapshot), or ``database/houqin.pgdump`` — ``pg_dump --format=custom``;
* ``files/attachments/…`` and ``files/media/…`` — the attachment storage and ``MEDIA_ROOT`` when they are local
  folders;
* ``manifest.json`` — application version, database vendor, creation time, the latest applied migration per
  app, row count and checksum of every table, and the sha256 and size of every other member. The ZIP comment
  carries the manifest's own sha256.

Row counts and checksums describe exactly the snapshot in the archive: on SQLite they are computed from the copy,
on PostgreSQL in a REPEATABLE READ transaction whose snapshot ``pg_dump --snapshot`` shares. A table's checksum is
the sha256 of its column names and rows, ordered by primary key (all columns when there is no single-column key),
each row rendered canonically in Python. It is stable within one vendor, not across vendors.

Restore verifies every member against the manifest before it changes anything, refuses an archive made on another
database vendor, restores the database (SQLite: the checked copy replaces the database file with one rename;
PostgreSQL: ``pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction``) and the folders,
then checks integrity and compares row counts and checksums with the manifest. What it replaces is kept beside the
original as ``<name>.before-restore-<time>``.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import connections
from django.utils import timezone

from houqin import __version__
from houqin.core.jobs import JobContext, JobError, job, periodic

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
COMMENT_PREFIX = b"houqin-backup manifest-sha256="
ARCHIVE_PREFIX = "houqin-backup-"
ARCHIVE_SUFFIX = ".zip"
ARCHIVE_RE = re.compile(r"^houqin-backup-(\d{8}-\d{6})(?:-(\d+))?\.zip$")
PARTIAL_PREFIX = ".houqin-backup-"
SQLITE_MEMBER = "database/houqin.sqlite3"
POSTGRES_MEMBER = "database/houqin.pgdump"
FILE_ROOTS = ("attachments", "media")
DEFAULT_KEEP = 14
DEFAULT_TIME = "02:30"
CHUNK = 1024 * 1024
COMPRESS_LEVEL = 1  # fast deflate: several times quicker than the default level, a little larger
FETCH_BATCH = 2000
# Members that are already compressed are stored as they are; deflating them again only costs time.
STORED_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".avif", ".pdf", ".zip", ".gz",
                   ".xlsx", ".docx", ".pptx", ".mp4", ".mp3", ".7z", ".rar", ".pgdump"}

Log = Callable[[str], None]
logger = logging.getLogger(__name__)


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message (Chinese) is meant for the person running it."""


class CorruptArchive(BackupError):
    """The archive does not match its manifest (damaged, truncated or not a backup at all)."""


def _noop(message: str) -> None:
    pass


# --- Settings ------------------------------------------------------------------------------------------------------


def backup_dir() -> Path:
    configured = getattr(settings, "HOUQIN_BACKUP_DIR", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "backups"


def default_keep() -> int:
    return int(getattr(settings, "HOUQIN_BACKUP_KEEP", DEFAULT_KEEP))


def _tool(name: str) -> str:
    """Path of a PostgreSQL client program (``HOUQIN_PG_BIN`` or PATH)."""
    directory = getattr(settings, "HOUQIN_PG_BIN", "") or ""
    found = shutil.which(name, path=directory) if directory else shutil.which(name)
    if not found:
        raise BackupError(f"找不到 PostgreSQL 客户端程序 {name}。请安装与数据库服务器版本相同（或更新）的 PostgreSQL "
                          f"客户端，或用 HOUQIN_PG_BIN 指定其所在目录。")
    return found


def file_roots() -> dict[str, Path | None]:
    """The local folders whose files a backup holds: the ``attachments`` storage and ``MEDIA_ROOT``. A root is None
    when its files are not on local disk (object storage keeps its own copies: back that up separately)."""
    roots: dict[str, Path | None] = {}
    if "attachments" in settings.STORAGES:
        storage = storages["attachments"]
        roots["attachments"] = Path(storage.location) if isinstance(storage, FileSystemStorage) else None
    else:
        configured = getattr(settings, "HOUQIN_ATTACHMENTS_DIR", None)
        roots["attachments"] = Path(configured) if configured else Path(settings.DATA_DIR) / "attachments"
    default = settings.STORAGES.get("default", {})
    local_default = default.get("BACKEND", "") == "django.core.files.storage.FileSystemStorage"
    roots["media"] = Path(settings.MEDIA_ROOT) if local_default and settings.MEDIA_ROOT else None
    return roots


# --- Small helpers -------------------------------------------------------------------------------------------------


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _stamp(moment: datetime.datetime | None = None) -> str:
    return timezone.localtime(moment or timezone.now()).strftime("%Y%m%d-%H%M%S")


def vendor_of(database: dict) -> str:
    engine = database.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        return "sqlite"
    if engine.endswith("postgresql"):
        return "postgresql"
    raise BackupError(f"不支持备份这种数据库：{engine}")


VENDOR_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _fsync_dir(directory: Path) -> None:
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# --- Canonical row rendering and table checksums -------------------------------------------------------------------


def _render(value) -> str:
    """A value other than None, str and int as text that depends only on the data (deterministic within one
    vendor); the leading tag keeps types apart."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"i:{value}"
    if isinstance(value, float):
        return "f:" + repr(value)
    if isinstance(value, decimal.Decimal):
        return "d:" + str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "b:" + bytes(value).hex()
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC)
        return "t:" + value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return "t:" + value.isoformat()
    if isinstance(value, datetime.timedelta):
        return f"p:{value.days}:{value.seconds}:{value.microseconds}"
    if isinstance(value, uuid.UUID):
        return "u:" + str(value)
    if isinstance(value, dict | list | tuple):
        return "j:" + json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return "o:" + str(value)


class _TableHasher:
    """sha256 over a table's column names and rows. Each value is written with a type tag and its length
    (``s5:hello``, ``i42;``, ``n``), so no escaping is needed and no two different rows encode alike."""

    def __init__(self, columns: list[str]):
        self.digest = hashlib.sha256()
        self.digest.update(json.dumps(columns, ensure_ascii=False).encode() + b"\n")
        self.rows = 0

    def add(self, rows: Iterable[tuple]) -> None:
        out: list[str] = []
        append = out.append
        count = 0
        for row in rows:
            for value in row:
                kind = type(value)
                if kind is str:
                    append(f"s{len(value)}:")
                    append(value)
                elif value is None:
                    append("n")
                elif kind is int:
                    append(f"i{value};")
                else:
                    text = _render(value)
                    append(f"x{len(text)}:")
                    append(text)
            append("\n")
            count += 1
        self.digest.update("".join(out).encode("utf-8", "surrogatepass"))
        self.rows += count

    def result(self) -> dict:
        return {"rows": self.rows, "checksum": self.digest.hexdigest()}


def _sqlite_connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def sqlite_table_stats(con: sqlite3.Connection) -> dict[str, dict]:
    """Row count and checksum of every table of an SQLite database."""
    tables = [row[0] for row in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    )]
    stats = {}
    for table in tables:
        info = con.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
        columns = [row[1] for row in info]
        keys = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
        order = [keys[0]] if len(keys) == 1 else columns
        hasher = _TableHasher(columns)
        cursor = con.execute(f"SELECT {', '.join(map(_quote, columns))} FROM {_quote(table)} "
                             f"ORDER BY {', '.join(map(_quote, order))}")
        while batch := cursor.fetchmany(FETCH_BATCH):
            hasher.add(batch)
        stats[table] = hasher.result()
    return stats


def _pg_table_stats(conn) -> dict[str, dict]:
    """Row count and checksum of every table in the current schema, read through server-side cursors inside the
    caller's transaction (so all tables come from one snapshot)."""
    from psycopg import sql

    with conn.cursor() as cur:
        cur.execute("SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname")
        tables = cur.fetchall()
    stats = {}
    for oid, table in tables:
        with conn.cursor() as cur:
            cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped "
                        "ORDER BY attnum", [oid])
            columns = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT a.attname, t.typcategory FROM pg_index i "
                        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                        "JOIN pg_type t ON t.oid = a.atttypid WHERE i.indrelid = %s AND i.indisprimary", [oid])
            keys = cur.fetchall()
        if len(keys) == 1:
            name, category = keys[0]
            # Text keys sort byte-wise, so the order does not depend on the database's collation.
            order = [sql.SQL('{} COLLATE "C"').format(sql.Identifier(name)) if category == "S"
                     else sql.Identifier(name)]
        else:
            order = [sql.SQL('{}::text COLLATE "C"').format(sql.Identifier(c)) for c in columns]
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table), sql.SQL(", ").join(order)
        )
        hasher = _TableHasher(columns)
        with conn.cursor(name=f"houqin_checksum_{secrets.token_hex(4)}") as cur:
            cur.itersize = FETCH_BATCH
            cur.execute(query)
            while batch := cur.fetchmany(FETCH_BATCH):
                hasher.add(batch)
        stats[table] = hasher.result()
    return stats


def _latest_migrations(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    latest: dict[str, str] = {}
    for app, name in rows:
        if name > latest.get(app, ""):
            latest[app] = name
    return dict(sorted(latest.items()))


def _sqlite_migrations(con: sqlite3.Connection) -> dict[str, str]:
    try:
        return _latest_migrations(con.execute("SELECT app, name FROM django_migrations"))
    except sqlite3.OperationalError:  # no such table: an empty database
        return {}


def _pg_migrations(conn) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return {}
        cur.execute("SELECT app, name FROM django_migrations")
        return _latest_migrations(cur.fetchall())


# --- PostgreSQL connection settings --------------------------------------------------------------------------------

_DJANGO_ONLY_OPTIONS = {"assume_role", "isolation_level", "pool", "server_side_binding", "cursor_factory", "context",
                        "prepare_threshold"}
_LIBPQ_ENV = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
    "password": "PGPASSWORD", "passfile": "PGPASSFILE", "service": "PGSERVICE", "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslcrl": "PGSSLCRL",
    "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME", "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE", "requiressl": "PGREQUIRESSL", "sslcompression": "PGSSLCOMPRESSION",
}


def _pg_params(database: dict) -> dict:
    """libpq connection parameters for a Django database settings dict."""
    params = {k: v for k, v in (database.get("OPTIONS") or {}).items() if k not in _DJANGO_ONLY_OPTIONS}
    for key, setting_name in (("dbname", "NAME"), ("user", "USER"), ("password", "PASSWORD"), ("host", "HOST"),
                              ("port", "PORT")):
        if database.get(setting_name):
            params[key] = str(database[setting_name])
    return params


def _pg_connect(database: dict):
    import psycopg

    try:
        return psycopg.connect(**_pg_params(database))
    except psycopg.Error as exc:
        raise BackupError(f"无法连接 PostgreSQL 数据库 {database.get('NAME')}：{exc}") from exc


def _pg_env(database: dict) -> dict:
    """Environment for pg_dump/pg_restore: every connection setting, the password included, goes through libpq's
    environment variables so that nothing secret appears on a command line (visible to other users in ``ps``)."""
    env = dict(os.environ)
    for key, value in _pg_params(database).items():
        if key in _LIBPQ_ENV and value not in (None, ""):
            env[_LIBPQ_ENV[key]] = str(value)
    return env


def _run_tool(args: list[str], env: dict, what: str) -> None:
    with tempfile.TemporaryFile() as err:
        result = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # noqa: S603
                                stderr=err, check=False)  # a fixed program and arguments, no shell
        if result.returncode != 0:
            err.seek(0)
            detail = err.read().decode("utf-8", "replace").strip()[-2000:]
            raise BackupError(f"{what}失败（{Path(args[0]).name} 退出码 {result.returncode}）：{detail}")


# --- Writing an archive --------------------------------------------------------------------------------------------


def _zip_time(mtime: float) -> tuple:
    moment = time.localtime(max(mtime, 315532800 + 86400))  # ZIP cannot store times before 1980
    return moment[:6]


class _ArchiveWriter:
    """A ZIP file being written; records the sha256 and size of every member as it goes."""

    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path, "w", allowZip64=True)
        self.members: dict[str, dict] = {}

    def add_file(self, name: str, source: Path, *, mode: int | None = None) -> bool:
        try:
            handle = open(source, "rb")  # noqa: SIM115 — closed below; opened first so a vanished file is skipped
        except FileNotFoundError:
            return False
        with handle:
            info = os.fstat(handle.fileno())
            entry = zipfile.ZipInfo(name, date_time=_zip_time(info.st_mtime))
            entry.external_attr = (stat.S_IFREG | (mode if mode is not None else stat.S_IMODE(info.st_mode))) << 16
            suffix = PurePosixPath(name).suffix.lower()
            entry.compress_type = zipfile.ZIP_STORED if suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            entry._compresslevel = COMPRESS_LEVEL  # read by ZipFile.open(…, "w"); an alias of compress_level in 3.13
            digest, size = hashlib.sha256(), 0
            with self.zip.open(entry, "w", force_zip64=info.st_size > (1 << 30)) as out:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        self.members[name] = {"sha256": digest.hexdigest(), "size": size}
        return True

    def finish(self, manifest: dict) -> None:
        data = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
        entry = zipfile.ZipInfo(MANIFEST_NAME, date_time=time.localtime()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = (stat.S_IFREG | 0o600) << 16
        self.zip.writestr(entry, data)
        self.zip.comment = COMMENT_PREFIX + hashlib.sha256(data).hexdigest().encode()
        self.zip.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.zip.close()


def _walk_files(root: Path, exclude: Iterable[Path]) -> Iterable[tuple[Path, str]]:
    """Regular files under ``root`` (symbolic links are not followed), as (path, posix relative name)."""
    excluded = [p.resolve() for p in exclude]
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in excluded)
        for filename in sorted(filenames):
            path = here / filename
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                relative = path.relative_to(root).as_posix()
                relative.encode("utf-8")
            except (OSError, UnicodeEncodeError):
                continue
            yield path, relative


def _snapshot_sqlite(database: dict, destination: Path) -> dict:
    """Copy the live SQLite database with the online backup API, then describe the copy."""
    source_path = Path(database["NAME"])
    if not source_path.is_file():
        raise BackupError(f"数据库文件不存在：{source_path}")
    timeout = (database.get("OPTIONS") or {}).get("timeout", 10)
    source = sqlite3.connect(source_path, timeout=timeout)
    try:
        target = sqlite3.connect(destination)
        try:
            source.backup(target)  # one step: a single read transaction, hence one consistent snapshot
            target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise BackupError(f"读取数据库失败：{exc}") from exc
    finally:
        source.close()
    con = _sqlite_connect_ro(destination)
    try:
        check = [row[0] for row in con.execute("PRAGMA quick_check")]
        return {
            "vendor": "sqlite", "member": SQLITE_MEMBER, "server_version": sqlite3.sqlite_version,
            "integrity": "ok" if check == ["ok"] else "; ".join(check[:20]),
            "migrations": _sqlite_migrations(con), "tables": sqlite_table_stats(con),
        }
    finally:
        con.close()


def _snapshot_postgresql(database: dict, destination: Path) -> dict:
    """``pg_dump --format=custom`` of one snapshot; the table statistics are read in the same snapshot."""
    import psycopg

    pg_dump = _tool("pg_dump")
    conn = _pg_connect(database)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cur:
            cur.execute("SET LOCAL TIME ZONE 'UTC'")
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cur.fetchone()
        with tempfile.TemporaryFile() as err:
            dump = subprocess.Popen(  # noqa: S603 — a fixed program and arguments, no shell
                [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}", f"--file={destination}"],
                env=_pg_env(database), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            )
            try:
                tables = _pg_table_stats(conn)  # while pg_dump runs; the exported snapshot stays valid meanwhile
                migrations = _pg_migrations(conn)
            finally:
                returncode = dump.wait()
            if returncode != 0:
                err.seek(0)
                detail = err.read().decode("utf-8", "replace").strip()[-2000:]
                raise BackupError(f"pg_dump 失败（退出码 {returncode}）：{detail}")
        conn.rollback()
    except psycopg.Error as exc:
        raise BackupError(f"读取 PostgreSQL 数据库失败：{exc}") from exc
    finally:
        conn.close()
    return {"vendor": "postgresql", "member": POSTGRES_MEMBER, "server_version": server_version, "integrity": "ok",
            "migrations": migrations, "tables": tables}


@dataclass
class BackupResult:
    path: Path
    size: int
    manifest: dict
    seconds: float
    pruned: list[Path] = field(default_factory=list)

    @property
    def table_count(self) -> int:
        return len(self.manifest["database"]["tables"])

    @property
    def row_count(self) -> int:
        return sum(t["rows"] for t in self.manifest["database"]["tables"].values())

    @property
    def file_count(self) -> int:
        return sum(r.get("files", 0) for r in self.manifest["files"].values())

    def summary(self) -> str:
        db = self.manifest["database"]
        parts = [f"备份完成：{self.path}（{human_size(self.size)}）",
                 f"数据库 {VENDOR_NAMES[db['vendor']]}：{self.table_count} 张表，共 {self.row_count} 行"]
        for name, root in self.manifest["files"].items():
            label = "附件" if name == "attachments" else "媒体文件"
            if root.get("included"):
                parts.append(f"{label} {root['files']} 个文件（{human_size(root['bytes'])}）")
            elif root.get("note"):
                parts.append(f"{label}未包含：{root['note']}")
        parts.append(f"用时 {self.seconds:.1f} 秒")
        if self.pruned:
            parts.append(f"已删除 {len(self.pruned)} 个过期备份")
        return "；".join(parts) + "。"


def _unique_archive_path(directory: Path, stamp: str) -> Path:
    path = directory / f"{ARCHIVE_PREFIX}{stamp}{ARCHIVE_SUFFIX}"
    counter = 2
    while path.exists():
        path = directory / f"{ARCHIVE_PREFIX}{stamp}-{counter}{ARCHIVE_SUFFIX}"
        counter += 1
    return path


def create_backup(*, output_dir: Path | str | None = None, keep: int | None = None, using: str = "default",
                  roots: dict[str, Path | None] | None = None, log: Log | None = None) -> BackupResult:
    """Write one backup archive and prune old ones beyond ``keep`` (0: keep all). Safe while the application runs."""
    log = log or _noop
    started = time.monotonic()
    directory = Path(output_dir) if output_dir else backup_dir()
    keep = default_keep() if keep is None else keep
    if keep < 0:
        raise BackupError("保留份数不能为负数。")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = dict(connections[using].settings_dict)
    vendor = vendor_of(database)
    roots = file_roots() if roots is None else roots
    created = timezone.now()
    stamp = _stamp(created)
    partial = directory / f"{PARTIAL_PREFIX}{stamp}-{secrets.token_hex(4)}.zip.partial"
    writer = None
    try:
        with tempfile.TemporaryDirectory(dir=directory, prefix=PARTIAL_PREFIX) as scratch:
            dump_path = Path(scratch) / ("db.sqlite3" if vendor == "sqlite" else "db.pgdump")
            log(f"正在备份 {VENDOR_NAMES[vendor]} 数据库……")
            db_info = _snapshot_sqlite(database, dump_path) if vendor == "sqlite" \
                else _snapshot_postgresql(database, dump_path)
            if db_info["integrity"] != "ok":
                log(f"警告：数据库完整性检查未通过：{db_info['integrity']}")
            writer = _ArchiveWriter(partial)
            writer.add_file(db_info["member"], dump_path, mode=0o600)
            dump_path.unlink()
            files_info = {}
            for name in FILE_ROOTS:
                root = roots.get(name)
                if root is None:
                    files_info[name] = {"included": False, "note": "文件保存在对象存储中，请用存储服务自己的备份"}
                    continue
                root = Path(root)
                if not root.is_dir():
                    files_info[name] = {"included": False, "note": "目录不存在"}
                    continue
                log(f"正在备份{'附件' if name == 'attachments' else '媒体文件'}目录 {root} ……")
                count = size = 0
                for path, relative in _walk_files(root, exclude=[directory]):
                    member = f"files/{name}/{relative}"
                    if writer.add_file(member, path):
                        count += 1
                        size += writer.members[member]["size"]
                files_info[name] = {"included": True, "files": count, "bytes": size}
            manifest = {
                "format": FORMAT_VERSION,
                "app": "houqin",
                "app_version": __version__,
                "created_at": timezone.localtime(created).isoformat(timespec="seconds"),
                "database": db_info,
                "files": files_info,
                "members": writer.members,
            }
            writer.finish(manifest)
            writer = None
        os.chmod(partial, 0o600)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        final = _unique_archive_path(directory, stamp)
        os.replace(partial, final)
        _fsync_dir(directory)
    except BaseException as exc:
        if writer is not None:
            writer.abort()
        with contextlib.suppress(OSError):
            partial.unlink()
        if isinstance(exc, OSError):
            raise BackupError(f"写入备份文件失败：{exc}。请检查备份目录 {directory} 的磁盘空间和权限。") from exc
        raise
    result = BackupResult(path=final, size=final.stat().st_size, manifest=manifest, seconds=0.0)
    if keep:
        result.pruned = prune_backups(directory, keep)
    result.seconds = time.monotonic() - started
    return result


def list_backups(directory: Path | str | None = None) -> list[Path]:
    """Backup archives in ``directory``, newest first (by the time in their names)."""
    directory = Path(directory) if directory else backup_dir()
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = ARCHIVE_RE.match(path.name)
        if match and path.is_file():
            found.append((match[1], int(match[2] or 1), path))
    return [path for *_key, path in sorted(found, reverse=True)]


def prune_backups(directory: Path | str | None = None, keep: int | None = None) -> list[Path]:
    """Delete archives beyond the ``keep`` newest (and partial files of runs that died a day ago or earlier)."""
    directory = Path(directory) if directory else backup_dir()
    keep = default_keep() if keep is None else keep
    removed = []
    if keep > 0:
        for path in list_backups(directory)[keep:]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    if directory.is_dir():
        day_ago = time.time() - 86400
        for path in directory.glob(f"{PARTIAL_PREFIX}*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < day_ago:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
    return removed


# --- Reading and verifying an archive ------------------------------------------------------------------------------


def _corrupt(archive: Path, detail: str) -> CorruptArchive:
    return CorruptArchive(f"备份文件 {archive.name} 已损坏或不完整（{detail}），未做任何更改。请换用另一个备份文件。")


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return (not path.is_absolute() and ".." not in path.parts and "\\" not in name and ":" not in path.parts[0]
            and (name in (SQLITE_MEMBER, POSTGRES_MEMBER)
                 or (len(path.parts) >= 3 and path.parts[0] == "files" and path.parts[1] in FILE_ROOTS)))


def read_manifest(archive: Path | str) -> dict:
    """The manifest of an archive, checked against the sha256 in the ZIP comment (members are not read)."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"找不到备份文件：{archive}")
    try:
        with zipfile.ZipFile(archive) as zf:
            return _manifest_of(zf, archive)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError) as exc:
        raise _corrupt(archive, f"无法读取：{exc}") from exc


def _manifest_of(zf: zipfile.ZipFile, archive: Path) -> dict:
    if not zf.comment.startswith(COMMENT_PREFIX):
        raise _corrupt(archive, "不是本系统的备份文件")
    try:
        data = zf.read(MANIFEST_NAME)
    except KeyError as exc:
        raise _corrupt(archive, "缺少 manifest.json") from exc
    if hashlib.sha256(data).hexdigest().encode() != zf.comment[len(COMMENT_PREFIX):].strip():
        raise _corrupt(archive, "manifest.json 校验和不符")
    manifest = json.loads(data)
    if manifest.get("app") != "houqin" or manifest.get("format") != FORMAT_VERSION:
        raise _corrupt(archive, f"不支持的备份格式 {manifest.get('format')}")
    members = manifest.get("members", {})
    if not all(_safe_member(name) for name in members):
        raise _corrupt(archive, "包含不安全的文件路径")
    if manifest["database"]["member"] not in members:
        raise _corrupt(archive, "缺少数据库文件")
    return manifest


def verify_archive(archive: Path | str, log: Log | None = None) -> dict:
    """Check every member against the manifest (names, sizes, sha256, the ZIP's own CRCs) and return the
    manifest. Raises ``CorruptArchive``; reads only."""
    archive = Path(archive)
    log = log or _noop
    manifest = read_manifest(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            names = {info.filename for info in zf.infolist()} - {MANIFEST_NAME}
            expected = manifest["members"]
            if names != set(expected):
                missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
                raise _corrupt(archive, f"文件清单不符：缺少 {missing[:3]}，多出 {extra[:3]}")
            for name, meta in expected.items():
                digest, size = hashlib.sha256(), 0
                with zf.open(name) as member:
                    while chunk := member.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                if size != meta["size"] or digest.hexdigest() != meta["sha256"]:
                    raise _corrupt(archive, f"{name} 校验和不符")
    except CorruptArchive:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError) as exc:
        raise _corrupt(archive, str(exc)) from exc
    log(f"备份文件校验通过：{len(manifest['members'])} 个文件，校验和全部一致。")
    return manifest


# --- Checking a database -------------------------------------------------------------------------------------------


@dataclass
class DatabaseCheck:
    integrity: list[str]  # problems found by the integrity check (empty: passed)
    tables: dict[str, dict]
    migrations: dict[str, str]


def check_database(database: dict) -> DatabaseCheck:
    """Integrity check, per-table row counts and checksums, and migration state of a database."""
    vendor = vendor_of(database)
    if vendor == "sqlite":
        return _check_sqlite(Path(database["NAME"]))
    return _check_postgresql(database)


def _check_sqlite(path: Path) -> DatabaseCheck:
    con = _sqlite_connect_ro(path)
    try:
        result = [row[0] for row in con.execute("PRAGMA integrity_check")]
        problems = [] if result == ["ok"] else [f"integrity_check: {r}" for r in result[:20]]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        problems += [f"外键约束不满足：{row[0]} 第 {row[1]} 行引用 {row[2]}" for row in fk[:20]]
        return DatabaseCheck(problems, sqlite_table_stats(con), _sqlite_migrations(con))
    except sqlite3.DatabaseError as exc:
        return DatabaseCheck([f"数据库无法读取：{exc}"], {}, {})
    finally:
        con.close()


def _check_postgresql(database: dict) -> DatabaseCheck:
    import psycopg

    conn = _pg_connect(database)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        problems = []
        with conn.cursor() as cur:
            cur.execute("SET LOCAL TIME ZONE 'UTC'")
            cur.execute("SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c "
                        "JOIN pg_namespace n ON n.oid = c.connamespace "
                        "WHERE n.nspname = current_schema() AND NOT c.convalidated")
            problems += [f"约束未生效：{table}.{name}" for table, name in cur.fetchall()]
            cur.execute("SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = current_schema() AND NOT (i.indisvalid AND i.indisready)")
            problems += [f"索引无效：{name}" for (name,) in cur.fetchall()]
        check = DatabaseCheck(problems, _pg_table_stats(conn), _pg_migrations(conn))
        conn.rollback()
        return check
    except psycopg.Error as exc:
        return DatabaseCheck([f"数据库无法读取：{exc}"], {}, {})
    finally:
        conn.close()


def compare_tables(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    """Differences between the manifest's tables and a database's, in Chinese (empty: all match)."""
    problems = []
    for table, want in sorted(expected.items()):
        have = actual.get(table)
        if have is None:
            problems.append(f"缺少数据表 {table}")
        elif have["rows"] != want["rows"]:
            problems.append(f"数据表 {table} 行数不一致：备份中 {want['rows']} 行，恢复后 {have['rows']} 行")
        elif have["checksum"] != want["checksum"]:
            problems.append(f"数据表 {table} 内容校验和不一致")
    return problems


def migration_notes(archived: dict[str, str]) -> list[str]:
    """How the archive's migration state compares with this program's migrations."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    notes, behind = [], []
    for app, name in sorted(archived.items()):
        if (app, name) not in loader.disk_migrations and app in loader.migrated_apps:
            notes.append(f"备份中的数据库结构比当前程序新（{app}.{name}），请先把程序升级到备份时的版本或更新版本。")
    for app, name in loader.graph.leaf_nodes():
        if app in archived and name > archived[app] or app not in archived and archived:
            behind.append(app)
    if behind:
        notes.append(f"当前程序有备份之后新增的数据库结构变更（{'、'.join(sorted(set(behind)))}），"
                     "恢复后请运行 houqin migrate。")
    return notes


# --- Restoring -----------------------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    manifest: dict
    database: str
    integrity: list[str]
    mismatches: list[str]
    notes: list[str] = field(default_factory=list)
    kept_aside: list[Path] = field(default_factory=list)
    restored_files: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    tables: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.integrity and not self.mismatches

    def summary(self) -> str:
        lines = [f"已恢复备份（{self.manifest['created_at']}，程序版本 {self.manifest['app_version']}）"
                 f"到 {self.database}。"]
        lines.append("完整性检查：通过。" if not self.integrity else "完整性检查：未通过！" + "；".join(self.integrity))
        if not self.mismatches:
            lines.append(f"{self.tables} 张表共 {self.rows} 行，行数和校验和与备份清单完全一致。")
        else:
            lines.append("与备份清单不一致！" + "；".join(self.mismatches[:20]))
        for name, count in self.restored_files.items():
            lines.append(f"{'附件' if name == 'attachments' else '媒体文件'}：已恢复 {count} 个文件。")
        if self.kept_aside:
            lines.append("原有数据已另存为：" + "、".join(str(p) for p in self.kept_aside) + "（确认无误后可删除）。")
        lines += self.notes
        lines.append(f"用时 {self.seconds:.1f} 秒。")
        return "\n".join(lines)


def _extract_member(zf: zipfile.ZipFile, name: str, meta: dict, destination: Path) -> None:
    digest = hashlib.sha256()
    with zf.open(name) as member, open(destination, "wb") as out:
        while chunk := member.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != meta["sha256"]:
        raise CorruptArchive(f"备份文件在恢复过程中读到的 {name} 与清单不符（文件可能正在被修改），未做任何更改。")


def _stage_root(zf: zipfile.ZipFile, manifest: dict, name: str, target: Path) -> tuple[Path, int]:
    """Extract ``files/<name>/…`` into a new folder beside ``target``; returns it and the number of files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.restoring-"))
    prefix = f"files/{name}/"
    count = 0
    for member, meta in manifest["members"].items():
        if not member.startswith(prefix):
            continue
        relative = PurePosixPath(member[len(prefix):])
        destination = staged.joinpath(*relative.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        _extract_member(zf, member, meta, destination)
        mode = (zf.getinfo(member).external_attr >> 16) & 0o777
        if mode:
            os.chmod(destination, mode | stat.S_IRUSR | stat.S_IWUSR)
        count += 1
    return staged, count


def _like(path: Path, model: Path) -> None:
    """Give a restored file or folder the permissions (and, when running as root, the owner) of what it replaces,
    so that the server's account can still use it."""
    try:
        info = model.stat()
    except OSError:
        return
    paths = [path] + (list(path.rglob("*")) if path.is_dir() else [])
    for item in paths:
        with contextlib.suppress(OSError):
            if item == path:
                os.chmod(item, stat.S_IMODE(info.st_mode))
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                os.chown(item, info.st_uid, info.st_gid, follow_symlinks=False)


def _swap_dir(staged: Path, target: Path, stamp: str) -> Path | None:
    aside = None
    if target.exists():
        _like(staged, target)
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        else:
            aside = target.with_name(f"{target.name}.before-restore-{stamp}")
            try:
                os.replace(target, aside)
            except OSError:  # a mount point cannot be renamed: copy into it instead
                shutil.copytree(staged, target, dirs_exist_ok=True)
                shutil.rmtree(staged, ignore_errors=True)
                return None
    os.replace(staged, target)
    _fsync_dir(target.parent)
    return aside


def _close_connections_to(database: dict) -> None:
    for conn in connections.all(initialized_only=True):
        same = conn.settings_dict.get("ENGINE") == database.get("ENGINE") and \
            conn.settings_dict.get("NAME") == database.get("NAME") and \
            conn.settings_dict.get("HOST") == database.get("HOST")
        if same:
            conn.close()


def _swap_sqlite(new_file: Path, target: Path, stamp: str) -> Path | None:
    """Put the checked copy in place of the database file with one rename. The old database is first made
    self-contained (its WAL folded back in) and kept as ``<name>.before-restore-<time>``."""
    aside = None
    if target.exists():
        try:
            con = sqlite3.connect(target, timeout=5)
            try:
                busy = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                con.close()
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
        except sqlite3.DatabaseError:
            busy = 0  # not a readable database: keep it aside as it is
        if busy:
            raise BackupError("数据库正在被其他程序使用。请先停止 houqin serve 和 houqin worker，再恢复。")
        _like(new_file, target)
        aside = target.with_name(f"{target.name}.before-restore-{stamp}")
        try:
            os.link(target, aside)
        except OSError:
            shutil.copy2(target, aside)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{target}{suffix}")
    os.replace(new_file, target)
    _fsync_dir(target.parent)
    return aside


def _forget_kept_pages() -> None:
    """Pages kept for the database before the restore (houqin.core.pagecache) must not be served over it."""
    from houqin.core import pagecache

    try:
        pagecache.clear()
    except OSError:
        logger.warning("Could not clear the kept pages after the restore", exc_info=True)


def restore_backup(archive: Path | str, *, database: dict | None = None, roots: dict[str, Path | None] | None = None,
                   manifest: dict | None = None, log: Log | None = None) -> RestoreResult:
    """Restore ``archive`` into ``database`` (a Django settings dict; default: the configured database) and the
    file folders ``roots`` (default: the configured ones). ``manifest``: the result of ``verify_archive`` when the
    caller has already verified the archive. The server must be stopped (docs/backup.md)."""
    log = log or _noop
    started = time.monotonic()
    archive = Path(archive)
    manifest = manifest or verify_archive(archive, log=log)
    database = dict(database or connections["default"].settings_dict)
    vendor = vendor_of(database)
    archived_vendor = manifest["database"]["vendor"]
    if archived_vendor != vendor:
        raise BackupError(
            f"这个备份来自 {VENDOR_NAMES.get(archived_vendor, archived_vendor)} 数据库，而当前配置的是 "
            f"{VENDOR_NAMES[vendor]} 数据库，不能直接恢复。请在相同类型的数据库上恢复（迁移数据库类型的方法见 "
            f"docs/backup.md）。未做任何更改。")
    roots = file_roots() if roots is None else roots
    stamp = _stamp()
    expected = manifest["database"]["tables"]
    result = RestoreResult(manifest=manifest, database="", integrity=[], mismatches=[])
    staged: dict[str, Path] = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            for name, info in manifest["files"].items():
                target = roots.get(name)
                if not info.get("included"):
                    continue
                if target is None:
                    result.notes.append(f"{'附件' if name == 'attachments' else '媒体文件'}现保存在对象存储中，"
                                        f"备份中的文件未恢复。")
                    continue
                log(f"正在解压{'附件' if name == 'attachments' else '媒体文件'}……")
                staged[name], result.restored_files[name] = _stage_root(zf, manifest, name, Path(target))
            member = manifest["database"]["member"]
            meta = manifest["members"][member]
            if vendor == "sqlite":
                target = Path(database["NAME"])
                result.database = str(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.restoring-")
                os.close(fd)
                temp = Path(temp_name)
                try:
                    _extract_member(zf, member, meta, temp)
                    log("正在检查恢复的数据库……")
                    check = _check_sqlite(temp)
                    result.integrity = check.integrity
                    result.mismatches = compare_tables(expected, check.tables)
                    if not result.ok:
                        raise BackupError("备份中的数据库未通过检查，未做任何更改：\n"
                                          + "\n".join(result.integrity + result.mismatches))
                    _close_connections_to(database)
                    aside = _swap_sqlite(temp, target, stamp)
                    if aside:
                        result.kept_aside.append(aside)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        temp.unlink()
            else:
                result.database = f"PostgreSQL 数据库 {database.get('NAME')}"
                pg_restore = _tool("pg_restore")
                with tempfile.TemporaryDirectory(prefix="houqin-restore-") as scratch:
                    dump = Path(scratch) / "houqin.pgdump"
                    _extract_member(zf, member, meta, dump)
                    _close_connections_to(database)
                    log("正在用 pg_restore 恢复数据库……")
                    _run_tool([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
                               "--single-transaction", "--exit-on-error", "--no-password",
                               f"--dbname={database.get('NAME')}", str(dump)], _pg_env(database), "恢复数据库")
                log("正在检查恢复的数据库……")
                check = _check_postgresql(database)
                result.integrity = check.integrity
                result.mismatches = compare_tables(expected, check.tables)
            extra = sorted(set(check.tables) - set(expected))
            if extra:
                result.notes.append(f"数据库中有备份里没有的数据表：{'、'.join(extra[:10])}。")
        for name, folder in list(staged.items()):
            aside = _swap_dir(folder, Path(roots[name]), stamp)
            del staged[name]
            if aside:
                result.kept_aside.append(aside)
    except OSError as exc:
        raise BackupError(f"恢复时读写文件失败：{exc}。请检查磁盘空间和权限。") from exc
    finally:
        for folder in staged.values():
            shutil.rmtree(folder, ignore_errors=True)
    _forget_kept_pages()
    try:
        result.notes += migration_notes(manifest["database"].get("migrations", {}))
    except Exception:  # advice only: a failure to load the migrations must not hide the restore's result
        logger.warning("Could not compare the archive's migrations with this program's", exc_info=True)
    result.tables = len(expected)
    result.rows = sum(t["rows"] for t in expected.values())
    result.seconds = time.monotonic() - started
    return result


# --- The scheduled backup ------------------------------------------------------------------------------------------


def _schedule() -> str:
    return f"daily at {getattr(settings, 'HOUQIN_BACKUP_TIME', DEFAULT_TIME) or DEFAULT_TIME}"


@periodic(_schedule())
@job("每日自动备份")
def scheduled_backup(ctx: JobContext) -> dict:
    """Back up the database and files into ``HOUQIN_BACKUP_DIR`` and delete archives beyond
    ``HOUQIN_BACKUP_KEEP``."""
    try:
        result = create_backup(log=ctx.log)
    except BackupError as exc:
        raise JobError(str(exc)) from exc
    ctx.log(f"已写入 {result.path}（{human_size(result.size)}）：{result.table_count} 张表共 {result.row_count} 行，"
            f"{result.file_count} 个文件，用时 {result.seconds:.1f} 秒")
    keep = default_keep()
    if result.pruned:
        ctx.log(f"按保留 {keep} 份的规定，已删除：{'、'.join(p.name for p in result.pruned)}")
    else:
        ctx.log(f"没有需要删除的旧备份（保留最近 {keep} 份）")
    return {"message": f"已备份到 {result.path.name}（{human_size(result.size)}）", "path": str(result.path),
            "size": result.size, "pruned": [p.name for p in result.pruned]}
