#!/usr/bin/env bash
# Build the causely-incidentio OCI image without a Docker engine and without pulling a base image.
#
#   .ci/image.sh [OUTPUT_LAYOUT]      (default: $CACHE/oci; the image is tagged causely-incidentio:<version>)
#
# The Dockerfile needs a Docker engine and python:3.11-slim-bookworm from a registry; neither is available to
# CI here. This builds the same image from Debian's archive instead:
#   1. base layer: `mmdebstrap --variant=minbase` of Debian bookworm with python3 and python3-venv (Python
#      3.11, the version the Dockerfile uses), the `causely` user (UID/GID 10001), no docs, man pages or
#      locales. Cached under $CACHE by the suite, the package list and this script's BASE_REVISION.
#   2. app layer: /opt/venv, a virtualenv made with the base's own python3 inside the base (chroot), holding
#      the project's wheel and its runtime dependencies at the versions constraints.txt pins — installed
#      offline from a wheelhouse built on the host, so test-only libraries (the `test` extra) never enter.
#   3. `umoci` writes both layers and the config (user 10001:10001, entrypoint causely-incidentio, cmd run,
#      ports 8080/8081) as an OCI image layout that any registry tool (skopeo, crane, oras) can push.
# tests/image/test_image.py unpacks it with umoci and starts it with runc, as a container runtime would.
#
# Needs root (apt-get for mmdebstrap/umoci/runc when missing, chroot) and Debian's archive. Cold: about 3
# minutes (the base); warm: about one minute (the app layer is rebuilt every time: the source changes).
set -euo pipefail

log() { printf '[image] %s\n' "$*" >&2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CAUSELY_IMAGE_CACHE:-${CAUSELY_K8S_CACHE:-/var/cache/causely-incidentio}/image}
SUITE=bookworm
MIRROR=${CAUSELY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=python3,python3-venv,ca-certificates
BASE_REVISION=1  # bump when the base recipe below changes
UID_GID=10001
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
OUT=${1:-$CACHE/oci}
VERSION=$("$PYTHON" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
  "$ROOT/pyproject.toml")
TAG=causely-incidentio:$VERSION

if [[ $(id -u) -ne 0 ]]; then
  log "building the image needs root (mmdebstrap, chroot, apt-get for the tools)"
  exit 1
fi
missing=()
for tool in mmdebstrap umoci runc; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if (( ${#missing[@]} )); then
  log "installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi
mkdir -p "$CACHE"

# -- 1. the base layer (cached) ----------------------------------------------------------------------------
base_key=$(printf '%s\n' "$SUITE" "$BASE_PACKAGES" "$BASE_REVISION" "$UID_GID" | sha256sum | cut -c1-16)
BASE=$CACHE/base-$base_key
if [[ ! -f $BASE/done ]]; then
  log "making the Debian $SUITE base with mmdebstrap (once; cached in $BASE)"
  rm -rf "$BASE" && mkdir -p "$BASE"
  mmdebstrap --variant=minbase --include="$BASE_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="chroot \"\$1\" groupadd --system --gid $UID_GID causely" \
    --customize-hook="chroot \"\$1\" useradd --system --uid $UID_GID --gid $UID_GID --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin causely" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    "$SUITE" "$BASE/rootfs.tar" "$MIRROR" 2>"$BASE/mmdebstrap.log"
  mkdir "$BASE/rootfs"
  tar -C "$BASE/rootfs" -xf "$BASE/rootfs.tar"
  rm "$BASE/rootfs.tar"
  chroot "$BASE/rootfs" dpkg-query -W -f '${Package} ${Version}\n' >"$BASE/packages.txt"
  touch "$BASE/done"
fi

# -- 2. the app layer: wheels on the host, the virtualenv inside the base ----------------------------------
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
deps_key=$(cat "$ROOT/constraints.txt" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
WHEELS=$CACHE/wheels-$deps_key
if [[ ! -f $WHEELS/done ]]; then
  log "collecting the runtime dependencies' wheels (once per constraints.txt; cached in $WHEELS)"
  rm -rf "$WHEELS"
  "$PYTHON" -m pip wheel -q --wheel-dir "$WHEELS" --constraint "$ROOT/constraints.txt" "$ROOT" 2>"$WORK/pip.log" \
    || { cat "$WORK/pip.log" >&2; exit 1; }
  rm -f "$WHEELS"/causely_incidentio-*.whl
  touch "$WHEELS/done"
fi
find "$CACHE" -maxdepth 1 \( -name 'wheels-*' -o -name 'base-*' \) ! -path "$WHEELS" ! -path "$BASE" \
  -exec rm -rf {} +  # caches of older constraints or base recipes
log "building the project's wheel"
"$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$WORK/wheels" "$ROOT" 2>"$WORK/pip.log" \
  || { cat "$WORK/pip.log" >&2; exit 1; }
cp "$WHEELS"/*.whl "$ROOT/constraints.txt" "$WORK/wheels/"

log "installing it into /opt/venv with the base's python3"
cp -a "$BASE/rootfs" "$WORK/rootfs"
mkdir "$WORK/rootfs/wheels"
cp "$WORK"/wheels/* "$WORK/rootfs/wheels/"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
  chroot "$WORK/rootfs" /bin/sh -euc '
    python3 -m venv /opt/venv
    /opt/venv/bin/pip install -q --no-index --find-links /wheels --constraint /wheels/constraints.txt \
      causely-incidentio
    /opt/venv/bin/pip uninstall -q -y pip
    /opt/venv/bin/causely-incidentio --version >/dev/null'
mkdir -p "$WORK/app/opt"
mv "$WORK/rootfs/opt/venv" "$WORK/app/opt/venv"

# -- 3. the OCI image --------------------------------------------------------------------------------------
log "writing the OCI image $TAG to $OUT"
rm -rf "$OUT"
umoci init --layout "$OUT"
umoci new --image "$OUT:$TAG"
umoci insert --image "$OUT:$TAG" --history.created_by "mmdebstrap $SUITE minbase $BASE_PACKAGES" \
  "$BASE/rootfs" /
umoci insert --image "$OUT:$TAG" --history.created_by "virtualenv: causely-incidentio $VERSION" \
  "$WORK/app/opt/venv" /opt/venv
umoci config --image "$OUT:$TAG" --history.created_by "config" \
  --config.user "$UID_GID:$UID_GID" --config.workingdir / \
  --config.entrypoint causely-incidentio --config.cmd run \
  --config.env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env PYTHONDONTWRITEBYTECODE=1 --config.env PYTHONUNBUFFERED=1 --config.env HOME=/tmp \
  --config.exposedports 8080/tcp --config.exposedports 8081/tcp \
  --config.label org.opencontainers.image.title=causely-incidentio \
  --config.label "org.opencontainers.image.version=$VERSION" \
  --config.label org.opencontainers.image.licenses=Apache-2.0
umoci gc --layout "$OUT"
log "done: $OUT:$TAG ($(du -sh "$OUT" | cut -f1))"
