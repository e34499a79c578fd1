#!/usr/bin/env bash
# Builds greffier in release mode and runs it with the one-node example config
# (SIP on 127.0.0.1:5060 over UDP and TCP; the admin address is in the config).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release -- run --config examples/local.toml
