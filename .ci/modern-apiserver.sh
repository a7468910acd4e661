#!/usr/bin/env bash
# Build (once) the Kubernetes 1.36 CRD API server, etcd and kubectl that the `modern` test tier runs on.
#
# Why this way: no Debian suite ships the server source of a Kubernetes release newer than 1.20 (that is the
# e2e tier, .ci/k8s-apiserver.sh), but Debian unstable (sid) packages the 1.36 API-server *libraries*
# (golang-k8s-apiserver-dev, golang-k8s-apiextensions-apiserver-dev), a current Go, etcd and kubectl.
# .ci/crd-apiserver/main.go wires those libraries into a standalone apiextensions server (CRDs, CEL,
# status subresource, OpenAPI v3; no core/v1, no RBAC). Everything comes from sid through a *private* apt
# configuration and is unpacked with `dpkg-deb -x` into a scratch directory: nothing is installed into the
# system and the machine's own apt sources are not touched.
#
# Pinning: .ci/modern-apiserver.versions lists the last known-good package set ("package version sha256",
# the whole dependency closure). sid only carries its current versions, so:
#   1. the pinned set is downloaded and every .deb checked against its sha256;
#   2. if sid no longer has one of them, sid's current set is taken instead, and the differences from the
#      known-good set are printed in a banner. If the tier then passes, make that set the new known-good one:
#        cp "$CACHE_ROOT/modern-current/PACKAGES" .ci/modern-apiserver.versions
#
# Cache: $CACHE_ROOT/modern-k8s<v>-etcd<v>-kubectl<v>-<hash>/ with bin/{crd-apiserver,etcd,etcdctl,kubectl},
# PACKAGES (the exact set it was built from, same format as the versions file) and BUILD-INFO. <hash> covers
# the package set, main.go and this script's RECIPE_LEVEL. $CACHE_ROOT/modern-current points at the build the
# last run chose; tests/modern/conftest.py runs the binaries found there. When the pinned build is cached the
# script only prints the versions (no network). The Go build cache and the unpacked packages (~4 GB) are
# deleted after the build; the cached build is ~200 MB.
#
# Environment:
#   CAUSELY_K8S_CACHE          cache root (default /var/cache/causely-incidentio, shared with make k8s)
#   CAUSELY_MODERN_KEEP_BUILD=1  keep the scratch tree (debs, unpacked root, Go cache) for debugging
#   CAUSELY_MODERN_GOCACHE     a Go build cache to keep and reuse (default: one in the scratch tree, deleted);
#                              for iterating on main.go: a rebuild then takes a minute instead of several
set -euo pipefail

readonly HERE="$(cd "$(dirname "$0")" && pwd)"
readonly CACHE_ROOT="${CAUSELY_K8S_CACHE:-/var/cache/causely-incidentio}"
readonly VERSIONS_FILE="$HERE/modern-apiserver.versions"
readonly MAIN_GO="$HERE/crd-apiserver/main.go"
# Bump when the build recipe below changes: builds made by another recipe are not reused.
readonly RECIPE_LEVEL=1
readonly KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly BINARIES=(crd-apiserver etcd etcdctl kubectl)
START_SECONDS=$SECONDS

log() { printf '[modern-apiserver %3ds] %s\n' "$((SECONDS - START_SECONDS))" "$*" >&2; }
die() { printf '[modern-apiserver] ERROR: %s\n' "$*" >&2; exit 1; }

normalize() {
  # A package list without comments or blank lines, one "package version sha256" per line, sorted.
  sed -e 's/#.*//' -e 's/[[:space:]]\+/ /g' -e 's/^ //' -e 's/ $//' "$1" | grep -v '^$' | LC_ALL=C sort -u
}

upstream_of() {
  # "pkg version sha" lines on stdin -> the upstream part of package $1's version (no epoch, no revision).
  awk -v p="$1" '$1 == p { v = $2; sub(/^[0-9]+:/, "", v); sub(/-[^-]*$/, "", v); sub(/\+.*$/, "", v); print v }'
}

cache_key() {
  # Directory name for the normalized package list in file $1.
  local list="$1" k8s etcd kubectl hash
  k8s="$(upstream_of golang-k8s-apiserver-dev <"$list" | sed 's/^0\./1./')"
  etcd="$(upstream_of etcd-server <"$list")"
  kubectl="$(upstream_of kubectl <"$list")"
  [[ -n "$k8s" && -n "$etcd" && -n "$kubectl" ]] \
    || die "package list $list lacks golang-k8s-apiserver-dev, etcd-server or kubectl"
  hash="$( { cat "$list"; sha256sum <"$MAIN_GO"; echo "recipe $RECIPE_LEVEL"; } | sha256sum | cut -c1-10)"
  echo "modern-k8s$k8s-etcd$etcd-kubectl$kubectl-$hash"
}

cache_complete() {
  local dir="$CACHE_ROOT/$1" name
  for name in "${BINARIES[@]}"; do [[ -x "$dir/bin/$name" ]] || return 1; done
  [[ -f "$dir/PACKAGES" && -f "$dir/BUILD-INFO" ]]
}

use_cached() {
  # Point modern-current at build $1 (atomically: a rename) and print what it holds.
  local dir="$CACHE_ROOT/$1" tmp="$CACHE_ROOT/.modern-current.$$"
  if [[ "$(readlink "$CACHE_ROOT/modern-current" 2>/dev/null || true)" != "$1" ]]; then
    ln -sfn "$1" "$tmp" && mv -Tf "$tmp" "$CACHE_ROOT/modern-current"
  fi
  log "cached: $dir/bin (${BINARIES[*]})"
  sed 's/^/    /' "$dir/BUILD-INFO" >&2
}

# ---- fast path: the pinned build is cached -------------------------------------------------------------
pinned_list=""
if [[ -f "$VERSIONS_FILE" ]]; then
  pinned_list="$(mktemp)"
  trap 'rm -f "$pinned_list"' EXIT
  normalize "$VERSIONS_FILE" >"$pinned_list"
  pinned_key="$(cache_key "$pinned_list")"
  if cache_complete "$pinned_key"; then
    use_cached "$pinned_key"
    exit 0
  fi
fi

# ---- slow path -----------------------------------------------------------------------------------------
for tool in apt-get apt-cache dpkg-deb sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (this script needs a Debian-based machine)"
done
[[ -r "$KEYRING" ]] || die "$KEYRING missing (package debian-archive-keyring)"
mkdir -p "$CACHE_ROOT" 2>/dev/null || die "cannot create $CACHE_ROOT: run 'make modern' as root once"
[[ -w "$CACHE_ROOT" ]] || die "$CACHE_ROOT is not writable: run 'make modern' as root once"

# Serialise concurrent runs: the second waits, then finds the cache.
exec 9>"$CACHE_ROOT/.modern.lock"
flock 9
if [[ -n "$pinned_list" ]] && cache_complete "$pinned_key"; then
  use_cached "$pinned_key"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/var/tmp}/causely-modern-build.XXXXXX")"
staging=""
cleanup() {
  if [[ -n "$staging" ]]; then rm -rf "$staging"; fi
  if [[ -n "$pinned_list" ]]; then rm -f "$pinned_list"; fi
  if [[ "${CAUSELY_MODERN_KEEP_BUILD:-}" == 1 ]]; then
    log "scratch tree kept in $work"
  else
    # The Go build cache alone is ~1.4 GB, the unpacked packages ~2.4 GB.
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

debian_mirror() {
  # The Debian mirror this machine already uses (deb822 URIs: or a one-line deb entry); sid is on every one.
  local uri
  uri="$(grep -hE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  if [[ -z "$uri" ]]; then
    uri="$(grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

A="$work/apt"
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/parts" "$A/prefs" "$work/debs" "$work/root" \
         "$work/gopath/src/crd-apiserver" "$work/gocache"
: >"$A/status"
echo "deb [signed-by=$KEYRING] $(debian_mirror) sid main" >"$A/sources.list"
APT=(-o "Dir::Etc::sourcelist=$A/sources.list" -o "Dir::Etc::sourceparts=$A/parts"
     -o "Dir::Etc::preferencesparts=$A/prefs" -o "Dir::Etc::preferences=$A/prefs/none"
     -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" -o "Dir::State::status=$A/status"
     -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")

log "apt-get update (private configuration: Debian sid main, $(debian_mirror))"
apt-get "${APT[@]}" -qq update || die "apt-get update for sid failed (a sid key missing from $KEYRING?)"

list_downloaded() {
  # "package version sha256" for every .deb in $work/debs, sorted like normalize().
  local f
  for f in "$work"/debs/*.deb; do
    printf '%s %s %s\n' "$(dpkg-deb -f "$f" Package)" "$(dpkg-deb -f "$f" Version)" "$(sha256sum <"$f" | cut -d' ' -f1)"
  done | LC_ALL=C sort -u
}

fetched=false
if [[ -n "$pinned_list" ]]; then
  log "downloading the known-good set ($(wc -l <"$pinned_list") packages, $VERSIONS_FILE)"
  mapfile -t wanted < <(awk '{print $1 "=" $2}' "$pinned_list")
  if (cd "$work/debs" && apt-get "${APT[@]}" -qq download "${wanted[@]}") >"$work/download.log" 2>&1; then
    list_downloaded >"$work/PACKAGES"
    if cmp -s "$work/PACKAGES" "$pinned_list"; then
      fetched=true
    else
      diff "$pinned_list" "$work/PACKAGES" >&2 || true
      die "downloaded packages do not match the sha256 sums in $VERSIONS_FILE (differences above)"
    fi
  else
    rm -f "$work"/debs/*.deb
    log "sid no longer has the whole known-good set: $(grep -m3 -E '^E:' "$work/download.log" | tr '\n' ' ')"
  fi
fi

if ! $fetched; then
  # sid's current set: Go (the version golang-go points at, with its sources), the closure of
  # golang-k8s-apiextensions-apiserver-dev's Go library packages, etcd and kubectl.
  gopkg="$(apt-cache "${APT[@]}" depends golang-go | grep -o 'golang-1\.[0-9]*-go' | head -n1)"
  [[ -n "$gopkg" ]] || die "sid's golang-go no longer depends on a golang-1.N-go package"
  mapfile -t dev < <(apt-cache "${APT[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
                       --no-breaks --no-replaces --no-enhances golang-k8s-apiextensions-apiserver-dev \
                     | grep -E '^golang-.*-dev$' | sort -u)
  [[ ${#dev[@]} -gt 0 ]] || die "sid has no golang-k8s-apiextensions-apiserver-dev"
  log "downloading sid's current set: $gopkg, ${gopkg%-go}-src, ${#dev[@]} Go library packages, etcd, kubectl"
  (cd "$work/debs" && apt-get "${APT[@]}" -qq download "$gopkg" "${gopkg%-go}-src" "${dev[@]}" \
                        etcd-server etcd-client kubectl) >"$work/download.log" 2>&1 \
    || { tail -n 20 "$work/download.log" >&2; die "apt-get download from sid failed"; }
  list_downloaded >"$work/PACKAGES"
  if [[ -n "$pinned_list" ]]; then
    {
      echo "================================================================================================"
      echo " sid moved: building from packages that differ from the known-good set in"
      echo "   $VERSIONS_FILE"
      echo " (< known-good, > fetched now; sha256 differences alone mean a rebuilt package)"
      diff <(cut -d' ' -f1,2 "$pinned_list") <(cut -d' ' -f1,2 "$work/PACKAGES") | grep '^[<>]' || true
      echo " If the modern tier passes on this build, record it as the new known-good set:"
      echo "   cp $CACHE_ROOT/modern-current/PACKAGES $VERSIONS_FILE"
      echo "================================================================================================"
    } >&2
  else
    log "no $VERSIONS_FILE: after a green run record this set with: cp $CACHE_ROOT/modern-current/PACKAGES $VERSIONS_FILE"
  fi
fi

key="$(cache_key "$work/PACKAGES")"
if cache_complete "$key"; then
  use_cached "$key"
  exit 0
fi

log "unpacking $(find "$work/debs" -name '*.deb' | wc -l) packages ($(du -sh "$work/debs" | cut -f1)) with dpkg-deb -x"
for f in "$work"/debs/*.deb; do dpkg-deb -x "$f" "$work/root"; done

gover="$(awk '$1 ~ /^golang-1\.[0-9]+-go$/ {print $1}' "$work/PACKAGES" | sed 's/^golang-//; s/-go$//')"
k8s="$(upstream_of golang-k8s-apiserver-dev <"$work/PACKAGES" | sed 's/^0\./1./')"   # 0.36.4 -> 1.36.4
export GOROOT="$work/root/usr/lib/go-$gover"
[[ -x "$GOROOT/bin/go" ]] || die "Go $gover not found at $GOROOT after unpacking"
export PATH="$GOROOT/bin:$PATH" GOPATH="$work/gopath:$work/root/usr/share/gocode" GO111MODULE=off \
       GOCACHE="${CAUSELY_MODERN_GOCACHE:-$work/gocache}" CGO_ENABLED=0 GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-trimpath GOTELEMETRY=off
cp "$MAIN_GO" "$work/gopath/src/crd-apiserver/main.go"
minor="${k8s#1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
ldflags+=" -X k8s.io/component-base/version.gitVersion=v$k8s -X k8s.io/component-base/version.gitTreeState=clean"
log "building crd-apiserver v$k8s with $(go version | cut -d' ' -f3) (cold build: about 3-5 minutes on 2 cores)"
(cd "$work/gopath/src/crd-apiserver" && nice -n 10 go build -ldflags "$ldflags" -o "$work/crd-apiserver" .) \
  >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; die "go build failed (CAUSELY_MODERN_KEEP_BUILD=1 keeps $work)"; }

staging="$(mktemp -d "$CACHE_ROOT/.$key.XXXXXX")"
mkdir -p "$staging/bin"
cp "$work/crd-apiserver" "$staging/bin/crd-apiserver"
for b in etcd etcdctl kubectl; do
  [[ -x "$work/root/usr/bin/$b" ]] || die "$b missing from the unpacked packages"
  cp -L "$work/root/usr/bin/$b" "$staging/bin/$b"
done
# etcd and kubectl are sid's own builds (dynamically linked): make sure they run on this machine's libc.
# Without flags the server stops at once, naming the flag it lacks: proof that it runs.
usage="$("$staging/bin/crd-apiserver" 2>&1 || true)"
grep -q -- '--etcd-servers must be specified' <<<"$usage" || die "the built crd-apiserver does not run: ${usage:0:300}"
for b in etcd etcdctl kubectl; do
  "$staging/bin/$b" --help >/dev/null 2>&1 || die "sid's $b does not run on this machine (built for a newer libc?)"
done
cp "$work/PACKAGES" "$staging/PACKAGES"
cat >"$staging/BUILD-INFO" <<INFO
crd-apiserver: v$k8s (Debian golang-k8s-apiextensions-apiserver-dev $(awk '$1 == "golang-k8s-apiextensions-apiserver-dev" {print $2}' "$work/PACKAGES"), .ci/crd-apiserver/main.go sha256 $(sha256sum <"$MAIN_GO" | cut -c1-12))
go: $(go version | cut -d' ' -f3-)
etcd: $("$staging/bin/etcd" --version 2>&1 | head -n1)
kubectl: $("$staging/bin/kubectl" version --client 2>&1 | head -n1)
packages: $(wc -l <"$work/PACKAGES") from Debian sid (list with sha256 in PACKAGES)
built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - START_SECONDS))s, recipe $RECIPE_LEVEL
INFO
chmod 0755 "$staging" "$staging/bin"
rm -rf "${CACHE_ROOT:?}/$key"
mv "$staging" "$CACHE_ROOT/$key"   # a rename: readers see a whole build or none
staging=""
log "built in $((SECONDS - START_SECONDS))s"
use_cached "$key"
