#!/usr/bin/python3
"""PyTorch's reference for tg-check (bench/README.md, "tg-check replayed"):
torch.autograd.gradcheck (slow mode, PyTorch's defaults) of
tanh(x * y) + exp(x) on random f64 x, y of --shape, one thread; prints the
median time of --runs calls after a warm-up, in ms. --sum checks the sum."""
import argparse
import statistics
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--shape", default="20,20")
p.add_argument("--runs", type=int, default=3)
p.add_argument("--sum", action="store_true")
a = p.parse_args()
torch.set_num_threads(1)
shape = [int(s) for s in a.shape.split(",")]
g = torch.Generator().manual_seed(0)
x = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
y = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)


def f(x, y):
    r = torch.tanh(x * y) + torch.exp(x)
    return r.sum() if a.sum else r


assert torch.autograd.gradcheck(f, (x, y))
times = []
for _ in range(a.runs):
    t0 = time.perf_counter()
    torch.autograd.gradcheck(f, (x, y))
    times.append((time.perf_counter() - t0) * 1e3)
print(f"median_ms={statistics.median(times):.3f}")
