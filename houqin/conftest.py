"""Project-wide pytest set-up. Shared fixtures live in ``houqin.core.testing``; this file only prepares the
environment every test runs in.

Each test session gets its own data directory (``HOUQIN_DATA_DIR``) in a temporary folder, so tests never
touch a developer's or a school's real data: the SQLite test database, uploaded files (``MEDIA_ROOT``) and
anything else the settings put under ``DATA_DIR`` go there, and the folder is deleted at the end. Each xdist
worker works in a sub-folder of its own (``gw0``, ``gw1``), so the workers never see each other's files.

pytest-django imports the settings before any conftest runs, so the settings that depend on the data
directory are moved here after the fact (``_move_data_dir``). xdist workers are started after this hook has
run in the controlling process and inherit ``HOUQIN_DATA_DIR``, so they import the settings with the
session's folder and move them to their own sub-folder; pytest-django then gives each worker its own test
database (``gw0/test_houqin.sqlite3_gw0``, …; on PostgreSQL ``test_houqin_gw0``, …).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
SESSION_ENV = "HOUQIN_TEST_SESSION_DIR"
_session_dir_key = pytest.StashKey[Path]()


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _rebase(value, old: Path, new: Path):
    if isinstance(value, str | Path):
        path = Path(value)
        if path.is_absolute() and path.is_relative_to(old):
            moved = new / path.relative_to(old)
            return moved if isinstance(value, Path) else str(moved)
    return value


def _move_data_dir(new: Path) -> None:
    """Point every setting that lives under the configured DATA_DIR at ``new`` instead."""
    from django.conf import settings

    old = Path(getattr(settings, "DATA_DIR", new)).resolve()
    if old == new:
        return
    for name in dir(settings):
        if name.isupper():
            value = getattr(settings, name)
            moved = _rebase(value, old, new)
            if moved is not value:
                setattr(settings, name, moved)
    for database in settings.DATABASES.values():
        if database.get("ENGINE") == "django.db.backends.sqlite3":
            database["NAME"] = _rebase(database.get("NAME", ""), old, new)
            test = database.setdefault("TEST", {})
            if test.get("NAME"):
                test["NAME"] = _rebase(test["NAME"], old, new)


def _pages_off_by_default(session_dir: Path) -> None:
    """Kept pages (houqin.core.pagecache) are off in tests unless a test turns them on (``settings`` fixture):
    most tests write and read inside one rolled-back transaction, where PostgreSQL never runs commit hooks.
    Each test process keeps its pages in its own folder."""
    from django.conf import settings

    settings.HOUQIN_PAGE_CACHE_SECONDS = 0
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    settings.CACHES["pages"]["LOCATION"] = str(session_dir / "cache" / f"pages-{worker}")


def _flush_by_delete_on_postgresql() -> None:
    """After each committed test (``transaction=True``, live-server browser tests) pytest-django empties every
    table with Django's ``flush``, which on PostgreSQL is one ``TRUNCATE`` of all tables: about half a second, as
    it makes new files for every table and index. The tests leave a few rows, so ``DELETE`` is a hundred times
    faster. Django's foreign keys on PostgreSQL are ``DEFERRABLE INITIALLY DEFERRED`` and ``flush`` runs its
    statements in one transaction, so the order of the tables does not matter. Tests only; ``houqin flush`` in a
    real installation still truncates."""
    try:
        from django.db.backends.postgresql.operations import DatabaseOperations
    except ImportError:  # no PostgreSQL driver installed: nothing to change
        return
    if getattr(DatabaseOperations.sql_flush, "deletes", False):
        return
    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or allow_cascade or not tables:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return ["SET CONSTRAINTS ALL DEFERRED", *(f"DELETE FROM {self.quote_name(table)};" for table in tables)]

    sql_flush.deletes = True
    DatabaseOperations.sql_flush = sql_flush


def pytest_configure(config: pytest.Config) -> None:
    if _is_xdist_worker(config) and os.environ.get(SESSION_ENV):
        # Each worker gets a folder of its own: a test that compares the files stored before and after must not
        # see the uploads of a test running in the other worker.
        session_dir = Path(os.environ[SESSION_ENV]) / os.environ.get("PYTEST_XDIST_WORKER", "worker")
        session_dir.mkdir(exist_ok=True)
    else:
        session_dir = Path(tempfile.mkdtemp(prefix="houqin-test-")).resolve()
        config.stash[_session_dir_key] = session_dir
        os.environ[SESSION_ENV] = str(session_dir)
    # Also seen by any process a test starts (e.g. ``houqin`` commands run as a subprocess).
    os.environ["HOUQIN_DATA_DIR"] = str(session_dir)
    _move_data_dir(session_dir)
    _pages_off_by_default(session_dir)
    _flush_by_delete_on_postgresql()

    if not _is_xdist_worker(config) and not (VENDOR_DIR / "versions.json").is_file():
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                "houqin/static/vendor/ is missing: pages will render without CSS/JS and browser tests will "
                "fail. Run `make setup` (or `npm ci --ignore-scripts && python3 scripts/vendor.py`)."
            ),
            stacklevel=2,
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    session_dir = config.stash.get(_session_dir_key, None)
    if session_dir is not None:
        shutil.rmtree(session_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    database = settings.DATABASES["default"]
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    vendor = "present" if (VENDOR_DIR / "versions.json").is_file() else "MISSING (run make setup)"
    return [f"houqin: database {engine}, data dir {os.environ.get('HOUQIN_DATA_DIR')}, vendor assets {vendor}"]


@pytest.fixture(autouse=True)
def _fresh_choice_lists():
    """Kept drop-down choices (houqin.core.selects) and kept pages (houqin.core.pagecache) do not outlive a test:
    rolled-back rows reuse primary keys and data versions."""
    from houqin.core import pagecache, selects

    selects.clear()
    pagecache.clear()
    yield
    selects.clear()
    pagecache.clear()
