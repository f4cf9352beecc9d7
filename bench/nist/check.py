#!/usr/bin/env python3
"""Checks the transcription of every problem in problems.tsv against NIST's own figures:
the residual sum of squares at the certified values against the certified RSS (catches a typo in the data or
in the values), and the standard errors sqrt(diag((J'J)^-1) * RSS/dof) at the certified values against the
certified standard deviations (catches a typo in those). Exit 1 if any problem falls short.
Where the certified RSS is far below what 11-digit certified values can reproduce (Lanczos1: data generated
without noise, RSS 1.4e-25), the RSS at the certified values must instead lie within the bound that rounding
each value to 11 digits explains, sum_i (sum_k |J_ik| * 5e-11 * |b_k|)^2; a typo in the data exceeds it by
many orders of magnitude."""
import sys

import numpy as np

import nist


def jacobian(f, cols, b):
    """Central differences; the step balances truncation and rounding for ~7 correct digits."""
    b = np.asarray(b, dtype=float)
    cols_j = []
    for k in range(len(b)):
        h = 1e-6 * max(abs(b[k]), 1e-12)
        up, down = b.copy(), b.copy()
        up[k] += h
        down[k] -= h
        cols_j.append((f(cols, *up) - f(cols, *down)) / (2 * h))
    return np.column_stack(cols_j)


def main():
    bad = 0
    print(f"{'problem':10} {'n':>4} {'dof':>4} {'RSS at certified':>22} {'certified RSS':>18} {'RSS digits':>10} {'min SE digits':>13}")
    for p in nist.problems():
        f = nist.model(p)
        y = nist.response(p)
        r = y - f(p["columns"], *p["certified"])
        rss = float(np.dot(r, r))
        n = len(y)
        J = jacobian(f, p["columns"], p["certified"])
        rounding = float(np.sum((np.abs(J) @ (5e-11 * np.abs(p["certified"]))) ** 2))
        rss_digits = nist.digits(rss, p["rss"])
        within_rounding = p["rss"] < rounding and rss <= rounding
        cov = np.linalg.inv(J.T @ J) * p["rss"] / p["dof"]
        se = np.sqrt(np.diag(cov))
        se_digits = min(nist.digits(s, c) for s, c in zip(se, p["stderr"]))
        ok = (rss_digits >= 9.5 or within_rounding) and se_digits >= 5 and n - len(p["params"]) == p["dof"]
        bad += not ok
        print(f"{p['name']:10} {n:4d} {p['dof']:4d} {rss:22.12e} {p['rss']:18.10e} {rss_digits:10.1f} {se_digits:13.1f}"
              + ("   (RSS within rounding bound %.1e)" % rounding if within_rounding else "")
              + ("" if ok else "   MISMATCH"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
