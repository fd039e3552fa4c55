"""The benchmark's table (stdout) and JSON file."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb, "os": platform.platform(),
            "python": platform.python_version(), "postgresql": _pg_version()}


def _pg_version() -> str:
    try:
        command = [shutil.which("postgres") or "postgres", "--version"]
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
        return out.stdout.strip()
    except OSError:
        return ""


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(phases: list[dict]) -> str:
    header = ["id", "db", "metric", "value", "unit", "baseline", "ratio", "target", "result"]
    rows = []
    for phase in phases:
        for m in phase["metrics"]:
            result = {True: "PASS", False: "FAIL", None: ""}[m["ok"]]
            rows.append([m["id"], m["db"], m["name"], _fmt(m["value"]), m["unit"], _fmt(m["baseline"]),
                         _fmt(m["ratio"]), m["target"], result])
    widths = [max(_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(_pad(str(c), w) for c, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for r in rows:
        lines.append(" | ".join(_pad(str(c), w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def markdown(phases: list[dict]) -> str:
    lines = ["| id | db | metric | value | unit | baseline | ratio | target | result |",
             "|---|---|---|---|---|---|---|---|---|"]
    for phase in phases:
        for m in phase["metrics"]:
            result = {True: "PASS", False: "**FAIL**", None: ""}[m["ok"]]
            lines.append(f"| {m['id']} | {m['db']} | {m['name']} | {_fmt(m['value'])} | {m['unit']} | "
                         f"{_fmt(m['baseline'])} | {_fmt(m['ratio'])} | {m['target']} | {result} |")
    return "\n".join(lines)


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def write_json(path: Path, phases: list[dict], *, scale: str, started: str, seconds: float) -> None:
    metrics = [m for phase in phases for m in phase["metrics"]]
    payload = {"scale": scale, "started": started, "seconds": round(seconds, 1), "machine": machine(),
               "ok": all(m["ok"] is not False for m in metrics), "metrics": metrics}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
