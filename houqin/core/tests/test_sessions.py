"""The session store (houqin.core.sessions): a session's data decoded once per process and handed out as copies, so
that one request's changes never reach another's session; data that does not verify is still no session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from houqin.core import sessions
from houqin.core.sessions import SessionStore

pytestmark = pytest.mark.django_db


def stored(values: dict) -> str:
    store = SessionStore()
    store.update(values)
    store.save()
    return SessionStore().model.objects.get(session_key=store.session_key).session_data


def test_the_same_data_decodes_to_equal_values_never_the_same_object():
    text = stored({"houqin_org_id": 7, "recent": [1, 2], "filters": {"status": "idle"}})
    first, second = SessionStore().decode(text), SessionStore().decode(text)
    assert first == second == {"houqin_org_id": 7, "recent": [1, 2], "filters": {"status": "idle"}}
    first["houqin_org_id"] = 8
    first["recent"].append(3)
    first["filters"]["status"] = "in_use"
    # Another request decoding the same stored text gets what is stored, not what this one changed.
    assert SessionStore().decode(text) == {"houqin_org_id": 7, "recent": [1, 2], "filters": {"status": "idle"}}


def test_a_session_read_from_the_database_is_loaded_afresh_after_it_is_saved():
    store = SessionStore()
    store["houqin_org_id"] = 1
    store.save()
    assert SessionStore(session_key=store.session_key).load() == {"houqin_org_id": 1}
    store["houqin_org_id"] = 2
    store.save()
    assert SessionStore(session_key=store.session_key).load() == {"houqin_org_id": 2}


def test_data_that_does_not_verify_is_no_session():
    text = stored({"houqin_org_id": 7})
    tampered = text[:-3] + ("AAA" if not text.endswith("AAA") else "BBB")
    assert SessionStore().decode(tampered) == {}
    assert SessionStore().decode(text) == {"houqin_org_id": 7}


def test_the_decoded_texts_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(sessions, "DECODED_KEPT", 3)
    monkeypatch.setattr(sessions, "_decoded", {})
    texts = [stored({"n": n}) for n in range(5)]
    for n, text in enumerate(texts):
        assert SessionStore().decode(text) == {"n": n}
    assert len(sessions._decoded) == 3 and list(sessions._decoded) == texts[2:]  # the oldest went first


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_the_session_read_is_prepared_once_per_connection_and_still_counted(client, world):
    client.force_login(world.head_a)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("dashboard")).status_code == 200
        assert client.get(reverse("dashboard")).status_code == 200
    reads = [q["sql"] for q in queries.captured_queries if "session_data" in q["sql"]]
    assert len(reads) == 2  # one per request, in the query log and budgets like any query
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%session_data%"])
        assert cursor.fetchone()[0] == 1


def test_an_expired_session_is_no_session(client, world):
    client.force_login(world.head_a)
    key = client.session.session_key
    SessionStore().model.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert SessionStore(session_key=key).load() == {}
    assert client.get(reverse("dashboard")).status_code == 302  # to the login page
