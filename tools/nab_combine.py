#!/usr/bin/env python3
"""Combines per-detector NAB likelihoods offline, as the shipped ensemble does.

The ensemble (`pulsewatch eval nab --method ensemble`) is, per row, the
largest of five detectors' likelihoods, where the single-row detectors
(robust, seasonal, lstm) pass a news gate first, then one alarm per event
(the next `suppress` rows capped under the alarm level). Written so that
variants of that combination (other gates, suppressions, parts) can be
scored in seconds without rebuilding: `docs/evaluation.md` records what was
tried this way.

1. One uncapped score directory per detector:
     for m in robust level seasonal context lstm; do
       pulsewatch eval nab --data D --windows W --method $m --uncapped --scores-dir RAW/$m
     done
2. python3 tools/nab_combine.py --raw RAW --out OUT [--gate-share 0.5] [--suppress 100]
3. pulsewatch eval nab --data D --windows W --scores-dir OUT
   (or ../shared/tools/nab_score.py on the same directory)

`--method lstm` already passes its own news gate (half a probation, as in
the ensemble): gating it again here changes nothing at the shipped share, and
a shorter share cannot undo the first gate.

With the defaults, step 3 prints the shipped ensemble's scores (the files are
the same to the printed digits: checked 2026-11-26, 76.51 / 71.07 / 80.22).
Standard library only.
"""

import argparse
import csv
import os
import sys
from collections import deque

ALARM_LEVEL = 0.995
# Where the news gate and the suppression cap a likelihood: just under the
# alarm level (as src/detect/stream.rs does).
CAPPED = ALARM_LEVEL - 0.005
PARTS = ("robust", "level", "seasonal", "context", "lstm")
GATED = ("robust", "seasonal", "lstm")


def read_scores(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [r[0] for r in rows], [float(r[1]) for r in rows]


def news_only(likelihoods, rows):
    """A likelihood passes where it beats every one of the previous `rows`."""
    out, peaks = [], deque()  # (row, likelihood), likelihoods decreasing
    for i, value in enumerate(likelihoods):
        while peaks and peaks[0][0] <= i - rows:
            peaks.popleft()
        previous = peaks[0][1] if peaks else 0.0
        out.append(value if value > previous else min(value, CAPPED))
        while peaks and peaks[-1][1] <= value:
            peaks.pop()
        peaks.append((i, value))
    return out


def one_alarm_per_event(likelihoods, rows):
    out, left = [], 0
    for value in likelihoods:
        if left > 0:
            left -= 1
            out.append(min(value, CAPPED))
        else:
            if value >= ALARM_LEVEL:
                left = rows
            out.append(value)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", required=True, help="dir with one uncapped score dir per detector")
    ap.add_argument("--out", required=True, help="where the combined score files go")
    ap.add_argument("--parts", default=",".join(PARTS), help="detectors to combine")
    ap.add_argument("--gated", default=",".join(GATED), help="detectors behind the news gate")
    ap.add_argument(
        "--gate-share",
        type=float,
        default=0.5,
        help="gate memory in probations (NAB's first 15 %% of a file's rows)",
    )
    ap.add_argument("--suppress", type=int, default=100, help="rows capped after an alarm")
    ap.add_argument(
        "--offset",
        action="append",
        default=[],
        metavar="PART=X",
        help="lower PART's likelihoods above 0.99 by X (a variant; repeatable)",
    )
    ap.add_argument(
        "--confirm",
        action="append",
        default=[],
        metavar="PART=K",
        help="PART's likelihood is the least of its last K rows (a variant; repeatable)",
    )
    args = ap.parse_args()
    offsets = {k: float(v) for k, v in (o.split("=", 1) for o in args.offset)}
    confirms = {k: int(v) for k, v in (o.split("=", 1) for o in args.confirm)}
    parts = [p for p in args.parts.split(",") if p]
    gated = {p for p in args.gated.split(",") if p}
    first = os.path.join(args.raw, parts[0])
    files = sorted(
        os.path.relpath(os.path.join(d, f), first)
        for d, _, names in os.walk(first)
        for f in names
        if f.endswith(".csv")
    )
    if not files:
        sys.exit(f"nab_combine: no score files under {first}")
    for rel in files:
        stamps, combined = None, None
        for part in parts:
            path = os.path.join(args.raw, part, rel)
            ts, values = read_scores(path)
            if stamps is None:
                stamps, combined = ts, [0.0] * len(ts)
            elif ts != stamps:
                sys.exit(f"nab_combine: {path}: timestamps differ from {parts[0]}'s")
            if part in offsets:
                values = [v - offsets[part] if v > 0.99 else v for v in values]
            if confirms.get(part, 1) > 1:
                k = confirms[part]
                values = [min(values[max(0, i - k + 1) : i + 1]) for i in range(len(values))]
            if part in gated:
                probation = int(0.15 * len(values))
                values = news_only(values, int(probation * args.gate_share))
            combined = [max(a, b) for a, b in zip(combined, values)]
        scores = one_alarm_per_event(combined, args.suppress)
        out = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write("timestamp,anomaly_score\n")
            f.writelines(f"{t},{s}\n" for t, s in zip(stamps, scores))
    print(f"combined {len(files)} files from {', '.join(parts)} into {args.out}")


if __name__ == "__main__":
    main()
