from houqin.core.testing.fixtures import (  # noqa: F401  (shared fixtures, see docs/testing.md)
    admin_a,
    admin_b,
    bureau_admin,
    client_for,
    fast_password_hashing,
    head_a,
    outsider,
    superuser,
    teacher_a,
    world,
)
