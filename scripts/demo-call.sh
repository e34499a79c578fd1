#!/usr/bin/env bash
# Places one call through the local gateway that scripts/run-local.sh runs:
# the demo PBX (127.0.0.1) calls +33198765432, which the demo tenant routes
# to its carrier (127.0.0.1:5070); each side speaks a sentence (festival's
# us_slt voice, G.711 μ-law). Then it finds the call's recording, prints its
# id, and writes it as a playable WAV with `greffier recordings get`.
#
# Environment: GREFFIER_CONFIG (examples/local.toml), GREFFIER_SIP (the
# gateway, 127.0.0.1:5060), GREFFIER_DEMO_DIR (run/demo: the speech, the
# scenarios' logs and the WAV), GREFFIER_BUILD (release, or debug), and
# GREFFIER_DATA_DIR as for run-local.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
config="${GREFFIER_CONFIG:-examples/local.toml}"
gateway="${GREFFIER_SIP:-127.0.0.1:5060}"
work="${GREFFIER_DEMO_DIR:-run/demo}"
profile=(--release)
[ "${GREFFIER_BUILD:-release}" = debug ] && profile=()
mkdir -p "$work"
work="$(cd "$work" && pwd)"
greffier() { cargo run --quiet "${profile[@]}" -- "$@"; }

for tool in sipp text2wave; do
    command -v "$tool" >/dev/null || { echo "demo-call: $tool is missing; run scripts/setup.sh" >&2; exit 1; }
done

speak() {
    echo "$2" >"$work/$1.txt"
    text2wave -eval '(voice_cmu_us_slt_arctic_hts)' -F 8000 -otype ulaw \
        -o "$work/$1.ulaw" "$work/$1.txt"
}
speak caller "Hello, this is the demo office calling about the delivery of your parcel on Friday morning."
speak callee "Good morning, thank you for calling. Friday morning suits me perfectly, see you then."
# The call lasts as long as the longer sentence (8000 bytes a second), and a second more.
hold_ms=$(( ( $(wc -c <"$work/caller.ulaw" | tr -d ' ') > $(wc -c <"$work/callee.ulaw" | tr -d ' ') \
    ? $(wc -c <"$work/caller.ulaw" | tr -d ' ') : $(wc -c <"$work/callee.ulaw" | tr -d ' ') ) / 8 + 1000 ))
sed "s|@AUDIO@|$work/caller.ulaw|; s|@HOLD_MS@|$hold_ms|" scripts/demo/caller.xml >"$work/caller.xml"
sed "s|@AUDIO@|$work/callee.ulaw|" scripts/demo/callee.xml >"$work/callee.xml"

ids() {
    greffier recordings list --config "$config" --tenant demo >"$work/list.jsonl"
    grep -o '"id":"[^"]*"' "$work/list.jsonl" | cut -d'"' -f4 | sort || true
}
before="$(ids)"

# The carrier answers on 127.0.0.1:5070 (the demo tenant's carrier.uri).
sipp -sf "$work/callee.xml" -i 127.0.0.1 -p 5070 -mp 16100 -m 1 -timeout 60s \
    -trace_err -error_file "$work/callee.errors" >"$work/callee.log" 2>&1 &
callee=$!
trap 'kill "$callee" 2>/dev/null || true' EXIT
sipp -sf "$work/caller.xml" -i 127.0.0.1 -p 0 -mp 16000 -s +33198765432 "$gateway" -m 1 \
    -timeout 60s -trace_err -error_file "$work/caller.errors" >"$work/caller.log" 2>&1 || {
    echo "demo-call: the call failed; see $work/caller.log and $work/caller.errors" >&2
    exit 1
}
wait "$callee" || true

# The recording reaches the store when the call ends; wait for it (30 s at most).
id=""
for _ in $(seq 1 60); do
    id="$(comm -13 <(echo "$before") <(ids) | tail -n 1)"
    [ -n "$id" ] && break
    sleep 0.5
done
if [ -z "$id" ]; then
    echo "demo-call: no new recording of tenant demo after 30 s" >&2
    exit 1
fi
echo "recording: $id"
greffier recordings get --config "$config" --tenant demo --id "$id" --out "$work/$id.wav"
echo "written to: $work/$id.wav (caller on the left, callee on the right)"
echo "transcript, once the engine has it: greffier transcripts get --config $config --tenant demo --id $id"
