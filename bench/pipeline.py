"""P5's Python side: what `tg-gen line -n 500 --slope 2 --intercept 3 --noise 1
| tg-fit --format text` does, written as one torch script: 500 points
y = 2x + 3 + N(0,1), x ~ U(0,1); least-squares fit of w, b by Newton steps
with autograd's gradient and Hessian of the mean squared error (tg-fit's
default descent on this problem converges in two); standard errors from the
residual variance; a text report. Timed from outside, start to exit.
  /usr/bin/python3 bench/pipeline.py"""
import torch


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    n = 500
    x = torch.rand(n)
    y = 2 * x + 3 + torch.randn(n)
    p = torch.tensor([1.0, 0.0], requires_grad=True)

    def loss_of(q):
        return ((q[0] * x + q[1] - y) ** 2).mean()

    for step in range(1, 51):
        loss = loss_of(p)
        (g,) = torch.autograd.grad(loss, p)
        h = torch.autograd.functional.hessian(loss_of, p.detach())
        delta = torch.linalg.solve(h, g)
        with torch.no_grad():
            p -= delta
        if float(g @ delta) < 1e-12:
            break
    w, b = p.detach().tolist()
    r = w * x + b - y
    sse = float((r ** 2).sum())
    X = torch.stack([x, torch.ones(n)], 1).double()
    cov = torch.linalg.inv(X.T @ X) * (sse / (n - 2))
    se = cov.diagonal().sqrt().tolist()
    print("Fit of y = w*x + b to %d points (torch)" % n)
    print("w = %.6g +/- %.3g" % (w, se[0]))
    print("b = %.6g +/- %.3g" % (b, se[1]))
    print("loss %.6g, %d steps" % (sse / n, step))


if __name__ == "__main__":
    main()
