#!/usr/bin/env python3
"""Runs tg-fit on every problem in problems.tsv from both NIST starts, as a new user would
(tg-fit DATA --model EXPR --init START --dtype f64 --format kv), and prints per run the exit status, the stop
reason, and the correct significant digits of the worst parameter and worst standard error against the
certified values, then how many runs reach 4 digits in both. Usage: tg_baseline.py [PATH/TO/tg-fit]"""
import os
import subprocess
import sys

import nist


def run(tgfit, p, start):
    init = ",".join(f"{n}={v!r}" for n, v in zip(p["params"], p[f"start{start}"]))
    cmd = [tgfit, os.path.join(nist.HERE, p["data"]), "--model", p["model"], "--init", init,
           "--dtype", "f64", "--format", "kv"]
    xs = [c for c in p["columns"] if c != "y"]
    if xs != ["x"]:
        cmd += ["-x", ",".join(xs)]
    if p["response"] != "y":
        cmd += ["-y", p["response"]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    kv = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return proc.returncode, kv


def main():
    tgfit = sys.argv[1] if len(sys.argv) > 1 else os.path.join(nist.HERE, "..", "..", "bin", "tg-fit")
    runs = good = 0
    print(f"{'problem':10} {'start':>5} {'exit':>4} {'stop':>10} {'converged':>9} {'param digits':>12} {'stderr digits':>13}")
    for p in nist.problems():
        for start in (1, 2):
            runs += 1
            rc, kv = run(tgfit, p, start)
            try:
                pd = min(nist.digits(float(kv[n]), c) for n, c in zip(p["params"], p["certified"]))
                sd = min(nist.digits(float(kv[n + "_stderr"]), c) for n, c in zip(p["params"], p["stderr"]))
            except (KeyError, ValueError):
                pd = sd = 0.0
            good += pd >= 4 and sd >= 4
            print(f"{p['name']:10} {start:5d} {rc:4d} {kv.get('stop', '-'):>10} {kv.get('converged', '-'):>9}"
                  f" {pd:12.1f} {sd:13.1f}")
    print(f"total: {good} of {runs} runs reach 4 digits in every parameter and standard error")


if __name__ == "__main__":
    main()
