"""Driving the server with wrk (Debian package ``wrk``) on loopback: N connections for a bounded time over a
list of paths, with a session cookie. Throughput comes from wrk; latency percentiles from the server's access
log (server time), see houqin.bench.server."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from houqin.bench.server import read_access_log

LUA = """
local paths = %(paths)s
local cookies = %(cookies)s
local fresh = %(fresh)s
local nthreads = %(threads)d
local counter = 0
local thread_id = 0
local threads = {}

setup = function(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

init = function(args)
  counter = id * 7919
end

request = function()
  counter = counter + 1
  local path = paths[(counter %% #paths) + 1]
  -- This thread's share of the sessions in turn (of sixteen and two threads: the 1st, 3rd, 5th … for the first).
  local cookie = cookies[((counter * nthreads + id) %% #cookies) + 1]
  local headers = {["Cookie"] = cookie, ["Accept"] = "text/html"}
  if fresh then
    headers["Cache-Control"] = "no-cache"
  end
  return wrk.format("GET", path, headers)
end

done = function(summary, latency, requests)
  io.write("WRKJSON ")
  io.write(string.format('{"requests": %%d, "seconds": %%.3f, "errors": %%d, "non2xx": %%d}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    non2xx: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict
    kept: int = 0  # answers served from the page cache (houqin.core.pagecache)
    waited: int = 0  # answers that waited for the same page another request was building, then served it kept
    built: int = 0  # pages built and kept
    built_p95_ms: float = 0.0  # server time of the pages built

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for these characters


def percentile(values: list[int], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return float(ordered[index])


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed: apt-get install wrk (or run scripts/ensure_wrk.sh)")
    return found


def run_wrk(base: str, paths: list[str], *, cookie: str | list[str], access_log: Path, workdir: Path, seconds: int,
            connections: int = 16, threads: int = 2, name: str = "load", fresh: bool = False) -> LoadResult:
    """``connections`` clients for ``seconds`` over ``paths`` (cycled); returns throughput and server times.

    ``fresh``: every request asks for a freshly built page (``Cache-Control: no-cache``, as a browser's hard
    reload does), so the server builds each page instead of serving it kept (houqin.core.pagecache).

    ``cookie`` may be a list of session cookies, as real users each have their own session: each wrk thread then
    sends its share of them in turn, one per request, so that no session is used by many requests at once. The
    number of wrk threads stays ``threads`` whatever the cookies: wrk runs on the same cores as the server, and a
    thread per connection (sixteen instead of two) costs it enough of them to lower a page's requests/s by about
    6 % against the baseline (a), which is driven with two."""
    cookies = [cookie] if isinstance(cookie, str) else list(cookie)
    script = workdir / f"{name}.lua"
    script.write_text(LUA % {"paths": "{" + ", ".join(_lua_string(p) for p in paths) + "}",
                             "cookies": "{" + ", ".join(_lua_string(c) for c in cookies) + "}",
                             "fresh": "true" if fresh else "false", "threads": threads}, encoding="utf-8")
    offset = access_log.stat().st_size if access_log.exists() else 0
    completed = subprocess.run(  # noqa: S603 — our own arguments, no shell
        [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
         base + paths[0]],
        capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary:\n{completed.stdout}\n{completed.stderr}")
    summary = json.loads(line[len("WRKJSON "):])
    rows, _ = read_access_log(access_log, offset)
    times = [us for _status, us, _path, _cache in rows]
    built = [us for _status, us, _path, cache in rows if cache == "miss"]
    statuses: dict = {}
    for status, _us, _path, _cache in rows:
        statuses[status] = statuses.get(status, 0) + 1
    return LoadResult(
        requests=summary["requests"], seconds=summary["seconds"], errors=summary["errors"],
        non2xx=summary["non2xx"], p50_ms=percentile(times, 0.50) / 1000, p95_ms=percentile(times, 0.95) / 1000,
        p99_ms=percentile(times, 0.99) / 1000, statuses=statuses,
        kept=sum(1 for row in rows if row[3] == "hit"), waited=sum(1 for row in rows if row[3] == "waited"),
        built=len(built), built_p95_ms=percentile(built, 0.95) / 1000)
