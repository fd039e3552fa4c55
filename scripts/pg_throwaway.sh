#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster.
#
#   scripts/pg_throwaway.sh COMMAND [ARGS...]
#
# Creates a new cluster in a temporary directory, starts it listening only on a Unix socket inside that
# directory (no TCP port, so parallel runs never collide), creates the database "houqin", exports
#   DATABASE_URL=postgres://postgres@/houqin?host=<socket dir>
# runs COMMAND, then stops the server and deletes the directory, whatever COMMAND's outcome.
# The exit status is COMMAND's. Nothing is printed after COMMAND finishes, so a test runner's summary
# stays the last line of output.
#
# The server binaries (initdb, pg_ctl, postgres) must be on PATH. initdb refuses to run as root, so when
# started as root the cluster runs as the "postgres" system user (created if missing); the command itself
# still runs as the invoking user and connects as the "postgres" superuser role (trust authentication on a
# socket only this machine can reach), which may create databases such as the test databases.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

for tool in initdb pg_ctl postgres; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "pg_throwaway: '$tool' is not on PATH; install the PostgreSQL server (e.g. apt-get install postgresql)" >&2
        exit 2
    fi
done
PGBIN="$(dirname "$(readlink -f "$(command -v initdb)")")"

as_owner() {
    # Run a server-side command as the cluster owner, from a directory that owner can enter.
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$PGROOT" && runuser -u "$PG_OS_USER" -- "$@")
    else
        (cd "$PGROOT" && "$@")
    fi
}

PG_OS_USER="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
    PG_OS_USER=postgres
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
    fi
fi

PGROOT="$(mktemp -d "${TMPDIR:-/tmp}/houqin-pg.XXXXXX")"
PGDATA_DIR="$PGROOT/data"
PGLOG="$PGROOT/server.log"
started=0

cleanup() {
    if [ "$started" -eq 1 ]; then
        as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PGROOT"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -eq 0 ]; then
    chown "$PG_OS_USER" "$PGROOT"
fi
chmod 0755 "$PGROOT"

if ! as_owner "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        --no-instructions >"$PGROOT/initdb.log" 2>&1; then
    echo "pg_throwaway: initdb failed:" >&2
    cat "$PGROOT/initdb.log" >&2
    exit 1
fi

# Durability is pointless for a cluster deleted after the run; turning it off makes the tests faster.
server_options="-c listen_addresses='' -c unix_socket_directories='$PGROOT' -c fsync=off"
server_options+=" -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
if ! as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGLOG" -o "$server_options" -w -t 60 start >/dev/null 2>&1; then
    echo "pg_throwaway: the PostgreSQL server did not start:" >&2
    cat "$PGLOG" >&2 || true
    exit 1
fi
started=1

if ! "$PGBIN/createdb" -h "$PGROOT" -U postgres houqin >/dev/null 2>"$PGROOT/createdb.log"; then
    echo "pg_throwaway: createdb failed:" >&2
    cat "$PGROOT/createdb.log" >&2
    exit 1
fi

export DATABASE_URL="postgres://postgres@/houqin?host=$PGROOT"
export PGHOST="$PGROOT" PGUSER=postgres PGDATABASE=houqin

status=0
"$@" || status=$?
exit "$status"
