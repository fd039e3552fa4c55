"""System checks: refuse to start on an SQLite database that is not set up for concurrent use."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.db import connections

MIN_BUSY_TIMEOUT_MS = 5000


def sqlite_problems(connection) -> list[str]:
    """What is wrong with this SQLite connection's set-up (empty when WAL, NORMAL, IMMEDIATE, busy ≥ 5 s, FKs)."""
    problems = []
    if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
        problems.append("transaction_mode is not IMMEDIATE")
    with connection.cursor() as cursor:
        journal = cursor.execute("PRAGMA journal_mode").fetchone()[0].lower()
        synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
        busy = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        fks = cursor.execute("PRAGMA foreign_keys").fetchone()[0]
    if journal != "wal" and connection.settings_dict["NAME"] not in (":memory:", "") and "mode=memory" not in str(
        connection.settings_dict["NAME"]
    ):
        problems.append(f"journal_mode is {journal}, not wal")
    if synchronous != 1:
        problems.append(f"synchronous is {synchronous}, not 1 (NORMAL)")
    if busy < MIN_BUSY_TIMEOUT_MS:
        problems.append(f"busy_timeout is {busy} ms, below {MIN_BUSY_TIMEOUT_MS} ms")
    if fks != 1:
        problems.append("foreign_keys is off")
    return problems


@register()
def check_sqlite_concurrency(app_configs, **kwargs):
    errors = []
    for alias in settings.DATABASES:
        connection = connections[alias]
        if connection.vendor != "sqlite":
            continue
        try:
            problems = sqlite_problems(connection)
        except Exception as exc:  # noqa: BLE001 — a database that cannot be opened is reported, not raised
            problems = [f"cannot open the database: {exc}"]
        errors.extend(
            Error(f"SQLite database '{alias}' is not set up for concurrent use: {p}", id="houqin.E001",
                  hint="Use the default settings, which set WAL, synchronous=NORMAL, IMMEDIATE transactions, "
                       "a busy timeout of at least 5 s and foreign keys.")
            for p in problems
        )
    return errors
