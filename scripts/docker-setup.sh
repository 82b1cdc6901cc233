#!/usr/bin/env bash
# Makes sure a Docker Engine runs here in swarm mode, as a manager, so coreflow can run.
# Where an engine already answers (`docker info`), nothing is installed; where it is not in a
# swarm yet, `docker swarm init` makes it a single-node swarm. Safe to run again: every step checks
# first. Installing needs root and Debian/Ubuntu (apt); logs go to /tmp/coreflow-*.log.
set -euo pipefail
log() { printf '[docker-setup] %s\n' "$*"; }

# Installs Debian packages that provide the given commands, if any is missing.
ensure_pkgs() {
  local missing=()
  while [ $# -gt 0 ]; do command -v "$1" >/dev/null 2>&1 || missing+=("$2"); shift 2; done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq >/tmp/coreflow-apt.log 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>/tmp/coreflow-apt.log 2>&1
}

if ! docker info >/dev/null 2>&1; then
  ensure_pkgs dockerd docker.io iptables iptables
  log "starting dockerd"
  setsid dockerd --data-root /var/lib/docker-ci >/tmp/coreflow-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /tmp/coreflow-dockerd.log"; tail -20 /tmp/coreflow-dockerd.log; exit 1; }
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
  log "initialising swarm"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi

log "ready: $(docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}'), swarm $(docker info --format '{{.Swarm.LocalNodeState}}')"
