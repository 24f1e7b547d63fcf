#!/usr/bin/env bash
# Runs PulseWatch's fuzz targets (cargo-fuzz on libFuzzer; fuzz/): the CSV
# readers, the YAML configs, Prometheus' JSON answers and the daemon's HTTP
# server. Each starts from its seed corpus (fuzz/seeds/TARGET, committed);
# inputs that reach new code go to fuzz/corpus/TARGET (ignored by git). A
# panic, an overflow or a timeout stops the run with the input in
# fuzz/artifacts/TARGET and a non-zero exit.
#
# Usage: bash tools/fuzz.sh [RUNS] [TARGET...]   (default: 10,000,000 each, all)
#
# Inputs up to 8 KiB: every branch of these parsers is reached by small
# inputs; longer ones repeat rows and cost executions.
#
# Built with --sanitizer none and debug assertions: the code is safe Rust, so
# what there is to find is a panic (an index, an unwrap, an integer overflow:
# debug assertions make overflows panic); AddressSanitizer would cost 2-3x the
# executions for memory errors safe code cannot make. Needs a nightly
# toolchain (rustup) and installs cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10000000}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(csv config prom_json http)
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked cargo-fuzz
fi
cd fuzz
cargo +nightly fuzz build --sanitizer none -O -a
echo "| target | executions | seconds | per second | corpus | result |"
echo "|---|---|---|---|---|---|"
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log=$(mktemp)
  started=$(date +%s)
  status=ok
  cargo +nightly fuzz run --sanitizer none -O -a "$target" "corpus/$target" "seeds/$target" -- \
    -runs="$runs" -max_len=8192 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$log" 2>&1 || status=failed
  seconds=$(($(date +%s) - started))
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  corpus=$(find "corpus/$target" -type f | wc -l)
  echo "| $target | $executions | $seconds | $((executions / (seconds > 0 ? seconds : 1))) | $corpus | $status |"
  if [[ $status != ok ]]; then
    tail -40 "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
done
