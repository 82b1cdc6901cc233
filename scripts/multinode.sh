#!/usr/bin/env bash
# A real multi-node swarm on this one machine: three Docker engines, each in its own network
# namespace (cfn1..cfn3) on a bridge (cfbr0, 10.213.0.0/24; node N at 10.213.0.1N), all three
# managers so raft survives losing one, overlay subnets from 10.215.0.0/16.
#
#   bash scripts/multinode.sh up            start (or complete) the swarm; prints sockets and node IDs
#   bash scripts/multinode.sh down          leave the swarm, stop the engines, remove namespaces,
#                                           bridge and FORWARD rule (images stay in the data roots)
#   bash scripts/multinode.sh down --purge  also removes the engines' data roots
#   bash scripts/multinode.sh status        each node's socket, node ID, state and role
#   bash scripts/multinode.sh stop-node N   stops node N's engine (its containers stop with it)
#   bash scripts/multinode.sh start-node N  starts node N's engine again (it rejoins by itself)
#   bash scripts/multinode.sh isolate N     cuts node N off the bridge (a network partition: its
#                                           engine and containers keep running, unreachable)
#   bash scripts/multinode.sh rejoin N      puts node N back on the bridge
#
# Node N's engine answers on unix:///var/run/docker-cfnN.sock (DOCKER_HOST for the client).
# The test images (coreflow-test/busybox:1, coreflow-test/caddy:1, and the agent image
# $COREFLOW_AGENT_IMAGE, default coreflow:local, when the host has it) are copied from the host
# engine into every node that lacks them. The namespaces have no default route: nothing in them
# leaves the test network.
#
# The host engine, its swarm, its docker0 bridge and its iptables rules are left alone (other tests
# use them meanwhile): every engine here runs in its own namespace, where its start-up rewrites
# only that namespace's bridges and rules. `up` and `down` check the host engine afterwards.
# Needs root. Safe to run again: every step checks first.
set -euo pipefail

NODES=3
BRIDGE=cfbr0
BRIDGE_ADDR=10.213.0.1
SUBNET_BITS=24
ADDR_POOL=10.215.0.0/16
FORWARD_RULE=(FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT)
AGENT_IMAGE=${COREFLOW_AGENT_IMAGE:-coreflow:local}
IMAGES=(coreflow-test/busybox:1 coreflow-test/caddy:1)
CACHE=/var/tmp/coreflow-multinode

log() { printf '[multinode] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

netns() { echo "cfn$1"; }
addr() { echo "10.213.0.1$1"; }
sock() { echo "/var/run/docker-cfn$1.sock"; }
pidfile() { echo "/var/run/docker-cfn$1.pid"; }
dn() { docker -H "unix://$(sock "$1")" "${@:2}"; }
engine_up() { dn "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
engine_pid() { local p; p=$(cat "$(pidfile "$1")" 2>/dev/null || true); [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }
swarm_state() { dn "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unreachable; }

# The host engine still works: a container on its default bridge runs, its swarm answers,
# docker0 and the engine's FORWARD jumps are in place.
check_host() {
  local what=$1 problems=()
  # (the test image has no `true` program; the shell's builtin does the same)
  docker run --rm coreflow-test/busybox:1 sh -c true >/dev/null 2>&1 || problems+=("docker run on the host engine failed")
  docker service ls -q >/dev/null 2>&1 || problems+=("docker service ls on the host engine failed")
  ip link show docker0 >/dev/null 2>&1 || problems+=("the host's docker0 bridge is gone")
  iptables -C FORWARD -j DOCKER-USER 2>/dev/null || problems+=("the host's FORWARD -j DOCKER-USER rule is gone")
  if [ ${#problems[@]} -gt 0 ]; then
    log "after $what, the host engine is NOT fine: ${problems[*]}"
    return 1
  fi
  log "after $what: host engine fine (docker run, docker service ls, docker0, FORWARD rules)"
}

bridge_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR/$SUBNET_BITS" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  # The host engine sets FORWARD's policy to DROP; bridged traffic between the nodes passes here.
  iptables -C "${FORWARD_RULE[@]}" 2>/dev/null || iptables -I "${FORWARD_RULE[@]}"
}

netns_up() {
  local n=$1 ns veth
  ns=$(netns "$n"); veth="cfv$n"
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name "${veth}p"
    ip link set "${veth}p" netns "$ns"
  fi
  ip link set "$veth" master "$BRIDGE" up
  nsenter --net="/var/run/netns/$ns" sh -c "
    ip addr show dev ${veth}p | grep -q 'inet $(addr "$n")/' || ip addr add $(addr "$n")/$SUBNET_BITS dev ${veth}p
    ip link set ${veth}p up; ip link set lo up"
}

engine_start() {
  local n=$1
  engine_up "$n" && return 0
  [ -n "$(engine_pid "$n")" ] && die "node $n: dockerd runs (pid $(engine_pid "$n")) but does not answer on $(sock "$n")"
  # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroups from the engine.
  # The engine also gets a mount namespace of its own, where /var/run/docker.sock is its own socket
  # (bind-mounted once it exists): a container that mounts the Docker socket, as the agent's stack
  # does, talks to the engine of its node, never to the host's. The host's mounts stay as they are.
  local s
  s=$(sock "$n")
  setsid nsenter --net="/var/run/netns/$(netns "$n")" unshare --mount --propagation private sh -c "
    dockerd --data-root /var/lib/docker-cfn$n --exec-root /var/run/docker-cfn$n \
      -H unix://$s --pidfile $(pidfile "$n") --bip 172.31.10$n.1/24 &
    engine=\$!
    for _ in \$(seq 1 240); do [ -S $s ] && break; sleep 0.05; done
    if [ -e /run/docker.sock ]; then mount --bind $s /run/docker.sock; else touch /run/coreflow-cfn$n-no-socket-mount; fi
    wait \$engine" >"/tmp/coreflow-cfn$n.log" 2>&1 </dev/null &
}

engine_wait() {
  local n=$1
  for _ in $(seq 1 120); do engine_up "$n" && return 0; sleep 0.25; done
  tail -20 "/tmp/coreflow-cfn$n.log" >&2
  die "node $n: the engine did not answer on $(sock "$n") within 30 s (log: /tmp/coreflow-cfn$n.log)"
}

engine_stop() {
  local n=$1 pid
  pid=$(engine_pid "$n") || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  log "node $n: dockerd $pid did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

swarm_up() {
  local n token
  if [ "$(swarm_state 1)" != active ]; then
    dn 1 swarm init --advertise-addr "$(addr 1)" --listen-addr "$(addr 1):2377" \
      --default-addr-pool "$ADDR_POOL" --default-addr-pool-mask-length 24 >/dev/null
  fi
  token=$(dn 1 swarm join-token -q manager)
  for n in $(seq 2 "$NODES"); do
    [ "$(swarm_state "$n")" = active ] && continue
    dn "$n" swarm join --token "$token" --advertise-addr "$(addr "$n")" --listen-addr "$(addr "$n"):2377" "$(addr 1):2377" >/dev/null
  done
  for _ in $(seq 1 120); do
    [ "$(dn 1 node ls --filter role=manager --format '{{.Status}} {{.ManagerStatus}}' | grep -c '^Ready \(Leader\|Reachable\)')" = "$NODES" ] && return 0
    sleep 0.25
  done
  dn 1 node ls >&2
  die "the $NODES managers did not all become ready and reachable within 30 s"
}

# Copies an image from the host engine into every node that lacks that exact image ID.
images_up() {
  local img id file n pids=()
  mkdir -p "$CACHE"
  local wanted=("${IMAGES[@]}")
  docker image inspect "$AGENT_IMAGE" >/dev/null 2>&1 && wanted+=("$AGENT_IMAGE")
  for img in "${wanted[@]}"; do
    id=$(docker image inspect --format '{{.Id}}' "$img" 2>/dev/null) || die "the host engine has no image $img (bash scripts/test-fixtures.sh builds the test images)"
    local missing=()
    for n in $(seq 1 "$NODES"); do
      [ "$(dn "$n" image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)" = "$id" ] || missing+=("$n")
    done
    [ ${#missing[@]} -eq 0 ] && continue
    file="$CACHE/${id#sha256:}.tar"
    [ -s "$file" ] || { docker save "$img" >"$file.tmp" && mv "$file.tmp" "$file"; }
    log "loading $img into node(s) ${missing[*]}"
    for n in "${missing[@]}"; do dn "$n" load -q -i "$file" >/dev/null & pids+=($!); done
  done
  for p in "${pids[@]}"; do wait "$p" || die "docker load failed"; done
  rm -f "$CACHE"/*.tar
}

status() {
  local n id
  for n in $(seq 1 "$NODES"); do
    if engine_up "$n"; then
      id=$(dn "$n" info --format '{{.Swarm.NodeID}}')
      printf 'node %s  DOCKER_HOST=unix://%s  addr %s  node-id %s  swarm %s\n' "$n" "$(sock "$n")" "$(addr "$n")" "${id:--}" "$(swarm_state "$n")"
    else
      printf 'node %s  DOCKER_HOST=unix://%s  addr %s  engine down\n' "$n" "$(sock "$n")" "$(addr "$n")"
    fi
  done
  for n in $(seq 1 "$NODES"); do
    if engine_up "$n" && [ "$(swarm_state "$n")" = active ]; then dn "$n" node ls 2>/dev/null && break; fi
  done
}

up() {
  local start n
  start=$(date +%s.%N)
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces, bridge, iptables)"
  bridge_up
  for n in $(seq 1 "$NODES"); do netns_up "$n"; engine_start "$n"; done
  for n in $(seq 1 "$NODES"); do engine_wait "$n"; done
  swarm_up
  images_up
  status
  check_host up
  log "up in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
}

down() {
  local n
  local pids=()
  # The whole swarm goes: every node leaves at once (one after the other, the last ones wait on a
  # raft that lost its quorum), then the engines stop, also at once.
  # (states first: a node's `docker info` waits while another node leaves)
  local in_swarm=()
  for n in $(seq 1 "$NODES"); do
    if engine_up "$n" && [ "$(swarm_state "$n")" != inactive ]; then in_swarm+=("$n"); fi
  done
  for n in "${in_swarm[@]}"; do { dn "$n" swarm leave -f >/dev/null 2>&1 || true; } & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  pids=()
  for n in $(seq 1 "$NODES"); do engine_stop "$n" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
  for n in $(seq 1 "$NODES"); do
    ip netns list | grep -qw "$(netns "$n")" && ip netns del "$(netns "$n")"
    ip link show "cfv$n" >/dev/null 2>&1 && ip link del "cfv$n"
    rm -f "$(sock "$n")" "$(pidfile "$n")"
    if [ "${1:-}" = --purge ]; then rm -rf "/var/lib/docker-cfn$n" "/var/run/docker-cfn$n"; fi
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
  while iptables -C "${FORWARD_RULE[@]}" 2>/dev/null; do iptables -D "${FORWARD_RULE[@]}"; done
  check_host down
  log "down"
}

case "${1:-}" in
  up) up ;;
  down) down "${2:-}" ;;
  status) status ;;
  stop-node) engine_stop "${2:?usage: multinode.sh stop-node N}" ;;
  start-node)
    n=${2:?usage: multinode.sh start-node N}
    netns_up "$n"; engine_start "$n"; engine_wait "$n" ;;
  isolate) ip link set "cfv${2:?usage: multinode.sh isolate N}" down ;;
  rejoin) ip link set "cfv${2:?usage: multinode.sh rejoin N}" up ;;
  *) echo "usage: $0 up|down [--purge]|status|stop-node N|start-node N|isolate N|rejoin N" >&2; exit 2 ;;
esac
