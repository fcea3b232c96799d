#!/usr/bin/env bash
# deploy/run.sh — `make run`: the whole system on this machine.
#   stack up → cargo build -p anju → `anju serve --target all` in the background
#   (log .anju/anju.log, PID .anju/anju.pid) → `anju status --wait 60` → `anju demo`.
# A server left from a previous run is stopped first. `make down` stops everything.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=deploy/lib.sh
. deploy/lib.sh

STATE=$ROOT/.anju
PIDFILE=$STATE/anju.pid
LOGFILE=$STATE/anju.log
ANJU=${ANJU_BIN:-$ROOT/target/debug/anju} # ANJU_BIN/CARGO: overrides for trying this script

deploy/stack.sh up
# shellcheck source=/dev/null
. "$STATE/stack.env"

"${CARGO:-cargo}" build -p anju

old=$(cat "$PIDFILE" 2>/dev/null || true)
if alive "$old" "anju serve"; then
  echo "run: stopping the anju serve left from a previous run (pid $old)"
  stop_pid "$old" "anju serve" 20
fi
rm -f "$PIDFILE"

[ -f "$LOGFILE" ] && mv -f "$LOGFILE" "$LOGFILE.1"
: >"$LOGFILE"
# The services' Prometheus metrics (complaints' desk figures so far), beside the gRPC ports.
export ANJU_METRICS_ADDRESS=${ANJU_METRICS_ADDRESS:-127.0.0.1:9464}
spawn_daemon "$PIDFILE" "$LOGFILE" "$ANJU" serve --target all
pid=$(cat "$PIDFILE")
echo "run: anju serve --target all started (pid $pid, log ${LOGFILE#"$ROOT"/})"

if ! "$ANJU" status --wait 60; then
  echo "run: not every service reports SERVING; last lines of ${LOGFILE#"$ROOT"/}:" >&2
  tail -n 60 "$LOGFILE" >&2 || true
  alive "$pid" "anju serve" || echo "run: anju serve (pid $pid) has exited" >&2
  exit 1
fi

"$ANJU" demo

cat <<EOF

anju is running (pid $pid; log ${LOGFILE#"$ROOT"/}).
  Services and their addresses:  target/debug/anju status
  Call one with grpcurl (server reflection is on; grpcurl is not packaged for Debian 12, so
  bring your own — 1.8 speaks only v1alpha reflection), e.g. with a port from \`anju status\`:
    grpcurl -plaintext 127.0.0.1:PORT list
    grpcurl -plaintext 127.0.0.1:PORT describe anju.sales.v1.SalesService
    grpcurl -plaintext -d '{"page":{"page_size":10}}' 127.0.0.1:PORT anju.sales.v1.SalesService/ListProjects
    grpcurl -plaintext 127.0.0.1:PORT grpc.health.v1.Health/Check
  (add -H 'authorization: Bearer <token>' where a service asks for one)
  Metrics (Prometheus text):  curl -s http://$ANJU_METRICS_ADDRESS/metrics
  Environment used:  . .anju/stack.env
  Stop everything:   make down
EOF
