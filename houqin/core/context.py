"""Who is acting and under which request id: set by middleware for web requests and by
``acting_as`` for commands and background jobs. Read by the change log."""

from __future__ import annotations

import contextvars
import uuid
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class ActionContext:
    user: object | None = None
    request_id: str = ""
    org_id: int | None = None
    # Web requests only (houqin.core.pagecache.request_version): the data version as this request first read it,
    # and how many writes the connection had made when the request began.
    writes_at_start: int | None = None
    data_version: str | None = None
    version_read: bool = False


_current: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar("houqin_action", default=None)


def current() -> ActionContext:
    return _current.get() or ActionContext()


def set_current(ctx: ActionContext | None):
    return _current.set(ctx)


def reset(token) -> None:
    _current.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def acting_as(user=None, request_id: str | None = None, org_id: int | None = None):
    token = _current.set(ActionContext(user=user, request_id=request_id or new_request_id(), org_id=org_id))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
