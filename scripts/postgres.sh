#!/usr/bin/env bash
# A throwaway PostgreSQL for the server's tests: installed from Debian when missing, a new
# cluster in a temporary directory, listening on 127.0.0.1 on a free port, stopped and deleted
# when the shell that started it exits.
#
#   source scripts/postgres.sh && postgres_start   # exports HANDRAIL_TEST_POSTGRES
#   scripts/postgres.sh -- COMMAND ARGS...         # runs COMMAND with it, then cleans up
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
# (made by Debian's package) and runs through runuser; as anyone else it runs as that user.
# Its log is printed when the start fails and when the shell exits with an error.

# The superuser the tests connect as (trust auth, no password: nothing but 127.0.0.1 and a
# socket in the temporary directory can reach it).
POSTGRES_TEST_USER="${POSTGRES_TEST_USER:-handrail}"

# Each `handrail serve` holds up to 16 pooled connections and one listener; a test runs at
# most three of them (replicas.rs), and a test binary runs one test per core at once
# (RUST_TEST_THREADS when set). So: tests at once x 3 x 17, plus room for the tests' own
# psql and store handles. 2 cores: 202; 8 cores: 508. Idle slots cost only a little memory.
postgres_max_connections() {
  local threads="${RUST_TEST_THREADS:-$(nproc 2>/dev/null || echo 4)}"
  echo $((threads * 3 * 17 + 100))
}
POSTGRES_TEST_MAX_CONNECTIONS="${POSTGRES_TEST_MAX_CONNECTIONS:-$(postgres_max_connections)}"

postgres_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

postgres_install() {
  if postgres_bin >/dev/null && command -v psql >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "postgres.sh: PostgreSQL is not installed and this is not root; install it (Debian: apt-get install postgresql) or run as root" >&2
    return 1
  fi
  echo "postgres.sh: installing PostgreSQL (apt-get install postgresql)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  postgres_bin >/dev/null
}

# Runs a command as the cluster's owner, from a directory it may enter (the checkout may
# be private to root).
postgres_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# A port from the dynamic range that nothing listens on now; the start retries with another
# when something takes it first.
postgres_free_port() {
  local port
  while :; do
    port=$((49152 + RANDOM % 16000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
}

postgres_print_log() {
  if [ -n "${POSTGRES_TEST_LOG:-}" ] && [ -s "$POSTGRES_TEST_LOG" ]; then
    echo "--- PostgreSQL log ($POSTGRES_TEST_LOG), last 200 lines ---" >&2
    tail -n 200 "$POSTGRES_TEST_LOG" >&2
    echo "--- end of PostgreSQL log ---" >&2
  fi
}

postgres_stop() {
  local status=$?
  if [ -n "${POSTGRES_TEST_DIR:-}" ] && [ -d "$POSTGRES_TEST_DIR" ]; then
    # A failing run shows what the database said, before the directory goes.
    if [ "$status" != 0 ]; then
      postgres_print_log
    fi
    if [ -f "$POSTGRES_TEST_DIR/data/postmaster.pid" ]; then
      postgres_as_owner "$POSTGRES_TEST_BIN/pg_ctl" -D "$POSTGRES_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$POSTGRES_TEST_DIR"
  fi
  POSTGRES_TEST_DIR=""
  return "$status"
}

postgres_start() {
  postgres_install || return 1
  POSTGRES_TEST_BIN="$(postgres_bin)"
  # Under /tmp, not $TMPDIR: the `postgres` user must be able to reach it.
  POSTGRES_TEST_DIR="$(mktemp -d /tmp/handrail-postgres.XXXXXX)"
  # Deleted with the directory; postgres_stop prints it first when the run failed.
  POSTGRES_TEST_LOG="$POSTGRES_TEST_DIR/postgres.log"
  # Replaces the caller's EXIT trap, if it had one; an interrupted run exits, so it cleans up too.
  trap postgres_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$POSTGRES_TEST_DIR"
  fi
  chmod 700 "$POSTGRES_TEST_DIR"

  if ! postgres_as_owner "$POSTGRES_TEST_BIN/initdb" -D "$POSTGRES_TEST_DIR/data" -U "$POSTGRES_TEST_USER" \
    --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$POSTGRES_TEST_DIR/initdb.log" 2>&1; then
    cat "$POSTGRES_TEST_DIR/initdb.log" >&2
    echo "postgres.sh: initdb failed" >&2
    return 1
  fi

  local port attempt
  for attempt in 1 2 3 4 5; do
    port="$(postgres_free_port)"
    # Durability is not what the tests are about: without fsync, CREATE DATABASE per test
    # and the commits are quick.
    if postgres_as_owner "$POSTGRES_TEST_BIN/pg_ctl" -D "$POSTGRES_TEST_DIR/data" -l "$POSTGRES_TEST_LOG" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $POSTGRES_TEST_DIR -c max_connections=$POSTGRES_TEST_MAX_CONNECTIONS -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c log_checkpoints=off" \
      start >/dev/null; then
      break
    fi
    # Another process may have taken the port between the probe and the start.
    port=""
  done
  if [ -z "$port" ]; then
    postgres_print_log
    echo "postgres.sh: PostgreSQL did not start" >&2
    return 1
  fi

  local url="postgres://$POSTGRES_TEST_USER@127.0.0.1:$port/postgres"
  # pg_ctl -w waits for the server to be ready; this is the check that a client gets in.
  for attempt in $(seq 1 100); do
    if psql "$url" -qAtc 'SELECT 1' >/dev/null 2>&1; then
      export HANDRAIL_TEST_POSTGRES="$url"
      echo "postgres.sh: PostgreSQL $("$POSTGRES_TEST_BIN/postgres" --version | awk '{print $3}') at $url (log: $POSTGRES_TEST_LOG)" >&2
      return 0
    fi
    sleep 0.1
  done
  postgres_print_log
  echo "postgres.sh: PostgreSQL started but does not accept connections at $url" >&2
  return 1
}

# Run directly: start, run the command after `--` with HANDRAIL_TEST_POSTGRES set, clean up.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ "${1:-}" != "--" ] || [ $# -lt 2 ]; then
    echo "usage: scripts/postgres.sh -- COMMAND [ARGS...]   (or source it and call postgres_start)" >&2
    exit 2
  fi
  shift
  postgres_start
  "$@"
fi
