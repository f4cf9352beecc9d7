#!/usr/bin/env python3
"""scipy.optimize.curve_fit (default MINPACK Levenberg-Marquardt) on every problem in problems.tsv from both
NIST starts: per run the correct significant digits of the worst parameter and of the worst standard error
against the certified values (capped at 11), then how many runs reach 4 digits in both."""
import warnings

import numpy as np
from scipy.optimize import curve_fit

import nist


def main():
    runs = good = 0
    print(f"{'problem':10} {'start':>5} {'param digits':>12} {'stderr digits':>13}")
    for p in nist.problems():
        f = nist.model(p)
        y = nist.response(p)
        for start in (1, 2):
            runs += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    b, cov = curve_fit(f, p["columns"], y, p0=p[f"start{start}"], maxfev=100000)
                se = np.sqrt(np.diag(cov))
                pd = min(nist.digits(v, c) for v, c in zip(b, p["certified"]))
                sd = min(nist.digits(v, c) for v, c in zip(se, p["stderr"]))
            except (RuntimeError, ValueError, np.linalg.LinAlgError):
                pd = sd = 0.0
            good += pd >= 4 and sd >= 4
            print(f"{p['name']:10} {start:5d} {pd:12.1f} {sd:13.1f}")
    print(f"total: {good} of {runs} runs reach 4 digits in every parameter and standard error")


if __name__ == "__main__":
    main()
