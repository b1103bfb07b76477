#!/usr/bin/env bash
# hack/tools/build.sh — build helm and kubectl from the Go module proxy, for the chart checks,
# the e2e tests and the demo.
#
# Owns: the binary cache directory
#   ${MEGAPORT_TOOLS_CACHE:-$HOME/.cache/megaport-operator/tools}/helm<helm>-kubectl<kubectl>/
#     helm  kubectl
# and shares the Go caches with hack/control-plane/build.sh ($HOME/.cache/megaport-operator/go/
# {mod,build} unless MEGAPORT_GOMODCACHE / MEGAPORT_GOCACHE say otherwise).
#
# Usage:   hack/tools/build.sh               # prints the binary directory on stdout
#          TOOLS=$(hack/tools/build.sh); "$TOOLS/helm" version
# Env:     MEGAPORT_TOOLS_CACHE, MEGAPORT_GOMODCACHE, MEGAPORT_GOCACHE, NICE (niceness, default 10),
#          FORCE=1 (rebuild).
#
# The versions are those the committed modules pin, nothing else:
#   hack/tools/helm/     go.mod + go.sum with `tool helm.sh/helm/v4/cmd/helm` (helm's own main)
#   hack/tools/kubectl/  go.mod + go.sum + main.go, upstream's kubectl main (k8s.io/kubernetes'
#                        cmd/kubectl is ten lines around k8s.io/kubectl's command constructor;
#                        k8s.io/kubernetes itself cannot be a dependency without 31 replaces)
# Two modules, because helm v4 is built on a newer client-go than kubectl v1.34 and one module
# would lift kubectl's dependencies to helm's. go.sum pins every module's hash, so a build on a
# fresh machine gets exactly what was reviewed. To move a version:
#   (cd hack/tools/helm && go get -tool helm.sh/helm/v4/cmd/helm@vX.Y.Z && go mod tidy)
#   (cd hack/tools/kubectl && go get k8s.io/kubectl@v0.Y.Z k8s.io/component-base@v0.Y.Z \
#      k8s.io/client-go@v0.Y.Z && go mod tidy)
# Progress goes to stderr; the only stdout line is the binary directory.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${MEGAPORT_TOOLS_CACHE:-$HOME/.cache/megaport-operator/tools}
GO_CACHE_ROOT="$HOME/.cache/megaport-operator/go"
NICE=${NICE:-10}

log() { printf 'tools/build: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# required <go.mod> <module>: the version go.mod requires (read without the go command, so the
# fast path needs no Go).
required() {
  local v
  v=$(sed -n "s|^[[:space:]]*\(require[[:space:]]\+\)\{0,1\}$2[[:space:]]\+\(v[^[:space:]]*\).*|\2|p" "$1" | head -n1)
  [[ -n "$v" ]] || die "$1 does not require $2"
  printf '%s\n' "$v"
}
HELM_VERSION=$(required "$HERE/helm/go.mod" helm.sh/helm/v4)            # v4.3.1
KUBECTL_MODULE_VERSION=$(required "$HERE/kubectl/go.mod" k8s.io/kubectl) # v0.34.4
KUBECTL_VERSION=v1.${KUBECTL_MODULE_VERSION#v0.}                         # v1.34.4
OUT="$CACHE_ROOT/helm${HELM_VERSION#v}-kubectl${KUBECTL_VERSION#v}"

# The cached binaries must report exactly the pinned versions.
helm_ok() {
  [[ -x "$OUT/helm" ]] || return 1
  [[ "$("$OUT/helm" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]
}
kubectl_ok() {
  [[ -x "$OUT/kubectl" ]] || return 1
  # Capture first: a pipe into grep -q would fail under pipefail when grep exits early.
  local v
  v=$("$OUT/kubectl" version --client -o json 2>/dev/null) || return 1
  [[ "$v" == *"\"gitVersion\": \"$KUBECTL_VERSION\""* ]]
}

# Fast path without the lock and without Go.
if [[ "${FORCE:-0}" != 1 ]] && helm_ok && kubectl_ok; then
  log "cached: $OUT (helm $HELM_VERSION, kubectl $KUBECTL_VERSION)"
  printf '%s\n' "$OUT"
  exit 0
fi

command -v go >/dev/null || die "go not found in PATH"
command -v flock >/dev/null || die "flock not found (Debian package util-linux)"

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly"
export GOMODCACHE=${MEGAPORT_GOMODCACHE:-$GO_CACHE_ROOT/mod}
export GOCACHE=${MEGAPORT_GOCACHE:-$GO_CACHE_ROOT/build}
mkdir -p "$OUT" "$GOMODCACHE" "$GOCACHE"

# Serialise concurrent builds (two CI jobs, a test run and a developer shell).
exec 9>"$CACHE_ROOT/.build.lock"
if ! flock -n 9; then
  log "another build holds $CACHE_ROOT/.build.lock; waiting"
  flock 9
fi

T0=$SECONDS
step_start() { STEP_T=$SECONDS; log "$*"; }
step_done() { log "$* ($((SECONDS - STEP_T))s)"; }
# go build fetches only the modules the binary needs (not the test-only ones go.sum also
# lists), verified against go.sum (-mod=readonly: go.mod and go.sum are never rewritten). With
# everything in the module cache it makes no network call.
ngo() { nice -n "$NICE" go "$@"; }
# quiet <dir> <go args>: runs go in <dir> with its output ("go: downloading ..." lines) kept in
# a log that is shown only when the command fails.
GO_LOG=$(mktemp "${TMPDIR:-/tmp}/megaport-tools-build.XXXXXX")
trap 'rm -f "$GO_LOG"' EXIT
quiet() {
  local dir=$1; shift
  (cd "$dir" && ngo "$@") >"$GO_LOG" 2>&1 || { cat "$GO_LOG" >&2; die "go $1 in $dir failed"; }
}
log "go $(go env GOVERSION), GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE, output $OUT"

build_helm() {
  # Stamped as helm's Makefile does (the version a module build cannot know otherwise).
  step_start "helm: downloading and compiling helm $HELM_VERSION (nice $NICE)"
  quiet "$HERE/helm" build -trimpath \
    -ldflags "-s -w -buildid= -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    -o "$OUT/helm.new" helm.sh/helm/v4/cmd/helm
  mv -f "$OUT/helm.new" "$OUT/helm"
  step_done "helm: compiled"
  helm_ok || die "built helm does not report $HELM_VERSION"
}

build_kubectl() {
  local minor=${KUBECTL_VERSION#v1.} ldflags key val kv
  # Stamped as upstream's hack/lib/version.sh; the same tags as the control-plane build (and
  # upstream's), so the shared k8s.io packages come from the build cache when it has them.
  ldflags="-s -w -buildid="
  for kv in "gitVersion=$KUBECTL_VERSION" "gitMajor=1" "gitMinor=${minor%%.*}" "gitTreeState=clean"; do
    key=${kv%%=*} val=${kv#*=}
    ldflags+=" -X k8s.io/component-base/version.$key=$val -X k8s.io/client-go/pkg/version.$key=$val"
  done
  step_start "kubectl: downloading and compiling kubectl $KUBECTL_VERSION (k8s.io/kubectl@$KUBECTL_MODULE_VERSION, nice $NICE)"
  quiet "$HERE/kubectl" build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" \
    -o "$OUT/kubectl.new" .
  mv -f "$OUT/kubectl.new" "$OUT/kubectl"
  step_done "kubectl: compiled"
  kubectl_ok || die "built kubectl does not report $KUBECTL_VERSION"
}

if [[ "${FORCE:-0}" == 1 ]] || ! kubectl_ok; then build_kubectl; else log "kubectl: cached"; fi
if [[ "${FORCE:-0}" == 1 ]] || ! helm_ok; then build_helm; else log "helm: cached"; fi

log "done in $((SECONDS - T0))s: $OUT"
printf '%s\n' "$OUT"
