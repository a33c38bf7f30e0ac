# syntax=docker/dockerfile:1
# The vpcgate controller image: a release build of the `vpcgate` binary on distroless `cc`
# (glibc, libgcc_s and CA certificates; no shell, no package manager), run as a non-root user.
#
#   docker build -t vpcgate:dev .
#
# tests/docker/test.sh lints this file with hadolint and builds the binary natively with the
# CARGO_BUILD_FLAGS below (read from this file), so the flags live in one place only.

# Debian 12 (bookworm) in both stages: the binary is built against the glibc it runs with.
FROM rust:1.95.0-bookworm AS builder

# The one build command of the image, also used by tests/docker/test.sh.
ARG CARGO_BUILD_FLAGS="--release --locked --no-default-features --bin vpcgate"

ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
WORKDIR /build

# Dependencies in their own layer: built against placeholder sources, so this layer is reused
# until Cargo.toml or Cargo.lock change. tests/e2e.rs exists only because Cargo.toml declares
# that test target (never built here).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/e2e.rs \
    && cargo build ${CARGO_BUILD_FLAGS}

# The real sources. COPY keeps the context's mtimes, which can be older than the placeholder
# build: touch the crate roots so cargo rebuilds the crate instead of shipping the placeholder.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build ${CARGO_BUILD_FLAGS} \
    && cp target/release/vpcgate /vpcgate

# Runtime: distroless cc (Debian 12), the image's own non-root user 65532.
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK: Kubernetes ignores it (the chart has probes), distroless has no shell
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="vpcgate" \
      org.opencontainers.image.description="Kubernetes operator that manages DynamoDB Gateway VPC endpoints" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

# Owned by root and not writable by the runtime user.
COPY --from=builder /vpcgate /vpcgate

USER 65532:65532
# /metrics, /healthz and /readyz (`--metrics-addr`, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/vpcgate", "run"]
