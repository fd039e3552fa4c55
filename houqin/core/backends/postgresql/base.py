"""Django's PostgreSQL backend with a health check that costs no round trip when the connection is quiet.

Kept connections (``CONN_MAX_AGE``) are health-checked before a request first uses them (``CONN_HEALTH_CHECKS``),
so that a connection the server closed meanwhile — a restart, an idle timeout, ``pg_terminate_backend`` — is
replaced instead of failing the request. Django checks by sending ``SELECT 1`` and waiting for the answer: one more
round trip to the server on every request, on a kept page a third of the requests' database work (under load on two
cores the card page served a third fewer pages with it).

A server that ends a connection tells the client first (a ``FATAL`` message) and then closes its end, so the
socket of a closed connection has something to read; the socket of a healthy, idle connection has nothing, as
nothing is sent unasked (this project does not ``LISTEN``). The check therefore asks the operating system whether
the socket is readable, without waiting. Only when it is — or when psycopg already knows the connection is closed
or broken, or it is not idle outside a transaction — is Django's ``SELECT 1`` sent, which then decides as before.
A connection that dies silently (the network, not the server) is not seen by either check until it is used.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (self.connection is not None and self.health_check_enabled and not self.health_check_done
                and not self.pool and self.quiet()):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def quiet(self) -> bool:
        """True when the connection is open, idle, and the server has sent nothing since the last answer."""
        connection = self.connection
        try:
            if connection is None or connection.closed or connection.broken:
                return False
            pgconn = connection.pgconn
            if pgconn.transaction_status != base.Database.pq.TransactionStatus.IDLE:
                return False
            poller = select.poll()
            poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        except (OSError, ValueError, base.Database.Error):
            return False
