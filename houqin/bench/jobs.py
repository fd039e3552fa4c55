"""In-process benchmark jobs, each run in a child process so that its time and peak memory are its own:

    python -m houqin.bench.jobs export --username U --rows N
    python -m houqin.bench.jobs import --username U --file F
    python -m houqin.bench.jobs bare-import --file F

Each prints one line ``BENCHJOB {"seconds": …, "peak_mb": …, …}``. Peak memory is the process's maximum
resident set (``ru_maxrss``), Django and the libraries included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _emit(**values) -> None:
    print("BENCHJOB " + json.dumps({**values, "peak_mb": round(_peak_mb(), 1)}), flush=True)


def export(username: str, rows: int) -> None:
    """The asset list's .xlsx export through the real view (filters, permissions, exporter)."""
    from django.test import Client
    from django.urls import reverse

    from houqin.bench.phase import session_cookie

    cookie = session_cookie(username)
    client = Client(HTTP_HOST="127.0.0.1")
    name, value = cookie.split("=", 1)
    client.cookies[name] = value
    started = time.perf_counter()
    response = client.get(reverse("assets:asset_export"))
    size = 0
    for chunk in response.streaming_content if response.streaming else [response.content]:
        size += len(chunk)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"export answered {response.status_code}")
    _emit(seconds=round(seconds, 3), bytes=size, rows=rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="job", required=True)
    p = sub.add_parser("export")
    p.add_argument("--username", required=True)
    p.add_argument("--rows", type=int, required=True)
    p = sub.add_parser("import")
    p.add_argument("--username", required=True)
    p.add_argument("--file", required=True)
    p = sub.add_parser("bare-import")
    p.add_argument("--file", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "houqin.settings")
    if args.job == "export":
        os.environ["HOUQIN_EXPORT_MAX_ROWS"] = str(args.rows)
    import django

    django.setup()
    if args.job == "export":
        export(args.username, args.rows)
    elif args.job == "import":
        from houqin.bench.importing import real_import

        _emit(**real_import(args.username, args.file))
    else:
        from houqin.bench.importing import bare_import

        _emit(**bare_import(args.file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
