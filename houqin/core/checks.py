"""System checks: refuse to start on an SQLite database that is not set up for concurrent use.

Several people save at once on a single-PC install (the canteen, the repair desk, the storeroom). SQLite copes
with that only in WAL mode, with ``synchronous=NORMAL``, transactions that take the write lock at BEGIN
(``IMMEDIATE``, so two writers never deadlock on a lock upgrade) and a busy timeout long enough to wait for
the other writer. Foreign keys must be enforced like on PostgreSQL. The default settings do all of this; the
check catches a hand-edited configuration before it loses data under load.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.db import connections

MIN_BUSY_TIMEOUT_MS = 5000
SYNCHRONOUS_NORMAL = 1
HINT = ("Use the default database settings (houqin/settings.py), which set WAL, synchronous=NORMAL, IMMEDIATE "
        "transactions, a busy timeout of at least 5 s and foreign keys.")


def _pragma(cursor, name: str):
    cursor.execute(f"PRAGMA {name}")
    return cursor.fetchone()[0]


def _in_memory(name) -> bool:
    name = str(name or "")
    return name in ("", ":memory:") or "mode=memory" in name


def sqlite_problems(connection) -> list[str]:
    """What is wrong with this SQLite connection's set-up (empty when WAL, NORMAL, IMMEDIATE, busy ≥ 5 s, FKs)."""
    problems = []
    if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
        problems.append("transaction_mode is not IMMEDIATE")
    with connection.cursor() as cursor:
        journal = str(_pragma(cursor, "journal_mode")).lower()
        synchronous = _pragma(cursor, "synchronous")
        busy = _pragma(cursor, "busy_timeout")
        fks = _pragma(cursor, "foreign_keys")
    if journal != "wal" and not _in_memory(connection.settings_dict.get("NAME")):
        problems.append(f"journal_mode is {journal}, not wal")
    if synchronous != SYNCHRONOUS_NORMAL:
        problems.append(f"synchronous is {synchronous}, not 1 (NORMAL)")
    if busy < MIN_BUSY_TIMEOUT_MS:
        problems.append(f"busy_timeout is {busy} ms, below {MIN_BUSY_TIMEOUT_MS} ms")
    if fks != 1:
        problems.append("foreign_keys is off")
    return problems


def sqlite_errors(connection, alias: str | None = None) -> list[Error]:
    """``houqin.E001`` errors for one database connection (none for other database engines)."""
    if connection.vendor != "sqlite":
        return []
    try:
        problems = sqlite_problems(connection)
    except Exception as exc:  # noqa: BLE001 — a database that cannot be opened is reported, not raised
        problems = [f"cannot open the database: {exc}"]
    alias = alias or connection.alias
    return [
        Error(f"SQLite database '{alias}' is not set up for concurrent use: {problem}", id="houqin.E001", hint=HINT)
        for problem in problems
    ]


@register()
def check_sqlite_concurrency(app_configs, **kwargs):
    errors = []
    for alias in settings.DATABASES:
        errors.extend(sqlite_errors(connections[alias], alias))
    return errors
