import cProfile
import pstats
import time

import pytest

from houqin.assets.importers import AssetImporter
from houqin.assets.tests.test_import_scale import write_register
from houqin.core.importing import load_data

pytestmark = pytest.mark.django_db


def test_w(world, tmp_path):
    n = 20000
    path = tmp_path / "r.xlsx"
    write_register(path, n, world.a)
    data = load_data(path, ".xlsx", AssetImporter.fields)
    imp = AssetImporter(world.head_a, world.a.org)
    imp.data = data
    imp.options = {"create_missing": False}
    imp.setup()
    imp.writing = True
    rows = [imp.parse(num, cells) for num, cells in data.rows]
    imp.prepare(rows)
    plans = [imp.plan(r) for r in rows]
    c = time.process_time()
    p = cProfile.Profile()
    p.runcall(imp.write, plans)
    print("\nwrite CPU (profiled)", time.process_time() - c)
    pstats.Stats(p).sort_stats("cumulative").print_stats(18)
