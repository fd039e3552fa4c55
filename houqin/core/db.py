"""Small database helpers shared by the generic views, the bulk writers and the session store."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connections


def execute_logged(cursor, sql: str, params, executor) -> None:
    """``executor(sql, params, many, context)`` — a statement run some way Django's cursor does not (a COPY, a
    prepared statement) — through the connection's execute wrappers and, when queries are logged (``DEBUG``, a test
    capturing queries), into the log, as the statement alone: Django would otherwise quote every parameter."""
    if hasattr(cursor, "debug_sql"):  # a CursorDebugWrapper
        with cursor.debug_sql(sql):
            cursor._execute_with_wrappers(sql, params, False, executor)
    else:
        cursor._execute_with_wrappers(sql, params, False, executor)


@contextmanager
def joins_in_written_order(using: str = "default"):
    """On PostgreSQL, plan the next queries with their joins in the order Django wrote them.

    A list row or a record page joins up to nine tables (the card, its school, category, room, campus, building,
    department, keeper…) starting from rows already chosen by key. PostgreSQL would search every join order —
    about 50 ms of planning for a query that runs in under a millisecond — when the written order (the chosen
    rows first, then one index lookup per joined table) is the right plan anyway. Elsewhere a no-op.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET join_collapse_limit = 1")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET join_collapse_limit")


# --- One row by key, its statement compiled once -------------------------------------------------------------
# A record page reads its row by key. Building and compiling that query through the ORM costs about 1–2 ms of
# Python each time (filters, compiler, converters), several times the database's own work; the statement is the
# same every time but for the key. ``read_row`` compiles it once per connection and model and then only runs it.
_KEPT_READS = "_houqin_kept_reads"
_SENTINEL = 987_654_321_123


def _compile_read(model, connection):
    """(sql, attnames, converters, compiler) for reading one row of ``model`` by key, or None when the compiled
    query is not the plain one-table read this helper can run (then the caller uses the ORM)."""
    queryset = model._default_manager.using(connection.alias).filter(pk=_SENTINEL).order_by()
    compiler = queryset.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    select, klass_info = compiler.select, compiler.klass_info
    if (list(params) != [_SENTINEL] or klass_info is None or compiler.annotation_col_map
            or klass_info.get("related_klass_infos") or list(klass_info["select_fields"]) != list(range(len(select)))):
        return None
    attnames = [column[0].target.attname for column in select]
    converters = compiler.get_converters([column[0] for column in select[:compiler.col_count]])
    return sql, attnames, converters, compiler


def read_row(model, pk, using: str = "default"):
    """Row ``pk`` of ``model`` as its default manager reads it (every column, no joins), or None when there is
    none: ``model.objects.filter(pk=pk).first()`` without building the query again (see above). Models whose
    default manager filters or joins fall back to the ORM."""
    connection = connections[using]
    kept = connection.__dict__.setdefault(_KEPT_READS, {})
    if model not in kept:
        kept[model] = _compile_read(model, connection)
    compiled = kept[model]
    if compiled is None:
        return model._default_manager.using(using).filter(pk=pk).order_by().first()
    sql, attnames, converters, compiler = compiled
    field = model._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(sql, [field.get_db_prep_value(field.get_prep_value(pk), connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    return model.from_db(using, attnames, row)
