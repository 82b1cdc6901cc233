#!/usr/bin/env bash
# `npm run test:multinode`: builds the agent image (coreflow:local, or $COREFLOW_AGENT_IMAGE; the
# build cache makes a rebuild of unchanged code take seconds), brings up the three-node swarm of
# scripts/multinode.sh (which copies the image into every node), runs the test files under
# test/multinode/ (or the arguments, passed to tap) against it, and brings it down, also when a
# test fails or the run is interrupted. Needs root; starts what scripts/test-fixtures.sh provides
# (test images, the private registry) where it is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
export COREFLOW_AGENT_IMAGE=${COREFLOW_AGENT_IMAGE:-coreflow:local}
log() { printf '[test-multinode] %s\n' "$*" >&2; }

# One run at a time on a machine: the swarm's namespaces, addresses, sockets and the image tag are
# fixed names, and a run's `down` would pull the swarm from under another run's tests. A second run
# (another worktree, a CI job) waits here until the first one is done.
exec 9>/var/lock/coreflow-multinode.lock
if ! flock -n 9; then
  log "another multi-node run holds the swarm; waiting for it"
  flock 9
fi

start=$(date +%s)
# The way the image test builds it (base image, CAs for npm), so the two share the build cache.
if ! node --import=tsx --input-type=module -e "import { buildAgentImage } from './test/helpers/image.ts'; await buildAgentImage(process.env.COREFLOW_AGENT_IMAGE);" >/tmp/coreflow-agent-image.log 2>&1; then
  tail -30 /tmp/coreflow-agent-image.log >&2
  log "building $COREFLOW_AGENT_IMAGE failed"
  exit 1
fi
log "$COREFLOW_AGENT_IMAGE built in $(($(date +%s) - start)) s"

# The registry the image tests pull through, when no one else runs it (stopped again at the end).
started=$(mktemp)
trap 'bash scripts/multinode.sh down; bash scripts/test-fixtures.sh stop "$started"; rm -f "$started"' EXIT
# (9>&-: the engines and the registry started below, also by the tests, must not hold the lock)
COREFLOW_FIXTURES_STARTED="$started" bash scripts/test-fixtures.sh >/dev/null 9>&- || exit 1
bash scripts/multinode.sh up 9>&- || exit 1
if [ $# -eq 0 ]; then set -- test/multinode/*.test.ts; fi
# Coverage stays that of `npm test`: this run records none.
npx tap --disable-coverage --jobs 1 "$@" 9>&-
