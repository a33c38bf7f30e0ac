# syntax=docker/dockerfile:1
# The vpcgate controller image: a release build of the `vpcgate` binary on distroless `cc`
# (glibc, libgcc_s and CA certificates; no shell, no package manager), run as a non-root user.
#
#   docker build -t vpcgate:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t vpcgate:dev .   # both, one manifest
#
# Multi-arch by cross-compilation, not by per-platform builds under emulation: the builder stage
# always runs on the build machine's own platform (--platform=$BUILDPLATFORM) and compiles for the
# target platform's Rust triple, picked from TARGETARCH (amd64: x86_64-unknown-linux-gnu, arm64:
# aarch64-unknown-linux-gnu), with Debian's cross gcc as linker and C compiler (aws-lc-sys and
# ring compile C) and Debian's cross glibc 2.36, the glibc the runtime stage has. A release build
# of the AWS SDK under QEMU takes many times longer than natively and needs binfmt handlers on the
# build machine; cross-compiling needs two Debian packages. The runtime stage is distroless cc of
# the target platform (a multi-arch image) and runs no command, so it needs no emulation either.
#
# tests/docker/test.sh lints this file with hadolint and builds the binary natively with the
# CARGO_BUILD_FLAGS below (read from this file), so the flags live in one place only. The target
# triple is passed separately (--target) so that the native test build stays what it is.

# Debian 12 (bookworm) in both stages: the binary is built against the glibc it runs with.
FROM --platform=$BUILDPLATFORM rust:1.95.0-bookworm AS builder

# The one build command of the image, also used by tests/docker/test.sh.
ARG CARGO_BUILD_FLAGS="--release --locked --no-default-features --bin vpcgate"
# Set by BuildKit, Buildah and Podman from --platform (default: the build machine's platform).
ARG TARGETARCH

# The gcc and binutils of each triple, by their Debian names (native ones come with the image).
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=x86_64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_x86_64_unknown_linux_gnu=x86_64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_x86_64_unknown_linux_gnu=x86_64-linux-gnu-ar \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
WORKDIR /build

# The target's Rust standard library and, when it is not the build machine's architecture, its
# cross gcc and glibc; the triple is kept in /build/rust-target for the builds below.
# DL3008 (apt versions not pinned): the image tag pins Debian 12, whose point releases replace
# these packages' versions on the mirrors, so exact pins would break the build at each one.
# hadolint ignore=DL3008
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
    && case "${arch}" in \
         amd64) triple="x86_64-unknown-linux-gnu" gcc="gcc-x86-64-linux-gnu" libc="libc6-dev-amd64-cross" ;; \
         arm64) triple="aarch64-unknown-linux-gnu" gcc="gcc-aarch64-linux-gnu" libc="libc6-dev-arm64-cross" ;; \
         *) echo "unsupported target architecture '${arch}' (amd64 or arm64)" >&2; exit 1 ;; \
       esac \
    && if [ "${arch}" != "$(dpkg --print-architecture)" ]; then \
         apt-get update \
         && apt-get install -y --no-install-recommends "${gcc}" "${libc}" \
         && rm -rf /var/lib/apt/lists/*; \
       fi \
    && rustup target add "${triple}" \
    && echo "${triple}" > /build/rust-target

# Dependencies in their own layer: built against placeholder sources, so this layer is reused
# until Cargo.toml or Cargo.lock change. tests/e2e.rs exists only because Cargo.toml declares
# that test target (never built here).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/e2e.rs \
    && cargo build ${CARGO_BUILD_FLAGS} --target "$(cat /build/rust-target)"

# The real sources. COPY keeps the context's mtimes, which can be older than the placeholder
# build: touch the crate roots so cargo rebuilds the crate instead of shipping the placeholder.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build ${CARGO_BUILD_FLAGS} --target "$(cat /build/rust-target)" \
    && cp "target/$(cat /build/rust-target)/release/vpcgate" /vpcgate

# Runtime: distroless cc (Debian 12) of the target platform, the image's own non-root user 65532.
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK: Kubernetes ignores it (the chart has probes), distroless has no shell
FROM gcr.io/distroless/cc-debian12:nonroot

# The release version: the default is Cargo.toml's (scripts/release.sh bumps both,
# tests/release/versions.sh checks they agree); the release workflow passes the tag's.
ARG VERSION="0.1.0"

LABEL org.opencontainers.image.title="vpcgate" \
      org.opencontainers.image.description="Kubernetes operator that manages DynamoDB Gateway VPC endpoints" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

# Owned by root and not writable by the runtime user.
COPY --from=builder /vpcgate /vpcgate

USER 65532:65532
# /metrics, /healthz and /readyz (`--metrics-addr`, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/vpcgate", "run"]
