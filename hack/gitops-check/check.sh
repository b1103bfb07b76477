#!/usr/bin/env bash
# hack/gitops-check/check.sh — `make gitops`: the GitOps health checks that need no cluster.
#
#  1. The checker's own tests (go vet, go test): Argo CD's Lua runtime as configured through
#     argocd-cm, result handling, object decoding, the suite runner's failure reports.
#  2. Proof that the checker is strict where Argo CD is: a script using string.find passes
#     as a bundled script and must fail as an argocd-cm one.
#  3. Every gitops/argocd/<group>/<Kind>/health_test.yaml, in both modes.
#  4. gitops/argocd/argocd-cm.yaml against the scripts (UPDATE=1 rewrites it).
# The live-object checks (kstatus and the scripts on objects from a real apiserver) are the
# e2e test tests/e2e/gitops.rs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
scripts=gitops/argocd
cm=$scripts/argocd-cm.yaml

bin=$(bash "$here/build.sh")
bash "$here/build.sh" --test

needs_string=hack/gitops-check/testdata/needs-string-library
"$bin" lua --mode bundled "$needs_string" >/dev/null
if out=$("$bin" lua --mode argocd-cm "$needs_string" 2>&1); then
  printf '%s\n' "$out"
  echo "gitops: a script that uses string.find passed in argocd-cm mode; the checker is not Argo CD's runtime" >&2
  exit 1
elif [[ "$out" != *"attempt to index a non-table object(nil) with key 'find'"* ]]; then
  printf '%s\n' "$out"
  echo "gitops: the string.find script failed for another reason than a missing string library" >&2
  exit 1
fi
echo "ok   a script using string.find fails in argocd-cm mode (and passes bundled)"

"$bin" lua "$scripts"

if [[ "${UPDATE:-0}" == 1 ]]; then
  "$bin" argocd-cm --dir "$scripts" --write "$cm"
  echo "wrote $cm"
fi
"$bin" argocd-cm --dir "$scripts" --check "$cm"
