#!/usr/bin/env bash
# The container image as users get it, built and run in CI, where no base image can be pulled and
# `podman run` is refused:
#  1. a stand-in for the Dockerfile's runtime base, FROM scratch: exactly the shared libraries the
#     release binary links (ldd), the CA bundle, /etc/passwd and /etc/group with nonroot = 65532,
#     /tmp; a binary image holding the release binary where the builder stage puts it;
#  2. `podman build` of the repository's own Dockerfile with BINARY_FROM and RUNTIME_IMAGE pointed
#     at those two, so USER, VOLUME, ENV, EXPOSE, HEALTHCHECK and ENTRYPOINT are the Dockerfile's;
#  3. `podman image mount`, then in a private mount namespace the image's root bind-mounted
#     read-only with a fresh directory (owned by 65532, as a new volume is) on /data, and the
#     image's own ENTRYPOINT + CMD, ENV and USER run with chroot --userspec;
#  4. checks: no API key on 0.0.0.0 refuses to start; the README walk-through passes with a key;
#     the database appears in /data owned by 65532; nothing can be written elsewhere, even by
#     root; the image's HEALTHCHECK command exits 0, then 1 once the server has stopped.
# Needs root, podman, unshare, chroot, curl and jq, and target/release/authbridge.
#   deploy/container-test.sh            (CONTAINER_TEST_PORT, default 7791)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release/authbridge"
port=${CONTAINER_TEST_PORT:-7791}
say() { printf 'container-test: %s\n' "$*"; }
fail() { printf 'container-test: FAILED: %s\n' "$*" >&2; exit 1; }

# ---- inside the private mount namespace (the script calls itself through unshare) ----
if [ "${1:-}" = --inside ]; then
  # From the outer run: $work, $image_root, $key, $port and the image's config as JSON in $config.
  user=$(jq -r .User <<<"$config")
  mapfile -t image_env < <(jq -r '.Env[]' <<<"$config")
  mapfile -t entrypoint < <(jq -r '.Entrypoint[], .Cmd[]' <<<"$config")
  mapfile -t health < <(jq -r '.Healthcheck.Test[1:][]' <<<"$config")
  rootfs="$work/rootfs" data="$work/volume"
  # As a runtime does: the image read-only, the volume writable on /data.
  mkdir -p "$rootfs"
  mount --bind "$image_root" "$rootfs"
  mount -o remount,bind,ro "$rootfs"
  mount --bind "$data" "$rootfs/data"
  chroot=$(command -v chroot)
  # Replaces the calling (sub)shell with CMD... run inside the image as the image's user, with the
  # image's environment plus NAME=VALUE arguments (as `docker run -e`) and nothing of this shell's.
  # Call it as `(in_image ...)`, or `in_image ... &` so that $! is the process itself.
  in_image() {
    local extra=()
    while [[ "${1:-}" == *=* ]]; do extra+=("$1"); shift; done
    exec env -i "${image_env[@]}" "${extra[@]}" "$chroot" --userspec="$user" "$rootfs" "$@"
  }

  say "the root is read-only, even for root"
  if touch "$rootfs/probe" 2>"$work/touch.err"; then fail "root could write to the image's root"; fi
  grep -q 'Read-only file system' "$work/touch.err" || fail "unexpected: $(cat "$work/touch.err")"
  for target in /probe.db /tmp/probe.db /usr/local/bin/probe.db; do
    # uid 0 inside the image: permissions cannot be what stops it, only the read-only mount.
    if env -i "$chroot" "$rootfs" "${entrypoint[0]}" migrate --database-url "file:$target" >"$work/probe.out" 2>&1; then
      fail "a database could be created at $target"
    fi
    [ ! -e "$rootfs$target" ] || fail "$target exists"
    grep -q 'Unable to open the database file' "$work/probe.out" || fail "$target: $(cat "$work/probe.out")"
    say "  root in the image cannot create $target: $(tail -n 1 "$work/probe.out")"
  done
  if (in_image "${entrypoint[0]}" migrate --database-url file:/tmp/probe.db) >/dev/null 2>&1; then
    fail "uid 65532 could create /tmp/probe.db"
  fi

  say "without an API key the image refuses to listen on 0.0.0.0"
  status=0
  (in_image "${entrypoint[@]}") >"$work/nokey.log" 2>&1 || status=$?
  [ "$status" = 2 ] || fail "expected exit 2 without a key, got $status: $(cat "$work/nokey.log")"
  grep -q 'refusing to listen on 0.0.0.0' "$work/nokey.log" || fail "$(cat "$work/nokey.log")"
  [ -z "$(ls -A "$data")" ] || fail "a refused start wrote to /data: $(ls -A "$data")"

  say "serving on 0.0.0.0:$port as $user from the image's ENTRYPOINT + CMD: ${entrypoint[*]}"
  ! curl -s "127.0.0.1:$port/healthz" >/dev/null 2>&1 || fail "port $port is already in use"
  in_image AUTHBRIDGE_BIND="0.0.0.0:$port" AUTHBRIDGE_API_KEYS="$key" "${entrypoint[@]}" >"$work/server.log" 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    grep -q "authbridge listening address=0.0.0.0:$port" "$work/server.log" && break
    kill -0 "$pid" 2>/dev/null || fail "the server stopped: $(cat "$work/server.log")"
    sleep 0.1
  done
  curl -fs "127.0.0.1:$port/readyz" >/dev/null || fail "not ready: $(cat "$work/server.log")"

  WALKTHROUGH_API_KEY="$key" "$root/scripts/walkthrough.sh" --against "127.0.0.1:$port" >"$work/walkthrough.out" ||
    fail "walk-through: $(cat "$work/walkthrough.out")"
  say "README walk-through: $(tail -n 1 "$work/walkthrough.out")"

  [ -f "$data/authbridge.db" ] || fail "no /data/authbridge.db: $(ls -la "$data")"
  owners=$(find "$data" -mindepth 1 -printf '%U:%G %p\n')
  say "in /data: $(find "$data" -mindepth 1 -printf '%f ' )"
  ! grep -v '^65532:65532 ' <<<"$owners" || fail "files in /data not owned by 65532"
  [ "$(stat -c %u:%g "$data/authbridge.db")" = 65532:65532 ] || fail "authbridge.db owner"

  say "the image's HEALTHCHECK (${health[*]}) while serving"
  status=0
  (in_image AUTHBRIDGE_BIND="0.0.0.0:$port" "${health[@]}") >"$work/health.out" 2>&1 || status=$?
  [ "$status" = 0 ] || fail "healthcheck exited $status while serving: $(cat "$work/health.out")"

  kill -TERM "$pid"
  status=0; wait "$pid" || status=$?
  trap - EXIT
  [ "$status" = 0 ] || fail "the server exited $status on SIGTERM: $(cat "$work/server.log")"
  grep -q 'shut down cleanly' "$work/server.log" || fail "$(cat "$work/server.log")"

  status=0
  (in_image AUTHBRIDGE_BIND="0.0.0.0:$port" "${health[@]}") >"$work/health.out" 2>&1 || status=$?
  [ "$status" = 1 ] || fail "healthcheck exited $status after the stop: $(cat "$work/health.out")"
  say "after the stop it exits 1: $(cat "$work/health.out")"
  # The server's log must not show the key (it came in through the environment).
  ! grep -qF "$key" "$work/server.log" || fail "the API key reached the log"
  exit 0
fi

# ---- outside: requirements, images, mount, clean-up ----
skip_or_fail() {
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then fail "$1 (CI=true: the container test must run)"; fi
  say "SKIPPED: $1"
  exit 0
}
[ "$(id -u)" = 0 ] || skip_or_fail "needs root (mount namespaces, chroot)"
for tool in podman unshare chroot curl jq ldd; do
  command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed (apt-get install podman)"
done
[ -x "$bin" ] || fail "build the release binary first: cargo build --release"

started=$(date +%s)
work=$(mktemp -d)
tag="localhost/authbridge-container-test-$$"
base_tag="$tag-runtime-base" binary_tag="$tag-binary"
cleanup() {
  podman image unmount "$tag" >/dev/null 2>&1 || true
  podman rmi -f "$tag" "$binary_tag" "$base_tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
build() { podman build --quiet --format docker --pull=never --network=none "$@" >"$work/build.log" 2>&1 ||
  fail "podman build $*: $(cat "$work/build.log")"; }

# The runtime base's stand-in: what the binary links, as `ldd` resolves it on this Debian 12.
mkdir -p "$work/base/etc/ssl/certs" "$work/base/tmp" "$work/binary/out/data" "$work/empty"
libraries=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
for library in $libraries; do cp -L --parents "$library" "$work/base/"; done
cp -L /etc/ssl/certs/ca-certificates.crt "$work/base/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$work/base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$work/base/etc/group"
chmod 1777 "$work/base/tmp"
printf 'FROM scratch\nCOPY . /\nUSER 65532:65532\n' >"$work/Containerfile.base"
build -t "$base_tag" -f "$work/Containerfile.base" "$work/base"
say "runtime base stand-in: $(tr '\n' ' ' <<<"$libraries")+ CA bundle, passwd, group, /tmp"

cp "$bin" "$work/binary/out/authbridge"
printf 'FROM scratch\nCOPY out /out\n' >"$work/Containerfile.binary"
build -t "$binary_tag" -f "$work/Containerfile.binary" "$work/binary"

# The repository's Dockerfile, its runtime stage on those two; the builder stage is not built.
build -t "$tag" --build-arg "BINARY_FROM=$binary_tag" --build-arg "RUNTIME_IMAGE=$base_tag" \
  -f "$root/Dockerfile" "$work/empty"
inspect=$(podman image inspect "$tag")
config=$(jq -c '.[0].Config + {Healthcheck: .[0].Healthcheck}' <<<"$inspect")
size=$(jq -r '.[0].Size' <<<"$inspect")
say "image $tag: $((size / 1024 / 1024)) MiB ($size bytes); config $config"

# What the Dockerfile promises, read back from the built image.
jq -e '.User == "65532:65532"' <<<"$config" >/dev/null || fail "USER is not 65532:65532"
jq -e '.Volumes | keys == ["/data"]' <<<"$config" >/dev/null || fail "VOLUME is not /data"
jq -e '.ExposedPorts | keys == ["7777/tcp"]' <<<"$config" >/dev/null || fail "EXPOSE is not 7777"
jq -e '.Env | index("DATABASE_URL=file:/data/authbridge.db")' <<<"$config" >/dev/null || fail "DATABASE_URL"
jq -e '.Env | index("AUTHBRIDGE_BIND=0.0.0.0:7777")' <<<"$config" >/dev/null || fail "AUTHBRIDGE_BIND"
jq -e '.Healthcheck.Test[0] == "CMD" and .Healthcheck.Test[-1] == "healthcheck"' <<<"$config" >/dev/null ||
  fail "HEALTHCHECK is not the exec form of authbridge healthcheck (the image has no shell)"
own_limit=$("$bin" healthcheck --help | sed -n 's/.*within \([0-9]*\) s.*/\1/p')
[ -n "$own_limit" ] || fail "healthcheck --help states no time limit"
jq -e --argjson s "$own_limit" '.Healthcheck.Timeout > $s * 1e9' <<<"$config" >/dev/null ||
  fail "HEALTHCHECK --timeout must exceed healthcheck's own ${own_limit} s"

image_root=$(podman image mount "$tag")
[ "$(stat -c %u:%g:%a "$image_root/data")" = 65532:65532:755 ] || fail "/data in the image: $(stat -c %u:%g:%a "$image_root/data")"
[ -z "$(ls -A "$image_root/data")" ] || fail "/data in the image is not empty"
exe=$(jq -r '.Entrypoint[0]' <<<"$config")
[ "$(stat -c %u:%a "$image_root$exe")" = 0:555 ] || fail "$exe is not root-owned and read-only (0555)"
# A new named volume starts as a copy of the image's /data: empty, owned by 65532.
mkdir "$work/volume"
chown 65532:65532 "$work/volume"

key=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
export work image_root key port config root
# A mount namespace for the read-only view, and a PID namespace whose first process is the inner
# shell: however that shell ends, the kernel ends every process left in it (the server too).
unshare --mount --propagation private --pid --fork --kill-child bash "$0" --inside
say "passed in $(($(date +%s) - started)) s"
