# deploy/lib.sh — helpers shared by deploy/stack.sh and deploy/run.sh (sourced, not run).
# shellcheck shell=bash

# alive PID WORDS: the process exists and its command line contains WORDS (guards against a
# recycled PID).
alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

# stop_pid PID WORDS SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
  local pid=$1 word=$2 secs=$3 i
  alive "$pid" "$word" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do alive "$pid" "$word" || return 0; sleep 0.1; done
  printf 'pid %s (%s) ignored SIGTERM for %ss; sending SIGKILL\n' "$pid" "$word" "$secs" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive "$pid" "$word" || return 0; sleep 0.1; done
}

# exec_clean CMD...: exec CMD with only fds 0-2 open. A server started from here must not keep
# a lock file descriptor (the next run would wait for the lock forever) or a pipe of whoever ran
# us (a CI runner or `make ... | tee` would wait for its end-of-file until the server exits).
exec_clean() {
  local fd fds
  fds=$(ls "/proc/$BASHPID/fd")
  for fd in $fds; do
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
  exec "$@"
}

# spawn_daemon PIDFILE LOGFILE CMD...: start CMD in the background in its own session (no
# SIGINT/SIGHUP from the terminal), stdin /dev/null, output appended to LOGFILE, and write its
# PID to PIDFILE. The inner shell writes its own PID and then execs CMD, so the PID is CMD's
# whether or not setsid had to fork (unlike `nohup cmd & echo $!` after other commands).
spawn_daemon() {
  local pidfile=$1 logf=$2 i
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016
  (exec_clean setsid bash -c 'echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@") \
    </dev/null >>"$logf" 2>&1 &
  for ((i = 0; i < 100; i++)); do [ -s "$pidfile" ] && return 0; sleep 0.05; done
  printf 'spawn_daemon: %s did not start (see %s)\n' "$1" "$logf" >&2
  return 1
}
