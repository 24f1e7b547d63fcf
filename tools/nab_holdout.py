#!/usr/bin/env python3
"""Leave-one-category-out check of the ensemble's combination parameters on NAB.

The news gate's memory and the suppression after an alarm were picked on all
51 files, so the score they give there is optimistic. Here, for each NAB
category in turn, the pair (gate share, suppression) and the threshold are
chosen on the *other* categories only, then the held-out category is scored
with that choice at that fixed threshold. The held-out raw scores are summed
over the categories and normalised as NAB does (its raw, null and perfect
scores add up over files), per profile.

Needs the per-detector uncapped scores (see tools/nab_combine.py) and the
reference scorer (tests/fixtures/tools/nab_score.py, a copy of NAB's):

  python3 tools/nab_holdout.py --raw RAW --data D --windows W [--work DIR]

D may hold the generated kinds beside NAB's categories (`pulsewatch eval
generate`, categories `gen-*`, windows merged into W): they then take part in
every choice, and NAB's own held-out total is printed apart.

Standard library only; a few minutes on two cores.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCORER = os.path.join(HERE, "..", "tests", "fixtures", "tools", "nab_score.py")
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
GATE_SHARES = (0.25, 0.5, 0.75, 1.0, 2.0)
SUPPRESSIONS = (50, 70, 100, 150)
SHIPPED = (0.5, 100)


def score(args, scores_dir, files, threshold=None):
    cmd = [sys.executable, SCORER, "--data", args.data, "--windows", args.windows]
    cmd += ["--scores-dir", scores_dir, "--files", files, "--profile", "all"]
    if threshold is not None:
        cmd += ["--threshold", repr(threshold)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["profiles"]


def shown(result):
    # A category without windows has no normalised score (null = perfect):
    # its raw score is what its false positives cost.
    if result["windows"] == 0:
        return f"raw {result['raw']:.2f} (no windows)"
    return f"{result['score']:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", required=True, help="uncapped per-detector score dirs")
    ap.add_argument("--data", required=True)
    ap.add_argument("--windows", required=True)
    ap.add_argument("--work", help="where the combined variants go (default: a temp dir)")
    ap.add_argument("--parts", help="detectors to combine (nab_combine.py's default: the shipped five)")
    ap.add_argument("--gated", help="detectors behind the news gate (nab_combine.py's default)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="nab-holdout-")
    categories = sorted(
        d for d in os.listdir(args.data) if os.path.isdir(os.path.join(args.data, d))
    )
    variants = [(g, s) for g in GATE_SHARES for s in SUPPRESSIONS]
    dirs = {}
    for gate, suppress in variants:
        out = os.path.join(work, f"gate{gate}-sup{suppress}")
        if not os.path.isdir(out):
            cmd = [sys.executable, os.path.join(HERE, "nab_combine.py"), "--raw", args.raw,
                   "--out", out, "--gate-share", str(gate), "--suppress", str(suppress)]
            for flag in ("parts", "gated"):
                if getattr(args, flag):
                    cmd += [f"--{flag}", getattr(args, flag)]
            subprocess.run(cmd, check=True, capture_output=True)
        dirs[(gate, suppress)] = out
    totals = {p: [0.0, 0.0, 0.0] for p in PROFILES}  # raw, null, perfect
    # The generated kinds (eval generate: `gen-*`) take part in the choice;
    # NAB's own held-out total is printed apart, as the headline.
    nab_totals = {p: [0.0, 0.0, 0.0] for p in PROFILES}
    print("| held out | profile | chosen on the rest (gate share, suppression) | "
          "held-out score | same category, shipped choice, threshold optimised on all |")
    print("|---|---|---|---|---|")
    shipped_all = score(args, dirs[SHIPPED], ",".join(categories))
    for held in categories:
        rest = ",".join(c for c in categories if c != held)
        on_rest = {v: score(args, dirs[v], rest) for v in variants}
        for profile in PROFILES:
            best = max(variants, key=lambda v: on_rest[v][profile]["score"])
            threshold = on_rest[best][profile]["threshold"]
            result = score(args, dirs[best], held, threshold)[profile]
            shipped = score(args, dirs[SHIPPED], held, shipped_all[profile]["threshold"])[profile]
            for i, key in enumerate(("raw", "null_raw", "perfect_raw")):
                totals[profile][i] += result[key]
                if not held.startswith("gen-"):
                    nab_totals[profile][i] += result[key]
            print(f"| {held} | {profile} | {best} | {shown(result)} | {shown(shipped)} |")
    print()
    nab = ",".join(c for c in categories if not c.startswith("gen-"))
    generated = len(nab) < len(",".join(categories))
    shipped_nab = score(args, dirs[SHIPPED], nab) if generated else shipped_all
    for profile in PROFILES:
        raw, null, perfect = totals[profile]
        held_out = 100 * (raw - null) / (perfect - null)
        print(f"{profile}: held out {held_out:.2f}, "
              f"in sample {shipped_all[profile]['score']:.2f}")
        if generated:
            raw, null, perfect = nab_totals[profile]
            held_out = 100 * (raw - null) / (perfect - null)
            print(f"{profile}, NAB's categories only: held out {held_out:.2f}, "
                  f"in sample {shipped_nab[profile]['score']:.2f}")


if __name__ == "__main__":
    main()
