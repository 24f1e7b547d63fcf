#!/usr/bin/env bash
# The README's fleet screenshots: the real window under Xvfb on the fleet
# fixture. Fetches the fixture's 36 h from the test Prometheus with the
# shipped queries plus the hosts' transmit errors (as tests/it/fleet_window.rs
# does), opens it, captures the overview once the forecasts have landed, then
# presses Enter (the selected, worst host opens) and captures the entity view.
#
# Usage: bash tests/with-prometheus.sh bash assets/fleet_screenshots.sh [BINARY]
# (BINARY defaults to target/release/pulsewatch; the captures go to assets/.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/pulsewatch}")
out=$(pwd)/assets
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$PULSEWATCH_TEST_FLEET_JSON" "$1"; }
# A shipped query as user_config.yml has it (the Linux one where it varies).
shipped() {
  sed -n "/^  $1:/,/^  [a-z]*:/p" user_config.yml | sed -n -E "s/^  $1: (.+)$/\1/p; s/^    linux: (.+)$/\1/p" | head -1
}
cat >"$work/fleet.yml" <<YAML
prometheus:
  url: $PULSEWATCH_TEST_PROM_URL
  step: 30s
metrics:
  cpu: '$(shipped cpu)'
  memory: '$(shipped memory)'
  latency: '$(shipped latency)'
  net: 'sum by (instance) (rate(node_network_transmit_errs_total[5m]))'
YAML
"$bin" fetch --config "$work/fleet.yml" --start "$(field start)" --end "$(field end)" \
  --out "$work/fleet.csv"

mkdir -p "$work/home" "$work/runtime"
Xvfb :93 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
sleep 1
(cd "$work/home" && DISPLAY=:93 HOME="$work/home" XDG_RUNTIME_DIR="$work/runtime" \
  XDG_CONFIG_HOME="$work/home/config" \
  "$bin" --config "$work/fleet.yml" ui --csv "$work/fleet.csv" >"$work/app.log" 2>&1) &
window=""
for _ in $(seq 1 120); do
  window=$(DISPLAY=:93 xdotool search --name '^PulseWatch$' 2>/dev/null | head -1 || true)
  [ -n "$window" ] && break
  sleep 0.5
done
[ -n "$window" ] || { echo "no window:" >&2; cat "$work/app.log" >&2; exit 1; }
# The fleet's forecasts (one Prophet fit a series) land within a minute on
# two cores; the pointer stays off the cells so no tooltip covers them.
sleep 60
DISPLAY=:93 xdotool mousemove 1270 130
sleep 1
DISPLAY=:93 import -window root "$out/fleet_overview.png"
DISPLAY=:93 xdotool windowfocus "$window" key --window "$window" Return
# The pointer over the empty side panel: no hover label on the plots.
DISPLAY=:93 xdotool mousemove 140 520
sleep 3
DISPLAY=:93 import -window root "$out/fleet_entity.png"
echo "wrote $out/fleet_overview.png and $out/fleet_entity.png"
