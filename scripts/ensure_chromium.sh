#!/usr/bin/env bash
# Make sure the browser tests can run: Debian's Chromium at /usr/bin/chromium (Playwright drives it; its own
# browser download is never used) and a font with Chinese glyphs, so screenshots show 汉字 and not boxes.
# As root, missing packages are installed with apt-get; as another user, a clear message says what to install.
# HOUQIN_CHROMIUM (read by the browser tests too) may point at another Chromium binary; it is then only checked.
set -euo pipefail

CHROMIUM="${HOUQIN_CHROMIUM:-/usr/bin/chromium}"
missing=()
if [ ! -x "$CHROMIUM" ]; then
    if [ "$CHROMIUM" != /usr/bin/chromium ]; then
        echo "HOUQIN_CHROMIUM=$CHROMIUM is not an executable file" >&2
        exit 1
    fi
    missing+=(chromium)
fi
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
    missing+=(fonts-noto-cjk)
fi
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "The browser tests need these Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "Installing ${missing[*]} for the browser tests (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq "${missing[@]}" fontconfig >/dev/null
fc-cache -f >/dev/null 2>&1 || true

if [ ! -x "$CHROMIUM" ]; then
    echo "Chromium is still missing at $CHROMIUM after installing it" >&2
    exit 1
fi
