"""Seed 001's loop (full-batch gradient descent on the mean squared error of
y = w*x + b) in PyTorch on one thread, on (x, y) read from an HDF5 file written
by tg-gen, for bench/fit.sh. Only the loop is timed: the median of RUNS runs
after a warm-up, each from the same initial w, b.
  /usr/bin/python3 bench/fit_loop.py FILE [--lr LR] [--steps N] [--w0 W]
                                          [--b0 B] [--runs R]
The loop is the seed's, line for line (/work/shared/seeds/001_*.txt):
matmul(x, w) + b, (y - pred).pow(2).mean(), zero the grads if any, backward,
w.data = w.data - lr * w.grad, b.data = b.data - lr * b.grad; x, y and w in
float32, b a 0-d float64 tensor as in the seed (torch.tensor(0, dtype=float);
a 0-d tensor does not promote the float32 arithmetic).
The last lines are "median_ms=X", "load_ms=X", "w=X", "b=X", and "w64=X",
"b64=X": the same loop in float64 (untimed), a reference for both."""
import argparse
import time

import h5py
import numpy as np
import torch


def train(x, y, lr, steps, w0, b0):
    w = torch.tensor([[w0]], dtype=x.dtype, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True, dtype=float)
    for _ in range(steps):
        y_predict = torch.matmul(x, w) + b
        loss = (y - y_predict).pow(2).mean()
        if w.grad is not None:
            w.grad.data.zero_()
        if b.grad is not None:
            b.grad.data.zero_()
        loss.backward()
        w.data = w.data - lr * w.grad
        b.data = b.data - lr * b.grad
    return w.item(), b.item(), loss.item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--w0", type=float, default=0.5)
    p.add_argument("--b0", type=float, default=0.0)
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    with h5py.File(a.file, "r") as f:
        xs = np.asarray(f["x"][...], dtype=np.float32)
        ys = np.asarray(f["y"][...], dtype=np.float32)
    x = torch.from_numpy(xs).reshape(-1, 1)  # [n, 1] as the seed's torch.rand([500, 1])
    y = torch.from_numpy(ys).reshape(-1, 1)
    load_ms = (time.perf_counter() - t0) * 1e3

    train(x, y, a.lr, a.steps, a.w0, a.b0)  # warm-up
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        w, b, loss = train(x, y, a.lr, a.steps, a.w0, a.b0)
        times.append((time.perf_counter() - t0) * 1e3)
    w64, b64, _ = train(x.double(), y.double(), a.lr, a.steps, a.w0, a.b0)  # reference, untimed
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    print("PyTorch %s: %d points, %d steps, median of %d runs %.2f ms (%.2f us/step), load %.1f ms; "
          "w = %.6f, b = %.6f, loss = %.6g"
          % (torch.__version__, x.shape[0], a.steps, a.runs, median, median * 1e3 / a.steps, load_ms,
             w, b, loss))
    print("median_ms=%.4f" % median)
    print("load_ms=%.4f" % load_ms)
    print("w=%.9g" % w)
    print("b=%.9g" % b)
    print("w64=%.12g" % w64)
    print("b64=%.12g" % b64)


if __name__ == "__main__":
    main()
