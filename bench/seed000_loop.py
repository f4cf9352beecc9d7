"""Seed 000's linear regression loop in PyTorch on one thread, timed like
bench/seed000_loop.c: the median of RUNS runs after a warm-up.
  /usr/bin/python3 bench/seed000_loop.py [--steps N] [--runs R] [--seed S]
The last line is "median_ms=X" for bench/autograd.sh."""
import argparse
import time

import torch as t


def get_fake_data(batch_size=8):
    x = t.rand(batch_size, 1) * 20
    y = x * 2 + (1 + t.randn(batch_size, 1)) * 3
    return x, y


def train(steps, seed):
    t.manual_seed(seed)
    w = t.rand(1, 1, requires_grad=True)
    b = t.zeros(1, 1, requires_grad=True)
    lr = 0.001
    for _ in range(steps):
        x, y = get_fake_data()
        y_pred = x.mm(w) + b.expand_as(y)
        loss = 0.5 * (y_pred - y) ** 2
        loss = loss.sum()
        loss.backward()
        w.data.sub_(lr * w.grad.data)
        b.data.sub_(lr * b.grad.data)
        w.grad.data.zero_()
        b.grad.data.zero_()
    return w.item(), b.item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=1000)
    a = p.parse_args()
    t.set_num_threads(1)
    train(a.steps, a.seed)  # warm-up
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        w, b = train(a.steps, a.seed)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
    print("PyTorch %s: %d steps, median of %d runs %.1f ms (%.2f us/step); w = %.4f, b = %.4f"
          % (t.__version__, a.steps, a.runs, median, median * 1e3 / a.steps, w, b))
    print("median_ms=%.3f" % median)


if __name__ == "__main__":
    main()
