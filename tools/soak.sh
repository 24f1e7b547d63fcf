#!/usr/bin/env bash
# Soak test (not CI): `pulsewatch serve` at a 1 s refresh against the local
# test Prometheus (tests/with-prometheus.sh: backfilled sample data plus a
# live node_exporter) for MINUTES (default 10), sending alerts to a real
# Alertmanager. Alertmanager is stopped for 20 s at a third and at two
# thirds of the run, Prometheus for 20 s at half of it (restarted with its
# own command line, port and data). Samples the daemon's RSS and /metrics
# every second and reports RSS growth after warm-up, missed refreshes (a gap
# over 2.5 s between refresh timestamps, outside Prometheus' outage), errors
# outside the outage, and missed alerts: at the end, once the outbox is
# empty, the alerts Alertmanager holds as firing must be exactly the series
# serve marks anomalous.
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
trap "kill \$serve_pid \$am_pid 2>/dev/null || true; pkill -f \"storage.path=\$work/am\" || true; rm -rf \"$work\"" EXIT
printf "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n" > "$work/am.yml"
am_port=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])")
start_am() {
  prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= 2>>"$work/am.log" &
  am_pid=$!
}
start_am
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
  --history "$work/history.sqlite" --alertmanager "http://127.0.0.1:$am_port" \
  2>"$work/serve.log" &
serve_pid=$!
# The Python side restarts Alertmanager through these (it has no job control).
export work am_port
python3 - "$serve_pid" "$port" "$minutes" "$work" "$am_port" <<PY
import json, sys, time, urllib.request
import os, signal, subprocess
pid, port, minutes, work = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
am_port = int(sys.argv[5])
prom_port = int(os.environ["PULSEWATCH_TEST_PROM_URL"].rsplit(":", 1)[1])
def pid_listening(port):
    # The process whose socket listens on 127.0.0.1:port (from /proc).
    inode = None
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(":%04X" % port) and fields[3] == "0A":
            inode = fields[9]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                if os.readlink(f"/proc/{p}/fd/{fd}") == f"socket:[{inode}]":
                    return int(p)
        except OSError:
            pass
def stop(p):
    os.kill(p, signal.SIGTERM)
    while os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z":
        time.sleep(0.1)
am_cmd = ["prometheus-alertmanager", f"--config.file={work}/am.yml", f"--storage.path={work}/am",
          f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="]
restarted = []
pending_starts = []
# Prometheus as relaunched here: with-prometheus.sh stops only the one it started.
relaunched = []
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
fetch_errors = errors_before_outage = 0
# (start, end) of the Prometheus outage plus 10 s to catch up, wall-clock.
outage = None
events = {minutes * 20: "am", minutes * 30: "prom", minutes * 40: "am"}
while time.time() - start < minutes * 60:
    elapsed = time.time() - start
    # Each outage: stop now, start again 20 s later, polling all along (a
    # pause in polling would read as a missed refresh).
    for at, what in list(events.items()):
        if elapsed < at:
            continue
        del events[at]
        if what == "am":
            stop(pid_listening(am_port))
            pending_starts.append((time.time() + 20, am_cmd, "am"))
        else:
            prom = pid_listening(prom_port)
            prom_cmd = open(f"/proc/{prom}/cmdline").read().split("\0")[:-1]
            errors_before_outage = fetch_errors
            down = time.time()
            stop(prom)
            pending_starts.append((down + 20, prom_cmd, "prom"))
            outage = (down, down + 30)
        restarted.append(f"{what} at {at:.0f} s")
    for due, cmd, what in list(pending_starts):
        if time.time() >= due:
            pending_starts.remove((due, cmd, what))
            if what == "am":
                subprocess.Popen(cmd, stderr=open(f"{work}/am.log", "a"))
            else:
                relaunched.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        m = metrics()
        t = m.get("pulsewatch_last_refresh_timestamp_seconds")
        if t is not None and (not refreshes or t != refreshes[-1]):
            refreshes.append(t)
        fetch_errors = sum(v for k, v in m.items() if k.startswith("pulsewatch_fetch_errors_total"))
        if outage and time.time() < outage[1]:
            errors_before_outage = fetch_errors
    except Exception as e:
        http_errors += 1
    samples.append((time.time() - start, rss_kb()))
    time.sleep(1.0)
# Missed alerts: once the outbox is empty, Alertmanager fires exactly what
# serve marks anomalous.
def firing_in_am():
    alerts = json.load(urllib.request.urlopen(f"http://127.0.0.1:{am_port}/api/v2/alerts?active=true", timeout=5))
    return sorted(a["labels"]["metric"] for a in alerts if a["status"]["state"] == "active")
deadline = time.time() + 60
while time.time() < deadline:
    m = metrics()
    if m.get("pulsewatch_alerts_pending") == 0:
        break
    time.sleep(1)
pending = m.get("pulsewatch_alerts_pending")
anomalous = sorted(k.split("metric=\"")[1].split("\"")[0] for k, v in m.items()
                   if k.startswith("pulsewatch_anomalous{") and v == 1)
am_firing = firing_in_am()
for process in relaunched:
    process.terminate()
    process.wait()
warm = [kb for t, kb in samples if t >= 60]
first_warm, last = warm[0], warm[-1]
def in_outage(t):
    return outage is not None and outage[0] - 1 <= t <= outage[1]
gaps = [b - a for a, b in zip(refreshes, refreshes[1:]) if not in_outage(a) and not in_outage(b)]
outage_gap = max([b - a for a, b in zip(refreshes, refreshes[1:]) if in_outage(a) or in_outage(b)], default=0)
missed = sum(1 for g in gaps if g > 2.5)
fetch_errors_outside = fetch_errors - errors_before_outage
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
restarted_text = ", ".join(restarted)
print(f"  restarted: {restarted_text}")
print(f"  refreshes seen: {len(refreshes)}; largest gap {max(gaps):.2f} s outside the outage "
      f"(across it: {outage_gap:.1f} s); missed (gap > 2.5 s) outside it: {missed}")
print(f"  fetch errors: {fetch_errors:g} in all, {fetch_errors_outside:g} outside the outage; "
      f"HTTP errors polling /metrics: {http_errors}")
print(f"  alerts: outbox {pending:g} at the end; firing in Alertmanager {am_firing}; "
      f"anomalous in serve {anomalous}")
print(f"  retrains finished: {dict(retrains)}; last error: {last_error}")
ok = ((last - first_warm) < 10 * 1024 and missed == 0 and fetch_errors_outside == 0
      and http_errors == 0 and pending == 0 and am_firing == anomalous)
print("  verdict:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
' soak "$bin" "$minutes"
