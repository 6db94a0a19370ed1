#!/usr/bin/env bash
# Validates every manifest in deploy/kubernetes/ with kubernetes-validate (PyPI, pinned, in a venv):
# the Kubernetes OpenAPI schemas it bundles, strict mode (unknown fields are errors), for the
# oldest and the newest Kubernetes version the example claims. Run as root it validates inside a
# network namespace with no network, which proves the schemas are bundled and nothing is fetched.
# It then checks that the validator rejects broken copies, so a green run means something.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
manifests="$root/deploy/kubernetes"
venv="$root/target/kubernetes-validate-venv"
versions=(1.30.0 1.37.0)
"$root/scripts/pinned-venv.sh" "$venv" kubernetes-validate 1.37.0

offline() { if [ "$(id -u)" = 0 ]; then unshare --net "$@"; else "$@"; fi; }

# Succeeds only when the validator exits 0 and says "passed" for every file and nothing else: an
# unknown kind or apiVersion is only a warning with exit 0, and must fail here.
validate() {
  local version=$1 out status=0
  shift
  out=$(offline "$venv/bin/kubernetes-validate" --strict -k "$version" "$@" 2>&1) || status=$?
  printf '%s\n' "$out"
  [ "$status" = 0 ] || return 1
  ! grep -v ' passed for resource ' <<<"$out" | grep -q . || return 1
  for file in "$@"; do grep -qF "INFO $file passed for resource " <<<"$out" || return 1; done
}

shopt -s nullglob
files=("$manifests"/*.yaml)
[ ${#files[@]} -gt 0 ] || { echo "no manifests in $manifests" >&2; exit 1; }
for version in "${versions[@]}"; do
  validate "$version" "${files[@]}" || { echo "kubernetes manifests: FAILED against $version" >&2; exit 1; }
done

# The manifests and the Dockerfile's runtime stage say the same: user, port, volume, probes,
# and every Secret reference exists.
"$venv/bin/python" - "$root/Dockerfile" "${files[@]}" <<'PY'
import re, sys, yaml
dockerfile, *paths = sys.argv[1:]
runtime = open(dockerfile).read().split("\nFROM ")[-1]
uid, gid = map(int, re.search(r"^USER (\d+):(\d+)$", runtime, re.M).groups())
port = int(re.search(r"^EXPOSE (\d+)$", runtime, re.M).group(1))
volume = re.search(r'^VOLUME \["([^"]+)"\]$', runtime, re.M).group(1)
docs = {d["kind"]: d for p in paths for d in yaml.safe_load_all(open(p)) if d}
secret = docs["Secret"]
problems = []
def check(ok, what):
    if not ok: problems.append(what)
pods = {kind: docs[kind]["spec"]["template"]["spec"] for kind in ("Deployment", "Job")}
images = set()
for kind, pod in pods.items():
    check(pod["securityContext"].get("runAsUser") == uid and pod["securityContext"].get("runAsGroup") == gid, f"{kind}: pod user is not {uid}:{gid}")
    for c in pod["containers"]:
        sc = c["securityContext"]
        check(sc.get("runAsNonRoot") is True and sc.get("readOnlyRootFilesystem") is True, f"{kind}/{c['name']}: runAsNonRoot and readOnlyRootFilesystem")
        check(sc.get("runAsUser") == uid and sc.get("runAsGroup") == gid, f"{kind}/{c['name']}: user is not {uid}:{gid}")
        images.add(c["image"])
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                check(ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"], f"{kind}: {env['name']} names a missing Secret key")
check(len(images) == 1, f"the Deployment and the Job run different images: {images}")
serve = pods["Deployment"]["containers"][0]
check([p["containerPort"] for p in serve["ports"]] == [port], f"containerPort is not the image's EXPOSE {port}")
check(serve["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness is not /readyz")
check(serve["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness is not /healthz")
check(volume in [m["mountPath"] for m in serve["volumeMounts"]], f"nothing is mounted on the image's VOLUME {volume}")
check(docs["Service"]["spec"]["ports"][0]["targetPort"] in [p["name"] for p in serve["ports"]], "the Service targets no named port")
if problems:
    sys.exit("manifests and Dockerfile disagree:\n  " + "\n  ".join(problems))
print(f"manifests agree with the Dockerfile: user {uid}:{gid}, port {port}, volume {volume}, probes /readyz and /healthz")
PY

# The same validation must reject what is broken: a wrong type, a misspelt field, a missing
# required field and a misspelt kind, each in a copy of the Deployment.
broken=$(mktemp -d)
trap 'rm -rf "$broken"' EXIT
deployment="$manifests/deployment.yaml"
sed 's/containerPort: 7777/containerPort: "7777"/' "$deployment" >"$broken/wrong-type.yaml"
sed 's/readinessProbe:/readynessProbe:/' "$deployment" >"$broken/unknown-field.yaml"
sed '/^  selector:/,/^  template:/{/^  template:/!d}' "$deployment" >"$broken/no-selector.yaml"
sed 's/^kind: Deployment$/kind: Deploymnet/' "$deployment" >"$broken/unknown-kind.yaml"
for copy in "$broken"/*.yaml; do
  cmp -s "$copy" "$deployment" && { echo "breaking ${copy##*/} changed nothing" >&2; exit 1; }
  if validate "${versions[-1]}" "$copy" >"$broken/out"; then
    echo "kubernetes-validate accepted the broken ${copy##*/}:" >&2; cat "$broken/out" >&2; exit 1
  fi
  echo "rejected as expected: ${copy##*/}: $(grep -v '^$' "$broken/out" | tail -n 1)"
done
echo "kubernetes manifests: ${#files[@]} files valid against ${versions[*]} (kubernetes-validate $("$venv/bin/kubernetes-validate" --version 2>&1))"
