#!/usr/bin/env bash
# hack/control-plane/smoke.sh — self-check of a control plane started by up.sh.
#
# Usage:   hack/control-plane/smoke.sh <run-dir>
# Env:     KUBECTL (default: the kubectl v1.34 that hack/tools/build.sh builds and caches)
#
# Proves, and exits non-zero on the first failure:
#   1. admin (system:masters) can create a namespace;
#   2. the operator identity authenticates as system:serviceaccount:megaport-system:megaport-operator
#      with its groups, and is not cluster-admin;
#   3. `nobody` is Forbidden to list secrets (RBAC is enforced);
#   4. `read-only`, bound to the built-in `view` ClusterRole, can list ConfigMaps
#      (clusterrole-aggregation-controller runs; up to 15 s);
#   5. a ConfigMap whose ownerReference points at another ConfigMap is garbage-collected after the
#      owner is deleted (garbage-collector-controller runs; polled for up to 30 s);
#   6. deleting the namespace completes (namespace-controller runs; up to 60 s).
# Safe to run after tests have used the plane (it does not assume the operator is unbound).
# Owns only the namespace it creates (smoke-<random>), which it deletes.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 <run-dir>" >&2; exit 2; }
# shellcheck source=/dev/null
. "$1/env"

KUBECTL=${KUBECTL:-$(bash "$(dirname "$0")/../tools/build.sh")/kubectl}

pass() { printf 'smoke: ok   %s\n' "$*" >&2; }
fail() { printf 'smoke: FAIL %s\n' "$*" >&2; exit 1; }
as() { local who=$1; shift; "$KUBECTL" --kubeconfig="$who" --request-timeout=10s "$@"; }
admin() { as "$KUBECONFIG_ADMIN" "$@"; }
T0=$SECONDS

NS=smoke-$(printf '%04x%04x' "$RANDOM" "$RANDOM")
cleanup() { admin delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

# 1. admin can create a namespace
admin create namespace "$NS" >/dev/null || fail "admin could not create namespace $NS"
pass "admin created namespace $NS"

# 2. operator identity (SelfSubjectReview; needs no RBAC)
who=$(as "$KUBECONFIG_OPERATOR" auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}') ||
  fail "operator: auth whoami failed"
[[ "$who" == "system:serviceaccount:megaport-system:megaport-operator "* &&
  "$who" == *'"system:serviceaccounts:megaport-system"'* ]] || fail "operator identity is '$who'"
# The operator is not cluster-admin (true before and after the tests bind its ClusterRole).
if as "$KUBECONFIG_OPERATOR" auth can-i '*' '*' --all-namespaces >/dev/null 2>&1; then
  fail "operator may do everything"
fi
pass "operator authenticates as $who and is not cluster-admin"

# 3. nobody may not list secrets
if out=$(as "$KUBECONFIG_NOBODY" get secrets -n "$NS" 2>&1); then
  fail "nobody could list secrets: $out"
fi
[[ "$out" == *Forbidden* ]] || fail "nobody: expected Forbidden, got: $out"
pass "nobody is Forbidden to list secrets"

# 4. ClusterRole aggregation: the built-in `view` role only has rules once
#    clusterrole-aggregation-controller has filled them in.
admin -n "$NS" create rolebinding smoke-view --clusterrole=view --user=read-only >/dev/null ||
  fail "create rolebinding"
t=$SECONDS
until as "$KUBECONFIG_READ_ONLY" -n "$NS" get configmaps >/dev/null 2>&1; do
  ((SECONDS - t < 15)) || fail "read-only bound to view still cannot list configmaps after 15s (clusterrole-aggregation-controller?)"
  sleep 0.5
done
pass "read-only can list configmaps via the aggregated view ClusterRole ($((SECONDS - t))s)"

# 5. ownerReference garbage collection
admin -n "$NS" create configmap owner --from-literal=k=v >/dev/null || fail "create owner"
uid=$(admin -n "$NS" get configmap owner -o jsonpath='{.metadata.uid}')
admin -n "$NS" apply -f - >/dev/null <<EOF || fail "create dependent"
apiVersion: v1
kind: ConfigMap
metadata:
  name: dependent
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: owner
    uid: $uid
data:
  k: v
EOF
admin -n "$NS" delete configmap owner --wait=true >/dev/null || fail "delete owner"
t=$SECONDS
until ! admin -n "$NS" get configmap dependent >/dev/null 2>&1; do
  ((SECONDS - t < 30)) || fail "dependent ConfigMap not garbage-collected within 30s (is kube-controller-manager running?)"
  sleep 0.5
done
pass "dependent ConfigMap garbage-collected $((SECONDS - t))s after its owner was deleted"

# 6. namespace deletion completes
t=$SECONDS
admin delete namespace "$NS" --wait=true --timeout=60s >/dev/null ||
  fail "namespace $NS not deleted within 60s: $(admin get namespace "$NS" -o jsonpath='{.status}' 2>&1)"
if admin get namespace "$NS" >/dev/null 2>&1; then fail "namespace $NS still exists"; fi
pass "namespace $NS deleted in $((SECONDS - t))s"

printf 'smoke: all checks passed in %ss\n' "$((SECONDS - T0))" >&2
