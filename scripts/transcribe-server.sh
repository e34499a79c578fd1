#!/usr/bin/env bash
# Runs the self-hosted transcription engine (greffier-engine) in the
# foreground on 127.0.0.1:9300, with Whisper base fetched by scripts/models.sh.
# Its state (the engine's config and key file, and the API key the local
# gateway uses) is kept in ${GREFFIER_ENGINE_STATE:-run/engine}; the key is
# created on the first run, printed to that directory only, and stored by the
# engine as an Argon2id hash.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
model="$(scripts/models.sh | tail -n 1)"
state="${GREFFIER_ENGINE_STATE:-run/engine}"
mkdir -p "$state"
cargo build --release -p greffier-engine
engine=target/release/greffier-engine
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    engine="$CARGO_TARGET_DIR/release/greffier-engine"
fi
if [ ! -s "$state/keys.json" ]; then
    umask 077
    "$engine" keys create --file "$state/keys.json" --name local-gateway > "$state/gateway.key"
    echo "transcribe-server: the local gateway's API key is in $state/gateway.key"
fi
cat > "$state/engine.toml" <<TOML
listen = "127.0.0.1:9300"
model_dir = "$model"
keys_file = "keys.json"
threads = 1
TOML
exec "$engine" serve --config "$state/engine.toml"
