"""P4 in PyTorch (one thread): one full-batch gradient-descent step of a line
on N f32 points, written as in bench/step.c; the median of R timed steps
after two warm-up steps. Last line "median_ms=X".
  /usr/bin/python3 bench/step.py [-n N] [--runs R]"""
import argparse
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=10000000)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(7)
    x = torch.rand(a.n)
    y = 3 * x + 0.8 + 0.5 * torch.randn(a.n)
    w = torch.tensor(0.5, requires_grad=True)
    b = torch.tensor(0.0, requires_grad=True)
    lr = 0.5
    times = []
    for r in range(a.runs + 2):
        t0 = time.perf_counter()
        loss = ((x * w + b - y) ** 2).mean()
        loss.backward()
        w.data -= lr * w.grad
        b.data -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
        if r >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    print("PyTorch %s: gd step on %d points, median of %d steps %.2f ms; w = %.4f, b = %.4f"
          % (torch.__version__, a.n, a.runs, med, w.item(), b.item()))
    print("median_ms=%.3f" % med)


if __name__ == "__main__":
    main()
