"""How big the benchmark's county is, and how long each load runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    schools: int
    cards_per_school: int
    orders_per_school: int
    import_rows: int
    export_rows: int
    load_seconds: int  # each wrk run
    lock_seconds: int  # the SQLite read-then-write run (P7)
    connections: int = 16

    @property
    def cards(self) -> int:
        return self.schools * self.cards_per_school

    @property
    def orders(self) -> int:
        return self.schools * self.orders_per_school

    def describe(self) -> str:
        return (f"{self.name}: {self.schools} schools, {self.cards:,} asset cards, {self.orders:,} work orders, "
                f"import {self.import_rows:,} rows, export {self.export_rows:,} rows, {self.connections} clients, "
                f"{self.load_seconds} s per load run, {self.lock_seconds} s lock test")


SCALES = {
    # The scale: a county bureau running one installation for 200 schools.
    "full": Scale("full", schools=200, cards_per_school=5000, orders_per_school=5000, import_rows=100_000,
                  export_rows=100_000, load_seconds=20, lock_seconds=60),
    # ≤ 10 minutes on 2 cores for both databases: a tenth of the county, shorter load runs.
    "quick": Scale("quick", schools=20, cards_per_school=5000, orders_per_school=5000, import_rows=20_000,
                   export_rows=100_000, load_seconds=5, lock_seconds=20),
    # For the test suite: seconds.
    "tiny": Scale("tiny", schools=3, cards_per_school=200, orders_per_school=200, import_rows=300,
                  export_rows=500, load_seconds=1, lock_seconds=2, connections=4),
}
