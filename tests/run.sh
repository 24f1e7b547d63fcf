#!/usr/bin/env bash
# The whole PulseWatch test suite. Installs the system packages the tests
# need when they are missing (apt-get, as root), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# prometheus (with promtool) + node_exporter + curl: the ingestion tests
# against a real server; alertmanager: serve's alerts; openssl: the test CA
# and certificates for serve's TLS; python3: the reference
# NAB scorer. Xvfb + xdotool + imagemagick: the real-window test; the GL/Vulkan/X
# libraries are loaded by the app at run time (Mesa's llvmpipe and lavapipe).
packages=(
  gcc libc6-dev python3
  prometheus prometheus-node-exporter prometheus-alertmanager curl openssl
  xvfb xdotool imagemagick
  libxkbcommon-x11-0 libxcursor1 libxi6 libx11-xcb1
  libegl1 libegl-mesa0 libgl1-mesa-dri mesa-vulkan-drivers libvulkan1
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "tests/run.sh: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "tests/run.sh: missing system packages and not root; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# GTK, Mesa and winit write here; keep the tests off the user's own dirs.
XDG_RUNTIME_DIR=$(mktemp -d)
export XDG_RUNTIME_DIR
trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT

# A real Prometheus and node_exporter for the ingestion tests, stopped at the end.
bash tests/with-prometheus.sh cargo test --locked --no-fail-fast "$@"

# The headless build (no `gui`, no `gpu` feature): the command-line tests run
# against that binary, among them the one that `pulsewatch ui` says how to get
# the window. (It rebuilds target/debug/pulsewatch without the window; the
# next default build relinks it.)
cargo test --locked --no-default-features --test it -- cli::
