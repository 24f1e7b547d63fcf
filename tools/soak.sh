#!/usr/bin/env bash
# Soak test (not CI): `pulsewatch serve` at a 1 s refresh against the local
# test Prometheus (tests/with-prometheus.sh: backfilled sample data plus a
# live node_exporter) for MINUTES (default 10). Samples the daemon's RSS and
# /metrics every second and reports RSS growth after warm-up, missed
# refreshes (a gap over 2.5 s between refresh timestamps) and errors.
#
#   bash tools/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/pulsewatch/target}"
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/pulsewatch"

exec bash tests/with-prometheus.sh bash -c '
set -euo pipefail
bin="$1"; minutes="$2"
work=$(mktemp -d)
trap "kill \$serve_pid 2>/dev/null || true; rm -rf \"$work\"" EXIT
cat > "$work/soak.yml" <<YAML
prometheus:
  url: $PULSEWATCH_TEST_PROM_URL
  step: 1s
  window: 15m
metrics:
  load: node_load1
  memory: node_memory_MemAvailable_bytes
  scrapes: sum(scrape_duration_seconds)
dashboard:
  refresh_interval: 1
prophet_model:
  retrain_interval: 1m
lstm_model:
  save_path: $work/model
  epochs: 5
  sequence_length: 20
  hidden_size: 16
  retrain_interval: 3m
  device: cpu
YAML
port=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])")
HOME="$work" "$bin" --config "$work/soak.yml" serve --listen "127.0.0.1:$port" \
  --history "$work/history.sqlite" 2>"$work/serve.log" &
serve_pid=$!
python3 - "$serve_pid" "$port" "$minutes" "$work" <<PY
import json, sys, time, urllib.request
pid, port, minutes, work = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
def metrics():
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
deadline = time.time() + 60
while time.time() < deadline:
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200:
            break
    except Exception:
        pass
    time.sleep(0.5)
start = time.time()
samples, refreshes, http_errors = [], [], 0
while time.time() - start < minutes * 60:
    try:
        m = metrics()
        t = m.get("pulsewatch_last_refresh_timestamp_seconds")
        if t is not None and (not refreshes or t != refreshes[-1]):
            refreshes.append(t)
        fetch_errors = sum(v for k, v in m.items() if k.startswith("pulsewatch_fetch_errors_total"))
    except Exception as e:
        http_errors += 1
    samples.append((time.time() - start, rss_kb()))
    time.sleep(1.0)
warm = [kb for t, kb in samples if t >= 60]
first_warm, last = warm[0], warm[-1]
gaps = [b - a for a, b in zip(refreshes, refreshes[1:])]
missed = sum(1 for g in gaps if g > 2.5)
log = open(f"{work}/serve.log").read()
import collections, re
retrains = collections.Counter(
    reason.split(":")[0] + " " + status
    for reason, status in re.findall(r"training [(](.*?)[)] (ok|failed)", log))
root = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5))
last_error = root["model"]["last_error"]
print(f"soak: {minutes:g} min at a 1 s refresh")
print(f"  RSS after 1 min warm-up: {first_warm/1024:.1f} MB; at the end: {last/1024:.1f} MB; "
      f"growth {(last-first_warm)/1024:+.1f} MB; peak {max(kb for _, kb in samples)/1024:.1f} MB")
print(f"  refreshes seen: {len(refreshes)}; largest gap {max(gaps):.2f} s; missed (gap > 2.5 s): {missed}")
print(f"  fetch errors: {fetch_errors:g}; HTTP errors polling /metrics: {http_errors}")
print(f"  retrains finished: {dict(retrains)}; last error: {last_error}")
ok = (last - first_warm) < 10 * 1024 and missed == 0 and fetch_errors == 0 and http_errors == 0
print("  verdict:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
' soak "$bin" "$minutes"
