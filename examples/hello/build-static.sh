#!/bin/sh
# Builds hello as a static binary into .build/hello for the FROM scratch image.
# wharf runs it as the service's pre_build; it also works by hand from any directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
triple=$(rustc -vV | sed -n 's/^host: //p')
target_dir=${CARGO_TARGET_DIR:-$here/../../target}
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --quiet --release --locked -p hello --target "$triple" --manifest-path "$here/Cargo.toml" --target-dir "$target_dir"
mkdir -p "$here/.build"
# Tests run this concurrently: copy under a unique name, then rename (atomic).
cp "$target_dir/$triple/release/hello" "$here/.build/hello.$$"
mv -f "$here/.build/hello.$$" "$here/.build/hello"
