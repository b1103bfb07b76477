# syntax=docker/dockerfile:1
#
# The operator's image: `docker build -t ghcr.io/onramp-dev/megaport-operator:0.1.0 .`
#
# No container engine exists on the project's machines, so this file is not built in CI. Its
# build command is the one CI runs on every change (`make release`, i.e.
# `cargo build --release --locked --bin megaport-operator`), so what it compiles is tested; only
# the two FROM lines and the COPY are not.

# ---- build: the same toolchain as the project's machines and CI (rust-version in Cargo.toml is
# the minimum).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds on one machine; the binary is copied
# out of the cached target/ (which the next stage cannot see).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    make release \
 && install -D -m 0755 target/release/megaport-operator /out/megaport-operator

# ---- runtime: glibc, libgcc and CA certificates (Megaport's API is HTTPS, verified against the
# system roots); no shell, no package manager. The same Debian release as the build stage.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/megaport-operator /usr/local/bin/megaport-operator
# nonroot: uid/gid 65532, as the chart's securityContext expects (runAsNonRoot needs a numeric
# user to verify).
USER 65532:65532
# /livez, /readyz and /metrics (HTTP_ADDR).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/megaport-operator", "run"]
