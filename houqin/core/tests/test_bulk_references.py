"""Large inserts on PostgreSQL check their foreign keys in bulk (houqin.core.importing.bulk): the rows they reference
are found and locked in one statement, the copy then skips the per-row checks, which are on again right after. A
missing row is still refused with the database's own error; a referenced row cannot be deleted until the inserting
transaction ends; a role that may not turn the per-row checks off keeps them. PostgreSQL only."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from houqin.assets.models import AssetEvent
from houqin.assets.tests.test_custody import card
from houqin.core.importing.bulk import BULK_REFERENCE_ROWS, insert_rows

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's foreign-key checks")

COLUMNS = ["org_id", "asset_id", "code", "time", "actor_id", "actor_name", "status_before", "status_after",
           "changes", "reference", "note"]
TURNED_OFF = "set_config('session_replication_role', 'replica'"
TURNED_ON = "set_config('session_replication_role', 'origin'"


def events(asset, actor, count=BULK_REFERENCE_ROWS, asset_id=None):
    now = timezone.now()
    return [(asset.org_id, asset.pk if asset_id is None else asset_id, "note", now, actor.pk, "测试", "", "",
             {}, "", f"批量{n}") for n in range(count)]


def replication_role() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('session_replication_role')")
        return cursor.fetchone()[0]


def immediate_checks() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as an import's writing does (houqin.core.importing)


@pytest.mark.django_db
def test_references_to_rows_inserted_here_are_not_looked_up_again(world):
    """Events of cards the transaction has just inserted: the cards are neither looked up nor locked again (no other
    transaction can see them); the school and the actor still are, and the per-row checks are off for the copy."""
    asset = card(world)
    for vouched in ((), ("asset_id",)):
        with CaptureQueriesContext(connection) as queries:
            insert_rows(AssetEvent, COLUMNS, events(asset, world.head_a), inserted_here=vouched)
        check = next(q["sql"] for q in queries.captured_queries if TURNED_OFF in q["sql"])
        assert ('"assets_asset"' in check) is not bool(vouched)
        assert '"core_organization"' in check and '"core_user"' in check
    assert AssetEvent.objects.filter(asset=asset, note__startswith="批量").count() == 2 * BULK_REFERENCE_ROWS
    assert replication_role() == "origin"


@pytest.mark.django_db
def test_rows_whose_references_exist_are_written_and_the_checks_are_on_again(world):
    asset = card(world)
    with CaptureQueriesContext(connection) as queries:
        assert insert_rows(AssetEvent, COLUMNS, events(asset, world.head_a)) == BULK_REFERENCE_ROWS
    sql = [q["sql"] for q in queries.captured_queries]
    assert any(TURNED_OFF in s for s in sql) and TURNED_ON in sql[-1]
    assert AssetEvent.objects.filter(asset=asset, note__startswith="批量").count() == BULK_REFERENCE_ROWS
    assert replication_role() == "origin"
    # The next statement is checked row by row again.
    immediate_checks()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(AssetEvent, COLUMNS, events(asset, world.head_a, count=1, asset_id=asset.pk + 10_000))


@pytest.mark.django_db
def test_a_row_referencing_a_missing_row_is_refused_and_nothing_is_written(world):
    asset = card(world)
    rows = events(asset, world.head_a)
    rows[-1] = (asset.org_id, asset.pk + 10_000, *rows[-1][2:])  # no such card
    immediate_checks()
    with CaptureQueriesContext(connection) as queries, pytest.raises(IntegrityError) as refused, \
            transaction.atomic():
        insert_rows(AssetEvent, COLUMNS, rows)
    assert "asset_id" in str(refused.value)  # the database's own error, naming the key
    assert not any(TURNED_OFF in q["sql"] and "CASE" not in q["sql"] for q in queries.captured_queries)
    assert not AssetEvent.objects.filter(note__startswith="批量").exists()
    assert replication_role() == "origin"


@pytest.mark.django_db
def test_small_inserts_keep_the_per_row_checks(world):
    asset = card(world)
    with CaptureQueriesContext(connection) as queries:
        insert_rows(AssetEvent, COLUMNS, events(asset, world.head_a, count=BULK_REFERENCE_ROWS - 1))
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["COPY"]


@pytest.mark.django_db
def test_a_role_that_may_not_turn_the_checks_off_keeps_them(world):
    asset = card(world)
    role = f"houqin_plain_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:  # created in the test's transaction: gone with it
        cursor.execute(f"CREATE ROLE {role} NOSUPERUSER")
        cursor.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"SET LOCAL ROLE {role}")
    with CaptureQueriesContext(connection) as queries:
        insert_rows(AssetEvent, COLUMNS, events(asset, world.head_a))
    assert not any(TURNED_ON in q["sql"] for q in queries.captured_queries)
    assert replication_role() == "origin"
    assert AssetEvent.objects.filter(asset=asset, note__startswith="批量").count() == BULK_REFERENCE_ROWS
    immediate_checks()
    rows = events(asset, world.head_a)
    rows[0] = (asset.org_id, asset.pk + 10_000, *rows[0][2:])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(AssetEvent, COLUMNS, rows)


@pytest.mark.django_db(transaction=True)
def test_a_referenced_row_cannot_be_deleted_until_the_insert_is_committed(world):
    asset = card(world)  # committed: another connection sees it
    settings = connection.get_connection_params()
    settings.pop("cursor_factory", None)
    settings.pop("context", None)
    with transaction.atomic():
        insert_rows(AssetEvent, COLUMNS, events(asset, world.head_a))
        with psycopg.connect(**settings, autocommit=True) as other:
            other.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("DELETE FROM assets_asset WHERE id = %s", [asset.pk])
    assert AssetEvent.objects.filter(asset=asset, note__startswith="批量").count() == BULK_REFERENCE_ROWS
