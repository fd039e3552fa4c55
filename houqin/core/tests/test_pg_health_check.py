"""The PostgreSQL connection's health check (houqin.core.backends.postgresql): a kept connection the server ended
is replaced before a request uses it, and a healthy one is not asked anything (no ``SELECT 1`` round trip)."""

import select
import time

import pytest
from django.db import close_old_connections, connection, connections

from houqin.core.models import User

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    connection.ensure_connection()
    assert connection.health_check_enabled, "settings: kept connections are health-checked"


def _end_from_elsewhere(pid: int) -> None:
    """End backend ``pid`` from another connection, as a server restart or an administrator would."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's goodbye reaches the socket a moment later.
    poller = select.poll()
    poller.register(connection.connection.pgconn.socket, select.POLLIN)
    deadline = time.monotonic() + 5
    while not poller.poll(50) and time.monotonic() < deadline:
        pass


def test_a_connection_the_server_ended_is_replaced_before_the_next_request(postgresql):
    pid = connection.connection.info.backend_pid
    _end_from_elsewhere(pid)
    close_old_connections()  # a request starts (request_started)
    assert User.objects.count() >= 0  # served, not an OperationalError
    assert connection.connection.info.backend_pid != pid


def test_a_quiet_connection_is_not_asked_select_1(postgresql, monkeypatch):
    asked = []
    monkeypatch.setattr(type(connections["default"]), "is_usable", lambda self: asked.append(1) or True)
    for _ in range(3):
        close_old_connections()  # a request starts
        User.objects.count()
    assert asked == []
    assert connection.quiet()


def test_a_connection_in_a_transaction_is_not_quiet(postgresql):
    from django.db import transaction

    with transaction.atomic():
        User.objects.count()
        assert not connection.quiet()
    assert connection.quiet()
