#!/usr/bin/env bash
# Everything CI checks: formatting, lints, the whole test suite (unit, property and
# end-to-end tests with sipp), and that the benchmarks still build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# A target directory outside the clone, so a fresh clone reuses compiled dependencies.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/greffier-target}"
echo "test: target directory $CARGO_TARGET_DIR"

step() {
    echo
    echo "=== $*"
    "$@"
}

step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets -- -D warnings
if command -v cargo-nextest >/dev/null; then
    step cargo nextest run --workspace --no-fail-fast
    # nextest does not run doctests.
    step cargo test --workspace --doc
else
    step cargo test --workspace --no-fail-fast
fi
step cargo bench --workspace --no-run
