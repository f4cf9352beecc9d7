#!/usr/bin/env python3
"""make bench-nist: every problem in problems.tsv from both NIST starts, tg-fit (its default method, as a new
user runs it) beside scipy.optimize.curve_fit (default MINPACK Levenberg-Marquardt, maxfev=100000) on the same
data: per run the correct significant digits of the worst parameter and of the worst standard error against
the certified values (capped at 11), and the time of each, tg-fit as a whole process (the best of 5 in wall
time and, apart, in CPU time, which waiting for a shared machine's cores does not inflate) and curve_fit as one
call (the best of 3, Python already started); then how many runs fit in under 20 ms, the worst and the median,
beside the start-up floor (tg-fit --version, timed the same way in the same run).
Usage: compare.py [PATH/TO/tg-fit]"""
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
from scipy.optimize import curve_fit

import nist
from tg_baseline import run


def scipy_run(p, start):
    f, y = nist.model(p), nist.response(p)
    best = float("inf")
    b = cov = None
    for _ in range(3):
        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                b, cov = curve_fit(f, p["columns"], y, p0=p[f"start{start}"], maxfev=100000)
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            b = cov = None
        best = min(best, time.perf_counter() - t)
    if b is None:
        return 0.0, 0.0, best
    se = np.sqrt(np.diag(cov))
    pd = min(nist.digits(v, c) for v, c in zip(b, p["certified"]))
    sd = min(nist.digits(v, c) for v, c in zip(se, p["stderr"]))
    return pd, sd, best


TIMES = 5


def timed(f):
    """f() run TIMES times: its last result, the best wall and the best CPU time (the child's user + system)."""
    wall = cpu = float("inf")
    for _ in range(TIMES):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = f()
        wall = min(wall, time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return out, wall, cpu


def tg_run(tgfit, p, start):
    (rc, kv), best, cpu = timed(lambda: run(tgfit, p, start))
    try:
        pd = min(nist.digits(float(kv[n]), c) for n, c in zip(p["params"], p["certified"]))
        sd = min(nist.digits(float(kv[n + "_stderr"]), c) for n, c in zip(p["params"], p["stderr"]))
    except (KeyError, ValueError):
        pd = sd = 0.0
    return pd, sd, kv.get("converged", "-"), best, cpu


def main():
    tgfit = sys.argv[1] if len(sys.argv) > 1 else os.path.join(nist.HERE, "..", "..", "bin", "tg-fit")
    runs = tg_good = sp_good = tg6 = 0
    walls, cpus = [], []
    print(f"{'':17} {'tg-fit':>39}   {'curve_fit':>24}")
    print(f"{'problem':10} {'start':>5} {'param':>6} {'stderr':>6} {'conv':>4} {'ms':>6} {'cpu':>6}"
          f"      {'param':>6} {'stderr':>6} {'ms':>6}")
    for p in nist.problems():
        for start in (1, 2):
            runs += 1
            tp, ts, conv, tt, tc = tg_run(tgfit, p, start)
            walls.append((tt, p["name"], start))
            cpus.append(tc)
            sp, ss, st = scipy_run(p, start)
            tg_good += tp >= 4 and ts >= 4
            tg6 += tp >= 6 and ts >= 4
            sp_good += sp >= 4 and ss >= 4
            print(f"{p['name']:10} {start:5d} {tp:6.1f} {ts:6.1f} {conv:>4} {tt * 1e3:6.1f} {tc * 1e3:6.1f}"
                  f"      {sp:6.1f} {ss:6.1f} {st * 1e3:6.1f}")
    print(f"4 digits in every parameter and standard error: tg-fit {tg_good} of {runs}, curve_fit {sp_good} of {runs}")
    print(f"tg-fit with 6 digits in every parameter and 4 in every standard error: {tg6} of {runs}")
    _, vwall, vcpu = timed(lambda: subprocess.run([tgfit, "--version"], capture_output=True))
    worst = max(walls)
    print(f"tg-fit whole process, wall: {sum(w < 0.020 for w, _, _ in walls)} of {runs} runs under 20 ms, worst "
          f"{worst[0] * 1e3:.1f} ms ({worst[1]} start {worst[2]}), median {statistics.median(w for w, _, _ in walls) * 1e3:.1f} ms;"
          f" start-up alone (tg-fit --version) {vwall * 1e3:.1f} ms")
    print(f"tg-fit whole process, CPU: {sum(c < 0.020 for c in cpus)} of {runs} runs under 20 ms, worst "
          f"{max(cpus) * 1e3:.1f} ms, median {statistics.median(cpus) * 1e3:.1f} ms; start-up alone {vcpu * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
