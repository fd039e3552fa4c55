"""Sessions: Django's database sessions (``SESSION_ENGINE = "houqin.core.sessions"``), read with one plain SELECT.

Every signed-in request reads its session first. Django's store builds that read as an ORM query and a model
instance each time, which costs about as much Python as serving a kept page (houqin.core.pagecache) does
altogether. The row, its table and its expiry rule are Django's own; only the read is written out. Writing,
creating, cycling and deleting sessions are Django's code unchanged.
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        key = self.session_key
        if key is None:
            return None
        model = self.model
        connection = connections[router.db_for_read(model)]
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",  # noqa: S608
                [key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # unknown or expired: as Django's store, the next save makes a new session
            return None
        return _Row(row[0])


class _Row:
    __slots__ = ("session_data",)

    def __init__(self, session_data: str):
        self.session_data = session_data
