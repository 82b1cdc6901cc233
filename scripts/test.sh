#!/usr/bin/env bash
# `npm test`: the fixtures (scripts/test-fixtures.sh), the build, the type check and every test
# file; then stops the fixtures this run started (a registry or engine that was already running
# stays). Arguments go to tap.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(mktemp)
trap 'bash scripts/test-fixtures.sh stop "$started"; rm -f "$started"' EXIT
COREFLOW_FIXTURES_STARTED="$started" bash scripts/test-fixtures.sh || exit 1
npm run build || exit 1
npm run typecheck || exit 1
npx tap "$@"
