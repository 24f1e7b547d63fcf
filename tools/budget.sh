#!/usr/bin/env bash
# The false-alarm budget and per-kind recall of docs/evaluation.md ("Unseen data
# and normal data") in one run: the generated set, NAB's 51 files, the bundled
# sample, and the fleet fixture's clean hosts when a test Prometheus is up
# (tests/with-prometheus.sh exports PULSEWATCH_TEST_FLEET_JSON).
#
#   bash tools/budget.sh [METHOD...]          # default: ensemble
#   bash tests/with-prometheus.sh bash tools/budget.sh ensemble robust
#
# NAB's files are read from ../shared/data/nab (skipped when absent). Release
# build; output is markdown tables on stdout, timings on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=target/release/pulsewatch
methods=("$@")
((${#methods[@]})) || methods=(ensemble)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" eval generate --out "$work/dev" >&2
nab=../shared/data/nab
fleet=()
if [[ -n ${PULSEWATCH_TEST_FLEET_JSON:-} && -n ${PULSEWATCH_TEST_PROM_URL:-} ]]; then
  read -r start end < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["start"], d["end"])' "$PULSEWATCH_TEST_FLEET_JSON")
  sed "s#url: http://localhost:9090#url: $PULSEWATCH_TEST_PROM_URL#" user_config.yml >"$work/fleet.yml"
  "$bin" --config "$work/fleet.yml" fetch --format long --start "$start" --end "$end" --step 30s \
    --out "$work/fleet.csv" >&2
  # The clean hosts: every row but the incident hosts'.
  python3 - "$PULSEWATCH_TEST_FLEET_JSON" "$work/fleet.csv" "$work/fleet_clean.csv" <<'PY'
import json, sys
bad = {i["instance"] for i in json.load(open(sys.argv[1]))["incidents"]}
with open(sys.argv[2]) as f, open(sys.argv[3], "w") as out:
    out.write(f.readline())
    out.writelines(line for line in f if line.split(",")[1] not in bad)
PY
  fleet=("$work/fleet_clean.csv")
fi

for method in "${methods[@]}"; do
  echo "## $method: the generated set"
  "$bin" eval alarms --data "$work/dev/data" --windows "$work/dev/labels/combined_windows.json" --method "$method"
  if [[ -d $nab/data ]]; then
    echo; echo "## $method: NAB"
    "$bin" eval alarms --data "$nab/data" --windows "$nab/labels/combined_windows.json" --method "$method"
  fi
  echo; echo "## $method: the bundled sample"
  "$bin" eval alarms --csv sample_data/multivariant_data.csv --method "$method"
  if ((${#fleet[@]})); then
    echo; echo "## $method: the fleet's clean hosts, NAB's probation, then the daemon's"
    "$bin" eval alarms --csv "${fleet[0]}" --method "$method"
    "$bin" eval alarms --csv "${fleet[0]}" --method "$method" --probation-rows 2000
  fi
  echo
done
