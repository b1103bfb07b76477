#!/usr/bin/env bash
# hack/gitops-check/build.sh — build (or reuse) the gitops-check binary; prints its path.
#
# Usage:   BIN=$(hack/gitops-check/build.sh)      # path on stdout, progress on stderr
#          hack/gitops-check/build.sh --test      # go vet + go test of the checker instead
# Cache:   ${MEGAPORT_GITOPS_CHECK_CACHE:-$HOME/.cache/megaport-operator/gitops-check}/<hash>/gitops-check
#          where <hash> covers the Go version, go.mod, go.sum and the non-test .go files: any
#          change builds a new binary, an unchanged tree reuses it without running Go at all.
# Go caches as hack/control-plane/build.sh: $HOME/.cache/megaport-operator/go/{mod,build}
# (MEGAPORT_GOMODCACHE / MEGAPORT_GOCACHE override), GOTOOLCHAIN=local, CGO off, nice $NICE.
# Go commands try the module cache alone first (GOPROXY=off: no network round trips) and fall
# back to the proxy when a module is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

CACHE_ROOT=${MEGAPORT_GITOPS_CHECK_CACHE:-$HOME/.cache/megaport-operator/gitops-check}
GO_CACHE_ROOT="$HOME/.cache/megaport-operator/go"
NICE=${NICE:-10}
export LC_ALL=C GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false
export GOMODCACHE=${MEGAPORT_GOMODCACHE:-$GO_CACHE_ROOT/mod}
export GOCACHE=${MEGAPORT_GOCACHE:-$GO_CACHE_ROOT/build}

log() { printf 'gitops-check/build: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v go >/dev/null || die "go not found in PATH"
ngo() { nice -n "$NICE" go "$@"; }
ngo_mod() { GOPROXY=off ngo "$@" 2>/dev/null || ngo "$@"; }

cd "$here"
if [[ "${1:-}" == --test ]]; then
  ngo_mod vet ./...
  ngo test ./...
  exit 0
fi

sources=(go.mod go.sum)
for f in *.go; do   # globs sort bytewise under LC_ALL=C
  [[ "$f" == *_test.go ]] || sources+=("$f")
done
hash=$({ go env GOVERSION; for f in "${sources[@]}"; do printf '%s\n' "$f"; cat -- "$f"; done; } |
  sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/$hash"
BIN="$OUT/gitops-check"

if [[ -x "$BIN" ]]; then
  log "cached: $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

mkdir -p "$CACHE_ROOT" "$GOMODCACHE" "$GOCACHE"
exec 9>"$CACHE_ROOT/.build.lock"
if ! flock -n 9; then
  log "another build holds $CACHE_ROOT/.build.lock; waiting"
  flock 9
fi
if [[ ! -x "$BIN" ]]; then
  T0=$SECONDS
  mkdir -p "$OUT"
  ngo_mod build -trimpath -ldflags "-s -w -buildid=" -o "$BIN.new" .
  mv -f "$BIN.new" "$BIN"
  log "built $BIN in $((SECONDS - T0))s ($(go env GOVERSION))"
fi
printf '%s\n' "$BIN"
