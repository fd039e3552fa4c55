"""One database's part of ``houqin bench``: run as ``python -m houqin.bench.phase --scale quick --out FILE`` in an
environment whose HOUQIN_DATA_DIR (SQLite) or DATABASE_URL (PostgreSQL) points at an empty, throwaway database.

Creates the schema and the county, measures the in-process metrics (import, export) in child processes (their
peak memory is the child's), starts the app under gunicorn and drives it with wrk, and writes the metrics as
JSON (houqin.bench.report reads them)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "houqin.settings")
    import django

    django.setup()


def session_cookie(username: str) -> str:
    """A signed-in session for ``username`` stored in the database, as a Cookie header value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from houqin.core.middleware import SESSION_LOGIN_AT, SESSION_SEEN_AT
    from houqin.core.models import User
    from houqin.core.sessions import SessionStore

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    now = int(time.time())
    session[SESSION_LOGIN_AT] = now
    session[SESSION_SEEN_AT] = now
    if user.default_org_id:
        session["houqin_org_id"] = user.default_org_id
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def browser_cookie(username: str) -> str:
    """The Cookie header of a signed-in browser: ``username``'s session and the CSRF cookie that the first page it
    was sent set (a browser sends it back with every request after; without it, every answer would make a new CSRF
    secret and set it, which real use does once per browser)."""
    from django.conf import settings
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
    from django.utils.crypto import get_random_string

    secret = get_random_string(CSRF_SECRET_LENGTH, allowed_chars=CSRF_ALLOWED_CHARS)
    return f"{session_cookie(username)}; {settings.CSRF_COOKIE_NAME}={secret}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="quick")
    parser.add_argument("--out", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args(argv)
    _setup()
    from houqin.bench import metrics
    from houqin.bench.scales import SCALES

    scale = SCALES[args.scale]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = metrics.run_all(scale, workdir, log=lambda text: print(text, flush=True))
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
