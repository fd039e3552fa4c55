#!/usr/bin/env python3
"""Copy the front-end libraries from node_modules/ into houqin/static/vendor/.

The libraries come from the npm registry (package.json, package-lock.json; install them with
``npm ci --ignore-scripts``). Schools often run the system on an intranet without internet access, so every
file a page needs is served by the application itself: nothing is loaded from a CDN, and the copied files
must not reference any external URL.

Only the files the templates use are copied, to these paths under ``houqin/static/vendor/``:

    tabler/css/tabler.min.css            from @tabler/core/dist
    tabler/js/tabler.min.js              from @tabler/core/dist
    htmx/htmx.min.js                     from htmx.org/dist
    echarts/echarts.min.js               from echarts/dist
    tabler-icons/tabler-icons.min.css    from @tabler/icons-webfont/dist
    tabler-icons/fonts/...               the font files that css refers to (relative URLs keep working)
    qr-scanner/qr-scanner.umd.min.js     from qr-scanner (camera QR scanning in the browser)
    qr-scanner/qr-scanner-worker.min.js  its decoding worker (loaded by the library from the same folder)
    signature-pad/signature_pad.umd.min.js  from signature_pad (hand-over signatures on a phone screen)

Each package's licence file is copied next to its files, and ``versions.json`` records the versions.

Changes made while copying:
- ``sourceMappingURL`` comments are removed: the .map files are not shipped, and Django's manifest storage
  (used in production by ``collectstatic``) fails on references to missing files.
- ``@import`` rules that load from another host (e.g. web fonts) are removed; the current releases contain
  none, the check guards against a future release adding one. Any other remaining reference to an external
  URL in a stylesheet stops the copy with an error.

Pure standard library; exits non-zero with a clear message when a source file is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
TARGET = ROOT / "houqin" / "static" / "vendor"

# (npm package, file inside the package, destination under vendor/)
FILES = [
    ("@tabler/core", "dist/css/tabler.min.css", "tabler/css/tabler.min.css"),
    ("@tabler/core", "dist/js/tabler.min.js", "tabler/js/tabler.min.js"),
    ("htmx.org", "dist/htmx.min.js", "htmx/htmx.min.js"),
    ("echarts", "dist/echarts.min.js", "echarts/echarts.min.js"),
    ("@tabler/icons-webfont", "dist/tabler-icons.min.css", "tabler-icons/tabler-icons.min.css"),
    ("qr-scanner", "qr-scanner.umd.min.js", "qr-scanner/qr-scanner.umd.min.js"),
    ("qr-scanner", "qr-scanner-worker.min.js", "qr-scanner/qr-scanner-worker.min.js"),
    ("signature_pad", "dist/signature_pad.umd.min.js", "signature-pad/signature_pad.umd.min.js"),
]
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license")
PACKAGE_DIRS = {
    "@tabler/core": "tabler",
    "htmx.org": "htmx",
    "echarts": "echarts",
    "@tabler/icons-webfont": "tabler-icons",
    "qr-scanner": "qr-scanner",
    "signature_pad": "signature-pad",
}

SOURCE_MAP_RE = re.compile(r"\n?(?:/\*[#@] sourceMappingURL=[^*]*\*/|//[#@] sourceMappingURL=\S*)[ \t]*")
EXTERNAL_IMPORT_RE = re.compile(r"@import\s+(?:url\(\s*)?[\"']?(?:https?:)?//[^;]*;", re.IGNORECASE)
CSS_URL_RE = re.compile(r"url\(\s*([\"']?)([^\"')]+)\1\s*\)", re.IGNORECASE)


class VendorError(Exception):
    pass


def package_version(package: str) -> str:
    manifest = NODE_MODULES / package / "package.json"
    if not manifest.is_file():
        raise VendorError(
            f"node_modules/{package} is missing. Install the front-end packages first: npm ci --ignore-scripts"
        )
    return json.loads(manifest.read_text(encoding="utf-8"))["version"]


def clean_css(text: str, source: str) -> str:
    text = EXTERNAL_IMPORT_RE.sub("", text)
    text = SOURCE_MAP_RE.sub("", text)
    for _quote, url in CSS_URL_RE.findall(text):
        if re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE):
            raise VendorError(f"{source} refers to an external URL ({url}); pages must work without internet")
    return text


def clean_js(text: str) -> str:
    return SOURCE_MAP_RE.sub("", text)


def copy_file(package: str, inner: str, dest_rel: str, staging: Path) -> Path:
    source = NODE_MODULES / package / inner
    if not source.is_file():
        raise VendorError(f"node_modules/{package}/{inner} is missing (has the package layout changed?)")
    dest = staging / dest_rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".css":
        dest.write_text(clean_css(source.read_text(encoding="utf-8"), f"{package}/{inner}"), encoding="utf-8")
    elif source.suffix == ".js":
        dest.write_text(clean_js(source.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        shutil.copyfile(source, dest)
    return source


def copy_css_assets(package: str, inner: str, dest_rel: str, staging: Path) -> list[str]:
    """Copy the files a stylesheet refers to with relative url()s (fonts), keeping the relative layout."""
    source_css = NODE_MODULES / package / inner
    copied = []
    for _quote, url in CSS_URL_RE.findall((staging / dest_rel).read_text(encoding="utf-8")):
        if url.startswith(("data:", "#")):
            continue
        relative = url.split("?", 1)[0].split("#", 1)[0]
        if not relative:
            continue
        source = (source_css.parent / relative).resolve()
        if not source.is_file():
            raise VendorError(f"{package}/{inner} refers to {url}, which is not in the package")
        dest = (staging / dest_rel).parent / relative
        if not dest.resolve().is_relative_to(staging.resolve()):
            raise VendorError(f"{package}/{inner} refers to {url}, outside the package's folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            shutil.copyfile(source, dest)
            copied.append(str(dest.relative_to(staging)))
    return copied


def copy_license(package: str, staging: Path) -> None:
    dest = staging / PACKAGE_DIRS[package] / "LICENSE"
    dest.parent.mkdir(parents=True, exist_ok=True)
    for name in LICENSE_NAMES:
        source = NODE_MODULES / package / name
        if source.is_file():
            shutil.copyfile(source, dest)
            return
    # Some packages ship no licence file; record the licence their package.json declares.
    manifest = json.loads((NODE_MODULES / package / "package.json").read_text(encoding="utf-8"))
    dest.write_text(
        f"{package} {manifest.get('version', '')}\nLicense: {manifest.get('license', 'see the package')}\n"
        f"{manifest.get('homepage', '')}\n",
        encoding="utf-8",
    )


def main() -> int:
    try:
        versions = {package: package_version(package) for package in PACKAGE_DIRS}
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".vendor-", dir=TARGET.parent))
        try:
            count = 0
            for package, inner, dest_rel in FILES:
                copy_file(package, inner, dest_rel, staging)
                count += 1
                if dest_rel.endswith(".css"):
                    count += len(copy_css_assets(package, inner, dest_rel, staging))
            for package in PACKAGE_DIRS:
                copy_license(package, staging)
            (staging / "versions.json").write_text(json.dumps(versions, indent=2) + "\n", encoding="utf-8")
            # Swap the new tree in only once it is complete, so a failed run leaves the old one intact.
            old = TARGET.with_name(".vendor-old")
            shutil.rmtree(old, ignore_errors=True)
            if TARGET.exists():
                TARGET.rename(old)
            staging.rename(TARGET)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except VendorError as exc:
        print(f"vendor: error: {exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{name} {version}" for name, version in versions.items())
    print(f"vendor: copied {count} files into houqin/static/vendor/ ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
