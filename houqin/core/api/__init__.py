"""The JSON API: base viewsets and serializers, the shared router, errors, pagination and schema helpers.

See docs/api.md.
"""


def has_org_column(model) -> bool:
    """Whether rows of ``model`` carry their owning organisation in an ``org`` foreign key."""
    return any(f.name == "org" and f.is_relation for f in model._meta.concrete_fields)
