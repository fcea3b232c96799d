#!/usr/bin/env bash
# deploy/k8s/check.sh — the Kubernetes manifests, validated offline (`make lint` runs it):
#   1. base/<service>.yaml are what generate.py writes (never edited by hand);
#   2. each overlay renders with kustomize (kubectl's);
#   3. the rendered objects validate against the schemas of a pinned Kubernetes version
#      (kubernetes-validate, strict: an unknown field is an error);
#   4. they meet policy.py (non-root, read-only, limits, gRPC probes, two replicas in
#      production, a PDB, HPA, NetworkPolicy and migration Job per service);
#   5. the reference manifests of the parts an operator brings (reference/) parse.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
KUBERNETES_VERSION=${ANJU_KUBERNETES_VERSION:-1.33.0}

KUBECTL=$("$ROOT/deploy/tools.sh" kubectl)
VALIDATE=$("$ROOT/deploy/tools.sh" kubernetes-validate)
PY=$(dirname "$VALIDATE")/python

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$HERE/generate.py" "$work/base"
for f in "$work"/base/*.yaml; do
  if ! cmp -s "$f" "$HERE/base/$(basename "$f")"; then
    echo "k8s: deploy/k8s/base/$(basename "$f") differs from what generate.py writes; run python3 deploy/k8s/generate.py" >&2
    diff -u "$HERE/base/$(basename "$f")" "$f" | head -40 >&2 || true
    exit 1
  fi
done

status=0
for overlay in production:2 development:1; do
  name=${overlay%%:*} replicas=${overlay##*:}
  out=$work/$name.yaml
  "$KUBECTL" kustomize "$HERE/overlays/$name" > "$out"
  if ! "$VALIDATE" --kubernetes-version "$KUBERNETES_VERSION" --strict --quiet "$out" 2>"$work/err"; then
    echo "k8s: overlay $name does not validate against Kubernetes $KUBERNETES_VERSION" >&2
    status=1
  fi
  # kubernetes-validate reports on stdout and prints a traceback for each failure on stderr.
  if grep -q "ValidationError" "$work/err"; then status=1; fi
  "$PY" "$HERE/policy.py" "$out" "$replicas" || status=1
  echo "k8s: overlay $name: $(grep -c '^kind:' "$out") objects rendered and checked against Kubernetes $KUBERNETES_VERSION"
done
"$PY" - "$HERE"/reference/*.yaml <<'PY'
import sys, yaml
for path in sys.argv[1:]:
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    assert docs, f"{path}: empty"
    print(f"k8s: {path.rsplit('/', 1)[-1]}: {len(docs)} documents parse")
PY
exit $status
