"""Production settings pass ``check --deploy``; SQLite is refused unless set up for concurrent use."""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper

from houqin.core.checks import check_sqlite_concurrency, sqlite_errors, sqlite_problems

PROJECT_DIR = Path(__file__).resolve().parents[3]
PRODUCTION_HOST = "houqin.example.edu.cn"


def random_secret_key(length: int = 60) -> str:
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The current environment without any HOUQIN_*, DJANGO_* (e.g. DJANGO_ALLOW_ASYNC_UNSAFE, which other tests
    may set for Playwright) or DATABASE_URL variable, with a private data dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HOUQIN_", "DJANGO_")) and k != "DATABASE_URL"}
    env["HOUQIN_DATA_DIR"] = str(tmp_path / "data")
    env["HOUQIN_STATIC_ROOT"] = str(tmp_path / "static")
    env.update(extra)
    return env


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    values = {"HOUQIN_PRODUCTION": "1", "HOUQIN_SECRET_KEY": random_secret_key(),
              "HOUQIN_ALLOWED_HOSTS": PRODUCTION_HOST, **extra}
    return clean_env(tmp_path, **values)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env, capture_output=True,
                          text=True, timeout=120)


def settings_in(env: dict[str, str], *names: str) -> dict:
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=str))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR,
                            env={**env, "DJANGO_SETTINGS_MODULE": "houqin.settings"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- Production settings ---------------------------------------------------------------------------------------


def test_production_settings_pass_check_deploy(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = clean_env(tmp_path, HOUQIN_PRODUCTION="1", HOUQIN_ALLOWED_HOSTS=PRODUCTION_HOST)
    result = manage(env, "check")
    assert result.returncode != 0
    assert "HOUQIN_SECRET_KEY" in result.stderr and "required in production" in result.stderr
    assert not (tmp_path / "data" / "secret_key").exists()  # no silently generated key in production


def test_production_refuses_a_short_secret_key(tmp_path):
    env = production_env(tmp_path, HOUQIN_SECRET_KEY="too-short")
    result = manage(env, "check")
    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_production_refuses_debug(tmp_path):
    result = manage(production_env(tmp_path, HOUQIN_DEBUG="1"), "check")
    assert result.returncode != 0
    assert "HOUQIN_DEBUG must be off" in result.stderr


def test_production_cookies_and_transport_security(tmp_path):
    values = settings_in(production_env(tmp_path), "DEBUG", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
                         "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_SAMESITE",
                         "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "X_FRAME_OPTIONS", "ALLOWED_HOSTS")
    assert values == {
        "DEBUG": False, "SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax", "CSRF_COOKIE_SECURE": True, "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31536000, "X_FRAME_OPTIONS": "DENY",
        "ALLOWED_HOSTS": [PRODUCTION_HOST],
    }


def test_single_pc_install_keeps_a_generated_secret_key(tmp_path):
    env = clean_env(tmp_path)
    first = settings_in(env, "SECRET_KEY")["SECRET_KEY"]
    assert len(first) >= 50
    assert settings_in(env, "SECRET_KEY")["SECRET_KEY"] == first  # sessions survive a restart
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


def test_session_settings():
    assert django_settings.SESSION_IDLE_TIMEOUT_S == 30 * 60
    assert django_settings.SESSION_ABSOLUTE_TIMEOUT_S == 12 * 60 * 60
    assert django_settings.SESSION_COOKIE_AGE <= django_settings.SESSION_ABSOLUTE_TIMEOUT_S
    assert django_settings.SESSION_COOKIE_HTTPONLY is True
    assert django_settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert django_settings.LANGUAGE_CODE == "zh-hans"


# --- SQLite concurrency check ----------------------------------------------------------------------------------

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite check only applies to SQLite")


def other_sqlite(tmp_path: Path, **options) -> DatabaseWrapper:
    """A second connection to a fresh SQLite file with these OPTIONS instead of the project's."""
    settings_dict = {**connection.settings_dict, "NAME": str(tmp_path / "other.sqlite3"), "OPTIONS": options}
    return DatabaseWrapper(settings_dict, alias="other")


@sqlite_only
@pytest.mark.django_db
def test_default_sqlite_settings_pass_the_check():
    assert sqlite_problems(connection) == []
    assert check_sqlite_concurrency(None) == []


@sqlite_only
@pytest.mark.django_db
def test_sqlite_without_wal_immediate_and_normal_is_refused(tmp_path):
    other = other_sqlite(tmp_path, init_command="PRAGMA journal_mode=DELETE;")
    try:
        problems = sqlite_problems(other)
        errors = sqlite_errors(other)
    finally:
        other.close()
    assert "transaction_mode is not IMMEDIATE" in problems
    assert "journal_mode is delete, not wal" in problems
    assert any(p.startswith("synchronous is 2") for p in problems)
    assert errors and all(e.id == "houqin.E001" and e.is_serious() for e in errors)
    assert "'other'" in errors[0].msg


@sqlite_only
@pytest.mark.django_db
def test_sqlite_with_a_short_busy_timeout_or_no_foreign_keys_is_refused(tmp_path):
    other = other_sqlite(tmp_path, transaction_mode="IMMEDIATE", timeout=1,
                         init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;")
    try:
        problems = sqlite_problems(other)
    finally:
        other.close()
    assert problems == ["busy_timeout is 1000 ms, below 5000 ms", "foreign_keys is off"]


@sqlite_only
@pytest.mark.django_db
def test_sqlite_that_cannot_be_opened_is_reported(tmp_path):
    other = DatabaseWrapper({**connection.settings_dict, "NAME": str(tmp_path / "missing-dir" / "x.sqlite3")},
                            alias="other")
    errors = sqlite_errors(other)
    assert [e.id for e in errors] == ["houqin.E001"]
    assert "cannot open the database" in errors[0].msg


def test_manage_check_on_a_sqlite_database_url(tmp_path):
    env = clean_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'elsewhere' / 'houqin.sqlite3'}")
    result = manage(env, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert (tmp_path / "elsewhere" / "houqin.sqlite3").exists()
