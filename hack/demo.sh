#!/usr/bin/env bash
# `make demo`: builds what is missing, starts a local Kubernetes control plane (etcd,
# kube-apiserver, kube-controller-manager; built from the Go module proxy on first use and cached
# under ~/.cache) and the Megaport simulator with the QuantumGPU scenario, then walks through the
# seed workflow with the API client (examples/api_tour.rs). Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

if [ -z "${HARNESS_DIR:-}" ]; then
  say "Building megaport-operator (the first run compiles dependencies: a few minutes)"
  cargo build --quiet --bin megaport-operator --example api_tour
  say "Starting a local control plane (the first run builds it from the Go module proxy: ~15 minutes)"
  exec bash hack/with-control-plane.sh bash "$0"
fi

kubectl_bin=$(command -v kubectl.1.33 || ls /usr/lib/google-cloud-sdk/bin/kubectl.1.33 2>/dev/null || command -v kubectl || true)
if [ -n "$kubectl_bin" ]; then
  say "Kubernetes is up: $KUBE_APISERVER_URL"
  "$kubectl_bin" --kubeconfig "$KUBECONFIG_ADMIN" version 2>/dev/null | sed 's/^/   /'
  printf '   can the operator identity list secrets before its ClusterRole exists? %s\n' \
    "$("$kubectl_bin" --kubeconfig "$KUBECONFIG_OPERATOR" auth can-i list secrets -A 2>/dev/null || true)"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp -t megaport-sim.XXXXXX.log)
./target/debug/megaport-operator simulator --listen "127.0.0.1:$port" --scenario quantumgpu >"$log" 2>&1 &
sim=$!
trap 'kill "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true' EXIT

for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/v3/locations" >/dev/null 2>&1 && break
  sleep 0.1
done
say "Megaport simulator (scenario quantumgpu) on http://127.0.0.1:$port (log: $log)"

export MEGAPORT_BASE_URL="http://127.0.0.1:$port" MEGAPORT_TOKEN_URL="http://127.0.0.1:$port/oauth2/token"
# The simulator's documented demo credentials (docs/simulator.md); not real Megaport keys.
export MEGAPORT_ACCESS_KEY=qgpu-admin MEGAPORT_SECRET_KEY=qgpu-admin-secret-5f2a9c
export CUSTOMER_ACCESS_KEY=acme-admin CUSTOMER_SECRET_KEY=acme-admin-secret-3b7c11
./target/debug/examples/api_tour

say "API calls the tour made (from the simulator's counters):"
curl -fsS "http://127.0.0.1:$port/_sim/counters" |
  python3 -c 'import json,sys; [print(f"   {v:>3}  {k}") for k,v in sorted(json.load(sys.stdin)["counters"].items())]'
say "Done. The control plane and the simulator are stopped now."
