"""``houqin apischema``: write the OpenAPI schema of the JSON API to docs/openapi.yaml.

``houqin apischema --check`` regenerates it in memory and fails (exit status 1, with a short diff) when it differs
from the committed file, so that every API change is deliberate and reviewed. Generation also fails on any
drf-spectacular warning or error: the schema must describe every endpoint exactly.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import include, path
from django.utils import translation

DIFF_LINES = 60


def default_schema_path() -> Path:
    return Path(settings.PROJECT_DIR) / "docs" / "openapi.yaml"


def generate_schema() -> tuple[str, list[str]]:
    """The schema as YAML text, and the generator's warnings and errors (empty when all is well)."""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.renderers import OpenApiYamlRenderer
    from drf_spectacular.settings import spectacular_settings

    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS(patterns=[path("api/", include("houqin.api_urls"))])
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence(), translation.override(settings.LANGUAGE_CODE):
        schema = generator.get_schema(request=None, public=True)
    problems = [*GENERATOR_STATS._error_cache, *GENERATOR_STATS._warn_cache]
    GENERATOR_STATS.reset()
    return OpenApiYamlRenderer().render(schema, renderer_context={}).decode(), problems


class Command(BaseCommand):
    help = "Write the API's OpenAPI schema to docs/openapi.yaml, or --check that the file is current."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true",
                            help="Do not write; exit with status 1 if the file differs from the generated schema.")
        parser.add_argument("--file", default=None,
                            help="Schema file (default: docs/openapi.yaml in the project directory).")

    def handle(self, *args, check=False, file=None, **options):
        target = Path(file) if file else default_schema_path()
        text, problems = generate_schema()
        if problems:
            raise CommandError("API schema generation reported problems; fix them (type hints, @extend_schema_field, "
                               "@extend_schema) before committing:\n" + "\n".join(f"  {p}" for p in problems))
        shown_name = _relative(target)
        if check:
            try:
                current = target.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CommandError(
                    f"{shown_name} does not exist. Run `houqin apischema` and commit the file."
                ) from None
            if current != text:
                diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), f"{shown_name} (committed)",
                                                 f"{shown_name} (generated)", lineterm="", n=2))
                shown = "\n".join(diff[:DIFF_LINES])
                more = f"\n… {len(diff) - DIFF_LINES} more diff lines" if len(diff) > DIFF_LINES else ""
                raise CommandError(f"The API schema has changed but {shown_name} was not regenerated.\n"
                                   f"Run `houqin apischema`, review the change and commit it.\n\n{shown}{more}")
            self.stdout.write(f"{shown_name} is up to date.")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            self.stdout.write(f"{shown_name} is already up to date.")
            return
        target.write_text(text, encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"Wrote {shown_name}."))


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
