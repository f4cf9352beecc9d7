"""Reads bench/nist/problems.tsv and evaluates its models with numpy (shared by check.py and curve_fit.py)."""
import csv
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def floats(text):
    return [float(v) for v in text.split(",")]


def problems():
    with open(os.path.join(HERE, "problems.tsv")) as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        for row in rows:
            row["params"] = row["params"].split(",")
            for key in ("start1", "start2", "certified", "stderr"):
                row[key] = floats(row[key])
            row["rss"] = float(row["rss"])
            row["dof"] = int(row["dof"])
            data = np.genfromtxt(os.path.join(HERE, row["data"]), delimiter=",", names=True)
            row["columns"] = {name: data[name] for name in data.dtype.names}
            yield row


def model(problem):
    """f(columns, *b): the problem's tg-fit expression evaluated by numpy (^ is power)."""
    expr = problem["model"].replace("^", "**")
    env = {"exp": np.exp, "log": np.log, "atan": np.arctan, "cos": np.cos, "sin": np.sin, "pi": np.pi}

    def f(columns, *b):
        scope = dict(env, **columns, **dict(zip(problem["params"], b)))
        return eval(expr, {"__builtins__": {}}, scope)

    return f


def response(problem):
    cols = problem["columns"]
    return eval(problem["response"], {"__builtins__": {}}, dict(cols, log=np.log))


def digits(estimate, certified):
    """Correct significant digits, -log10 of the relative error, capped at 11 (NIST's LRE)."""
    if not np.isfinite(estimate):
        return 0.0
    err = abs(estimate - certified)
    if err == 0:
        return 11.0
    return float(min(11.0, max(0.0, -np.log10(err / abs(certified)))))
