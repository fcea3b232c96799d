#!/usr/bin/env bash
# deploy/bench/pgbench.sh — the Postgres baseline `make bench` compares anju against.
#
# Against the Postgres in use (.anju/stack.env; its fsync as configured — on by default), in a
# scratch database anju_pgbench: one single-row INSERT per transaction
# (t(id bigserial primary key, payload text, created_at timestamptz default now())),
# prepared statements like sqlx, for PGBENCH_SECONDS (10) at 1 client and at 64 clients (-j 2).
# Writes .anju/bench/pgbench.txt:
#   tps_1=<transactions per second at 1 client, rounded>
#   tps_64=<same at 64 clients>
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
SECONDS_EACH=${PGBENCH_SECONDS:-10}
OUT_DIR=$ROOT/.anju/bench
OUT=$OUT_DIR/pgbench.txt
DB=anju_pgbench

# shellcheck source=/dev/null
. "$("$ROOT/deploy/stack.sh" env)"
PGBENCH=$("$ROOT/deploy/tools.sh" pgbench)

base=${DATABASE_URL%%\?*}
query=${DATABASE_URL#"$base"}
url="${base%/*}/$DB$query"

PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" \
  -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 "$url" \
  -c "CREATE TABLE t (id bigserial PRIMARY KEY, payload text, created_at timestamptz DEFAULT now())"
fsync=$(psql -X -A -t "$url" -c 'SHOW fsync')
sync_commit=$(psql -X -A -t "$url" -c 'SHOW synchronous_commit')

mkdir -p "$OUT_DIR"
script=$(mktemp)
trap 'rm -f "$script"' EXIT
echo "INSERT INTO t (payload) VALUES ('anju pgbench baseline row');" >"$script"

# anju reaches a loopback Postgres without TLS (libs/kit db::connect_options); so does the
# baseline, or the comparison would flatter anju.
case "$url" in
  *@127.0.0.1[:/]* | *@localhost[:/]*) [ -n "${PGSSLMODE:-}" ] || export PGSSLMODE=disable ;;
esac

# run CLIENTS JOBS: prints the TPS (excluding connection time) rounded to an integer.
run() {
  local clients=$1 jobs=$2 outf tps
  outf=$(mktemp)
  if ! "$PGBENCH" -n -M prepared -f "$script" -c "$clients" -j "$jobs" -T "$SECONDS_EACH" "$url" >"$outf" 2>&1; then
    cat "$outf" >&2
    rm -f "$outf"
    echo "pgbench at $clients clients failed" >&2
    return 1
  fi
  # PostgreSQL 14+: "tps = 3412.345678 (without initial connection time)"; older versions print
  # an "excluding connections establishing" line too, which is the one to take.
  tps=$(grep -E '^tps = .*(without initial connection time|excluding connections)' "$outf" | head -n1 | awk '{print $3}')
  [ -n "$tps" ] || { cat "$outf" >&2; rm -f "$outf"; echo "no TPS in pgbench output" >&2; return 1; }
  grep -E '^(number of (transactions actually processed|failed transactions)|latency average)' "$outf" \
    | sed "s/^/  [$clients clients] /" >&2
  rm -f "$outf"
  printf '%.0f\n' "$tps"
}

echo "pgbench: single-row INSERT per transaction, ${SECONDS_EACH}s each, fsync=$fsync synchronous_commit=$sync_commit, $DATABASE_URL" >&2
tps_1=$(run 1 1)
tps_64=$(run 64 2)
PGOPTIONS="-c client_min_messages=warning" psql -X -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true

printf 'tps_1=%s\ntps_64=%s\n' "$tps_1" "$tps_64" >"$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
echo "${OUT#"$ROOT"/}:"
cat "$OUT"
