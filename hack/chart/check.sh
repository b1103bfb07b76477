#!/usr/bin/env bash
# hack/chart/check.sh — the chart's checks that need no cluster (`make chart`, part of make test):
#   1. helm lint --strict with the defaults and every charts/megaport-operator/ci/*-values.yaml;
#   2. the chart's copy of the CRDs (files/crds/) equals crds/ (generated from the Rust types);
#   3. deploy/ equals a fresh render of the chart (hack/chart/manifests.sh): one source of RBAC;
#   4. what the values render to (credentials, leader election, the opt-in objects, the controllers
#      and selector of a release per account, and that a second release clashes with nothing);
#   5. bad values are refused (schema: unknown keys, enums, bounds; templates: combinations).
# The cluster checks (server-side dry run under Pod Security "restricted", helm install, the
# operator under the chart's ServiceAccount) are e2e tests: tests/e2e/chart.rs.
# Env: HELM (default: the one hack/tools/build.sh builds).
set -euo pipefail
cd "$(dirname "$0")/../.."

HELM=${HELM:-$(bash hack/tools/build.sh)/helm}
export HELM
chart=charts/megaport-operator
work=$(mktemp -d -t megaport-chart.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0 passed=0
pass() { passed=$((passed + 1)); }
fail() { printf 'chart: FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }

template() { "$HELM" template megaport-operator "$chart" --namespace megaport-system "$@"; }
# renders <name> <helm args...>: the output must contain each line given on stdin (grep -F -x
# after trimming leading blanks), one per line.
renders() {
  local name=$1 out line; shift
  if ! out=$(template "$@" 2>&1); then fail "$name: render failed: $out"; return; fi
  out=$(sed 's/^ *//; s/^- //' <<<"$out")
  while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    if [[ "$line" == '!'* ]]; then
      if grep -qxF -- "${line#!}" <<<"$out"; then fail "$name: unexpected line: ${line#!}"; else pass; fi
    elif grep -qxF -- "$line" <<<"$out"; then pass; else fail "$name: missing line: $line"; fi
  done
}
# refuses <name> <expected message part> <helm args...>: rendering must fail saying so.
refuses() {
  local name=$1 want=$2 out; shift 2
  if out=$(template "$@" 2>&1); then fail "$name: rendered, should have been refused"; return; fi
  if grep -qF -- "$want" <<<"$out"; then pass; else fail "$name: refused, but without '$want': $out"; fi
}

# 1. lint ---------------------------------------------------------------------------------------
for values in "$chart/values.yaml" "$chart"/ci/*-values.yaml; do
  if out=$("$HELM" lint --strict "$chart" --namespace megaport-system -f "$values" 2>&1); then pass
  else fail "helm lint --strict -f $values: $out"; fi
done
# (helm lint renders with fail and required turned into notes, so the refusals are checked in 5.)

# 2. the chart's CRDs are crds/ -----------------------------------------------------------------
if out=$(diff -r crds "$chart/files/crds" 2>&1); then pass
else fail "charts/megaport-operator/files/crds differs from crds/ (run make crds): $out"; fi

# 3. deploy/ is the chart, rendered ---------------------------------------------------------------
if ! out=$(bash hack/chart/manifests.sh "$work/deploy" 2>&1); then fail "rendering deploy/: $out"
elif out=$(diff -ru deploy "$work/deploy" 2>&1); then pass
else fail "deploy/ differs from the chart (run make manifests): $out"; fi

# 4. what values render to ----------------------------------------------------------------------
secret=(--set megaport.credentials.existingSecret=megaport-credentials)
renders "defaults" "${secret[@]}" <<'EOF'
replicas: 2
name: LEADER_ELECT
value: "true"
name: LEASE_NAME
value: "megaport-operator"
kind: Role
resourceNames: ["megaport-operator"]
kind: CustomResourceDefinition
helm.sh/resource-policy: keep
name: megaport-credentials
path: /livez
path: /readyz
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
type: RuntimeDefault
name: MEGAPORT_ENVIRONMENT
value: "production"
image: ghcr.io/onramp-dev/megaport-operator:0.1.0
name: VALIDATION_INTERVAL_SECONDS
value: "86400"
name: PROVISIONING_POLL_SECONDS
value: "30"
!name: CONTROLLERS
!name: CONFIGURATION_SELECTOR
!kind: Secret
!kind: PodDisruptionBudget
!kind: NetworkPolicy
!kind: ServiceMonitor
!type: Recreate
EOF
renders "created credentials, opt-ins" -f "$chart/ci/everything-values.yaml" <<'EOF'
kind: Secret
name: megaport-operator-credentials
accessKey: "Y2ktYWNjZXNzLWtleQ=="
value: "staging"
value: "json"
kind: PodDisruptionBudget
minAvailable: 1
kind: NetworkPolicy
kind: ServiceMonitor
release: prometheus
EOF
# The created Secret's checksum rolls the pods when the credentials change.
sum() { template -f "$chart/ci/everything-values.yaml" "$@" | sed -n 's/^ *checksum\/credentials: //p'; }
a=$(sum || true) b=$(sum --set megaport.credentials.secretKey=other || true)
if [[ -n "$a" && -n "$b" && "$a" != "$b" ]]; then pass; else fail "checksum/credentials does not follow the Secret ('$a' vs '$b')"; fi
renders "single replica" -f "$chart/ci/single-replica-values.yaml" <<'EOF'
replicas: 1
type: Recreate
value: "false"
name: MEGAPORT_BASE_URL
!kind: Role
!kind: CustomResourceDefinition
!name: MEGAPORT_ENVIRONMENT
EOF
renders "image digest" "${secret[@]}" --set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef <<'EOF'
name: megaport-operator
image: ghcr.io/onramp-dev/megaport-operator@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
EOF
if out=$("$HELM" template ops "$chart" -n ops "${secret[@]}" 2>&1) &&
  grep -qx '  name: ops-megaport-operator' <<<"$out" && grep -qx '    namespace: ops' <<<"$out"; then pass
else fail "release ops: names not prefixed or binding not in its namespace"; fi
renders "ordering for one account" "${secret[@]}" --set 'controllers={SavedConfiguration}' \
  --set-string ordering.configurationSelector=megaport.onramp.dev/account=acme <<'EOF'
name: CONTROLLERS
value: "SavedConfiguration"
name: CONFIGURATION_SELECTOR
value: "megaport.onramp.dev/account=acme"
EOF
# A second release for another account beside the default one (ci/second-account-values.yaml):
# without the CRDs, the admission policy and the user roles, no object of it has the name of one
# of the first's.
objects() { "$HELM" template "$@" | awk '/^kind: /{k=$2} /^  name: / && k {print k "/" $2; k=""}' | sort -u; }
first=$(objects megaport-operator "$chart" -n megaport-system "${secret[@]}" || true)
second=$(objects acme "$chart" -n megaport-acme -f "$chart/ci/second-account-values.yaml" || true)
common=$(comm -12 <(printf '%s\n' "$first") <(printf '%s\n' "$second"))
if ! grep -qx 'ValidatingAdmissionPolicy/megaport-order-permission' <<<"$first" ||
  ! grep -qx 'ClusterRole/acme-megaport-operator' <<<"$second"; then
  fail "second release: could not list the objects of both releases"
elif [[ -n "$common" ]]; then fail "second release: names in common with the first: $common"
else pass; fi

# 5. refused values -----------------------------------------------------------------------------
refuses "no credentials" "set existingSecret (a Secret in the release namespace"
refuses "a typo at the top" "additional properties 'replica' not allowed" "${secret[@]}" --set replica=3
refuses "a typo below" "additional properties 'existingSecrets' not allowed" --set megaport.credentials.existingSecrets=x
refuses "environment" "megaport/environment" "${secret[@]}" --set megaport.environment=prod
refuses "log format" "logging/format" "${secret[@]}" --set logging.format=text
refuses "shutdown grace above 9" "controller/shutdownGraceSeconds" "${secret[@]}" --set controller.shutdownGraceSeconds=10
refuses "termination grace below 10" "terminationGracePeriodSeconds" "${secret[@]}" --set terminationGracePeriodSeconds=5
refuses "rate budget above Megaport's" "megaport/rateLimit/requestsPerWindow" "${secret[@]}" --set megaport.rateLimit.requestsPerWindow=600
refuses "replicas as text" "replicas" "${secret[@]}" --set-string replicas=two
refuses "base URL alone" "baseUrl and tokenUrl go together" "${secret[@]}" --set megaport.baseUrl=http://sim:8080
refuses "both credentials" "not both" "${secret[@]}" --set megaport.credentials.accessKey=a --set megaport.credentials.secretKey=b
refuses "half credentials" "accessKey and secretKey go together" --set megaport.credentials.accessKey=a
refuses "two replicas without election" "needs leaderElection.enabled" "${secret[@]}" --set leaderElection.enabled=false
refuses "lease timings" "retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds" "${secret[@]}" --set leaderElection.renewDeadlineSeconds=12
refuses "unknown controller" "controllers/0" "${secret[@]}" --set 'controllers={ServiceKey}'
refuses "validation interval below 60" "ordering/validationIntervalSeconds" "${secret[@]}" --set ordering.validationIntervalSeconds=59
refuses "both PDB bounds" "exactly one of minAvailable and maxUnavailable" "${secret[@]}" --set podDisruptionBudget.enabled=true --set podDisruptionBudget.maxUnavailable=1

printf 'chart: %d passed, %d failed\n' "$passed" "$failures"
[[ $failures -eq 0 ]]
