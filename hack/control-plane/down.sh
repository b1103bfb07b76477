#!/usr/bin/env bash
# hack/control-plane/down.sh — stop a control plane started by up.sh and remove its run dir.
#
# Usage:   hack/control-plane/down.sh <run-dir>
#          KEEP=1 hack/control-plane/down.sh <run-dir>     # stop, but keep the run dir (logs)
# Env:     STOP_TIMEOUT  seconds to wait after SIGTERM before SIGKILL (default 20)
#
# Owns: the processes listed in <run-dir>/pids, and <run-dir> itself (deleted only if it carries
# up.sh's marker file). Order: SIGTERM kube-apiserver and kube-controller-manager, wait, then
# etcd; anything still alive after STOP_TIMEOUT gets SIGKILL. A pid is only signalled if its
# command line still mentions <run-dir>, so a recycled pid is never hit. Idempotent: fine to run
# twice, on a half-started plane, or when everything is already dead.
set -euo pipefail

MARKER=.megaport-control-plane
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
log() { printf 'control-plane/down: %s\n' "$*" >&2; }

[[ $# -eq 1 ]] || { echo "usage: $0 <run-dir>" >&2; exit 2; }
if [[ ! -d "$1" ]]; then
  log "$1 does not exist; nothing to do"
  exit 0
fi
RUN=$(cd "$1" && pwd)

declare -A PID=()
if [[ -f "$RUN/pids" ]]; then
  while read -r name pid; do
    [[ -n "${name:-}" && "${pid:-}" =~ ^[0-9]+$ ]] && PID[$name]=$pid
  done <"$RUN/pids"
fi

# ours <pid>: alive and still the process up.sh started for this run dir.
# (A zombie has an empty cmdline, so it counts as gone.)
ours() {
  local cmd
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ "$cmd" == *"$RUN/"* ]]
}

# signal <sig> <pid>: the whole process group if the pid leads one (setsid in up.sh), else the pid.
signal() {
  local stat pgid=""
  # /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so cut after ')'.
  stat=$(cat "/proc/$2/stat" 2>/dev/null) || true
  if [[ -n "$stat" ]]; then
    read -r _ _ pgid _ <<<"${stat##*) }"
  fi
  if [[ "$pgid" == "$2" ]]; then kill "-$1" -- "-$2" 2>/dev/null || true
  else kill "-$1" "$2" 2>/dev/null || true; fi
}

# stop <name>...: SIGTERM all of them, wait up to STOP_TIMEOUT, SIGKILL the rest.
stop() {
  local name pid pending=() t0=$SECONDS
  for name in "$@"; do
    pid=${PID[$name]:-}
    if [[ -z "$pid" ]] || ! ours "$pid"; then continue; fi
    signal TERM "$pid"
    pending+=("$name")
  done
  ((${#pending[@]})) || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT)) left
  while :; do
    left=()
    for name in "${pending[@]}"; do ours "${PID[$name]}" && left+=("$name"); done
    ((${#left[@]})) || break
    if ((SECONDS >= deadline)); then
      for name in "${left[@]}"; do
        log "$name (pid ${PID[$name]}) still running after ${STOP_TIMEOUT}s; SIGKILL"
        signal KILL "${PID[$name]}"
      done
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  log "stopped ${pending[*]} ($((SECONDS - t0))s)"
}

stop kube-apiserver kube-controller-manager
stop etcd

if [[ "${KEEP:-0}" == 1 ]]; then
  log "kept $RUN"
elif [[ -f "$RUN/$MARKER" ]]; then
  rm -rf "$RUN"
  log "removed $RUN"
else
  log "$RUN has no $MARKER marker; not removing it"
fi
