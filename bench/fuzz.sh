#!/usr/bin/env bash
# Fuzzing: each target of fuzz/ (the manifest reader, the proxy daemon's control protocol,
# the proxy's request path) under libFuzzer for a bounded time, starting from the seeds in
# crates/wharf-fuzz/corpus/<target> (what CI replays on stable) in a scratch copy; prints
# the executions and crashes of each. A crash's input is kept in fuzz/artifacts/<target>/:
# fix it, then add it to the seeds so CI replays it.
#
#   bench/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 120 s, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest control request)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  cp crates/wharf-fuzz/corpus/$t/* "$scratch/$t/"
  log="$scratch/$t.log"
  if (cd fuzz && cargo +nightly fuzz run "$t" "$scratch/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10) >"$log" 2>&1; then
    crashes=0
  else
    crashes=$(find fuzz/artifacts/$t -type f 2>/dev/null | wc -l || true)
    [ "$crashes" != 0 ] || crashes="? (the run failed: see below)"
    status=1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz $t: ${runs} executions in ${secs} s, ${crashes} crash(es)"
  [ "$crashes" = 0 ] || tail -30 "$log"
done
exit $status
