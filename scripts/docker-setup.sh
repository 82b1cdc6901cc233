#!/usr/bin/env bash
# Gets this machine ready for coreflow's tests and for running the agent locally:
#   - a Docker Engine (Debian's docker.io) running, in swarm mode, as a manager
#   - the test images coreflow-test/busybox:1 and coreflow-test/caddy:1 (built locally: no registry is reachable)
#   - a private registry with htpasswd auth on 127.0.0.1:5000 (user/password in test/fixtures/registry.env)
# Every step checks first and does nothing when its work is already done, so it is safe to run again.
# Needs root (it installs packages and starts daemons). Logs go to /tmp/coreflow-*.log.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[docker-setup] %s\n' "$*"; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v iptables >/dev/null 2>&1 || need_pkgs+=(iptables)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need_pkgs+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_pkgs+=(apache2-utils)
command -v caddy >/dev/null 2>&1 || need_pkgs+=(caddy)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq >/tmp/coreflow-apt.log 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >>/tmp/coreflow-apt.log 2>&1
fi
# The caddy package starts a system service on :80/:2019 where systemd exists; we run our own.
command -v systemctl >/dev/null 2>&1 && systemctl disable --now caddy >/dev/null 2>&1 || true

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  setsid dockerd --data-root /var/lib/docker-ci >/tmp/coreflow-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/coreflow-dockerd.log"; tail -20 /tmp/coreflow-dockerd.log; exit 1; }
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
  log "initialising swarm"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi

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
  for _ in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:5000/v2/ && break; sleep 0.5; done
fi
log "ready: $(docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}'), swarm $(docker info --format '{{.Swarm.LocalNodeState}}')"
