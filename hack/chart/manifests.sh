#!/usr/bin/env bash
# hack/chart/manifests.sh [out-dir] — render the plain manifests of deploy/ from the Helm chart
# (`make manifests`; `make chart` renders into a temporary directory and fails when deploy/
# differs). One source: RBAC, the Deployment and the CRDs are written once, in the chart.
#
#   00-namespace.yaml   Namespace megaport-system, Pod Security "restricted" enforced
#   crds.yaml           the CustomResourceDefinitions (templates/crds.yaml)
#   rbac.yaml           the ClusterRole megaport-operator and its ClusterRoleBinding to
#                       megaport-system/megaport-operator (cluster-scoped only: the e2e tests and
#                       the demo apply this file alone)
#   operator.yaml       ServiceAccount, the leader-election Role/RoleBinding, metrics Service,
#                       Deployment
#   ordering.yaml       who may order SavedConfigurations and decide connections: the
#                       ValidatingAdmissionPolicies megaport-order-permission and
#                       megaport-connection-decider, and the megaport-* ClusterRoles for people
#
# The release is named megaport-operator in namespace megaport-system with the chart's defaults,
# except: the credentials come from the existing Secret megaport-credentials, and the Helm-only
# bits are left out (helm.sh/chart and managed-by=Helm labels, the CRDs' resource-policy
# annotation, "# Source:" lines), since kubectl, not Helm, owns these objects.
# Env: HELM (default: the one hack/tools/build.sh builds).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=${1:-deploy}
HELM=${HELM:-$(bash hack/tools/build.sh)/helm}
chart=charts/megaport-operator
mkdir -p "$out"

render() {
  "$HELM" template megaport-operator "$chart" --namespace megaport-system \
    --set megaport.credentials.existingSecret=megaport-credentials --set crds.keep=false \
    "${@/#/--show-only=templates/}" |
    sed -e '/^# Source: /d' -e '/^ *helm\.sh\/chart: /d' -e '/^ *app\.kubernetes\.io\/managed-by: Helm$/d' |
    # Blank lines Helm leaves between documents (before a "---" or at the end) go; the others may
    # be inside a block scalar and stay.
    awk '$0 == "" { blank++; next } $0 != "---" { while (blank > 0) { print ""; blank-- } } { blank = 0; print }'
}
header() {
  printf '# Generated from charts/megaport-operator by `make manifests`; do not edit.\n# %s\n' "$1"
}

{
  header "The operator's namespace. Create the credentials Secret in it before (or after) applying:"
  cat <<'YAML'
#   kubectl -n megaport-system create secret generic megaport-credentials \
#     --from-literal=accessKey=<Megaport API client id> --from-literal=secretKey=<client secret>
# Pod Security "restricted" is enforced: the operator's pod meets it.
apiVersion: v1
kind: Namespace
metadata:
  name: megaport-system
  labels:
    app.kubernetes.io/name: megaport-operator
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
YAML
} >"$out/00-namespace.yaml"

{ header "The CustomResourceDefinitions (generated from the Rust types: make crds)."; render crds.yaml; } >"$out/crds.yaml"
{ header "The operator's cluster-wide permissions (the chart's ClusterRole and ClusterRoleBinding)."
  render clusterrole.yaml clusterrolebinding.yaml; } >"$out/rbac.yaml"
{ header "The operator in namespace megaport-system: ServiceAccount, leader-election Role, metrics Service, Deployment."
  render serviceaccount.yaml leader-election-rbac.yaml service.yaml deployment.yaml; } >"$out/operator.yaml"
{ header "Who may order SavedConfigurations and decide connections: the admission policies and the ClusterRoles for people."
  render ordering-policy.yaml connection-policy.yaml user-roles.yaml; } >"$out/ordering.yaml"
printf 'manifests: wrote %s/{00-namespace,crds,rbac,operator,ordering}.yaml\n' "$out" >&2
