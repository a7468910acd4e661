#!/usr/bin/env bash
# Build (once) the Kubernetes 1.20 API server and controller-manager the e2e tier runs against.
#
# Why from source: no prebuilt kube-apiserver / envtest / k3s / kind is reachable from CI, and there is no
# Docker. Debian bookworm ships the complete upstream v1.20.2 tree (with vendor/) as the source package
# `kubernetes`, and Go 1.19, etcd and kubectl as ordinary packages, so everything comes through apt.
#
# The binaries are cached outside the repository, keyed on the Debian version of the source package:
#   ${CAUSELY_K8S_CACHE:-/var/cache/causely-incidentio}/k8s-<debian version>/bin/{kube-apiserver,kube-controller-manager}
# tests/e2e/kubeapi.py looks them up there. A second run with the cache present exits at once.
#
# Environment:
#   CAUSELY_K8S_CACHE           cache root (default /var/cache/causely-incidentio)
#   CAUSELY_K8S_DEBIAN_VERSION  Debian version of the `kubernetes` source package to build
#                               (default: the pinned one below; falls back to the archive's current one
#                               when the mirror no longer carries the pin)
#   CAUSELY_K8S_KEEP_BUILD=1    keep the build tree (for debugging a failed build)
set -euo pipefail

readonly PINNED_DEBIAN_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
# Bump when the patches applied below change: a cached build with another patch level is rebuilt.
readonly PATCH_LEVEL=2
readonly UPSTREAM_GIT_VERSION="v1.20.2"
readonly CACHE_ROOT="${CAUSELY_K8S_CACHE:-/var/cache/causely-incidentio}"
readonly BINARIES=(kube-apiserver kube-controller-manager)
readonly BUILD_PACKAGES=(golang-1.19-go golang-1.19-src rsync golang-github-modern-go-reflect2-dev etcd-server dpkg-dev)
readonly GOROOT_119=/usr/lib/go-1.19
readonly REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

VERSION="${CAUSELY_K8S_DEBIAN_VERSION:-$PINNED_DEBIAN_VERSION}"
START_SECONDS=$SECONDS

log() { printf '[k8s-apiserver %3ds] %s\n' "$((SECONDS - START_SECONDS))" "$*" >&2; }
die() { printf '[k8s-apiserver] ERROR: %s\n' "$*" >&2; exit 1; }

cache_complete() {
  # True when every binary of version $1, at this patch level, is cached and etcd + kubectl are installed.
  local dir="$CACHE_ROOT/k8s-$1" name
  for name in "${BINARIES[@]}"; do
    [[ -x "$dir/bin/$name" ]] || return 1
  done
  grep -qxF "patch-level: $PATCH_LEVEL" "$dir/BUILD-INFO" 2>/dev/null || return 1
  command -v etcd >/dev/null 2>&1 && command -v kubectl >/dev/null 2>&1
}

report_cached() {
  log "cached: $CACHE_ROOT/k8s-$1/bin ($(IFS=,; echo "${BINARIES[*]}")); etcd: $(command -v etcd); kubectl: $(command -v kubectl)"
}

# ---- fast path: nothing to do --------------------------------------------------------------------------
if cache_complete "$VERSION"; then
  report_cached "$VERSION"
  exit 0
fi

# ---- slow path -----------------------------------------------------------------------------------------
if [[ "$(id -u)" -eq 0 ]]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
  as_root() { sudo -n "$@" || die "needs root for: $* (run as root or allow passwordless sudo)"; }
else
  die "the first build needs root (apt-get, $CACHE_ROOT); run 'make k8s' as root once"
fi
export DEBIAN_FRONTEND=noninteractive

as_root mkdir -p "$CACHE_ROOT"
[[ -w "$CACHE_ROOT" ]] || as_root chown "$(id -u):$(id -g)" "$CACHE_ROOT"

# Serialise concurrent runs (two `make test` at once): the second waits, then finds the cache.
exec 9>"$CACHE_ROOT/.build.lock"
flock 9
if cache_complete "$VERSION"; then
  report_cached "$VERSION"
  exit 0
fi

have_bookworm_deb_src() {
  # deb822 (*.sources, "Types: deb deb-src") or one-line (*.list, "deb-src ... bookworm main").
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    grep -Eq '^[[:space:]]*deb-src[[:space:]].*[[:space:]]bookworm[[:space:]].*main' "$f" && return 0
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # A stanza matches when it lists deb-src, the bookworm suite and the main component.
    awk 'BEGIN { RS = "" }
         /(^|\n)Types:[^\n]*deb-src/ && /(^|\n)Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ && /(^|\n)Components:[^\n]*main/ \
           && !/(^|\n)Enabled:[ \t]*no/ { found = 1 }
         END { exit !found }' "$f" && return 0
  done
  return 1
}

debian_mirror() {
  # The mirror this machine already uses for Debian main (deb822 URIs: or a one-line deb entry).
  local uri
  uri="$(grep -hE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  if [[ -z "$uri" ]]; then
    uri="$(grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! have_bookworm_deb_src; then
  mirror="$(debian_mirror)"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    log "adding a deb822 deb-src source for bookworm main ($mirror)"
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" | as_root tee /etc/apt/sources.list.d/causely-bookworm-src.sources >/dev/null
  else
    log "adding a one-line deb-src source for bookworm main ($mirror)"
    printf 'deb-src %s bookworm main\n' "$mirror" | as_root tee /etc/apt/sources.list.d/causely-bookworm-src.list >/dev/null
  fi
fi

log "apt-get update"
as_root apt-get update -qq || die "apt-get update failed"

packages=("${BUILD_PACKAGES[@]}")
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
log "installing ${packages[*]}"
as_root apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null \
  || die "apt-get install ${packages[*]} failed"

[[ -x "$GOROOT_119/bin/go" ]] || die "Go 1.19 not found at $GOROOT_119 after installing golang-1.19-go"
[[ -d "$REFLECT2_SRC" ]] || die "reflect2 sources not found at $REFLECT2_SRC (golang-github-modern-go-reflect2-dev)"

available="$(apt-cache showsrc --only-source kubernetes 2>/dev/null | awk '/^Version:/ {print $2}')"
[[ -n "$available" ]] || die "apt-cache showsrc kubernetes found nothing: is a bookworm deb-src source configured?"
if ! grep -qxF "$VERSION" <<<"$available"; then
  [[ -z "${CAUSELY_K8S_DEBIAN_VERSION:-}" ]] \
    || die "kubernetes source $VERSION not available (the archive has: $(tr '\n' ' ' <<<"$available"))"
  VERSION="$(sort -V <<<"$available" | tail -n1)"
  log "pinned source $PINNED_DEBIAN_VERSION is gone from the archive; building $VERSION instead"
  if cache_complete "$VERSION"; then
    report_cached "$VERSION"
    exit 0
  fi
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/causely-k8s-build.XXXXXX")"
staging=""
cleanup() {
  if [[ -n "$staging" ]]; then rm -rf "$staging" "$staging.old"; fi
  if [[ "${CAUSELY_K8S_KEEP_BUILD:-}" == 1 ]]; then
    log "build tree kept in $workdir"
  else
    rm -rf "$workdir"
  fi
}
trap cleanup EXIT

log "apt-get source kubernetes=$VERSION (into $workdir)"
(cd "$workdir" && apt-get source -qq "kubernetes=$VERSION" >"$workdir/apt-source.log" 2>&1) \
  || { tail -n 20 "$workdir/apt-source.log" >&2; die "apt-get source kubernetes=$VERSION failed"; }
src="$(find "$workdir" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
[[ -n "$src" && -f "$src/Makefile" ]] || die "unpacked source tree not found in $workdir"

# The vendored reflect2 1.0.1 breaks on Go >= 1.18 (the server panics on every create); use Debian's 1.0.2.
log "replacing vendor/github.com/modern-go/reflect2 with Debian's $(basename "$(dirname "$REFLECT2_SRC")")/reflect2"
vendored="$src/vendor/github.com/modern-go/reflect2"
[[ -d "$vendored" ]] || die "$vendored missing from the source tree"
find "$vendored" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
find "$REFLECT2_SRC" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
  -exec cp {} "$vendored/" \;

# Go >= 1.19 gives "" the same interface data pointer as reflect.Zero(string), so the vendored OpenAPI
# validators' zero-value test `reflect.DeepEqual(reflect.Zero(T), reflect.ValueOf(data))` starts treating
# every empty string in a custom resource as null ("Invalid value: null: must be of type string").
# Restore the meaning it had with the Go 1.15 the release was built with: nil, or a nil map/pointer/….
for validator in "$src/vendor/github.com/go-openapi/validate/type.go" \
                 "$src/vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go"; do
  old='data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))'
  grep -qF "$old" "$validator" || die "zero-value test not found in $validator: the empty-string patch needs updating"
  sed -i "s/$(sed 's/[][\\.*^$/]/\\&/g' <<<"$old")/isNullValue(data)/" "$validator"
  cat >>"$validator" <<'GO'

// isNullValue is the zero-value test above as it behaved before Go 1.19 (patched by causely-incidentio's
// .ci/k8s-apiserver.sh): nil, or a nil map, pointer, channel or function — never an empty string.
func isNullValue(data interface{}) bool {
	if data == nil {
		return true
	}
	switch v := reflect.ValueOf(data); v.Kind() {
	case reflect.Map, reflect.Ptr, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return v.IsNil()
	}
	return false
}
GO
done
log "patched the OpenAPI validators' empty-string check for Go 1.19"

log "building ${BINARIES[*]} with Go 1.19 (cold build: about 5 minutes on 2 cores)"
build_log="$workdir/build.log"
if ! (
  cd "$src"
  export GOROOT="$GOROOT_119" PATH="$GOROOT_119/bin:$PATH" CGO_ENABLED=0 GOPROXY=off GOFLAGS='' \
         GOCACHE="$workdir/gocache" GOTOOLCHAIN=local \
         KUBE_GIT_VERSION="$UPSTREAM_GIT_VERSION" KUBE_GIT_TREE_STATE=clean
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" KUBE_BUILD_PLATFORMS=linux/amd64
) >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  die "make failed (last lines above; CAUSELY_K8S_KEEP_BUILD=1 keeps $workdir)"
fi

out="$src/_output/local/bin/linux/amd64"
staging="$(mktemp -d "$CACHE_ROOT/.k8s-$VERSION.XXXXXX")"
mkdir -p "$staging/bin"
for name in "${BINARIES[@]}"; do
  [[ -x "$out/$name" ]] || die "build finished but $out/$name is missing"
  cp "$out/$name" "$staging/bin/$name"
done
chmod 0755 "$staging" "$staging/bin"
cat >"$staging/BUILD-INFO" <<INFO
debian source: kubernetes $VERSION
upstream: $UPSTREAM_GIT_VERSION
go: $("$GOROOT_119/bin/go" version)
patches: vendored reflect2 -> Debian's 1.0.2; OpenAPI validators' empty-string check
built: $(date -u +%Y-%m-%dT%H:%M:%SZ)
patch-level: $PATCH_LEVEL
INFO
target="$CACHE_ROOT/k8s-$VERSION"
previous="$staging.old"
if [[ -e "$target" ]]; then  # incomplete, or an older patch level: set it aside, swap, then delete it
  mv "$target" "$previous"
fi
mv "$staging" "$target"     # a rename: readers see the old build or the new one, never half of one
staging=""
rm -rf "$previous"
log "built in $((SECONDS - START_SECONDS))s"
report_cached "$VERSION"
