#!/usr/bin/env bash
# The engine's property test at benchmark size: 10,000 random cases (strategy, v2's
# behaviour, runtime calls failing once transiently or for good, a kill after any step) on the
# simulator, each resumed to the end and checked (one version serving and healthy, weights
# summing to 100, nothing of a finished deployment left, the lock released). CI runs 200.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/tools env)"
cases="${PROPTEST_CASES:-10000}"
start=$(date +%s)
PROPTEST_CASES="$cases" cargo nextest run --workspace --no-fail-fast \
  -E 'test(any_faults_end_with_one_healthy_version_serving_and_nothing_left)'
echo "properties: $cases cases passed in $(( $(date +%s) - start )) s"
