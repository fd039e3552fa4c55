"""Writing one batch of an import while the next batch is read and checked.

Most of a large import's time is Python (reading, matching and checking rows) and the database inserting what the
rows became. On a machine with two cores these can overlap: while a second thread writes batch *k* — sqlite3 and
psycopg release the interpreter while the database works — the importer checks batch *k + 1*.

Both threads use the **same connection**, so the writes stay inside the import's one transaction (all rows or none).
Only one of them uses it at a time:

* the writer thread is given the importing thread's connection for the default database (Django otherwise opens a
  connection per thread);
* while a batch is being written, any query of the importing thread first waits for that write to end (a guard on the
  connection's execute wrappers) — so a lookup of the next batch sees the previous batch's rows, exactly as when the
  batches are written one after the other;
* a failure in the writer (a conflict, a row the user may not see, a cancelled job) is raised in the importing
  thread at its next query, at the next batch, or at the end;
* the block never ends with the writer still running, whatever happens, so the caller's transaction always ends
  (commit or rollback) after the last write.

The writer runs in a copy of the importing thread's context (``contextvars``): the change log records the same user,
school and request.

On PostgreSQL the foreign keys (deferred to the commit by Django) are checked as each statement runs while the block
lasts (``SET CONSTRAINTS ALL IMMEDIATE``): the server then checks a batch's 100,000 or so references while the next
batch is read, instead of all of them at the commit, when nothing else is left to do. Afterwards they are deferred
again.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections


class WriteBehind:
    """``with WriteBehind() as writer: … writer.submit(func) …`` — ``func()`` runs in a second thread on this thread's
    connection; ``submit`` first waits for the previous one. Leaving the block waits for the last one and raises
    what it raised."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS):
        self.using = using
        self.connection = connections[using]
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._guarding = None

    def __enter__(self) -> WriteBehind:
        self.connection.ensure_connection()
        self._constraints("IMMEDIATE")
        self.connection.inc_thread_sharing()
        self._guarding = self.connection.execute_wrapper(self._guard)
        self._guarding.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._join()  # before the caller's transaction ends, whatever happened
        finally:
            self._guarding.__exit__(None, None, None)
            self.connection.dec_thread_sharing()
        if exc_type is None:
            self._raise()
            self._constraints("DEFERRED")  # after a failure the transaction is rolled back, and this with it

    def _constraints(self, mode: str) -> None:
        if self.connection.vendor == "postgresql" and self.connection.in_atomic_block:
            with self.connection.cursor() as cursor:
                cursor.execute(f"SET CONSTRAINTS ALL {mode}")

    def submit(self, func: Callable[[], object]) -> None:
        """Run ``func()`` in the writer thread once the previous write has ended (raising what that one raised)."""
        self.wait()
        context = contextvars.copy_context()
        connection, using = self.connection, self.using

        def target():
            connections[using] = connection  # this thread's queries go to the importing thread's transaction
            try:
                context.run(func)
            except BaseException as exc:  # noqa: BLE001 — handed to the importing thread
                self._error = exc

        self._thread = threading.Thread(target=target, name="houqin-import-writer", daemon=True)
        self._thread.start()

    def busy(self) -> bool:
        """A write is running (the importing thread's query would wait for it)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def wait(self) -> None:
        """Wait for the running write, if any; raise what it raised."""
        self._join()
        self._raise()

    def _join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _guard(self, execute, sql, params, many, context):
        thread = self._thread
        if thread is not None and threading.current_thread() is not thread:
            self.wait()  # a query of the importing thread: after the write, as if it had not overlapped
        return execute(sql, params, many, context)
