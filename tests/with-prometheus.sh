#!/usr/bin/env bash
# Starts a real Prometheus (loaded with the bundled sample data, shifted to end
# near now) and a node_exporter it scrapes every second, runs the given
# command with their addresses in the environment, then stops both, also on
# failure. Usage: bash tests/with-prometheus.sh cargo test
#
# Exports:
#   PULSEWATCH_TEST_PROM_URL        http://127.0.0.1:PORT
#   PULSEWATCH_TEST_PROM_SHIFT_MS   added to sample_data/multivariant_data.csv's
#                                   timestamps to get the backfilled ones
#   PULSEWATCH_TEST_NODE_EXPORTER   127.0.0.1:PORT
#   PULSEWATCH_TEST_FLEET_JSON      the fleet fixture's spans (start, end, step,
#                                   hosts, incidents, joins, dropouts): 50
#                                   node_exporter-like hosts over 36 h at 30 s,
#                                   backfilled beside the sample, ending with it
#   PULSEWATCH_TEST_FILE_SD_DIR     a file_sd directory Prometheus watches (job
#                                   `fleet-live`, honor_labels): a test writes
#                                   targets there to add a live host of its own
#                                   (so a test that counts `up` series filters on
#                                   job=~"node|self": that host comes and goes)
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in prometheus promtool prometheus-node-exporter curl; do
  command -v "$tool" >/dev/null || {
    echo "with-prometheus.sh: $tool is missing; run bash tests/run.sh (it installs it)" >&2
    exit 1
  }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# The binary writes the OpenMetrics text (same code the tests check).
cargo build --locked --quiet --bin pulsewatch
bin="${CARGO_TARGET_DIR:-target}/debug/pulsewatch"

# The last sample lands on a 30 s boundary ten minutes ago, so the data end
# near now without overlapping what Prometheus scrapes itself.
end_ms=$(( ($(date +%s) / 30 * 30 - 600) * 1000 ))
shift_ms=$("$bin" export-openmetrics --csv sample_data/multivariant_data.csv \
  --prefix pulsewatch_sample_ --end-at-ms "$end_ms" --out "$work/data.om")
promtool tsdb create-blocks-from openmetrics "$work/data.om" "$work/tsdb" >"$work/promtool.log" 2>&1 \
  || { cat "$work/promtool.log" >&2; exit 1; }

# The fleet: 50 hosts over the last 36 h (tests/fixtures/tools/make_fleet.py): its
# incidents fall in the second half, after a series's probation (2,000 rows, 16.7 h).
python3 tests/fixtures/tools/make_fleet.py "$work/fleet.om" 50 36 30 "$(( end_ms / 1000 ))" >/dev/null
promtool tsdb create-blocks-from openmetrics "$work/fleet.om" "$work/tsdb" >"$work/promtool-fleet.log" 2>&1 \
  || { cat "$work/promtool-fleet.log" >&2; exit 1; }
rm -f "$work/fleet.om"
mkdir -p "$work/file_sd"

node_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" \
  >"$work/node_exporter.log" 2>&1 &
pids+=($!)

prom_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$node_port"]
  # Prometheus' own HTTP latency histogram stands in for an application's
  # http_request_duration_seconds, so the default latency query has data.
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:$prom_port"]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: prometheus_http_request_duration_seconds_bucket
        target_label: __name__
        replacement: http_request_duration_seconds_bucket
  # Live fleet hosts a test serves itself: it writes their addresses here.
  - job_name: fleet-live
    honor_labels: true
    file_sd_configs:
      - files: ["$work/file_sd/*.json"]
        refresh_interval: 1s
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --storage.tsdb.retention.time=3650d --web.listen-address="127.0.0.1:$prom_port" \
  >"$work/prometheus.log" 2>&1 &
pids+=($!)

url="http://127.0.0.1:$prom_port"
for _ in $(seq 1 120); do
  curl -fs "$url/-/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "$url/-/ready" >/dev/null || {
  echo "with-prometheus.sh: Prometheus did not become ready:" >&2
  tail -20 "$work/prometheus.log" >&2
  exit 1
}
echo "with-prometheus.sh: Prometheus at $url (data shifted by $shift_ms ms), node_exporter at 127.0.0.1:$node_port"

export PULSEWATCH_TEST_PROM_URL="$url"
export PULSEWATCH_TEST_PROM_SHIFT_MS="$shift_ms"
export PULSEWATCH_TEST_NODE_EXPORTER="127.0.0.1:$node_port"
export PULSEWATCH_TEST_FLEET_JSON="$work/fleet.om.incidents.json"
export PULSEWATCH_TEST_FILE_SD_DIR="$work/file_sd"
"$@"
