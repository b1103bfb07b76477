# The developer interface of megaport-operator. `make demo` shows it working, `make test` tests it.
SHELL := /usr/bin/env bash
CARGO ?= cargo

.PHONY: all build test lint unit e2e bench crds control-plane down demo simulator clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## Everything CI runs: lint, unit and simulator/client tests, then end-to-end tests against a
## real kube-apiserver (built from the Go module proxy on first use, cached under ~/.cache).
test: lint unit e2e

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

unit:
	$(CARGO) test --workspace --all-targets

## Regenerate crds/ from the Rust types (a unit test fails when they drift).
crds:
	$(CARGO) run --quiet -- crd --dir crds

## End-to-end tests: builds them first (so the compile does not starve the control plane),
## then runs them with a fresh control plane that is always stopped afterwards.
e2e:
	$(CARGO) test --features e2e --test e2e --no-run
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
	@for env in /tmp/megaport-cp.*/env; do [ -f "$$env" ] && bash hack/control-plane/down.sh "$$(dirname "$$env")"; done; true

## Start the simulator with the QuantumGPU scenario and walk through the seed workflow.
demo:
	bash hack/demo.sh

## Serve the simulator on 127.0.0.1:8080 until interrupted.
simulator:
	$(CARGO) run --quiet -p megaport-sim -- --listen 127.0.0.1:8080 --scenario quantumgpu

clean:
	$(CARGO) clean
