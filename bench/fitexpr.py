"""tg-fit --model 'a*exp(k*x)' --optimizer gd in PyTorch on one thread: full-batch
gradient descent on the mean squared error of y = a*exp(k*x) over (x, y) read
from an HDF5 file written by tg-gen, for bench/fitexpr.sh (row P11).
  /usr/bin/python3 bench/fitexpr.py FILE [--lr LR] [--steps N] [--a0 A] [--k0 K] [--runs R]
With --runs 0 it runs the loop once, as a user's script does (bench/fitexpr.sh
times the whole process, `import torch` included); with R > 0 it times the
loop alone: the median of R runs after a warm-up. The last lines are
"median_ms=X" (the loop; one run with --runs 0), "a=X", "k=X"."""
import argparse
import time

import h5py
import torch


def train(x, y, lr, steps, a0, k0):
    a = torch.tensor(a0, dtype=x.dtype, requires_grad=True)
    k = torch.tensor(k0, dtype=x.dtype, requires_grad=True)
    for _ in range(steps):
        loss = (a * torch.exp(k * x) - y).pow(2).mean()
        loss.backward()
        a.data -= lr * a.grad
        k.data -= lr * k.grad
        a.grad.zero_()
        k.grad.zero_()
    return a.item(), k.item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--a0", type=float, default=1.0)
    p.add_argument("--k0", type=float, default=0.5)
    p.add_argument("--runs", type=int, default=0)
    o = p.parse_args()
    torch.set_num_threads(1)
    with h5py.File(o.file, "r") as f:
        x = torch.from_numpy(f["x"][:])
        y = torch.from_numpy(f["y"][:])
    times = []
    for r in range(max(o.runs, 0) + 1):
        t0 = time.perf_counter()
        a, k = train(x, y, o.lr, o.steps, o.a0, o.k0)
        times.append((time.perf_counter() - t0) * 1e3)
        if o.runs == 0:
            break
    if o.runs > 0:
        times = sorted(times[1:])  # the first run is the warm-up
    n = len(times)
    med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    print("PyTorch %s: %d points, %d steps: loop %.1f ms; a = %.6f, k = %.6f" % (torch.__version__, len(x), o.steps, med, a, k))
    print("median_ms=%.3f" % med)
    print("a=%.17g" % a)
    print("k=%.17g" % k)


if __name__ == "__main__":
    main()
