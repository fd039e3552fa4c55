"""The application under a production-like server for the benchmark: gunicorn with several sync workers, DEBUG
off, on a loopback port, writing an access log with each request's server time (microseconds) so latency
percentiles are the server's, not the load generator's queueing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

# Access log line: status, server time in µs, the page cache's answer (hit, miss, waited, or - when not kept:
# houqin.core.pagecache), path (with query).
ACCESS_FORMAT = "%(s)s %(D)s %({x-page-cache}o)s %(U)s%(q)s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(env: dict, workdir: Path, *, workers: int = 4):
    """Start gunicorn with ``env``; yield (base URL, access-log path). Stops it afterwards."""
    port = free_port()
    access_log = workdir / f"access-{port}.log"
    error_log = workdir / f"server-{port}.log"
    command = [
        sys.executable, "-m", "gunicorn", "houqin.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
        "--timeout", "120", "--backlog", "512",
        "--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT,
        "--error-logfile", str(error_log), "--log-level", "warning",
    ]
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=str(workdir),  # noqa: S603 — no shell
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/bench/noop/", timeout=2) as response:  # noqa: S310 — loopback
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = error_log.read_text(errors="replace")[-3000:] if error_log.exists() else ""
                raise RuntimeError(f"the benchmark server did not start:\n{tail}")
            time.sleep(0.3)
        yield base, access_log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_access_log(path: Path, start: int) -> tuple[list[tuple[int, int, str, str]], int]:
    """Lines appended to the access log since byte ``start``: (status, µs, path, page cache answer); and the new
    offset."""
    if not path.exists():
        return [], start
    with path.open("rb") as fh:
        fh.seek(start)
        data = fh.read()
        end = fh.tell()
    rows = []
    for line in data.decode(errors="replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            continue
        cache, path = (parts[2], parts[3]) if len(parts) == 4 and not parts[2].startswith("/") else \
            ("-", line.split(" ", 2)[2])
        rows.append((int(parts[0]), int(parts[1]), path, cache))
    return rows, end
