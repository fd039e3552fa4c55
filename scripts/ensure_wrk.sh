#!/usr/bin/env bash
# Make sure the benchmark can run: the load generator wrk from Debian's packages (houqin bench drives the app
# with it on loopback). As root, a missing wrk is installed with apt-get; as another user, a message says how.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "houqin bench needs the load generator wrk: sudo apt-get install wrk" >&2
    exit 1
fi
echo "Installing wrk for the benchmark (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends wrk >/dev/null || { apt-get update -qq && apt-get install -y --no-install-recommends wrk >/dev/null; }
command -v wrk >/dev/null
