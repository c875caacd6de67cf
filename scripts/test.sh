#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit tests and the HTTP tests
# on SQLite and on a real PostgreSQL server.
#
# PostgreSQL: set POSTGATE_TEST_DATABASE_URL to a server where the user may
# create databases (for example postgres://postgres@127.0.0.1:5432/postgres).
# Unset, this script installs PostgreSQL with apt-get when it is missing,
# starts a throwaway cluster on a free loopback port and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  log "cargo is missing: install Rust 1.94 or newer with rustup (https://rustup.rs) and run this again"
  exit 1
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

find_pg_bin() {
  local initdb
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

# Prints up to $1 ports of 55432-55532 that nothing listens on, in order.
free_ports() {
  local port found=0
  for port in $(seq 55432 55532); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      found=$((found + 1))
      [ "$found" -lt "$1" ] || return 0
    fi
  done
}

start_postgres() {
  local bin_dir port data_dir run_as=()
  bin_dir=$(find_pg_bin || true)
  if [ -z "$bin_dir" ]; then
    log "installing PostgreSQL with apt-get"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin_dir=$(find_pg_bin)
  fi
  data_dir=$(mktemp -d /tmp/postgate-test-pg.XXXXXX)
  # initdb refuses to run as root, so a root shell runs the server as the
  # postgres user that the Debian package creates.
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$data_dir"
    run_as=(runuser -u postgres --)
  fi
  PG_STOP=("${run_as[@]}" "$bin_dir/pg_ctl" -D "$data_dir/db" -m fast -w stop)
  PG_DATA_DIR=$data_dir
  trap stop_postgres EXIT
  # The postgres user may not be allowed into the current folder.
  cd /
  "${run_as[@]}" "$bin_dir/initdb" -D "$data_dir/db" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  # A port that nothing listens on can still be taken, for example by a
  # connection of an earlier run in TIME-WAIT, so try the next on failure.
  local started=""
  for port in $(free_ports 5); do
    log "starting PostgreSQL from $bin_dir on 127.0.0.1:$port (data in $data_dir)"
    if "${run_as[@]}" "$bin_dir/pg_ctl" -D "$data_dir/db" -l "$data_dir/server.log" -w -o \
      "-p $port -k $data_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" \
      start >/dev/null; then
      started=yes
      break
    fi
    log "PostgreSQL did not start on port $port; trying another"
  done
  if [ -z "$started" ]; then
    log "PostgreSQL did not start; its log follows"
    cat "$data_dir/server.log" >&2
    exit 1
  fi
  cd - >/dev/null
  export POSTGATE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
  (cd / && "${PG_STOP[@]}" >/dev/null 2>&1) || true
  rm -rf "$PG_DATA_DIR"
}

if [ -z "${POSTGATE_TEST_DATABASE_URL:-}" ]; then
  start_postgres
fi
# The CLI tests generate RSA keys with openssl and create databases with psql;
# the /docs test drives Swagger UI in headless Chromium through chromedriver.
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if cargo fmt --version >/dev/null 2>&1; then
  log "cargo fmt --check"
  cargo fmt --all --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  log "cargo clippy"
  cargo clippy --all-targets --locked -- -D warnings
fi
log "cargo test (every HTTP test runs on SQLite and on PostgreSQL)"
cargo test --locked "$@"
