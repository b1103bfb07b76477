#!/usr/bin/env bash
# Runs a command with a fresh local control plane (etcd, kube-apiserver, kube-controller-manager):
# builds or reuses the cached binaries (up.sh does), starts them, exports the harness env (kubeconfigs per
# identity), runs "$@", and always stops the control plane afterwards, also on failure or Ctrl-C.
#   hack/with-control-plane.sh cargo test --features e2e --test e2e
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run_dir=${HARNESS_RUN_DIR:-$(mktemp -d -t megaport-cp.XXXXXX)}

stop() { bash "$here/control-plane/down.sh" "$run_dir" >/dev/null 2>&1 || true; }
trap stop EXIT
trap 'exit 130' INT TERM
bash "$here/control-plane/up.sh" "$run_dir"
set -a
# shellcheck disable=SC1091
. "$run_dir/env"
set +a
"$@"
