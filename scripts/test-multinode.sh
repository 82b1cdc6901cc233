#!/usr/bin/env bash
# `npm run test:multinode`: brings up the three-node swarm of scripts/multinode.sh, runs the test
# files under test/multinode/ (or the arguments, passed to tap) against it, and brings it down,
# also when a test fails or the run is interrupted. Needs root and the test images on the host
# engine (scripts/test-fixtures.sh builds them).
set -uo pipefail
cd "$(dirname "$0")/.."
trap 'bash scripts/multinode.sh down' EXIT
bash scripts/multinode.sh up || exit 1
# Coverage stays that of `npm test`: this run does not record any.
if [ $# -eq 0 ]; then set -- test/multinode/*.test.ts; fi
npx tap --disable-coverage --jobs 1 "$@"
