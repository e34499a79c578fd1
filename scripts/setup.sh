#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, and only those that
# are missing, so running it again costs nothing.
#   sip-tester           sipp, the SIP peer of the end-to-end tests
#   cmake, pkg-config    build tools of the -sys crates
#   festival, festvox-us-slt-hts  speech synthesis: spoken test audio made on the machine
#   libbcg729-dev        the G.729 codec: recordings of G.729 calls, and the test streams
#   baresip-core         baresip, a real SIP phone of the end-to-end tests, with the
#                        modules it needs headless (the baresip metapackage only adds
#                        graphical and video front-ends)
#   linphone-cli         linphonec, a second real SIP phone (another SIP stack and
#                        media engine) that answers calls in the end-to-end tests
#   chromium, chromium-driver  a real headless browser and its WebDriver server, which
#                        drive the console in tests/console_browser.rs
# Beyond Debian packages: cargo-deb (pinned), which builds greffier's Debian
# package (`cargo deb`, tested by tests/debian_package.rs), installed with
# `cargo install` when missing.
# Kamailio and rtpengine are not here: they are only the benchmark baseline, installed
# by ../shared/peerbench/install.sh.
set -euo pipefail

packages=(
    sip-tester
    cmake
    pkg-config
    festival
    festvox-us-slt-hts
    libbcg729-dev
    baresip-core
    linphone-cli
    chromium
    chromium-driver
)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for package in "${packages[@]}"; do
    is_installed "$package" || missing+=("$package")
done

CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    echo "setup: installing cargo-deb $CARGO_DEB_VERSION (cargo install)"
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi

if [ ${#missing[@]} -eq 0 ] && command -v sipp >/dev/null; then
    exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
    # The package database says sip-tester is there but sipp is not on PATH.
    missing=(sip-tester)
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        as_root=(sudo)
    else
        echo "setup: missing packages ${missing[*]}, and neither root nor sudo to install them" >&2
        exit 1
    fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
command -v sipp >/dev/null || { echo "setup: sipp is still not on PATH after installing sip-tester" >&2; exit 1; }
