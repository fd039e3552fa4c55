"""``houqin load_asset_categories``: load or refresh the national asset categories (GB/T 14885) from
houqin/assets/data/. Safe to run any number of times; a fresh database gets them from the migrations already."""

from django.core.management.base import BaseCommand, CommandError

from houqin.assets.categories import EDITIONS, load_categories


class Command(BaseCommand):
    help = "Load or refresh the national asset categories (GB/T 14885) from houqin/assets/data/ (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--edition", choices=sorted(EDITIONS), action="append",
                            help="Edition(s) to load (default: all shipped editions).")

    def handle(self, *args, edition=None, **options):
        for name in edition or sorted(EDITIONS):
            try:
                result = load_categories(name)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(str(result))
