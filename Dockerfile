# authbridge as a container image: a Rust builder stage, then a distroless runtime stage that holds
# the binary and what it links, nothing else (no shell, no package manager). docs/deployment.md
# explains building it, the /data volume, API keys, health checks and Kubernetes.
#
#   docker build -t authbridge .
#   docker run -d -p 7777:7777 -v authbridge-data:/data -e AUTHBRIDGE_API_KEYS="$KEY" authbridge
#   (podman/buildah: add --format docker to keep the HEALTHCHECK, which OCI images cannot carry)
#
# The base images are build arguments so that a registry mirror can be named. CI cannot pull any
# base image, so deploy/container-test.sh builds this very file with BINARY_FROM (the release
# binary it built) and RUNTIME_IMAGE (a stand-in made of exactly the libraries that binary links),
# then runs the result as uid 65532 on a read-only root.

# Debian 12 for both stages: the binary needs the glibc it was linked against (2.36) or newer.
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
# glibc, libgcc_s (Rust's panic unwinding links it), CA certificates (TLS to managed databases),
# /etc/passwd with nonroot = 65532. base-nossl lacks libgcc_s; static has no glibc.
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# The stage that provides /out/authbridge and an empty /out/data.
ARG BINARY_FROM=build

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && mkdir -p /out/data \
    && cp target/release/authbridge /out/authbridge

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_IMAGE}
# Root-owned and read-only: the process running as 65532 cannot replace its own binary.
COPY --from=binary --chown=0:0 --chmod=0555 /out/authbridge /usr/local/bin/authbridge
# The one writable place. Docker copies this owner into a new named volume, so 65532 can write it.
COPY --from=binary --chown=65532:65532 /out/data /data
# SQLite writes the database, its -wal and -shm files, and any temporary file (TMPDIR) in /data,
# so the root filesystem can be mounted read-only. Binding 0.0.0.0 makes an API key mandatory:
# without AUTHBRIDGE_API_KEYS or AUTHBRIDGE_API_KEY_FILE the container exits 2 at start-up.
ENV DATABASE_URL=file:/data/authbridge.db \
    AUTHBRIDGE_BIND=0.0.0.0:7777 \
    TMPDIR=/data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 7777
# No shell or curl in the image: the binary asks its own /readyz. Its own limit (healthcheck --help)
# is below --timeout, so its one-line reason is what the runtime records.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/authbridge", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/authbridge"]
CMD ["serve"]
