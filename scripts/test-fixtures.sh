#!/usr/bin/env bash
# What the tests need beyond a swarm (scripts/docker-setup.sh, run first):
#   - the test images coreflow-test/busybox:1 and coreflow-test/caddy:1, built locally (no public
#     registry is needed: they are imported from Debian's busybox-static and caddy)
#   - a private registry with htpasswd auth on 127.0.0.1:5000 (credentials in test/fixtures/registry.env)
#   - a second Docker Engine that is NOT in a swarm, on unix:///var/run/coreflow-noswarm.sock, so the
#     "not a swarm manager" error is tested against a real engine. It runs in its own network
#     namespace (coreflow-noswarm, loopback only): an engine's start-up rewrites the bridges and
#     iptables rules of its namespace, and in the host's it would delete the host engine's docker0.
# Safe to run again: every step checks first. Needs root and apt where something is missing.
#
# With COREFLOW_FIXTURES_STARTED=FILE, the registry and the second engine this run starts are listed
# in FILE; `test-fixtures.sh stop FILE` stops exactly those (npm test does, when the tests end), so
# fixtures someone else started keep running.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[test-fixtures] %s\n' "$*"; }
noswarm=/var/run/coreflow-noswarm.sock
noswarm_pid=/var/run/coreflow-noswarm.pid
noswarm_netns=coreflow-noswarm
registry_pid=/var/run/coreflow-registry.pid

# Stops the fixtures listed in FILE (by their pidfiles) and removes the second engine's namespace.
stop() {
  local started=$1 name pid
  [ -f "$started" ] || return 0
  while read -r name; do
    case $name in
      registry) pid=$(cat "$registry_pid" 2>/dev/null || true) ;;
      noswarm) pid=$(cat "$noswarm_pid" 2>/dev/null || true) ;;
      *) continue ;;
    esac
    log "stopping $name"
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
    if [ "$name" = noswarm ]; then ip netns del "$noswarm_netns" 2>/dev/null || true; fi
    if [ "$name" = registry ]; then rm -f "$registry_pid"; fi
  done <"$started"
}
if [ "${1:-}" = stop ]; then
  stop "${2:?usage: test-fixtures.sh stop FILE}"
  exit 0
fi
started() { if [ -n "${COREFLOW_FIXTURES_STARTED:-}" ]; then echo "$1" >>"$COREFLOW_FIXTURES_STARTED"; fi; }

bash "$here/scripts/docker-setup.sh"

missing=()
/bin/busybox --list 2>/dev/null | grep -qx httpd || missing+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq >/tmp/coreflow-apt.log 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>/tmp/coreflow-apt.log 2>&1
fi
# The caddy package starts a system service on :80/:2019 where systemd runs; the tests run their own.
command -v systemctl >/dev/null 2>&1 && systemctl disable --now caddy >/dev/null 2>&1 || true

build_dir=$(mktemp -d)
trap 'rm -rf "$build_dir"' EXIT
if ! docker image inspect coreflow-test/busybox:1 >/dev/null 2>&1; then
  log "building coreflow-test/busybox:1"
  img="$build_dir/busybox"
  mkdir -p "$img/bin" "$img/tmp" "$img/www" "$img/data"
  cp /bin/busybox "$img/bin/"
  for c in sh httpd sleep echo cat ls wget nc hostname env printenv test grep; do ln -sf busybox "$img/bin/$c"; done
  echo hi > "$img/www/index.html"
  tar -C "$img" -c . | docker import -c 'CMD ["/bin/sh"]' - coreflow-test/busybox:1 >/dev/null
fi

if ! docker image inspect coreflow-test/caddy:1 >/dev/null 2>&1; then
  log "building coreflow-test/caddy:1"
  img="$build_dir/caddy"
  mkdir -p "$img/bin" "$img/tmp" "$img/config" "$img/data" "$img/etc"
  cp "$(command -v caddy)" "$img/bin/caddy"
  for lib in $(ldd "$(command -v caddy)" | grep -o '/[^ ]*'); do mkdir -p "$img$(dirname "$lib")"; cp -L "$lib" "$img$lib"; done
  cp /bin/busybox "$img/bin/"; ln -sf busybox "$img/bin/sh"; ln -sf busybox "$img/bin/wget"
  echo 'nobody:x:65534:65534::/:/bin/sh' > "$img/etc/passwd"
  tar -C "$img" -c . | docker import -c 'ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data HOME=/tmp' \
    -c 'CMD ["/bin/caddy","run"]' - coreflow-test/caddy:1 >/dev/null
fi

# Private registry on loopback with htpasswd auth; the credentials are test fixtures, not secrets.
reg_dir=/var/lib/coreflow-registry
if ! curl -s -o /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null; then
  log "starting private registry on 127.0.0.1:5000"
  mkdir -p "$reg_dir/data"
  # shellcheck disable=SC1091
  . "$here/test/fixtures/registry.env"
  htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" > "$reg_dir/htpasswd"
  cat > "$reg_dir/config.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $reg_dir/data
http:
  addr: 127.0.0.1:5000
auth:
  htpasswd:
    realm: basic-realm
    path: $reg_dir/htpasswd
YML
  setsid docker-registry serve "$reg_dir/config.yml" >/tmp/coreflow-registry.log 2>&1 < /dev/null &
  echo $! >"$registry_pid"
  started registry
  for _ in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:5000/v2/ && break; sleep 0.5; done
fi
if ! docker -H "unix://$noswarm" info >/dev/null 2>&1; then
  log "starting a second engine outside any swarm on $noswarm, in network namespace $noswarm_netns"
  ip netns list | grep -qw "$noswarm_netns" || ip netns add "$noswarm_netns"
  ip netns exec "$noswarm_netns" ip link set lo up
  # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroups from the engine.
  setsid nsenter --net="/var/run/netns/$noswarm_netns" \
    dockerd --data-root /var/lib/coreflow-noswarm -H "unix://$noswarm" --pidfile "$noswarm_pid" \
    --exec-root /var/run/coreflow-noswarm --bridge none --iptables=false --ip-masq=false \
    >/tmp/coreflow-noswarm.log 2>&1 < /dev/null &
  started noswarm
  for _ in $(seq 1 60); do docker -H "unix://$noswarm" info >/dev/null 2>&1 && break; sleep 0.5; done
fi
log "ready: test images and registry on 127.0.0.1:5000"
