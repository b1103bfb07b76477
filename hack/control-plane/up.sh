#!/usr/bin/env bash
# hack/control-plane/up.sh — start a throw-away control plane (etcd + kube-apiserver +
# kube-controller-manager) on 127.0.0.1 for integration tests.
#
# Usage:   hack/control-plane/up.sh <run-dir>
#          . <run-dir>/env          # HARNESS_DIR, KUBE_APISERVER_URL, KUBECONFIG_ADMIN, ...
#          hack/control-plane/down.sh <run-dir>
#
# Owns everything inside <run-dir>:
#   pki/            per-run CA (EC P-256), apiserver serving cert, client certs, SA signing key
#   kubeconfig/     <identity>.kubeconfig with embedded certs (admin, operator, users, controller-manager)
#   etcd-data/      etcd data dir (written with --unsafe-no-fsync)
#   logs/           etcd.log, kube-apiserver.log, kube-controller-manager.log
#   pids            "<name> <pid>" lines, read by down.sh
#   env             shell-sourceable variables for tests
#   .megaport-control-plane   marker: down.sh only deletes directories that carry it
#
# Env:     CONTROL_PLANE_BIN  directory with etcd, kube-apiserver, kube-controller-manager
#                             (default: the output of hack/control-plane/build.sh, which builds or
#                             reuses the cached binaries)
#          APISERVER_TIMEOUT  seconds to wait for /readyz (default 60)
#          KCM_CONTROLLERS    kube-controller-manager --controllers (default
#                             garbage-collector-controller,namespace-controller,clusterrole-aggregation-controller,
#                             resourcequota-controller)
#          ETCD_LOG_LEVEL (default warn), APISERVER_VERBOSITY / KCM_VERBOSITY (klog -v, default 0)
#          AUDIT_LOG          1 (default): kube-apiserver writes an audit event (user, verb, resource)
#                             for every write to logs/audit.log (KUBE_AUDIT_LOG in env), so tests
#                             can prove who wrote what; 0: none (the benchmark)
#
# Each process runs in its own session/process group (setsid), detached from the caller's
# terminal, so Ctrl-C in the calling shell does not kill it: always pair up.sh with down.sh
# (e.g. `trap 'hack/control-plane/down.sh "$RUN"' EXIT`). On a failed start up.sh prints the last
# 40 log lines of the failing component, stops what it started (keeping the run dir) and exits 1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MARKER=.megaport-control-plane
APISERVER_TIMEOUT=${APISERVER_TIMEOUT:-60}

log() { printf 'control-plane/up: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 <run-dir>" >&2; exit 2; }
for tool in openssl python3 curl setsid base64; do
  command -v "$tool" >/dev/null || die "$tool not found in PATH"
done

RUN=$1
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)

# Refuse to clobber a directory that is not ours, or one whose processes still run.
if [[ -n "$(ls -A "$RUN")" ]]; then
  [[ -f "$RUN/$MARKER" ]] || die "$RUN is not empty and not a control-plane run dir"
  if [[ -f "$RUN/pids" ]]; then
    while read -r _ pid; do
      [[ "${pid:-}" =~ ^[0-9]+$ ]] || continue
      cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || cmd=""
      if [[ "$cmd" == *"$RUN/"* ]]; then die "$RUN is in use (pid $pid); run down.sh first"; fi
    done <"$RUN/pids"
  fi
  find "${RUN:?}" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
fi
touch "$RUN/$MARKER"
mkdir -p "$RUN/pki" "$RUN/kubeconfig" "$RUN/logs" "$RUN/etcd-data" "$RUN/kcm-certs"
chmod 700 "$RUN/pki" "$RUN/etcd-data"
: >"$RUN/pids"

BIN=${CONTROL_PLANE_BIN:-$("$HERE/build.sh")}
for b in etcd kube-apiserver kube-controller-manager; do
  [[ -x "$BIN/$b" ]] || die "$BIN/$b missing (run hack/control-plane/build.sh)"
done

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T_START=$(now)

# ------------------------------------------------------------------ failure handling
FAILED_COMPONENT=""
started_ok=0
on_exit() {
  local rc=$?
  if [[ $started_ok -ne 1 ]]; then
    if [[ -n "$FAILED_COMPONENT" && -f "$RUN/logs/$FAILED_COMPONENT.log" ]]; then
      log "last 40 lines of $RUN/logs/$FAILED_COMPONENT.log:"
      tail -n 40 "$RUN/logs/$FAILED_COMPONENT.log" >&2 || true
    fi
    log "start failed; stopping what was started (run dir kept: $RUN)"
    KEEP=1 "$HERE/down.sh" "$RUN" >&2 || true
    [[ $rc -eq 0 ]] && rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT

# ------------------------------------------------------------------ ports
# Bind four sockets to port 0 at once (so they differ), report them, release them.
read -r ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
EOF
)
ETCD_URL="http://127.0.0.1:$ETCD_PORT"
APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"

# ------------------------------------------------------------------ PKI
P=$RUN/pki
ssl() { openssl "$@" 2>>"$RUN/logs/openssl.log"; }
ecparam=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
ssl req -x509 "${ecparam[@]}" -days 7 -subj "/CN=megaport-test-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$P/ca.key" -out "$P/ca.crt" || die "openssl: CA (see $RUN/logs/openssl.log)"

# leaf <name> <subject> <extensions>
leaf() {
  printf '%b\n' "$3" >"$P/$1.ext"
  if ! ssl req "${ecparam[@]}" -subj "$2" -keyout "$P/$1.key" -out "$P/$1.csr" ||
    ! ssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
      -days 7 -extfile "$P/$1.ext" -out "$P/$1.crt"; then
    die "openssl: certificate $1 (see $RUN/logs/openssl.log)"
  fi
  rm -f "$P/$1.csr" "$P/$1.ext"
}
client_ext="basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
leaf apiserver "/CN=kube-apiserver" \
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost"

# Identities: name -> subject. CN is the user name, each O a group.
declare -A SUBJECT=(
  [admin]="/CN=admin/O=system:masters"
  [operator]="/CN=system:serviceaccount:megaport-system:megaport-operator/O=system:serviceaccounts/O=system:serviceaccounts:megaport-system/O=system:authenticated"
  [tech-admin]="/CN=tech-admin/O=megaport:tech-admin"
  [tech-contact]="/CN=tech-contact/O=megaport:tech-contact"
  [finance]="/CN=finance/O=megaport:finance"
  [finance-contact]="/CN=finance-contact/O=megaport:finance-contact"
  [read-only]="/CN=read-only/O=megaport:read-only"
  [nobody]="/CN=nobody"
  # kube-controller-manager's own identity; system:masters so GC and namespace deletion may touch
  # every resource, including CRs of CRDs the tests install.
  [controller-manager]="/CN=system:kube-controller-manager/O=system:masters"
)
IDENTITIES=(admin operator tech-admin tech-contact finance finance-contact read-only nobody controller-manager)
for id in "${IDENTITIES[@]}"; do leaf "$id" "${SUBJECT[$id]}" "$client_ext"; done

# Service-account token signing key (ES256).
if ! ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/sa.key" ||
  ! ssl pkey -in "$P/sa.key" -pubout -out "$P/sa.pub"; then
  die "openssl: SA key"
fi
rm -f "$P/ca.srl"
chmod 600 "$P"/*.key

# ------------------------------------------------------------------ kubeconfigs
ca_b64=$(base64 -w0 <"$P/ca.crt")
for id in "${IDENTITIES[@]}"; do
  cat >"$RUN/kubeconfig/$id.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: megaport-test
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $ca_b64
users:
- name: $id
  user:
    client-certificate-data: $(base64 -w0 <"$P/$id.crt")
    client-key-data: $(base64 -w0 <"$P/$id.key")
contexts:
- name: $id
  context:
    cluster: megaport-test
    user: $id
current-context: $id
EOF
  chmod 600 "$RUN/kubeconfig/$id.kubeconfig"
done

# ------------------------------------------------------------------ processes
declare -A PID=()
# start <name> <binary> args... : own session/process group, stdin closed, log to logs/<name>.log.
# (In a non-interactive script a background job is not a group leader, so setsid does not fork
# and $! is the component's own pid, which is also its pgid.)
start() {
  local name=$1; shift
  setsid "$@" </dev/null >"$RUN/logs/$name.log" 2>&1 &
  local pid=$!
  printf '%s %s\n' "$name" "$pid" >>"$RUN/pids"
  PID[$name]=$pid
  log "started $name (pid $pid)"
}
alive() { kill -0 "$1" 2>/dev/null; }

# wait_for <name> <what> <pid> <timeout-s> <command...>: poll every 0.2 s until the command
# succeeds; fail (blaming <name>'s log) if the pid dies or the timeout passes.
wait_for() {
  local name=$1 what=$2 pid=$3 timeout=$4; shift 4
  local t0 deadline
  t0=$(now)
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then FAILED_COMPONENT=$name; die "$name (pid $pid) exited during start"; fi
    if ((SECONDS >= deadline)); then FAILED_COMPONENT=$name; die "$what not reached after ${timeout}s"; fi
    sleep 0.2
  done
  log "$what after $(since "$t0")s"
}

admin_curl() {
  curl -fsS --max-time 5 --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "$@"
}
etcd_healthy() { curl -fsS --max-time 2 "$ETCD_URL/health" | grep -q '"health":"true"'; }
apiserver_ready() { [[ "$(admin_curl "$APISERVER_URL/readyz")" == ok ]]; }
default_ns_exists() { admin_curl -o /dev/null "$APISERVER_URL/api/v1/namespaces/default"; }
kcm_healthy() { [[ "$(curl -ksS --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]; }

start etcd "$BIN/etcd" \
  --name=megaport-test \
  --data-dir="$RUN/etcd-data" \
  --unsafe-no-fsync=true \
  --log-level="${ETCD_LOG_LEVEL:-warn}" \
  --listen-client-urls="$ETCD_URL" --advertise-client-urls="$ETCD_URL" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="megaport-test=http://127.0.0.1:$ETCD_PEER_PORT"
wait_for etcd "etcd /health ok" "${PID[etcd]}" 20 etcd_healthy

# Writes only (reads are most requests and prove nothing), at Metadata level: who, verb, object.
AUDIT_ARGS=()
if [[ "${AUDIT_LOG:-1}" == 1 ]]; then
  cat >"$RUN/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
POLICY
  AUDIT_ARGS=(--audit-policy-file="$RUN/audit-policy.yaml" --audit-log-path="$RUN/logs/audit.log"
    --audit-log-format=json --audit-log-mode=blocking)
fi

start kube-apiserver "$BIN/kube-apiserver" \
  --v="${APISERVER_VERBOSITY:-0}" \
  "${AUDIT_ARGS[@]}" \
  --etcd-servers="$ETCD_URL" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --client-ca-file="$P/ca.crt" \
  --service-account-issuer="$APISERVER_URL" \
  --service-account-key-file="$P/sa.pub" \
  --service-account-signing-key-file="$P/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC \
  --disable-admission-plugins=ServiceAccount \
  --allow-privileged=true \
  --endpoint-reconciler-type=none \
  --profiling=false
T_API=$(now)
wait_for kube-apiserver "kube-apiserver /readyz ok" "${PID[kube-apiserver]}" "$APISERVER_TIMEOUT" apiserver_ready
APISERVER_READY_S=$(since "$T_API")
wait_for kube-apiserver "namespace default exists" "${PID[kube-apiserver]}" 30 default_ns_exists

# Only the controllers the tests need: ownerReference garbage collection, namespace deletion, and
# ClusterRole aggregation (without it the built-in admin/edit/view ClusterRoles, and any role
# labelled rbac.authorization.k8s.io/aggregate-to-*, have no rules at all).
KCM_CONTROLLERS=${KCM_CONTROLLERS:-garbage-collector-controller,namespace-controller,clusterrole-aggregation-controller,resourcequota-controller}
start kube-controller-manager "$BIN/kube-controller-manager" \
  --v="${KCM_VERBOSITY:-0}" \
  --kubeconfig="$RUN/kubeconfig/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$RUN/kubeconfig/controller-manager.kubeconfig" \
  --authentication-skip-lookup=true \
  --authorization-kubeconfig="$RUN/kubeconfig/controller-manager.kubeconfig" \
  --controllers="$KCM_CONTROLLERS" \
  --leader-elect=false \
  --use-service-account-credentials=false \
  --bind-address=127.0.0.1 \
  --secure-port="$KCM_PORT" \
  --cert-dir="$RUN/kcm-certs" \
  --profiling=false
wait_for kube-controller-manager "kube-controller-manager /healthz ok" "${PID[kube-controller-manager]}" 30 kcm_healthy

# ------------------------------------------------------------------ env file
{
  printf '# written by hack/control-plane/up.sh; source me\n'
  q() { printf 'export %s=%q\n' "$1" "$2"; }
  q HARNESS_DIR "$RUN"
  q CONTROL_PLANE_BIN "$BIN"
  q KUBE_APISERVER_URL "$APISERVER_URL"
  q ETCD_URL "$ETCD_URL"
  q HARNESS_CA_CERT "$P/ca.crt"
  if [[ ${#AUDIT_ARGS[@]} -gt 0 ]]; then q KUBE_AUDIT_LOG "$RUN/logs/audit.log"; fi
  for id in "${IDENTITIES[@]}"; do
    var=${id^^}; q "KUBECONFIG_${var//-/_}" "$RUN/kubeconfig/$id.kubeconfig"
  done
  q ETCD_PID "${PID[etcd]}"
  q KUBE_APISERVER_PID "${PID[kube-apiserver]}"
  q KUBE_CONTROLLER_MANAGER_PID "${PID[kube-controller-manager]}"
} >"$RUN/env"

started_ok=1
rss() { awk '/^VmRSS:/ {printf "%d MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }
log "control plane up in $(since "$T_START")s (apiserver /readyz after ${APISERVER_READY_S}s): $APISERVER_URL"
log "RSS: etcd $(rss "${PID[etcd]}"), kube-apiserver $(rss "${PID[kube-apiserver]}"), kube-controller-manager $(rss "${PID[kube-controller-manager]}")"
log "env: . $RUN/env    stop: $HERE/down.sh $RUN"
