#!/bin/sh
# Builds the load test as a static binary into .build/dynamodb-load-test for the FROM scratch
# image. wharf runs it as the job's pre_build; it also works by hand from any directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
triple=$(rustc -vV | sed -n 's/^host: //p')
target_dir=${CARGO_TARGET_DIR:-$here/../../target}
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --quiet --release --locked -p dynamodb-load-test --target "$triple" --manifest-path "$here/Cargo.toml" --target-dir "$target_dir"
mkdir -p "$here/.build"
# Concurrent builds: copy under a unique name, then rename (atomic).
cp "$target_dir/$triple/release/dynamodb-load-test" "$here/.build/dynamodb-load-test.$$"
mv -f "$here/.build/dynamodb-load-test.$$" "$here/.build/dynamodb-load-test"
# The SDK trusts the system's CA bundle; an empty image has none: ship this machine's.
bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$bundle" ] || { echo "no CA bundle at $bundle (set CA_BUNDLE)" >&2; exit 1; }
cp "$bundle" "$here/.build/ca-certificates.crt.$$"
mv -f "$here/.build/ca-certificates.crt.$$" "$here/.build/ca-certificates.crt"
