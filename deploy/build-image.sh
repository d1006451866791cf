#!/usr/bin/env bash
# Build dmpilot's container image on a host without a Docker engine and without access to
# a container registry: the base image is made from Debian's packages, then
# deploy/Dockerfile is built with podman.
#
# Where a Docker engine runs, build the normal way instead (base python:3.12-slim-bookworm):
#   docker build -f deploy/Dockerfile -t dmpilot:0.1.0 .
#
# Usage (as root, from anywhere):  deploy/build-image.sh [TAG]    (default dmpilot:<version>)
#
# Needs podman, and debootstrap when the base is not cached yet (Debian/Ubuntu packages:
# podman, debootstrap). Environment:
#   DMPILOT_IMAGE_CACHE     where the base's root filesystem is kept as a tar
#                           (default ${XDG_CACHE_HOME:-$HOME/.cache}/dmpilot)
#   DMPILOT_DEBIAN_MIRROR   Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   DMPILOT_BUILD_CA_BUNDLE CA bundle that pip trusts during the build (default the host's,
#                           /etc/ssl/certs/ca-certificates.crt; empty: the base's own)
#
# The base is Debian bookworm's minimal system plus python3-venv and ca-certificates, so the
# image runs Debian's Python 3.11 (the default base has 3.12). The base is a build cache like
# a layer cache: made once, then reused; its file name carries a hash of what goes into it,
# so changing the suite or the package list makes a new one.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root_dir/pyproject.toml" | head -n 1)
tag=${1:-dmpilot:$version}

suite=bookworm
packages=python3-venv,ca-certificates
mirror=${DMPILOT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_dir=${DMPILOT_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dmpilot}
ca_bundle=${DMPILOT_BUILD_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}

# Bump the recipe number when the way the base is made changes (not only its packages).
recipe=1
key=$(printf '%s\n' "$recipe" "$suite" "$packages" "$(uname -m)" | sha256sum | cut -c 1-12)
base_tar=$cache_dir/base-$suite-$key.tar
base_image=localhost/dmpilot-base:$suite-$key

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v podman >/dev/null || die "podman is not installed (apt-get install podman)"

make_base() {
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  ((EUID == 0)) || die "debootstrap needs root to make the base ($base_tar)"
  mkdir -p "$cache_dir"
  local work
  work=$(mktemp -d "$cache_dir/base.XXXXXX")
  # shellcheck disable=SC2064  # expand $work now: it is local to this function
  trap "rm -rf '$work'" EXIT
  log "making the base: debootstrap $suite (minbase + $packages) from $mirror"
  debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed"
  }
  # What a slim image leaves out: downloaded packages and package lists.
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar --numeric-owner -C "$work/rootfs" -cf "$work/base.tar" .
  # Older bases (another package list) are no longer used.
  rm -f "$cache_dir/base-$suite-"*.tar
  mv "$work/base.tar" "$base_tar"
  rm -rf "$work"
  trap - EXIT
}

if podman image exists "$base_image"; then
  log "base: $base_image"
else
  if [[ -f $base_tar ]]; then
    log "base: reusing $base_tar"
  else
    make_base
  fi
  log "importing the base as $base_image"
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$base_tar" "$base_image" >/dev/null
fi

# pip in the builder stage downloads from PyPI. It trusts the host's CA bundle, bind-mounted
# over the base's for the RUN steps only (nothing of it is written into the image): on hosts
# whose HTTPS goes through an inspecting proxy, only the host's bundle has the proxy's CA.
mounts=()
if [[ -n $ca_bundle ]]; then
  [[ -f $ca_bundle ]] || die "no CA bundle at $ca_bundle (set DMPILOT_BUILD_CA_BUNDLE)"
  mounts+=(--volume "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")
fi

# chroot isolation: the RUN steps need no container runtime, cgroups or user namespaces.
# Docker format: the OCI format has no HEALTHCHECK. No layer cache: the source changes from
# one build to the next anyway, and each cached build would leave its layers on the disk.
previous=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
log "building $tag from deploy/Dockerfile on $base_image"
podman build \
  --isolation chroot \
  --format docker \
  --layers=false \
  --build-arg "BASE_IMAGE=$base_image" \
  "${mounts[@]}" \
  --file "$root_dir/deploy/Dockerfile" \
  --tag "$tag" \
  "$root_dir"
current=$(podman image inspect --format '{{.Id}}' "$tag")
if [[ -n $previous && $previous != "$current" ]]; then
  podman rmi "$previous" >/dev/null 2>&1 || log "note: the previous $tag ($previous) is still in use"
fi
log "built $tag ($current)"
