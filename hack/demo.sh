#!/usr/bin/env bash
# `make demo`: builds what is missing, starts a local Kubernetes control plane (etcd,
# kube-apiserver, kube-controller-manager; built from the Go module proxy on first use and cached
# under ~/.cache) and the Megaport simulator with the QuantumGPU scenario, then shows the catalog,
# the operator resolving QuantumGPU's regions and issuing its customers' service keys
# (examples/quantumgpu/), the Secrets customers read, a customer using a key
# (examples/customer_order.rs) and the request turning Used, saved configurations priced, an
# order refused for the tech contact and placed by the tech admin through the customer's own
# operator, its services going LIVE and the provider's key turning Used, a connection waiting
# on a key that is not pre-approved shown on its request and approved by the tech admin (a
# ConnectionApproval) after the tech contact is refused, and the operator's probes and metrics. Everything it starts is stopped on exit; with KEEP=1 (`make demo KEEP=1`) it all keeps
# running for you to explore, and the demo prints the KUBECONFIG, the simulator's address and
# how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
indent() { sed 's/^/   /'; }

if [ -z "${HARNESS_DIR:-}" ]; then
  say "Building megaport-operator and megaport-sim (the first run compiles dependencies: a few minutes)"
  cargo build --quiet --bin megaport-operator --example customer_order
  cargo build --quiet -p megaport-sim --bin megaport-sim
  say "Building kubectl (the first run builds it from the Go module proxy: a few minutes)"
  bash hack/tools/build.sh >/dev/null
  say "Starting a local control plane (the first run builds it from the Go module proxy: ~15 minutes)"
  if [ "${KEEP:-0}" = 1 ]; then
    # Not through with-control-plane.sh, which always stops it. Same run-dir pattern, so
    # `make down` finds it too.
    run_dir=$(mktemp -d -t megaport-cp.XXXXXX)
    bash hack/control-plane/up.sh "$run_dir" || { bash hack/control-plane/down.sh "$run_dir"; exit 1; }
    set -a
    # shellcheck disable=SC1091
    . "$run_dir/env"
    set +a
    exec bash "$0"
  fi
  exec bash hack/with-control-plane.sh bash "$0"
fi

# kubectl v1.34, built from the Go module proxy by hack/tools/build.sh (cached, like the control plane).
kubectl_bin="$(bash hack/tools/build.sh 2>/dev/null)/kubectl"
k() { "$kubectl_bin" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
bin=./target/debug/megaport-operator
sim_bin=./target/debug/megaport-sim

say "Kubernetes is up: $KUBE_APISERVER_URL"
k version 2>/dev/null | indent

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
simlog=$(mktemp -t megaport-sim.XXXXXX.log)
oplog=$(mktemp -t megaport-operator.XXXXXX.log)
customer_log=$(mktemp -t megaport-operator-acme.XXXXXX.log)
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# With KEEP=1 the simulator and the operator outlive this script (own sessions: a Ctrl-C here
# does not reach them).
detach=()
if [ "${KEEP:-0}" = 1 ]; then detach=(setsid); fi
"${detach[@]}" "$sim_bin" --listen "127.0.0.1:$port" --scenario quantumgpu >"$simlog" 2>&1 &
sim=$!
op=
customer_op=
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    stop="$HARNESS_DIR/stop-demo.sh"
    printf '#!/usr/bin/env bash\n# Stops what `make demo KEEP=1` left running.\nkill %s 2>/dev/null || true\nbash %q %q\n' \
      "$op $customer_op $sim" "$PWD/hack/control-plane/down.sh" "$HARNESS_DIR" >"$stop"
    say "KEEP=1: the control plane, the simulator and the operator are still running"
    echo "   export KUBECONFIG=$KUBECONFIG_ADMIN"
    echo "   kubectl get orr; kubectl -n acme-robotics get skr; kubectl get savedconfig -A   (kubectl: $kubectl_bin)"
    echo "   Megaport simulator: http://127.0.0.1:$port   (curl http://127.0.0.1:$port/_sim/counters; log $simlog)"
    echo "   operator: pid ${op:-?}, log $oplog, probes and metrics on http://127.0.0.1:$http_port (/readyz, /metrics)"
    echo "   operator env: MEGAPORT_BASE_URL=$MEGAPORT_BASE_URL MEGAPORT_TOKEN_URL=$MEGAPORT_TOKEN_URL"
    echo "   stop it all: bash $stop    (or: make down)"
    return
  fi
  for pid in $op $customer_op $sim; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/v3/locations" >/dev/null 2>&1 && break
  sleep 0.1
done
say "Megaport simulator (scenario quantumgpu) on http://127.0.0.1:$port (log: $simlog)"

export MEGAPORT_BASE_URL="http://127.0.0.1:$port" MEGAPORT_TOKEN_URL="http://127.0.0.1:$port/oauth2/token"
# The simulator's documented demo credentials (docs/simulator.md); not real Megaport keys.
export MEGAPORT_ACCESS_KEY=qgpu-admin MEGAPORT_SECRET_KEY=qgpu-admin-secret-5f2a9c
export CUSTOMER_ACCESS_KEY=acme-admin CUSTOMER_SECRET_KEY=acme-admin-secret-3b7c11

say "Where can QuantumGPU sell? (megaport-operator catalog)"
echo "   \$ megaport-operator catalog countries"; "$bin" catalog countries | indent
echo "   \$ megaport-operator catalog metros --country USA"; "$bin" catalog metros --country USA | indent
echo "   \$ megaport-operator catalog onramps"; "$bin" catalog onramps | indent

say "Installing the CRDs and the operator's ClusterRole; starting the operator under that role"
k apply -f crds/ | indent
k apply -f deploy/rbac.yaml | indent
KUBECONFIG="$KUBECONFIG_OPERATOR" PRODUCTS_REFRESH_SECONDS=5 KEYS_REFRESH_SECONDS=3 HTTP_ADDR="127.0.0.1:$http_port" \
  PROVISIONING_POLL_SECONDS=2 CONFIGURATION_SELECTOR=megaport.onramp.dev/account=quantumgpu \
  "${detach[@]}" "$bin" run >"$oplog" 2>&1 &
op=$!
echo "   operator pid $op (log: $oplog; probes and metrics on http://127.0.0.1:$http_port)"

say "Applying QuantumGPU's regions (examples/quantumgpu/regions.yaml)"
k apply -f examples/quantumgpu/regions.yaml | indent
k wait --for=condition=Ready orr/us-west orr/us-east orr/uk orr/japan orr/australia --timeout=60s | indent
echo "   \$ kubectl get orr -o wide"; k get orr -o wide | indent
echo "   \$ kubectl get orr us-west  (on-ramps, zone, usage, eligibility)"
k get orr us-west -o jsonpath='{range .status.onRamps[*]}{.name}{"\t"}{.location}{"\t"}zone={.diversityZone}{"\t"}vxcs={.connections}{"\t"}used={.utilisationPercent}%{"\t"}eligible={.eligible}{"\n"}{end}' | indent
echo "   \$ kubectl get orr australia  (one port does not accept VXCs)"
k get orr australia -o jsonpath='{range .status.onRamps[*]}{.name}{"\t"}eligible={.eligible}{"\t"}{.reason}{"\n"}{end}' | indent

say "Customers ask for service keys (examples/quantumgpu/service-key-requests.yaml)"
k apply -f examples/quantumgpu/service-key-requests.yaml | indent
k -n acme-robotics wait --for=condition=Ready skr --all --timeout=60s | indent
echo "   \$ kubectl -n acme-robotics get skr"; k -n acme-robotics get skr | indent
echo "   \$ kubectl -n acme-robotics get skr us-west-diverse  (one key per zone; status shows fingerprints, never keys)"
k -n acme-robotics get skr us-west-diverse -o jsonpath='{range .status.keys[*]}{.onRamp}{"\t"}zone={.diversityZone}{"\t"}vlan={.vlan}{"\t"}{.maxSpeedMbps} Mbps{"\t"}{.state}{"\t"}{.fingerprint}{"\n"}{end}' | indent

say "What the customer reads: Secret acme-us-west (serviceKey, serviceKey-<zone>, keys.json)"
k -n acme-robotics get secret acme-us-west -o jsonpath='{.data}' |
  python3 -c 'import json,sys; print("   keys: " + ", ".join(sorted(json.load(sys.stdin))))'
k -n acme-robotics get secret acme-us-west -o jsonpath='{.data.keys\.json}' | base64 -d | indent

say "The provider's view: megaport-operator keys (fingerprints, never keys)"
KUBECONFIG="$KUBECONFIG_ADMIN" "$bin" keys | indent

say "Customer 1 orders a VXC with the key from its Secret (examples/customer_order.rs)"
SERVICE_KEY=$(k -n acme-robotics get secret customer-1 -o jsonpath='{.data.serviceKey}' | base64 -d) \
  ./target/debug/examples/customer_order | indent
k -n acme-robotics wait --for=jsonpath='{.status.phase}'=Used skr/customer-1 --timeout=60s | indent
echo "   \$ kubectl -n acme-robotics get skr customer-1  (used: when, which VXC, which company)"
k -n acme-robotics get skr customer-1 -o jsonpath='{range .status.keys[*]}state={.state}{"\t"}lastUsed={.lastUsedAt}{"\t"}vxc={.usedByVxc}{"\t"}by={.usedByCompany}{"\n"}{end}' | indent
k -n acme-robotics get skr | indent

say "Saved configurations: designs saved and priced by anyone, ordered only by people allowed to order"
echo "   Acme Robotics runs its own operator for its orders: Acme's API key, CONTROLLERS=SavedConfiguration,"
echo "   CONFIGURATION_SELECTOR=megaport.onramp.dev/account=acme (QuantumGPU's takes account=quantumgpu)"
KUBECONFIG="$KUBECONFIG_OPERATOR" MEGAPORT_ACCESS_KEY="$CUSTOMER_ACCESS_KEY" MEGAPORT_SECRET_KEY="$CUSTOMER_SECRET_KEY" \
  CONTROLLERS=SavedConfiguration CONFIGURATION_SELECTOR=megaport.onramp.dev/account=acme \
  PRODUCTS_REFRESH_SECONDS=5 PROVISIONING_POLL_SECONDS=2 HTTP_ADDR=127.0.0.1:0 \
  "${detach[@]}" "$bin" run >"$customer_log" 2>&1 &
customer_op=$!
echo "   Acme's operator pid $customer_op (log: $customer_log)"
echo "   \$ kubectl apply -f deploy/ordering.yaml -f examples/quantumgpu/roles.yaml   (the order policy, the role ClusterRoles, who has which)"
k apply -f deploy/ordering.yaml -f examples/quantumgpu/roles.yaml | indent
as_contact() { "$kubectl_bin" --kubeconfig "$KUBECONFIG_TECH_CONTACT" "$@"; }
as_admin() { "$kubectl_bin" --kubeconfig "$KUBECONFIG_TECH_ADMIN" "$@"; }
echo "   The tech contact saves three designs (examples/quantumgpu/saved-configurations.yaml):"
for _ in $(seq 1 30); do   # RoleBindings take effect asynchronously
  saved=$(as_contact apply -f examples/quantumgpu/saved-configurations.yaml 2>&1) && break
  sleep 1
done
echo "$saved" | indent
k wait --for=jsonpath='{.status.phase}'=Quoted -n acme-robotics savedconfig/la-gpu-uplink --timeout=60s | indent
k wait --for=jsonpath='{.status.phase}'=Quoted -n quantumgpu-partners savedconfig/nebula-la savedconfig/la-expansion --timeout=60s | indent
echo "   \$ kubectl get savedconfig -A   (priced by Megaport; VXCs to services of a design are priced once those exist)"
k get savedconfig -A | indent
echo "   \$ kubectl -n acme-robotics get savedconfig la-gpu-uplink  (the key it orders with, as Megaport shows it: never the key)"
k -n acme-robotics get savedconfig la-gpu-uplink -o jsonpath='{range .status.serviceKeys[*]}{.service}: owner={.owner} onRamp={.onRamp} vlan={.vlan} up to {.maxSpeedMbps} Mbps ({.fingerprint}){"\n"}{end}' | indent
echo "   The tech contact tries to order it:"
echo "   \$ kubectl -n acme-robotics patch savedconfig la-gpu-uplink --type merge -p '{\"spec\":{\"order\":true}}'"
for _ in $(seq 1 30); do   # the policy is loaded asynchronously: wait for it with dry runs
  as_contact -n acme-robotics patch savedconfig la-gpu-uplink --type merge -p '{"spec":{"order":true}}' --dry-run=server 2>&1 | grep -q "may not order" && break
  sleep 1
done
as_contact -n acme-robotics patch savedconfig la-gpu-uplink --type merge -p '{"spec":{"order":true}}' 2>&1 | fold -s -w 110 | indent || true
echo "   The tech admin orders it:"
as_admin -n acme-robotics patch savedconfig la-gpu-uplink --type merge -p '{"spec":{"order":true}}' | indent
k -n acme-robotics wait --for=jsonpath='{.status.phase}'=Provisioning savedconfig/la-gpu-uplink --timeout=60s | indent
echo "   \$ kubectl -n acme-robotics get savedconfig la-gpu-uplink  (the Port, then the VXC, each bought once)"
k -n acme-robotics get savedconfig la-gpu-uplink -o jsonpath='{range .status.services[*]}{.name}{"\t"}{.productUid}{"\t"}{.provisioningStatus}{"\n"}{end}' | indent
echo "   (the simulator's clock skips the minute Megaport takes to provision)"
curl -fsS -X POST -H 'content-type: application/json' -d '{"seconds": 61}' "http://127.0.0.1:$port/_sim/clock/advance" >/dev/null
k -n acme-robotics wait --for=jsonpath='{.status.phase}'=Live savedconfig/la-gpu-uplink --timeout=60s | indent
k -n acme-robotics get savedconfig la-gpu-uplink | indent
echo "   QuantumGPU's request sees its key used (by Acme's VXC):"
k -n acme-robotics wait --for=jsonpath='{.status.phase}'=PartiallyUsed skr/us-west-diverse --timeout=60s | indent
k -n acme-robotics get skr us-west-diverse -o jsonpath='{range .status.keys[*]}{.onRamp}{"\t"}zone={.diversityZone}{"\t"}{.state}{"\t"}vxc={.usedByVxc}{"\t"}by={.usedByCompany}{"\n"}{end}' | indent

say "Connection approvals: customer 1's VXC waits for QuantumGPU (its key is not pre-approved)"
k -n acme-robotics wait --for=condition=ConnectionsPending skr/customer-1 --timeout=60s | indent
echo "   \$ kubectl -n acme-robotics get skr customer-1  (the connection waiting on its key)"
k -n acme-robotics get skr customer-1 -o jsonpath='{range .status.connections[*]}{.vxcUid}{"\t"}{.company}{"\t"}{.rateMbps} Mbps{"\t"}vlan={.vlan}{"\t"}{.state}{"\t"}{.reason}{"\n"}{end}' | indent
echo "   \$ megaport-operator keys  (WAITING: connections waiting on each key)"
KUBECONFIG="$KUBECONFIG_ADMIN" "$bin" keys | indent
vxc=$(k -n acme-robotics get skr customer-1 -o jsonpath='{.status.connections[0].vxcUid}')
approval() {
  printf 'apiVersion: megaport.onramp.dev/v1alpha1\nkind: ConnectionApproval\nmetadata: {name: %s, namespace: acme-robotics}\nspec: {request: customer-1, vxcUid: %s, decision: Approve, decidedBy: %s, reason: signed contract CRM-1001}\n' "$1" "$vxc" "$2"
}
echo "   The tech contact may not decide; the tech admin may, in their own name only:"
for _ in $(seq 1 30); do   # the policy is loaded asynchronously: wait for it with dry runs
  approval probe someone-else | as_admin apply --dry-run=server -f - 2>&1 | grep -q "must be the user deciding" && break
  sleep 1
done
approval by-contact tech-contact | as_contact apply -f - 2>&1 | fold -s -w 110 | indent || true
approval by-someone-else alice | as_admin apply -f - 2>&1 | fold -s -w 110 | indent || true
echo "   \$ kubectl apply -f - <<< 'kind: ConnectionApproval … decidedBy: tech-admin'   (as the tech admin)"
approval customer-1-approved tech-admin | as_admin apply -f - | indent
k -n acme-robotics wait --for=jsonpath='{.status.connections[0].state}'=Approved skr/customer-1 --timeout=60s | indent
k -n acme-robotics get skr customer-1 -o jsonpath='{range .status.connections[*]}{.vxcUid}{"\t"}{.state}{"\t"}by {.decidedBy} {.decider}{"\t"}{.reason}{"\n"}{end}' | indent
k -n acme-robotics get connapproval | indent

say "The operator's probes and metrics (what a kubelet and Prometheus read)"
echo "   \$ curl http://127.0.0.1:$http_port/readyz"; curl -sS "http://127.0.0.1:$http_port/readyz" | indent
echo "   \$ curl http://127.0.0.1:$http_port/metrics  (a few of them)"
curl -sS "http://127.0.0.1:$http_port/metrics" |
  grep -E '^megaport_operator_(service_keys|reconciles_total|megaport_requests_total|megaport_budget_remaining|leader)[ {]' |
  indent

say "Megaport API calls made, from the simulator's counters (one product list and one key list per refresh for everything):"
curl -fsS "http://127.0.0.1:$port/_sim/counters" |
  python3 -c 'import json,sys; [print(f"   {v:>3}  {k}") for k,v in sorted(json.load(sys.stdin)["counters"].items())]'
if [ "${KEEP:-0}" != 1 ]; then say "Done. The operator, the simulator and the control plane are stopped now."; fi
