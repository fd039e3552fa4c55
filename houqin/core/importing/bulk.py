"""Writing many rows in a few queries, with the change log an importer's ``save()`` calls would have written.

``Model.save()`` costs a query or two per row (the row, its change-log entry), and even Django's ``bulk_create``
spends most of its time compiling each value into SQL. For a register of 100,000 rows an importer's ``write()``
can instead use:

* ``bulk_create_logged(objs)`` — insert new instances of one model (multi-row ``INSERT … RETURNING``: their
  primary keys are set), filling the pinyin search column, and write a change-log "create" entry for each, the
  same entries ``houqin.core.changelog`` writes on ``save()`` (who, request id, every field's value);
* ``bulk_update_logged(objs)`` — save changed instances (loaded from the database) with ``bulk_update``, only the
  fields that changed, and log each change with its before/after values;
* ``insert_rows(model, columns, rows)`` — plain rows (tuples) for ledgers and logs written alongside, with one
  ``executemany`` per batch (no instances, no primary keys back).

Call them inside the import's transaction. They skip ``save()`` and the ``post_save`` signal: not for models whose
``save()`` does more than fill the search column (``SearchableModel``); values go through each field's
``get_db_prep_save``, so SQLite and PostgreSQL store what ``save()`` would.

On PostgreSQL a large insert checks its rows' foreign keys in bulk when the connection may do so (see
``_write_rows``): one statement per table written finds and locks every row referenced, as the per-row checks would,
and the rows are then copied without the per-row trigger calls — more than half of the server's work for an asset
card or its 登记 event otherwise.

On SQLite Django assumes at most 999 parameters per query (the limit before SQLite 3.32); these helpers, and
Django's bulk methods inside ``wide_batches()``, use the connection's real limit (Django 6 reads it the same way).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import itertools
import json
import operator
import sqlite3
from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Count, JSONField, Max, Min
from django.utils import timezone

from houqin.core import changelog, context
from houqin.core.db import execute_logged
from houqin.core.models.base import ChangeLoggedModel, SearchableModel
from houqin.core.search import pinyin_forms

BATCH_SIZE = 500
# Field types whose Python values the database drivers do not take as they are.
_PREPARED = {"DecimalField", "DateField", "DateTimeField", "TimeField", "JSONField", "UUIDField", "DurationField",
             "BinaryField", "GenericIPAddressField"}


def _params_limit(connection) -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        try:
            return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except (AttributeError, sqlite3.Error):  # Python < 3.11 or a wrapped connection: Django's default
            return connection.features.max_query_params
    return connection.features.max_query_params or 65_535


@contextlib.contextmanager
def wide_batches(using: str = "default"):
    """Within the block, Django's bulk methods on SQLite may use as many query parameters as the connection
    allows (a batch of 500 rows is then one query, not eighteen)."""
    connection = connections[using]
    features = connection.features
    limit = _params_limit(connection) if connection.vendor == "sqlite" else None
    if not limit or limit <= features.max_query_params or "max_query_params" in features.__dict__:
        yield
        return
    features.max_query_params = limit
    try:
        yield
    finally:
        del features.max_query_params


_MEMO_LIMIT = 10_000
# Field types whose values are str, int, bool, float, dict or list (or None): JSON takes them as they are.
_NATIVE_FIELDS = {"CharField", "TextField", "SlugField", "EmailField", "URLField", "IntegerField", "BigIntegerField",
                  "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField",
                  "BooleanField", "FloatField", "JSONField", "AutoField", "BigAutoField", "SmallAutoField"}


class RawJSON(str):
    """JSON text already serialised (e.g. put together from cached parts): ``insert_rows`` writes it into a JSONField
    column as it is instead of serialising it again. On PostgreSQL only through ``insert_rows`` (COPY)."""


def _preparer(field, connection):
    """A function turning a Python value of ``field`` into what the driver takes, None for None (None instead of a
    function: the values as they are). Values repeat in a register (prices, dates, the batch's timestamp): each
    distinct value is prepared once."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    if kind not in _PREPARED:
        return None
    prep = field.get_db_prep_save
    own = _PASSED_AS_THEY_ARE.get(kind)
    if kind == "DateTimeField" and connection.vendor == "postgresql" and _stock_preparation(field, connection, kind):
        # A batch's rows share one timestamp object (``_stamped``, an event's time): its text is made once here. The
        # COPY would otherwise format the same datetime for every row in the writer thread (about 0.7 µs each, two
        # or three per card). The text is what psycopg writes for it; the server reads it as the same instant.
        last = [None, None]

        def stamped(value):
            if value is None:
                return None
            if value is last[0]:
                return last[1]
            if value.__class__ is not datetime.datetime or value.utcoffset() is None:
                return prep(value, connection)  # a naive or unusual value: Django's own (which warns or refuses)
            last[0], last[1] = value, value.isoformat(" ")
            return last[1]

        return stamped
    if own is not None and _stock_preparation(field, connection, kind):
        exact, usable = own

        def passed(value):  # what get_db_prep_save would give back unchanged: the value itself
            if value is None:
                return None
            return value if value.__class__ is exact and usable(value) else prep(value, connection)

        return passed
    if kind == "JSONField" and _stock_preparation(field, connection, kind):
        # The JSON text: on SQLite what Django's own preparation gives; on PostgreSQL what psycopg's COPY writes of
        # the ``Jsonb`` wrapper Django makes (``_write_rows`` copies there), encoded here rather than per value in
        # the writer thread — the same "{}" for every card.
        encoder = field.encoder
        empty_dict, empty_list = json.dumps({}, cls=encoder), json.dumps([], cls=encoder)

        def dumped(value):  # the JSON text get_db_prep_save comes to ({} and [], frequent, made once)
            if value is None:
                return None
            if value.__class__ is RawJSON:
                return str(value)
            if not value:
                if value.__class__ is dict:
                    return empty_dict
                if value.__class__ is list:
                    return empty_list
            return json.dumps(value, cls=encoder)

        return dumped
    if kind in ("JSONField", "BinaryField"):
        empty = {}  # many rows hold {} or []: prepared once

        def prepared_json(value):
            if value is None:
                return None
            if value.__class__ is RawJSON:  # JSON text: PostgreSQL's COPY reads it as it is
                return str(value)
            if value or value.__class__ not in (dict, list):
                return prep(value, connection)
            key = value.__class__
            if key not in empty:
                empty[key] = prep(value, connection)
            return empty[key]

        return prepared_json
    memo: dict = {}
    last = [object(), None]  # the value met last and what it became (a batch's timestamps are one object)

    def prepared(value):
        if value is None:
            return None
        if value is last[0]:
            return last[1]
        key = (value.__class__, value)
        try:
            result = memo[key]
        except KeyError:
            result = memo[key] = prep(value, connection)
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
        last[0], last[1] = value, result
        return result

    return prepared


# On PostgreSQL Django hands a Decimal, a date or an aware datetime to psycopg as it is (its ``adapt_*_value``
# methods return the value), and on SQLite a Decimal (the driver writes it as text): such a value of exactly that
# class needs no preparing — a tenth of an import's checking thread went into preparing them. The test beside
# each: what Django's own preparation checks of it.
_PASSED_AS_THEY_ARE = {
    "DecimalField": (decimal.Decimal, decimal.Decimal.is_finite),
    "DateField": (datetime.date, bool),
    "DateTimeField": (datetime.datetime, lambda value: value.utcoffset() is not None),
}


def _stock_preparation(field, connection, kind: str) -> bool:
    """Whether ``field`` and the connection prepare a value as Django's own classes do (not overridden)."""
    from django.db.backends.postgresql.operations import DatabaseOperations
    from django.db.models import DateField, DateTimeField, DecimalField

    stock = {"DecimalField": (DecimalField, "adapt_decimalfield_value"),
             "DateField": (DateField, "adapt_datefield_value"),
             "DateTimeField": (DateTimeField, "adapt_datetimefield_value"),
             "JSONField": (JSONField, "adapt_json_value")}[kind]
    field_class, adapt = stock
    ops = type(connection.ops)
    if connection.vendor == "postgresql":
        unchanged = getattr(ops, adapt) is getattr(DatabaseOperations, adapt)
    else:  # Django's default: a Decimal as it is, JSON as its text (dates and times become text)
        unchanged = kind in ("DecimalField", "JSONField") and getattr(ops, adapt) is getattr(BaseDatabaseOperations,
                                                                                          adapt)
    return (unchanged
            and all(getattr(type(field), name) is getattr(field_class, name)
                    for name in ("get_db_prep_save", "get_db_prep_value", "get_prep_value", "to_python")))


def _getter(attnames: list[str]):
    """A function giving the values of ``attnames`` of an instance as a list, read from its ``__dict__`` (where
    Django keeps loaded field values) without going through each field's descriptor; a field not loaded there
    (deferred) is read the usual way."""
    fetch = operator.itemgetter(*attnames)
    single = len(attnames) == 1

    def values(obj) -> list:
        try:
            found = fetch(obj.__dict__)
        except KeyError:
            return [getattr(obj, name) for name in attnames]
        return [found] if single else list(found)

    return values


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def insert_rows(model, columns: list[str], rows: Iterable[tuple], batch_size: int | None = None,
                inserted_here: Iterable[str] = ()) -> int:
    """INSERT ``rows`` (tuples of Python values for the fields ``columns`` — names or attnames, e.g. "asset_id")
    with as few statements as the database allows (``_write_rows``; the rows are prepared as they are read), or
    ``batch_size`` rows at a time; returns how many.

    ``inserted_here``: columns (of ``columns``) whose every value is the key of a row this transaction inserted and
    read back (the cards an import has just written, for their events). Such a row exists and no other transaction
    can see it, let alone delete it, so the bulk check of the references leaves these columns out: finding and
    locking 12,500 fresh cards took 40–50 ms per batch of events on PostgreSQL. Any other column is checked as
    usual."""
    using = router.db_for_write(model)
    connection = connections[using]
    meta = model._meta
    fields = [meta.get_field(c) for c in columns]
    preps = [(i, p) for i, p in enumerate(_preparer(f, connection) for f in fields) if p is not None]
    quote = connection.ops.quote_name
    count = 0

    def prepared(rows):
        nonlocal count
        for row in rows:
            count += 1
            if preps:
                row = list(row)
                for index, prep in preps:
                    if row[index] is not None:
                        row[index] = prep(row[index])
            yield row

    table, names = quote(meta.db_table), [quote(f.column) for f in fields]
    inserted_here = set(inserted_here)
    vouched = {index for index, name in enumerate(columns) if name in inserted_here}
    references = [ref for ref in _references(fields, connection) if ref[0] not in vouched]
    with connection.cursor() as cursor:
        if batch_size is None and connection.vendor == "postgresql":
            # Built before the call: psycopg holds the connection while it reads the rows, so a row whose making
            # runs a query (a related object loaded lazily) would wait for itself forever. Held in full anyway,
            # they are prepared a column at a time.
            rows = _prepared_columns(list(rows), preps)
            count = len(rows)
            _write_rows(cursor, table, names, rows, references)
        elif batch_size is None:
            _write_rows(cursor, table, names, prepared(rows), references)
        else:
            rows = list(rows)
            for chunk in _chunks(rows, batch_size):
                _write_rows(cursor, table, names, list(prepared(chunk)), references)
    return count


# From this many rows up, a COPY checks its foreign keys in bulk (when the connection may): below it, the two
# statements this takes cost more than the per-row checks they save.
BULK_REFERENCE_ROWS = 500


def _references(fields: list, connection) -> list[tuple[int, str, str]]:
    """For each field among ``fields`` that is a foreign key with a database constraint: its position, the table
    it references and the referenced column (quoted)."""
    if connection.vendor != "postgresql":
        return []
    quote = connection.ops.quote_name
    return [(index, quote(field.related_model._meta.db_table), quote(field.target_field.column))
            for index, field in enumerate(fields)
            if field.is_relation and field.concrete and (field.many_to_one or field.one_to_one)
            and field.db_constraint]


def _checked_in_bulk(cursor, references: list[tuple[int, str, str]], rows: list) -> bool:
    """In one statement: find and lock (``FOR KEY SHARE``, as PostgreSQL's own check of each row does, so that no
    other transaction can delete or re-key them before this one ends) every row that ``rows`` reference, and when all
    are there and the connection may, turn this transaction's per-row triggers off (``session_replication_role``,
    set locally: the end of the transaction, or of a savepoint rolled back, turns them on again). True when they
    are off. When a referenced row is missing nothing is turned off: the rows are then copied with the usual
    checks, which name the missing row in the usual error.

    The connection may when it is a superuser's, or its role was granted ``SET`` on that parameter (PostgreSQL 15
    and later: ``GRANT SET ON PARAMETER session_replication_role TO …``); otherwise the per-row checks stay."""
    wanted = []
    for index, table, column in references:
        values = set(map(operator.itemgetter(index), rows))
        values.discard(None)
        if values:
            wanted.append((table, column, list(values)))
    if not wanted:
        return False
    connection = cursor.db
    allowed = "current_setting('is_superuser') = 'on'"
    if connection.pg_version >= 150000:
        allowed += " OR has_parameter_privilege('session_replication_role', 'SET')"
    ctes = ", ".join(f"r{n} AS (SELECT 1 FROM {table} WHERE {column} = ANY(%s) FOR KEY SHARE)"
                     for n, (table, column, _) in enumerate(wanted))
    counts = ", ".join(f"(SELECT count(*) FROM r{n}) AS c{n}" for n in range(len(wanted)))
    complete = " AND ".join(f"c{n} = %s" for n in range(len(wanted)))
    cursor.execute(
        f"WITH {ctes}, found AS (SELECT {counts}) "
        f"SELECT CASE WHEN ({allowed}) AND {complete} "
        f"THEN set_config('session_replication_role', 'replica', true) END FROM found",
        [*(values for _, _, values in wanted), *(len(values) for _, _, values in wanted)])
    return cursor.fetchone()[0] == "replica"


def _write_rows(cursor, table: str, names: list[str], rows, references=()) -> None:
    """Many rows into ``table``: ``COPY … FROM STDIN`` on PostgreSQL (one statement that streams the rows, several
    times faster than an INSERT per row), elsewhere ``INSERT … VALUES (…), (…), …`` statements of as many rows as the
    connection's parameter limit allows (SQLite as Debian builds it: 250,000, so a statement per 8,000 cards).

    One statement for many rows, not ``executemany``: the driver lets other threads run while the database works,
    once per statement instead of once per row — a writer thread (houqin.core.importing.writebehind) then waits for
    the interpreter a few times per batch, not 20,000 times. The statements go through the connection's execute
    wrappers and query log like any query, so query counts still see them.

    ``references`` (``_references``): on PostgreSQL, from ``BULK_REFERENCE_ROWS`` rows up and when the connection
    may, the rows referenced are checked and locked in one statement and the copy runs without the per-row
    foreign-key triggers (``_checked_in_bulk``), which are turned on again right after it. Measured on 5,000 asset
    cards: 123 ms with the per-row checks, 50 ms without, 4 ms for the statement that replaces them."""
    connection = cursor.db
    quoted = ", ".join(names)
    if connection.vendor == "postgresql":
        sql = f"COPY {table} ({quoted}) FROM STDIN"

        def copy(sql, params, many, context):
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as stream:
                for row in rows:
                    stream.write_row(row)

        bulk = (references and isinstance(rows, list) and len(rows) >= BULK_REFERENCE_ROWS
                and _checked_in_bulk(cursor, references, rows))
        execute_logged(cursor, sql, None, copy)
        if bulk:
            cursor.execute("SELECT set_config('session_replication_role', 'origin', true)")
        return
    # The statement is written with the driver's own placeholders and run by the driver itself: Django's SQLite
    # cursor would first rewrite every "%s" of a statement with 150,000 of them (a quarter of a second per batch).
    width = len(names)
    per_statement = max(1, _params_limit(connection) // width)
    sqlite = isinstance(cursor.cursor, sqlite3.Cursor)
    row_sql = "(" + ", ".join(["?" if sqlite else "%s"] * width) + ")"
    head = f"INSERT INTO {table} ({quoted}) VALUES "
    statements: dict[int, str] = {}

    def insert(sql, params, many, context):
        with connection.wrap_database_errors:
            if sqlite:
                return sqlite3.Cursor.execute(cursor.cursor, sql, params)  # under Django's wrapper
            return cursor.cursor.execute(sql, params)

    rows = iter(rows)
    while True:
        chunk = list(itertools.islice(rows, per_statement))
        if not chunk:
            return
        sql = statements.get(len(chunk))
        if sql is None:
            sql = statements[len(chunk)] = head + ", ".join([row_sql] * len(chunk))
        execute_logged(cursor, sql, list(itertools.chain.from_iterable(chunk)), insert)


class KeysNotFound(Exception):
    """Rows inserted by ``insert_instances(…, key_field=…)`` that its ``keys_from`` does not return."""

    def __init__(self, objs: list):
        super().__init__(f"{len(objs)} inserted rows not found by their key")
        self.objs = objs


def _values(objs: list, fields: list, connection) -> list:
    """The database values of ``fields`` for each instance, as the driver takes them (a sequence per instance).

    Worked out a column at a time: each field's values read in one pass and each column that needs preparing mapped
    through its preparer, instead of a loop over the fields for every row (a tenth of preparing a batch's cards)."""
    if not objs:
        return []
    attnames = [f.attname for f in fields]
    for field in fields:
        if field.is_relation:  # a parent saved after it was assigned: take its new key (and keep it cached)
            attname = field.attname
            if None in map(_DICT_GET, map(_DICT, objs), itertools.repeat(attname)):
                for obj in objs:
                    if obj.__dict__.get(attname) is None and field.is_cached(obj):
                        related = field.get_cached_value(obj)
                        if related is not None:
                            obj.__dict__[attname] = related.pk
    getter = _getter(attnames)
    preps = [(i, p) for i, p in enumerate(_preparer(f, connection) for f in fields) if p is not None]
    return _prepared_columns(list(map(getter, objs)), preps)


def _prepared_columns(rows: list, preps: list) -> list:
    """``rows`` with the columns of ``preps`` (index, preparer) prepared: each column mapped through its preparer in
    one pass, instead of a loop over the preparers for every row."""
    if not preps or not rows:
        return rows
    columns = list(zip(*rows, strict=True))
    for index, prep in preps:
        columns[index] = map(prep, columns[index])
    return list(zip(*columns, strict=True))


_DICT = operator.attrgetter("__dict__")
_DICT_GET = dict.get


def _stamped(objs: list) -> tuple:
    """The model's connection and the fields an INSERT writes, with auto_now(_add) set on ``objs``: one timestamp
    for all (pre_save would take one per row)."""
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if f is not pk and not f.generated]
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                setattr(obj, field.attname, now)
    return connection, fields


def _inserted(obj, key, using: str) -> None:
    """``obj`` is now the row with primary key ``key`` in database ``using``, as after ``save()``. The key goes
    straight into the instance unless the model has parent rows to key as well (the ``pk`` property does that)."""
    meta = obj._meta
    if meta.parents:
        obj.pk = key
    else:
        obj.__dict__[meta.pk.attname] = key
    state = obj._state
    state.adding, state.db = False, using


def prepare_insert(objs: list, *, key_field: str, keys_from=None):
    """``insert_instances(objs, key_field=…)`` in two halves. This one works out the rows' values now (timestamps,
    the keys of parents saved since they were assigned, the database's forms of the values) and returns the other,
    ``write(above=None)``: the statements and the keys read back, which may run later in another thread on this
    thread's connection (``houqin.core.importing.writebehind``) while this thread goes on with the next rows."""
    model = type(objs[0])
    connection, fields = _stamped(objs)
    using = connection.alias
    pk = model._meta.pk
    quote = connection.ops.quote_name
    table, names = quote(model._meta.db_table), [quote(f.column) for f in fields]
    references = _references(fields, connection)
    rows = list(_values(objs, fields, connection))
    source = (keys_from if keys_from is not None else model._base_manager.using(using)).order_by()
    sequence = pk.get_internal_type() in ("AutoField", "BigAutoField", "SmallAutoField")

    def write(above: int | None = None) -> list:
        by_key = {getattr(obj, key_field): obj for obj in objs}
        # Integer keys come from a sequence: the new rows are the ones above the highest key before the insert
        # (one range read, cheaper than looking 20,000 keys up); other keys are looked up by ``key_field``.
        floor = None
        if sequence:
            floor = above if above is not None else (
                model._base_manager.using(using).order_by().aggregate(top=Max("pk"))["top"] or 0)
        with connection.cursor() as cursor:
            _write_rows(cursor, table, names, rows, references)
        if floor is not None:
            above_floor = source.filter(pk__gt=floor)
            found = above_floor.aggregate(rows=Count("pk"), low=Min("pk"), high=Max("pk"))
            if found["rows"] == len(objs) and found["high"] - found["low"] + 1 == len(objs):
                # As many rows above the floor as were written, with consecutive keys: the sequence numbered them in
                # the order they were written, no one else's rows among them (another transaction's would leave a
                # gap, its own rows being invisible here), and every one is visible. One row read, not 20,000.
                for key, obj in enumerate(objs, start=found["low"]):
                    _inserted(obj, key, using)
                return objs
            lookups = [above_floor]
        else:
            keys = list(by_key)
            lookups = (source.filter(**{f"{key_field}__in": chunk})
                       for chunk in _chunks(keys, max(1, min(20_000, _params_limit(connection) - 100))))
        for queryset in lookups:
            for key, found in queryset.values_list(key_field, "pk"):
                obj = by_key.get(key)
                if obj is not None and obj._state.adding:
                    _inserted(obj, found, using)
        missing = [obj for obj in objs if obj._state.adding]
        if missing:
            raise KeysNotFound(missing)
        return objs

    return write


def insert_instances(objs: list, *, key_field: str | None = None, keys_from=None, above: int | None = None) -> list:
    """INSERT new instances of one model and set their primary keys — what ``bulk_create`` does, without compiling
    each value (no expressions, no signals).

    With ``key_field`` (a field whose value tells the rows apart within ``keys_from``, e.g. an asset's number
    within its school) the rows go in with a few large statements (``COPY`` on PostgreSQL) and their keys are read
    back with that field: a few queries however many rows. ``keys_from`` (default: all rows of the model) is the
    queryset to read them from — one restricted to what the user may see makes this a visibility check too: rows
    it does not return raise ``KeysNotFound``. With an integer primary key (from a sequence) the read is of the rows
    above the highest key before the insert: ``above`` when the caller knows one (e.g. the previous batch's highest
    new key), else one query finds it; other keys are looked up by ``key_field``, 20,000 or so per query
    (``prepare_insert`` splits this in two). Without ``key_field``, multi-row ``INSERT … RETURNING`` statements as
    large as the database's parameter limit allows (``bulk_create`` on a database without it)."""
    if not objs:
        return objs
    if key_field is not None:
        return prepare_insert(objs, key_field=key_field, keys_from=keys_from)(above)
    model = type(objs[0])
    connection, fields = _stamped(objs)
    using = connection.alias
    pk = model._meta.pk
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholder = f"({', '.join(['%s'] * len(fields))})"
    limit = _params_limit(connection)
    if not connection.features.can_return_rows_from_bulk_insert or not pk.db_returning:
        with wide_batches(using):
            return model.objects.using(using).bulk_create(objs, batch_size=BATCH_SIZE)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
    returning, returning_params = connection.ops.return_insert_columns([pk])
    per_statement = max(1, min(5_000, limit // len(fields)))
    with connection.cursor() as cursor:
        for chunk in _chunks(objs, per_statement):
            params: list = []
            for values in _values(chunk, fields, connection):
                params.extend(values)
            cursor.execute(f"{head}{', '.join([placeholder] * len(chunk))} {returning}",
                           [*params, *returning_params])
            keys = cursor.fetchall()
            if len(keys) != len(chunk):
                raise RuntimeError("the database returned fewer keys than rows inserted")
            for obj, (key, *_) in zip(chunk, keys, strict=True):
                _inserted(obj, key, using)
    return objs


# Fields whose values JSON does not take as they are (the change log turns them into text).
_CONVERTED = {"DecimalField", "DateField", "DateTimeField", "TimeField", "UUIDField", "DurationField", "BinaryField",
              "GenericIPAddressField", "FileField", "ImageField"}


def _snapshotter(model):
    """``houqin.core.changelog.snapshot`` for many instances of one model: the same dict, faster (only the fields
    whose values JSON does not take go through the change log's own conversion)."""
    cached = model.__dict__.get("_bulk_snapshot")
    if cached is None:
        exclude = set(model.changelog_exclude)
        fields = [f for f in model._meta.concrete_fields
                  if not (f.name in exclude or f.attname in exclude or f.primary_key)]
        names = [f.attname for f in fields]
        converted = [f.attname for f in fields if f.get_internal_type() in _CONVERTED or not f.is_relation
                     and f.get_internal_type() not in _NATIVE_FIELDS]
        cached = (names, _getter(names), converted)
        model._bulk_snapshot = cached
    names, getter, converted = cached
    convert = changelog._json_value

    def snapshot(obj) -> dict:
        data = dict(zip(names, getter(obj), strict=True))
        for name in converted:
            value = data[name]
            if value is not None:
                data[name] = convert(value)
        return data

    return snapshot


def _log(action: str, entries: Iterable[tuple]) -> int:
    """Change-log rows for ``(obj, before, after)``, by the current user and request (as ``changelog._write``)."""
    from houqin.core.models import ChangeLogEntry

    ctx = context.current()
    user = ctx.user if getattr(ctx.user, "is_authenticated", False) else None
    user_name = (user.get_full_name() if user else "系统")[:80]
    now = timezone.now()
    content_types: dict[type, int] = {}

    def rows():
        for obj, before, after in entries:
            kind = type(obj)
            if kind not in content_types:
                content_types[kind] = ContentType.objects.get_for_model(obj, for_concrete_model=True).pk
            yield (now, getattr(user, "pk", None), user_name, getattr(obj, "org_id", None) or ctx.org_id,
                   ctx.request_id, action, content_types[kind], str(obj.pk), str(obj)[:200], before, after)

    return insert_rows(ChangeLogEntry, ["time", "user_id", "user_name", "org_id", "request_id", "action",
                                        "content_type_id", "object_id", "object_repr", "before", "after"], rows())


def search_index(obj) -> str:
    """``obj.search_index`` as ``SearchableModel.refresh_search_index`` builds it (``build_search_index``), without
    asking pypinyin about plain ASCII parts such as numbers and models (their initials and pinyin are themselves)."""
    pieces: list[str] = []
    for name in obj.search_fields:
        value = getattr(obj, name)
        if value.__class__ is not str:
            pieces.extend(_pieces(value))
            continue
        found = _PIECES.get(value)
        if found is None:
            if value.isascii():  # a number, a model: itself, lower-cased (not remembered: numbers do not repeat)
                value = value.strip()
                if value:
                    pieces.append(value.lower())
                continue
            found = _PIECES[value] = _pieces(value)
            if len(_PIECES) > 50_000:
                _PIECES.clear()
        pieces.extend(found)
    return " | ".join(dict.fromkeys(pieces))


_PIECES: dict[str, tuple] = {}  # a field's text → its pieces (registers repeat names, brands and models)


def _pieces(value) -> tuple:
    part = str(value or "").strip()
    if not part:
        return ()
    lowered = part.lower()
    if part.isascii():
        return (lowered,)
    initials, full = pinyin_forms(part)
    return tuple(p for p in (lowered, initials, full) if p)


def bulk_create_logged(objs: list, *, key_field: str | None = None, keys_from=None, above: int | None = None,
                       log_batch: str | None = None) -> list:
    """Insert new instances of one model (search column filled, primary keys set; ``key_field``, ``keys_from`` and
    ``above`` as for ``insert_instances``) and log each as created.

    With ``log_batch`` (the entry's title, e.g. "导入登记 20000 张资产卡片"), one change-log entry for the whole
    batch instead (``houqin.core.changelog.log_batch``): who, when, which request and which rows — ``after`` holds
    ``条数``, the rows' ids (``id``) and, with ``key_field``, their keys (e.g. ``number``). Only for rows whose
    created values another append-only record keeps row by row (an asset card's 登记 event)."""
    if not objs:
        return objs
    if key_field is not None:
        return prepare_create_logged(objs, key_field=key_field, keys_from=keys_from, log_batch=log_batch)(above)
    _fill_search_index(objs)
    insert_instances(objs)
    _log_created(objs, None, log_batch)
    return objs


def prepare_create_logged(objs: list, *, key_field: str, keys_from=None, log_batch: str | None = None):
    """``bulk_create_logged(objs, key_field=…)`` in two halves, as ``prepare_insert``: the search column and the
    rows' values now; the returned ``write(above=None)`` inserts them, reads their keys back and logs them."""
    _fill_search_index(objs)
    insert = prepare_insert(objs, key_field=key_field, keys_from=keys_from)

    def write(above: int | None = None) -> list:
        insert(above)
        _log_created(objs, key_field, log_batch)
        return objs

    return write


def _fill_search_index(objs: list) -> None:
    model = type(objs[0])
    if issubclass(model, SearchableModel):
        custom = model.refresh_search_index is not SearchableModel.refresh_search_index
        for obj in objs:
            if custom:
                obj.refresh_search_index()
            else:
                obj.search_index = search_index(obj)


def _log_created(objs: list, key_field: str | None, log_batch: str | None) -> None:
    model = type(objs[0])
    if not issubclass(model, ChangeLoggedModel):
        return
    if log_batch is not None:
        after = {"条数": len(objs), "id": [obj.pk for obj in objs]}
        if key_field is not None:
            after[model._meta.get_field(key_field).attname] = [getattr(obj, key_field) for obj in objs]
        org_ids = {getattr(obj, "org_id", None) for obj in objs}
        changelog.log_batch(model, "create", log_batch, after, org_id=org_ids.pop() if len(org_ids) == 1 else None,
                            using=router.db_for_write(model))
    else:
        snapshot = _snapshotter(model)
        _log("create", ((obj, None, snapshot(obj)) for obj in objs))


def bulk_update_logged(objs: list, batch_size: int = BATCH_SIZE) -> int:
    """Save changed instances of one model (loaded from the database, then changed) with ``bulk_update`` — only
    the fields that differ from what was loaded — and log each change; returns how many rows changed."""
    if not objs:
        return 0
    model = type(objs[0])
    changed_rows = []
    fields: set[str] = set()
    for obj in objs:
        loaded = getattr(obj, "_loaded_values", None)
        if loaded is None:
            raise ValueError("bulk_update_logged needs instances loaded from the database")
        after = changelog.snapshot(obj)
        before = changelog.snapshot(obj, loaded)
        changed = sorted(k for k in after if before.get(k) != after[k])
        if changed:
            changed_rows.append((obj, {k: before.get(k) for k in changed}, {k: after[k] for k in changed}))
            fields.update(changed)
    if not changed_rows:
        return 0
    names = {f.attname: f.name for f in model._meta.concrete_fields}
    update_fields = {names[a] for a in fields if a in names}
    now = timezone.now()
    custom = issubclass(model, SearchableModel) and (
        model.refresh_search_index is not SearchableModel.refresh_search_index)
    for obj, _, _ in changed_rows:
        if custom:
            obj.refresh_search_index()
        elif issubclass(model, SearchableModel):
            obj.search_index = search_index(obj)
        if hasattr(obj, "updated_at"):
            obj.updated_at = now
    if issubclass(model, SearchableModel):
        update_fields.add("search_index")
    if any(f.name == "updated_at" for f in model._meta.concrete_fields):
        update_fields.add("updated_at")
    with wide_batches(router.db_for_write(model)):
        model.objects.bulk_update([obj for obj, _, _ in changed_rows], sorted(update_fields), batch_size=batch_size)
    if issubclass(model, ChangeLoggedModel):
        _log("update", changed_rows)
    for obj, _, _ in changed_rows:  # later saves diff against what is stored now
        obj._loaded_values = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}
    return len(changed_rows)


__all__ = ["BATCH_SIZE", "KeysNotFound", "RawJSON", "bulk_create_logged", "bulk_update_logged", "insert_instances",
           "insert_rows", "search_index", "wide_batches"]
