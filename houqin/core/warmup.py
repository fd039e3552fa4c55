"""What a server process does once, at its start, instead of during its first requests.

A fresh worker otherwise spends its first requests importing every view (the URL patterns), building the URL
resolvers' tables and compiling the templates it meets, about 1.5 s of CPU over its first pages: a user's first click
after a restart waits for it, and so do the first views of each kind of page. ``houqin/wsgi.py`` calls ``warm_up()``
when the application loads (in each gunicorn worker, before it accepts a request). Nothing here touches the database.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def warm_up() -> dict:
    """Load the URL patterns, fill every resolver's tables and compile the project's templates. Returns what it did
    (``templates``, ``failed``, ``seconds``); a template that does not compile is logged, not raised (its page
    reports the error when it is asked for, as before)."""
    from django.template.loader import get_template
    from django.urls import get_resolver

    started = time.perf_counter()
    resolver = get_resolver()
    _fill(resolver)
    compiled, failed = 0, []
    for name in project_templates():
        try:
            get_template(name)
            compiled += 1
        except Exception:  # noqa: BLE001 — reported, and the page that uses it will say so again
            failed.append(name)
            logger.warning("template %s did not compile at start-up", name, exc_info=True)
    return {"templates": compiled, "failed": failed, "seconds": time.perf_counter() - started}


def _fill(resolver, depth: int = 0, namespace: str = "") -> None:
    resolver.reverse_dict  # noqa: B018 — the property builds the tables (and imports the views)
    if depth < 5:
        for name, (_prefix, sub) in resolver.namespace_dict.items():
            _fill(sub, depth + 1, f"{namespace}{name}:")
            _reverse_one(f"{namespace}{name}:", sub)


def _reverse_one(namespace: str, resolver) -> None:
    """Reverse one name of ``namespace``: Django builds, at the first reversal into a namespace under a prefix
    (``assets/``), a resolver of its own for that prefix and fills its tables (``get_ns_resolver``) — about a
    quarter of a second for the project's namespaces, which a worker's first page otherwise pays."""
    from django.urls import NoReverseMatch, reverse

    name = next((key for key in resolver.reverse_dict if isinstance(key, str)), None)
    if name is not None:
        # A name that needs arguments does not reverse: the prefix's resolver is built all the same.
        with contextlib.suppress(NoReverseMatch):
            reverse(namespace + name)


def project_templates() -> list[str]:
    """The template names of the project's own apps (not Django's nor third parties')."""
    from django.template.utils import get_app_template_dirs

    root = Path(__file__).resolve().parent.parent
    names = []
    for folder in get_app_template_dirs("templates"):
        folder = Path(folder)
        if root in folder.parents:
            names += sorted(str(p.relative_to(folder)).replace("\\", "/") for p in folder.rglob("*.html"))
    return list(dict.fromkeys(names))
