"""Seed 000's sigmoid comparison in PyTorch on one thread, timed like
bench/sigmoid.c: x = randn(100, 100) requiring grad, ITERS calls of each
variant (forward, then y.backward(ones(x.size())) as in the seed; x.grad
accumulates), the median of RUNS runs after a warm-up run.
  /usr/bin/python3 bench/sigmoid.py [--iters N] [--runs R] [--seed S]
The last lines are "median_ms.VARIANT=X" for bench/sigmoid.sh."""
import argparse
import time

import torch as t
from torch.autograd import Function


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        output = 1 / (1 + t.exp(-x))
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        output, = ctx.saved_tensors
        grad_x = output * (1 - output) * grad_output
        return grad_x


def f_sigmoid(x):
    y = Sigmoid.apply(x)
    y.backward(t.ones(x.size()))


def f_naive(x):
    y = 1 / (1 + t.exp(-x))
    y.backward(t.ones(x.size()))


def f_th(x):
    y = t.sigmoid(x)
    y.backward(t.ones(x.size()))


VARIANTS = [("custom", "Sigmoid.apply(x) (custom Function)", f_sigmoid),
            ("composed", "1/(1+exp(-x)) (composed ops)", f_naive),
            ("builtin", "sigmoid(x) (built-in)", f_th)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    t.set_num_threads(1)
    t.manual_seed(a.seed)
    x = t.randn(100, 100, requires_grad=True)
    grads = []
    for _, _, f in VARIANTS:
        x.grad = None
        f(x)
        grads.append(x.grad.clone())
    worst = max((g - grads[0]).abs().max().item() for g in grads)
    print("PyTorch %s gradients: max |difference| between variants %.3g" % (t.__version__, worst))
    x.grad = None
    medians = []
    for name, what, f in VARIANTS:
        for _ in range(a.iters):  # warm-up
            f(x)
        times = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            for _ in range(a.iters):
                f(x)
            times.append((time.perf_counter() - t0) * 1e3)
        times.sort()
        n = len(times)
        median = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
        medians.append((name, median))
        print("PyTorch %-36s %d calls: median of %d runs %8.3f ms (%.2f us/call; min %.3f, max %.3f)"
              % (what, a.iters, a.runs, median, median * 1e3 / a.iters, times[0], times[-1]))
    for name, median in medians:
        print("median_ms.%s=%.4f" % (name, median))


if __name__ == "__main__":
    main()
