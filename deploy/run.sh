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

# Prometheus scraping the services' metrics every 5 s, with anju's alert rules loaded
# (deploy/prometheus), its UI at 127.0.0.1:9090. Optional: a failure to start it is reported,
# not fatal. Stopped by `make down`.
PROM_PIDFILE=$STATE/prometheus.pid
PROM_ADDRESS=${ANJU_PROMETHEUS_ADDRESS:-127.0.0.1:9090}
old=$(cat "$PROM_PIDFILE" 2>/dev/null || true)
if alive "$old" prometheus; then stop_pid "$old" prometheus 10; fi
rm -f "$PROM_PIDFILE"
if PROMETHEUS=$(deploy/tools.sh prometheus 2>>"$STATE/prometheus.log"); then
  mkdir -p "$STATE/prometheus"
  cp deploy/prometheus/alerts.yaml "$STATE/prometheus/alerts.yaml"
  cat >"$STATE/prometheus/prometheus.yml" <<PROM
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - alerts.yaml
scrape_configs:
  - job_name: anju
    static_configs:
      - targets: ['$ANJU_METRICS_ADDRESS']
PROM
  spawn_daemon "$PROM_PIDFILE" "$STATE/prometheus.log" "$PROMETHEUS" \
    --config.file="$STATE/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STATE/prometheus/data" \
    --web.listen-address="$PROM_ADDRESS"
  echo "run: Prometheus scraping anju at http://$PROM_ADDRESS (pid $(cat "$PROM_PIDFILE"))"
else
  echo "run: Prometheus could not be installed; see .anju/prometheus.log (anju runs without it)" >&2
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
  Prometheus (queries, alerts):  http://$PROM_ADDRESS/alerts — the dashboards' queries are in
    deploy/grafana/*.json (import them into a Grafana pointed at this Prometheus)
  Environment used:  . .anju/stack.env
  Stop everything:   make down
EOF
