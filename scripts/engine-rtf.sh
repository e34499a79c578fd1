#!/usr/bin/env bash
# Measures the transcription engine's real-time factor per core on telephone
# speech: festival speech (the us_slt HTS voice) at 8 kHz, Whisper base int8,
# one inference thread, sent RUNS times (default 3) to the release engine on a
# free loopback port. Prints each run's real-time factor (processing time over
# audio length: 0.25 means four times faster than real time). Run it on a
# quiet machine: other work on the cores shows in the figure.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
model="$(scripts/models.sh | tail -n 1)"
cargo build --release -p greffier-engine
engine="${CARGO_TARGET_DIR:-target}/release/greffier-engine"
work="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/speech.txt" <<'TEXT'
Good morning, this is the billing department calling about your last invoice.
We noticed that the payment for November was received twice, so a refund of
forty two euros will reach your account within five working days. If you
would rather keep it as a credit for next month, please call us back before
Friday and ask for the accounts team. Thank you for your patience, and have
a pleasant afternoon.
TEXT
text2wave -eval '(voice_cmu_us_slt_arctic_hts)' -F 8000 -o "$work/speech.wav" "$work/speech.txt"
key="$("$engine" keys create --file "$work/keys.json" --name rtf)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/engine.toml" <<TOML
listen = "127.0.0.1:$port"
model_dir = "$model"
keys_file = "keys.json"
threads = 1
TOML
"$engine" serve --config "$work/engine.toml" >"$work/engine.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    grep -q "engine ready" "$work/engine.log" && break
    kill -0 "$pid" || { cat "$work/engine.log"; exit 1; }
    sleep 0.1
done
for run in $(seq 1 "$runs"); do
    curl -sS -o /dev/null -H "Authorization: Bearer $key" \
        -F file=@"$work/speech.wav" -F model=whisper-base -F language=en \
        -F response_format=verbose_json \
        "http://127.0.0.1:$port/v1/audio/transcriptions"
done
grep -o 'audio_seconds=[0-9.]* elapsed_seconds=[0-9.]* real_time_factor=[0-9.]*' "$work/engine.log"
