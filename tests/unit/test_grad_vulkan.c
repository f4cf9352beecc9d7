/* libgrad on Vulkan tensors: the SPEC §6 examples and a custom function
 * (tg/function.h) whose callbacks run tg_ ops, with the leaves on vulkan:0.
 *
 * Each scenario is a function of the device. It runs on the CPU (the oracle),
 * then on Vulkan; the values it reports (gradients, outputs, expected errors)
 * are compared: float32 to 1e-5 relative, float64 to 1e-12, messages exactly.
 * Both runs are also checked against the known values (a.grad all ones, ...),
 * and every reported tensor must live on the device of its run.
 * A scenario is skipped, with the reason, when a kernel it needs is missing
 * on Vulkan (TT_EDEVICE "the vulkan backend has no kernel for X yet"); every
 * test is skipped when no Vulkan device can be made. The last test fails on
 * any validation-layer message (TG_VULKAN_VALIDATION=1, set by tests/run). */
#include <stdarg.h>
#include <stdlib.h>

#include "check.h"
#include "tg/grad.h"
#include "tg/function.h"
#include "backend/vulkan.h"

static const tt_device VK = {TT_DEVICE_VULKAN, 0};

/* ---- what a scenario reports --------------------------------------------- */
enum { MAX_OUT = 16 };
typedef struct {
    tt_device dev;
    tt_tensor *t[MAX_OUT]; /* reported tensors, copied to the CPU */
    char name[MAX_OUT][48];
    int n;
    char err[MAX_OUT][600]; /* expected errors: "status: message" */
    int nerr;
    tt_status st; /* the first unexpected failure */
    char msg[600];
    char bad[600]; /* the first wrong value or device */
} outs;
static outs *O;

/* Tensors made in a scenario, released after it. */
static tt_tensor *kept[512];
static int nkept;

static void fail_status(void)
{
    if (!O->st) {
        O->st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
        snprintf(O->msg, sizeof O->msg, "%s", tt_last_error());
    }
}

/* Keeps t (released after the scenario); a NULL is the scenario's failure. */
static tt_tensor *K(tt_tensor *t)
{
    if (!t) fail_status();
    else if (nkept < (int)(sizeof kept / sizeof *kept)) kept[nkept++] = t;
    return t;
}
static tt_status S(tt_status st)
{
    if (st) fail_status();
    return st;
}

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
    if (O->bad[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(O->bad, sizeof O->bad, fmt, ap);
    va_end(ap);
}

/* Reports t under name: it must be on the run's device. */
static void report(const char *name, const tt_tensor *t)
{
    if (!t) {
        if (!O->st && !O->bad[0]) snprintf(O->bad, sizeof O->bad, "%s is NULL (%s)", name, tt_last_error());
        return;
    }
    if (tt_device_of(t).type != O->dev.type)
        if (!O->bad[0])
            snprintf(O->bad, sizeof O->bad, "%s is on %s, the run's device is %s", name,
                     tt_device_name(tt_device_of(t)), tt_device_name(O->dev));
    if (O->n >= MAX_OUT) return;
    /* a copy: a CPU tensor moved to the CPU is the same tensor, and gradients accumulate in place */
    O->t[O->n] = tt_device_of(t).type == TT_DEVICE_CPU ? tt_clone(t) : tt_to_device(t, TT_CPU);
    if (!O->t[O->n]) {
        fail_status();
        return;
    }
    snprintf(O->name[O->n], sizeof O->name[0], "%s", name);
    O->n++;
}

/* Reports an expected failure (st != TT_OK) with its message; a success is wrong. */
static void report_error(const char *what, tt_status st)
{
    if (st == TT_OK) {
        if (!O->bad[0]) snprintf(O->bad, sizeof O->bad, "%s succeeded, expected an error", what);
        return;
    }
    if (O->nerr < MAX_OUT)
        snprintf(O->err[O->nerr++], sizeof O->err[0], "%s: status %d: %s", what, (int)st, tt_last_error());
    tt_clear_error();
}

/* t must hold want[] (to tol, relative as |g - w| <= tol (1 + |w|)). */
static void want(const char *name, const tt_tensor *t, const double *w, int64_t n, double tol)
{
    if (!t) return;
    if (tt_numel(t) != n) {
        bad("%s has %lld elements, expected %lld", name, (long long)tt_numel(t), (long long)n);
        return;
    }
    double g[64];
    if (n > 64 || tt_to_host(t, TT_F64, g) != TT_OK) {
        fail_status();
        return;
    }
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(g[i] - w[i]) <= tol * (1 + fabs(w[i])))) {
            bad("%s[%lld] = %.17g, expected %.17g", name, (long long)i, g[i], w[i]);
            return;
        }
}

/* A leaf: made on the CPU (seeded values are the same on both runs), moved to dev. */
static tt_tensor *on(tt_device dev, tt_tensor *cpu)
{
    if (!cpu) return K(NULL);
    tt_tensor *t = tt_to_device(cpu, dev);
    tt_release(cpu);
    return K(t);
}
static tt_tensor *param(tt_tensor *t)
{
    if (t) S(tg_set_requires_grad(t, true));
    return t;
}
static double item(const tt_tensor *t)
{
    double v = NAN;
    if (!t || S(tt_item(t, &v))) return NAN;
    return v;
}

/* ---- the scenarios -------------------------------------------------------- */

/* §6 seed 000: a = ones(3,4) requiring grad, b = zeros(3,4), c = a + b, d = c.sum(); d.backward() */
static void sc_add_sum(tt_device dev)
{
    int64_t s[2] = {3, 4};
    tt_tensor *a = param(K(tt_ones(2, s, TT_F32, dev))), *b = K(tt_zeros(2, s, TT_F32, dev));
    tt_tensor *c = K(tg_add(a, b)), *d = K(tg_sum(c));
    if (!d) return;
    want("d", d, (double[]){12}, 1, 0);
    if (S(tg_backward(d, NULL, false, false))) return;
    double ones[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    want("a.grad", tg_get_grad(a), ones, 12, 0);
    report("c", c);
    report("d", d);
    report("a.grad", tg_get_grad(a));
}

/* y = x**2 * exp(x) on randn(3,4); y.backward(ones) == 2x exp(x) + x**2 exp(x) */
static void sc_x2_exp(tt_device dev)
{
    tt_generator g = {1000, 0};
    tt_tensor *x = param(on(dev, tt_randn(2, (int64_t[]){3, 4}, TT_F32, TT_CPU, &g)));
    tt_tensor *y = K(tg_mul(K(tg_pow_scalar(x, 2)), K(tg_exp(x))));
    if (!y) return;
    if (S(tg_backward(y, K(tt_ones_like(y)), false, false))) return;
    /* 2x e^x + x^2 e^x, without autograd, on the CPU in float64 */
    double xv[12], w[12];
    if (S(tt_to_host(x, TT_F64, xv))) return;
    for (int i = 0; i < 12; i++) w[i] = (2 * xv[i] + xv[i] * xv[i]) * exp(xv[i]);
    want("x.grad", tg_get_grad(x), w, 12, 1e-5);
    report("y", y);
    report("x.grad", tg_get_grad(x));
}

/* x = ones(1); b, w = rand(1) requiring grad; z = w * x + b; z.backward(retain_graph=True) twice,
 * w.grad 1 then 2; a third backward fails (the saved x is freed) */
static void sc_wx_b(tt_device dev)
{
    tt_generator g = {7, 0};
    tt_tensor *x = K(tt_ones(1, (int64_t[]){1}, TT_F32, dev));
    tt_tensor *b = param(on(dev, tt_rand(1, (int64_t[]){1}, TT_F32, TT_CPU, &g)));
    tt_tensor *w = param(on(dev, tt_rand(1, (int64_t[]){1}, TT_F32, TT_CPU, &g)));
    tt_tensor *y = K(tg_mul(w, x)), *z = K(tg_add(y, b));
    if (!z) return;
    if (S(tg_backward(z, NULL, true, false))) return;
    want("w.grad (1st)", tg_get_grad(w), (double[]){1}, 1, 0);
    report("w.grad (1st)", tg_get_grad(w));
    if (S(tg_backward(z, NULL, false, false))) return;
    want("w.grad (2nd)", tg_get_grad(w), (double[]){2}, 1, 0);
    want("b.grad (2nd)", tg_get_grad(b), (double[]){2}, 1, 0);
    report("z", z);
    report("w.grad (2nd)", tg_get_grad(w));
    report("b.grad (2nd)", tg_get_grad(b));
    report_error("third backward", tg_backward(z, NULL, false, false));
    want("w.grad (after)", tg_get_grad(w), (double[]){2}, 1, 0);
}

/* x = [5] requiring grad, y = x**2: grad(y, x, create_graph) = 10, grad of that = 2 */
static void sc_double_grad(tt_device dev)
{
    tt_tensor *x = param(K(tt_full(1, (int64_t[]){1}, 5, TT_F32, dev)));
    tt_tensor *y = K(tg_pow_scalar(x, 2)), *gx = NULL, *ggx = NULL;
    if (!y) return;
    if (S(tg_autograd_grad(1, &y, NULL, 1, &x, false, true, false, &gx))) return;
    K(gx);
    want("dy/dx", gx, (double[]){10}, 1, 0);
    if (!gx || !tg_grad_fn(gx)) bad("dy/dx has no grad_fn");
    if (S(tg_autograd_grad(1, &gx, NULL, 1, &x, false, false, false, &ggx))) return;
    K(ggx);
    want("d2y/dx2", ggx, (double[]){2}, 1, 0);
    report("dy/dx", gx);
    report("d2y/dx2", ggx);
}

/* result = 1; for ii in arange(-2, 4).float(): if ii > 0: result = ii * result; x.grad == [0,0,0,6,3,2] */
static void sc_prod_of_positives(tt_device dev)
{
    tt_tensor *x = param(K(tt_arange(-2, 4, 1, TT_F32, dev)));
    tt_tensor *result = K(tt_scalar(1, TT_F32, dev));
    for (int64_t i = 0; i < 6 && result; i++) {
        tt_tensor *ii = K(tg_select(x, 0, i));
        if (item(ii) > 0) result = K(tg_mul(ii, result));
    }
    if (!result) return;
    want("result", result, (double[]){6}, 1, 0);
    if (S(tg_backward(result, NULL, false, false))) return;
    want("x.grad", tg_get_grad(x), (double[]){0, 0, 0, 6, 3, 2}, 6, 0);
    report("result", result);
    report("x.grad", tg_get_grad(x));
}

/* the same with where and prod: torch.where(x > 0, x, ones(6)).prod() */
static void sc_prod_where(tt_device dev)
{
    tt_tensor *x = param(K(tt_arange(-2, 4, 1, TT_F32, dev)));
    tt_tensor *zero = K(tt_scalar(0, TT_F32, dev));
    tt_tensor *p = K(tg_prod(K(tg_where(K(tg_binary(TT_GT, x, zero)), x, K(tt_ones_like(x))))));
    if (!p) return;
    want("p", p, (double[]){6}, 1, 0);
    if (S(tg_backward(p, NULL, false, false))) return;
    want("x.grad", tg_get_grad(x), (double[]){0, 0, 0, 6, 3, 2}, 6, 0);
    report("p", p);
    report("x.grad", tg_get_grad(x));
}

/* §6 seed 001: x = ones(2,2) requiring grad; out = (2 (x+1)^2).mean(); x.grad == x + 1 */
static void sc_seed001_mean(tt_device dev)
{
    tt_tensor *x = param(K(tt_ones(2, (int64_t[]){2, 2}, TT_F32, dev)));
    tt_tensor *y = K(tg_add_scalar(x, 1)), *z = K(tg_mul_scalar(K(tg_mul(y, y)), 2)), *out = K(tg_mean(z));
    if (!out) return;
    want("out", out, (double[]){8}, 1, 0);
    if (S(tg_backward(out, NULL, false, false))) return;
    want("x.grad", tg_get_grad(x), (double[]){2, 2, 2, 2}, 4, 0);
    report("x.grad", tg_get_grad(x));
}

/* ---- a custom function: seed 000's MultiplyAdd and Sigmoid ---------------- */
static tt_tensor *ma_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *wx = tg_mul(in[0], in[1]), *out = wx ? tg_add(wx, in[2]) : NULL;
    tt_release(wx);
    if (out && tg_ctx_save_for_backward(ctx, 2, in) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}
static int ma_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    tt_tensor *w = tg_ctx_saved(ctx, 0), *x = tg_ctx_saved(ctx, 1);
    gi[0] = tg_mul(g, x);
    gi[1] = tg_mul(g, w);
    gi[2] = tg_mul_scalar(g, 1);
    return gi[0] && gi[1] && gi[2] ? 3 : -1;
}
static const tg_function MultiplyAdd = {"MultiplyAdd", ma_forward, ma_backward, false};

static tt_tensor *sig_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *nx = tg_neg(in[0]), *e = nx ? tg_exp(nx) : NULL, *d = e ? tg_add_scalar(e, 1) : NULL;
    tt_tensor *out = d ? tg_scalar_binary(TT_DIV, 1, d) : NULL;
    tt_release(nx);
    tt_release(e);
    tt_release(d);
    if (out && tg_ctx_save_for_backward(ctx, 1, &out) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}
static int sig_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    tt_tensor *o = tg_ctx_saved(ctx, 0);
    if (!o) return -1;
    tt_tensor *one_minus = tg_scalar_binary(TT_SUB, 1, o), *d = one_minus ? tg_mul(o, one_minus) : NULL;
    gi[0] = d ? tg_mul(d, g) : NULL;
    tt_release(one_minus);
    tt_release(d);
    return gi[0] ? 1 : -1;
}
static const tg_function Sigmoid = {"Sigmoid", sig_forward, sig_backward, false};

/* z = MultiplyAdd(w, x, b) in float64; z.backward(ones): w.grad == x, x.grad == w, b.grad == 1 */
static void sc_function_multiply_add(tt_device dev)
{
    tt_generator g = {7, 0};
    int64_t s[] = {5};
    tt_tensor *w = param(on(dev, tt_randn(1, s, TT_F64, TT_CPU, &g)));
    tt_tensor *x = param(on(dev, tt_randn(1, s, TT_F64, TT_CPU, &g)));
    tt_tensor *b = param(on(dev, tt_randn(1, s, TT_F64, TT_CPU, &g)));
    tt_tensor *z = K(tg_function_apply(&MultiplyAdd, 3, (tt_tensor *[]){w, x, b}, NULL));
    if (!z) return;
    if (!tg_grad_fn(z) || strcmp(tg_node_name(tg_grad_fn(z)), "MultiplyAddBackward"))
        bad("z: grad_fn is not MultiplyAddBackward");
    if (S(tg_backward(z, K(tt_ones_like(z)), false, false))) return;
    double wv[5], xv[5], zv[5];
    if (S(tt_to_host(w, TT_F64, wv)) || S(tt_to_host(x, TT_F64, xv))) return;
    for (int i = 0; i < 5; i++) zv[i] = 1;
    want("w.grad", tg_get_grad(w), xv, 5, 0);
    want("x.grad", tg_get_grad(x), wv, 5, 0);
    want("b.grad", tg_get_grad(b), zv, 5, 0);
    report("z", z);
    report("w.grad", tg_get_grad(w));
    report("x.grad", tg_get_grad(x));
    report("b.grad", tg_get_grad(b));
}

/* y = Sigmoid(x) on randn(3,4) float32; y.backward(ones) equals tg_sigmoid's gradient */
static void sc_function_sigmoid(tt_device dev)
{
    tt_generator g = {3, 0};
    tt_tensor *x = param(on(dev, tt_randn(2, (int64_t[]){3, 4}, TT_F32, TT_CPU, &g)));
    tt_tensor *ones = K(tt_ones_like(x));
    tt_tensor *y = K(tg_function_apply(&Sigmoid, 1, &x, NULL));
    if (!y) return;
    if (S(tg_backward(y, ones, false, false))) return;
    tt_tensor *g1 = K(tt_clone(tg_get_grad(x)));
    S(tg_set_grad(x, NULL));
    tt_tensor *y2 = K(tg_sigmoid(x));
    if (!y2 || S(tg_backward(y2, ones, false, false))) return;
    double a[12], b[12];
    if (!g1 || S(tt_to_host(y2, TT_F64, a)) || S(tt_to_host(tg_get_grad(x), TT_F64, b))) return;
    want("Sigmoid(x)", y, a, 12, 1e-6);
    want("x.grad through Sigmoid", g1, b, 12, 1e-6);
    report("Sigmoid(x)", y);
    report("x.grad through Sigmoid", g1);
    report("x.grad through sigmoid", tg_get_grad(x));
}

/* The same Sigmoid, differentiated twice: its backward is made of tg_ ops, so
 * create_graph records it; d2/dx2 sum(Sigmoid(x)) == s (1 - s) (1 - 2 s) */
static void sc_function_double_backward(tt_device dev)
{
    tt_tensor *x = param(on(dev, tt_from_data(1, (int64_t[]){4}, TT_F64, (double[]){-2, -0.5, 0.25, 3}, TT_CPU)));
    tt_tensor *y = K(tg_function_apply(&Sigmoid, 1, &x, NULL)), *gx = NULL, *ggx = NULL;
    if (!y) return;
    tt_tensor *ones = K(tt_ones_like(y));
    if (S(tg_autograd_grad(1, &y, &ones, 1, &x, false, true, false, &gx))) return;
    K(gx);
    tt_tensor *ones2 = K(tt_ones_like(gx));
    if (S(tg_autograd_grad(1, &gx, &ones2, 1, &x, false, false, false, &ggx))) return;
    K(ggx);
    double xs[4] = {-2, -0.5, 0.25, 3}, w1[4], w2[4];
    for (int i = 0; i < 4; i++) {
        double s = 1 / (1 + exp(-xs[i]));
        w1[i] = s * (1 - s);
        w2[i] = s * (1 - s) * (1 - 2 * s);
    }
    want("dy/dx", gx, w1, 4, 1e-12);
    want("d2y/dx2", ggx, w2, 4, 1e-12);
    report("dy/dx", gx);
    report("d2y/dx2", ggx);
}

/* ---- the runner ------------------------------------------------------------- */

static bool vk_missing(tt_status st, const char *msg)
{
    return (st == TT_EDEVICE && strstr(msg, "has no kernel")) || strstr(msg, "on vulkan yet");
}

static void run_on(outs *o, tt_device dev, void (*f)(tt_device))
{
    memset(o, 0, sizeof *o);
    o->dev = dev;
    O = o;
    tt_clear_error();
    bool was = tg_set_grad_enabled(true);
    f(dev);
    tg_set_grad_enabled(was);
    while (nkept) tt_release(kept[--nkept]);
    tt_clear_error();
}

static void free_outs(outs *o)
{
    for (int i = 0; i < o->n; i++) tt_release(o->t[i]);
    o->n = 0;
}

static char no_vk[400];

static void run_scenario(const char *name, void (*f)(tt_device), double tol32, double tol64)
{
    static outs c, v;
    char skip[700] = "";
    check_failed_here = 0;
    run_on(&c, TT_CPU, f);
    if (c.st) FAILF("cpu: status %d \"%s\"", c.st, c.msg);
    if (c.bad[0]) FAILF("cpu: %s", c.bad);
    if (no_vk[0]) {
        snprintf(skip, sizeof skip, "%s", no_vk);
    } else {
        run_on(&v, VK, f);
        if (v.st && vk_missing(v.st, v.msg)) {
            snprintf(skip, sizeof skip, "%s", v.msg);
        } else {
            if (v.st) FAILF("vulkan: status %d \"%s\"", v.st, v.msg);
            if (v.bad[0]) FAILF("vulkan: %s", v.bad);
            if (!v.st) {
                if (v.n != c.n) FAILF("vulkan reported %d tensors, the cpu %d", v.n, c.n);
                for (int i = 0; i < v.n && i < c.n; i++) {
                    const tt_tensor *g = v.t[i], *w = c.t[i];
                    if (g->dtype != w->dtype || g->ndim != w->ndim || tt_numel(g) != tt_numel(w)) {
                        FAILF("%s: dtype or shape differs from the cpu's", c.name[i]);
                        continue;
                    }
                    double tol = g->dtype == TT_F32 ? tol32 : g->dtype == TT_F64 ? tol64 : 0;
                    int64_t n = tt_numel(g);
                    double *a = malloc(sizeof *a * (size_t)(n ? n : 1)), *b = malloc(sizeof *b * (size_t)(n ? n : 1));
                    if (tt_to_host(g, TT_F64, a) || tt_to_host(w, TT_F64, b))
                        FAILF("%s: %s", c.name[i], tt_last_error());
                    else
                        for (int64_t k = 0; k < n; k++)
                            if (!(isnan(a[k]) && isnan(b[k])) && !(fabs(a[k] - b[k]) <= tol * (1 + fabs(b[k])))) {
                                FAILF("%s[%lld] = %.17g on vulkan, %.17g on the cpu", c.name[i], (long long)k, a[k],
                                      b[k]);
                                break;
                            }
                    free(a);
                    free(b);
                }
                if (v.nerr != c.nerr) FAILF("vulkan reported %d errors, the cpu %d", v.nerr, c.nerr);
                for (int i = 0; i < v.nerr && i < c.nerr; i++)
                    if (strcmp(v.err[i], c.err[i])) FAILF("vulkan: \"%s\", cpu: \"%s\"", v.err[i], c.err[i]);
            }
        }
        free_outs(&v);
    }
    free_outs(&c);
    check_count++;
    if (check_failed_here) {
        check_failed_total++;
        printf("not ok %d - %s\n", check_count, name);
    } else if (skip[0]) {
        printf("ok %d - %s # SKIP %s\n", check_count, name, skip);
    } else {
        printf("ok %d - %s\n", check_count, name);
    }
    fflush(stdout);
}
#define SCENARIO(f, tol32, tol64) run_scenario(#f, sc_##f, tol32, tol64)

int main(void)
{
    setenv("TG_VULKAN_DEVICE", "lavapipe", 0); /* meant for lavapipe, as test_vulkan; a set value wins */
    if (!tt_vulkan_available(0)) snprintf(no_vk, sizeof no_vk, "no Vulkan device: %s", tt_last_error());
    tt_clear_error();
    SCENARIO(add_sum, 0, 0);
    SCENARIO(x2_exp, 1e-5, 1e-12);
    SCENARIO(wx_b, 0, 0);
    SCENARIO(double_grad, 0, 0);
    SCENARIO(prod_of_positives, 0, 0);
    SCENARIO(prod_where, 0, 0);
    SCENARIO(seed001_mean, 0, 0);
    SCENARIO(function_multiply_add, 1e-6, 1e-12);
    SCENARIO(function_sigmoid, 1e-5, 1e-12);
    SCENARIO(function_double_backward, 1e-5, 1e-12);
    check_failed_here = 0;
    if (no_vk[0]) {
        check_count++;
        printf("ok %d - no validation-layer messages # SKIP %s\n", check_count, no_vk);
    } else {
        if (tt_vulkan_sync(0) != TT_OK) FAILF("tt_vulkan_sync: %s", tt_last_error());
        tt_vulkan_shutdown(); /* reports leaked objects through the layer */
        long n = tt_vulkan_validation_messages();
        if (n) FAILF("%ld validation messages (see stderr)", n);
        if (!getenv("TG_VULKAN_VALIDATION")) printf("# validation layer not enabled (TG_VULKAN_VALIDATION unset)\n");
        check_count++;
        if (check_failed_here) check_failed_total++;
        printf("%s %d - no validation-layer messages\n", check_failed_here ? "not ok" : "ok", check_count);
    }
    return DONE();
}
