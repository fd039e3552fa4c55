"""Query counting for page budgets: a list must cost the same number of queries at 10 rows and at 100, with a
handful of rows in the database and with hundreds (no N+1 over rows, filter choices or related lists)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

# Session bookkeeping is written at most once a minute (houqin.core.middleware), so it depends on the clock, not
# on the page: leave it out of the count.
IGNORED = ("django_session",)
# Savepoints (around that session write, inside a test's transaction) are transaction control, not queries.
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def captured_queries(client, url: str, data: dict | None = None, **extra) -> list[str]:
    """The SQL a GET of ``url`` runs (session queries left out); the response must be 200. Kept drop-down choices
    (houqin.core.selects) are forgotten first, so the page's own queries are counted in full every time."""
    from houqin.core import selects

    selects.clear()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, data or {}, **extra)
    assert response.status_code == 200, f"GET {url} {data or ''}: {response.status_code}"
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)  # an export runs its queries while streaming
    return [q["sql"] for q in ctx.captured_queries
            if not any(t in q["sql"] for t in IGNORED) and not q["sql"].startswith(TRANSACTION_CONTROL)]


def count_queries(client, url: str, data: dict | None = None, **extra) -> int:
    return len(captured_queries(client, url, data, **extra))


def describe_difference(small: list[str], big: list[str], limit: int = 6) -> str:
    """The queries that the bigger run repeats more often: usually the N+1 culprit."""
    from collections import Counter

    def shape(sql: str) -> str:
        import re

        return re.sub(r"\b\d+\b", "N", sql)[:240]

    extra = Counter(map(shape, big)) - Counter(map(shape, small))
    return "\n    ".join(f"{n}× {sql}" for sql, n in extra.most_common(limit))
