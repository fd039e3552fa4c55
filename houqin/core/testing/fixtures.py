"""pytest fixtures shared by every app. Import the ones you use in your app's ``tests/conftest.py``:

    from houqin.core.testing.fixtures import client_for, fast_password_hashing, world  # noqa: F401

(pytest finds fixtures by name in the conftest's namespace; importing them is how they are shared.)
"""

from __future__ import annotations

import pytest
from django.test import Client

from houqin.core.testing.world import World, build_world


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash passwords with a cheap hasher: the real one costs ~0.3 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db) -> World:
    """Bureau, schools A and B with places and structure, and the personas (houqin.core.testing.world)."""
    return build_world()


@pytest.fixture
def client_for():
    """``client_for(user)``: a test client logged in as ``user`` (anonymous for None). One client per user."""
    clients: dict = {}

    def make(user) -> Client:
        key = None if user is None else user.pk
        if key not in clients:
            client = Client()
            if user is not None:
                client.force_login(user)
            clients[key] = client
        return clients[key]

    return make


@pytest.fixture
def admin_a(world):
    return world.admin_a


@pytest.fixture
def head_a(world):
    return world.head_a


@pytest.fixture
def teacher_a(world):
    return world.teacher_a


@pytest.fixture
def admin_b(world):
    return world.admin_b


@pytest.fixture
def bureau_admin(world):
    return world.bureau_admin


@pytest.fixture
def superuser(world):
    return world.superuser


@pytest.fixture
def outsider(world):
    return world.outsider
