# The developer interface of megaport-operator. `make demo` shows it working, `make test` tests it.
SHELL := /usr/bin/env bash
CARGO ?= cargo

.PHONY: all build release test lint unit chart gitops e2e bench crds manifests tools control-plane down demo simulator clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## The operator's release binary: the Dockerfile's build command (CI runs it too).
release:
	$(CARGO) build --release --locked --bin megaport-operator

## Everything CI runs (with `make release`): lint, unit and simulator/client tests, the chart
## checks, then end-to-end tests against a real kube-apiserver (it, helm and kubectl are built
## from the Go module proxy on first use, cached under ~/.cache).
test: lint unit chart gitops e2e

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

unit:
	$(CARGO) test --workspace --all-targets

## Regenerate crds/ from the Rust types (a unit test fails when they drift), the chart's copy
## (charts/megaport-operator/files/crds/) and the manifests rendered from it.
crds:
	$(CARGO) run --quiet -- crd --dir crds
	rm -f charts/megaport-operator/files/crds/*.yaml
	cp crds/*.yaml charts/megaport-operator/files/crds/
	$(MAKE) --no-print-directory manifests

## Render deploy/ (plain manifests for kubectl apply -f deploy/) from the Helm chart.
manifests:
	bash hack/chart/manifests.sh deploy

## The chart without a cluster: helm lint --strict, the CRD copy and deploy/ against their
## sources, what values render to and which are refused (hack/chart/check.sh).
chart:
	bash hack/chart/check.sh

## Build (or reuse from ~/.cache) helm and kubectl from the Go module proxy (hack/tools/).
tools:
	bash hack/tools/build.sh

## GitOps health without a cluster: the Argo CD health.lua suites under gitops/argocd/ (in
## Argo CD's Lua as argocd-cm runs it: no string library; and as bundled) and the generated
## gitops/argocd/argocd-cm.yaml against the scripts (UPDATE=1 rewrites it). Live objects: e2e.
gitops:
	bash hack/gitops-check/check.sh

## End-to-end tests: builds them first (so the compile does not starve the control plane),
## then runs them with a fresh control plane that is always stopped afterwards.
e2e:
	$(CARGO) test --features e2e --test e2e --no-run
	bash hack/tools/build.sh >/dev/null
	bash hack/with-control-plane.sh $(CARGO) test --features e2e --test e2e -- --test-threads=1

## The benchmark (not a test): issuing at scale against a real control plane and the simulator,
## one table of numbers. Knobs: BENCH_N, BENCH_RUNS=off,steady,real, BENCH_RATE, ... (see
## benches/issuance.rs); the numbers of a run are in docs/performance.md.
bench:
	bash hack/control-plane/build.sh >/dev/null
	$(CARGO) bench --features e2e --bench issuance --no-run
	$(CARGO) bench --features e2e --bench issuance

## Build (or reuse from ~/.cache) kube-apiserver, kube-controller-manager and etcd.
control-plane:
	bash hack/control-plane/build.sh

## Stop control planes left behind by an interrupted run (normally nothing to do).
down:
	@for env in /tmp/megaport-cp.*/env; do \
	  [ -f "$$env" ] || continue; dir=$$(dirname "$$env"); \
	  if [ -f "$$dir/stop-demo.sh" ]; then bash "$$dir/stop-demo.sh"; else bash hack/control-plane/down.sh "$$dir"; fi; \
	done; true

## Start the simulator with the QuantumGPU scenario and walk through the seed workflow
## (KEEP=1: leave the control plane, simulator and operator running, and say how to stop them).
demo:
	bash hack/demo.sh

## Serve the simulator on 127.0.0.1:8080 until interrupted.
simulator:
	$(CARGO) run --quiet -p megaport-sim -- --listen 127.0.0.1:8080 --scenario quantumgpu

clean:
	$(CARGO) clean
