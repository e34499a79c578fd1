#!/usr/bin/env bash
# Builds greffier in release mode and runs it with the one-node example config
# (SIP on 127.0.0.1:5060 over UDP and TCP; the admin address is in the config),
# with the self-hosted transcription engine beside it (127.0.0.1:9300,
# scripts/transcribe-server.sh) so the demo tenant's calls are transcribed.
# The engine's log goes to run/engine/engine.log; it stops with the gateway.
#
# Environment: GREFFIER_DATA_DIR (where objects, spool and keys go; see
# examples/local.toml), GREFFIER_BUILD=debug for a debug build,
# GREFFIER_ENGINE=off to run without the engine (jobs wait for it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
profile=(--release)
[ "${GREFFIER_BUILD:-release}" = debug ] && profile=()
if [ "${GREFFIER_ENGINE:-on}" != off ]; then
    state="${GREFFIER_ENGINE_STATE:-run/engine}"
    mkdir -p "$state"
    scripts/transcribe-server.sh >"$state/engine.log" 2>&1 &
    engine=$!
    trap 'kill "$engine" 2>/dev/null || true' EXIT INT TERM
    echo "run-local: the transcription engine starts in the background (log: $state/engine.log)"
fi
# Jobs queued before the engine is up are retried (docs/transcription.md).
cargo run "${profile[@]}" -- run --config examples/local.toml
