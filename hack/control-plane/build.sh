#!/usr/bin/env bash
# hack/control-plane/build.sh — build the test control-plane binaries from the Go module proxy.
#
# Owns: the binary cache directory
#   ${MEGAPORT_HARNESS_CACHE:-$HOME/.cache/megaport-operator/control-plane}/<k8s>-etcd<etcd>/
#     kube-apiserver  kube-controller-manager  etcd
# and the Go caches used for the build ($HOME/.cache/megaport-operator/go/{mod,build} unless
# GOMODCACHE/GOCACHE are set to something else via MEGAPORT_GOMODCACHE / MEGAPORT_GOCACHE).
#
# Usage:   hack/control-plane/build.sh            # prints the binary directory on stdout
#          BIN=$(hack/control-plane/build.sh)
# Env:     K8S_VERSION (default below), ETCD_VERSION (default below), MEGAPORT_HARNESS_CACHE,
#          MEGAPORT_GOMODCACHE, MEGAPORT_GOCACHE, NICE (niceness, default 10), FORCE=1 (rebuild).
#
# How: k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the 31 staging modules with
# ./staging paths, and replace lines of dependencies are ignored). So a throw-away wrapper module
# requires k8s.io/kubernetes@vX.Y.Z and replaces every staging module k8s.io/<m> with its published
# k8s.io/<m>@v0.Y.Z. etcd's server module needs no replaces (its requires name real tags),
# so a second wrapper just requires go.etcd.io/etcd/server/v3. Progress goes to stderr; the only
# stdout line is the binary directory.
set -euo pipefail

# Newest patches on the Go proxy when this was written (check with
#   go list -m -versions k8s.io/kubernetes | tr ' ' '\n' | grep '^v1.34' | sort -V | tail -1
#   go list -m -versions go.etcd.io/etcd/server/v3 | tr ' ' '\n' | grep '^v3.6' | sort -V | tail -1).
K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

CACHE_ROOT=${MEGAPORT_HARNESS_CACHE:-$HOME/.cache/megaport-operator/control-plane}
OUT="$CACHE_ROOT/${K8S_VERSION}-etcd${ETCD_VERSION#v}"
GO_CACHE_ROOT="$HOME/.cache/megaport-operator/go"
NICE=${NICE:-10}

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false
export GOMODCACHE=${MEGAPORT_GOMODCACHE:-$GO_CACHE_ROOT/mod}
export GOCACHE=${MEGAPORT_GOCACHE:-$GO_CACHE_ROOT/build}

log() { printf 'control-plane/build: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The cached binaries must report exactly the requested versions.
k8s_ok() {
  local b
  for b in kube-apiserver kube-controller-manager; do
    [[ -x "$OUT/$b" ]] || return 1
    [[ "$("$OUT/$b" --version 2>/dev/null)" == "Kubernetes $K8S_VERSION" ]] || return 1
  done
}
etcd_ok() {
  [[ -x "$OUT/etcd" ]] || return 1
  # Capture first: `etcd --version | grep -q` would fail under pipefail when grep exits early.
  local v
  v=$("$OUT/etcd" --version 2>/dev/null) || return 1
  [[ $'\n'"$v"$'\n' == *$'\n'"etcd Version: ${ETCD_VERSION#v}"$'\n'* ]]
}

# Fast path without the lock: everything present and stamped.
if [[ "${FORCE:-0}" != 1 ]] && k8s_ok && etcd_ok; then
  log "cached: $OUT (kube-apiserver/kube-controller-manager $K8S_VERSION, etcd $ETCD_VERSION)"
  printf '%s\n' "$OUT"
  exit 0
fi

command -v go >/dev/null || die "go not found in PATH"
command -v flock >/dev/null || die "flock not found (Debian package util-linux)"
mkdir -p "$OUT" "$GOMODCACHE" "$GOCACHE"

# Serialise concurrent builds (e.g. two CI jobs or a test run and a developer shell).
exec 9>"$CACHE_ROOT/.build.lock"
if ! flock -n 9; then
  log "another build holds $CACHE_ROOT/.build.lock; waiting"
  flock 9
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/megaport-cp-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

T0=$SECONDS
step_start() { STEP_T=$SECONDS; log "$*"; }
step_done() { log "$* ($((SECONDS - STEP_T))s)"; }

ngo() { nice -n "$NICE" go "$@"; }
# ngo_mod <go args>: module commands try the local module cache first (GOPROXY=off, ~1 s instead
# of ~5 s of proxy/sumdb round trips when everything is cached), then fall back to the network.
ngo_mod() { GOPROXY=off ngo "$@" 2>/dev/null || ngo "$@"; }

go_version=$(go env GOVERSION)
log "go $go_version, GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE, output $OUT"

# ---------------------------------------------------------------- kube-apiserver + controller-manager
build_k8s() {
  local minor=${K8S_VERSION#v1.}        # 34.4
  local staging_version="v0.$minor"     # v0.34.4
  local w="$WORK/k8s" modfile info build_date mods m go_line godebug_line ldflags key val
  mkdir -p "$w"

  step_start "k8s: resolving k8s.io/kubernetes@$K8S_VERSION"
  (cd "$w" && go mod init harness.local/k8s-control-plane >/dev/null 2>&1)
  (cd "$w" && ngo_mod mod download -json "k8s.io/kubernetes@$K8S_VERSION" >"$WORK/k8s-download.json")
  modfile=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' "$WORK/k8s-download.json")
  info=$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",*$/\1/p' "$WORK/k8s-download.json")
  [[ -f "$modfile" ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION go.mod"

  # The staging modules, read from upstream's own replace block.
  mods=$(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*|\1|p' "$modfile")
  [[ -n "$mods" ]] || die "no staging replace lines found in $modfile"
  local edits=()
  for m in $mods; do edits+=("-replace=$m=$m@$staging_version"); done
  # Copy upstream's go and godebug lines: only the main module's lines set GODEBUG defaults.
  go_line=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$modfile")
  godebug_line=$(sed -n 's/^godebug \(.*\)$/\1/p' "$modfile")
  [[ -n "$go_line" ]] && edits+=("-go=$go_line")
  [[ -n "$godebug_line" ]] && edits+=("-godebug=$godebug_line")
  (cd "$w" && go mod edit "${edits[@]}")
  step_done "k8s: wrapper module with $(wc -w <<<"$mods") staging replaces (go $go_line, godebug $godebug_line)"

  local mod_before mod_after
  mod_before=$(du -sk "$GOMODCACHE" | cut -f1)
  step_start "k8s: downloading modules for kube-apiserver and kube-controller-manager"
  (cd "$w" && ngo_mod get -tool \
    "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" 2> "$WORK/k8s-get.log") ||
    { cat "$WORK/k8s-get.log" >&2; die "go get failed"; }
  mod_after=$(du -sk "$GOMODCACHE" | cut -f1)
  step_done "k8s: modules ready, GOMODCACHE grew by $(((mod_after - mod_before) / 1024)) MiB"

  # Version stamping, the same variables as upstream's hack/lib/version.sh. buildDate is the tag's
  # time from the proxy (reproducible), not "now".
  build_date=$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")
  ldflags="-s -w -buildid="
  for kv in "gitVersion=$K8S_VERSION" "gitMajor=1" "gitMinor=${minor%%.*}" "gitTreeState=clean" \
            "buildDate=${build_date:-1970-01-01T00:00:00Z}"; do
    key=${kv%%=*} val=${kv#*=}
    ldflags+=" -X k8s.io/component-base/version.$key=$val -X k8s.io/client-go/pkg/version.$key=$val"
  done

  # One `go build` for both commands so the shared packages compile once. -o <dir>/ writes each
  # main package as <dir>/<last path element>. Tags as upstream's non-debug build.
  mkdir -p "$w/bin"
  step_start "k8s: compiling kube-apiserver + kube-controller-manager $K8S_VERSION (one go build, nice $NICE)"
  (cd "$w" && ngo build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$w/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
  step_done "k8s: compiled kube-apiserver + kube-controller-manager"
  local b
  for b in kube-apiserver kube-controller-manager; do
    mv -f "$w/bin/$b" "$OUT/$b.new" && mv -f "$OUT/$b.new" "$OUT/$b"
  done
  k8s_ok || die "built binaries do not report 'Kubernetes $K8S_VERSION'"
  log "k8s: $("$OUT/kube-apiserver" --version), $(du -h "$OUT/kube-apiserver" | cut -f1) / $(du -h "$OUT/kube-controller-manager" | cut -f1)"
}

# ---------------------------------------------------------------- etcd
build_etcd() {
  local w="$WORK/etcd" modfile go_line mod_before mod_after
  mkdir -p "$w"
  step_start "etcd: resolving go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  (cd "$w" && go mod init harness.local/etcd >/dev/null 2>&1)
  (cd "$w" && ngo_mod mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >"$WORK/etcd-download.json")
  modfile=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' "$WORK/etcd-download.json")
  [[ -f "$modfile" ]] || die "could not download go.etcd.io/etcd/server/v3@$ETCD_VERSION go.mod"
  go_line=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$modfile")
  if [[ -n "$go_line" ]]; then (cd "$w" && go mod edit "-go=$go_line"); fi
  step_done "etcd: wrapper module (go $go_line)"

  mod_before=$(du -sk "$GOMODCACHE" | cut -f1)
  step_start "etcd: downloading modules"
  (cd "$w" && ngo_mod get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" 2> "$WORK/etcd-get.log") ||
    { cat "$WORK/etcd-get.log" >&2; die "go get failed"; }
  mod_after=$(du -sk "$GOMODCACHE" | cut -f1)
  step_done "etcd: modules ready, GOMODCACHE grew by $(((mod_after - mod_before) / 1024)) MiB"

  # Always -o: the default name of a /v3 module's binary would be "server". The version string is a
  # constant in go.etcd.io/etcd/api/v3/version; only the git SHA needs stamping.
  step_start "etcd: compiling etcd $ETCD_VERSION (nice $NICE)"
  (cd "$w" && ngo build -trimpath \
    -ldflags "-s -w -buildid= -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
    -o "$OUT/etcd.new" go.etcd.io/etcd/server/v3)
  mv -f "$OUT/etcd.new" "$OUT/etcd"
  step_done "etcd: compiled etcd"
  etcd_ok || die "built etcd does not report version ${ETCD_VERSION#v}"
  log "etcd: $("$OUT/etcd" --version | sed -n 1p), $(du -h "$OUT/etcd" | cut -f1)"
}

if [[ "${FORCE:-0}" == 1 ]] || ! etcd_ok; then build_etcd; else log "etcd: cached"; fi
if [[ "${FORCE:-0}" == 1 ]] || ! k8s_ok; then build_k8s; else log "k8s: cached"; fi

log "done in $((SECONDS - T0))s: $OUT"
printf '%s\n' "$OUT"
