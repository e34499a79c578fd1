#!/usr/bin/env bash
# Everything CI checks: formatting, lints, that the benchmarks still build, and the
# whole test suite (unit, property and end-to-end tests with sipp).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# The Whisper model of the transcription engine's tests, fetched once.
scripts/models.sh >/dev/null

# A target directory outside the clone, so a fresh clone reuses compiled dependencies.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/greffier-target}"
echo "test: target directory $CARGO_TARGET_DIR"

# Every step runs even when an earlier one failed, so that one run shows every
# problem; the script fails at the end if any step did.
failed=()
step() {
    echo
    echo "=== $*"
    if ! "$@"; then
        failed+=("$*")
    fi
}

step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets -- -D warnings
# The benchmarks are built, not run, so that they keep compiling.
step cargo bench --workspace --no-run
# The test runner goes last: its closing summary is the last line of the run.
# Building the workspace's tests builds every member's binaries first, among
# them greffier-engine (engine/tests uses it), which tests/e2e_transcription.rs
# runs from beside the greffier binary.
if command -v cargo-nextest >/dev/null; then
    # nextest does not run doctests.
    step cargo test --workspace --doc
    step cargo nextest run --workspace --no-fail-fast
else
    step cargo test --workspace --no-fail-fast
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "test: failed steps:"
    printf '  %s\n' "${failed[@]}"
    exit 1
fi
