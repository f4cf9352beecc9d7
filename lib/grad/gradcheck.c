/* gradcheck / gradgradcheck: PyTorch 1.13's slow mode
 * (torch/autograd/gradcheck.py: _slow_gradcheck, _check_inputs,
 * _check_analytical_jacobian_attributes, _test_backward_mul_by_grad_output,
 * gradgradcheck's new_func), with every pair reported instead of raising at
 * the first failure. Sparse, complex, forward-AD, batched and
 * undefined-grad checks have no counterpart in tg and are left out. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tensor/capture.h"
#include "tg/gradcheck.h"

void tg_gradcheck_defaults(tg_gradcheck_options *o)
{
    *o = (tg_gradcheck_options){.eps = 1e-6,
                                .atol = 1e-5,
                                .rtol = 1e-3,
                                .nondet_tol = 0.0,
                                .check_grad_dtypes = false,
                                .seed = 0,
                                .replay = false};
}

/* ---- small helpers ------------------------------------------------------ */

static char *dup_str(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

/* Python's repr of a float (shortest round-trip digits; fixed notation for
 * exponents in [-4, 16), else "1e-06"), as PyTorch's f"{nondet_tol}" writes it. */
static void py_float_repr(double v, char *out, size_t len)
{
    if (isnan(v)) {
        snprintf(out, len, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, v < 0 ? "-inf" : "inf");
        return;
    }
    char e[64];
    for (int p = 0; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e: [-]d[.ddd]e[+-]XX */
    bool neg = e[0] == '-';
    char digits[32];
    int nd = 0;
    const char *s = e + neg;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    digits[nd] = 0;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = 0;
    char body[64];
    size_t b = 0;
    if (neg) body[b++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) { /* 0.000ddd */
            body[b++] = '0';
            body[b++] = '.';
            for (int i = 0; i < -exp10 - 1; i++) body[b++] = '0';
            for (int i = 0; i < nd; i++) body[b++] = digits[i];
        } else { /* ddd.ddd, ddd00.0 */
            for (int i = 0; i <= exp10; i++) body[b++] = i < nd ? digits[i] : '0';
            body[b++] = '.';
            if (nd <= exp10 + 1) body[b++] = '0';
            for (int i = exp10 + 1; i < nd; i++) body[b++] = digits[i];
        }
        body[b] = 0;
    } else { /* d.ddde-XX */
        snprintf(body + b, sizeof body - b, "%c%s%se%c%02d", digits[0], nd > 1 ? "." : "", digits + 1,
                 exp10 < 0 ? '-' : '+', abs(exp10));
    }
    size_t n = strlen(body) < len ? strlen(body) : len - 1;
    memcpy(out, body, n);
    out[n] = 0;
}

/* Rounds a value to what a tensor of dtype dt holds. */
static double round_to(tt_dtype dt, double v) { return dt == TT_F32 ? (double)(float)v : v; }

/* The function under test, with its output count checked. */
typedef struct {
    tg_checked_fn_n f;
    void *ctx;
    int n;
    tt_tensor *const *in;
} checked;

static void release_all(int n, tt_tensor **t)
{
    for (int i = 0; i < n; i++) {
        tt_release(t[i]);
        t[i] = NULL;
    }
}

static int call(const checked *c, tt_tensor **outs)
{
    for (int i = 0; i < TG_GRADCHECK_MAX_OUTPUTS; i++) outs[i] = NULL;
    tt_clear_error();
    int k = c->f(c->n, c->in, outs, c->ctx);
    if (k < 0 || k > TG_GRADCHECK_MAX_OUTPUTS) {
        release_all(TG_GRADCHECK_MAX_OUTPUTS, outs);
        if (k >= 0 || tt_last_status() == TT_OK)
            tt_set_error(TT_EINVAL,
                         k < 0 ? "gradcheck: the function failed"
                               : "gradcheck: the function returned more than %d outputs",
                         TG_GRADCHECK_MAX_OUTPUTS);
        return -1;
    }
    for (int i = 0; i < k; i++)
        if (!outs[i]) {
            release_all(TG_GRADCHECK_MAX_OUTPUTS, outs);
            tt_set_error(TT_EINVAL, "gradcheck: the function returned NULL as output %d", i);
            return -1;
        }
    return k;
}

typedef struct {
    tg_checked_fn f;
    void *ctx;
} single;

static int call_single(int n, tt_tensor *const *in, tt_tensor **outs, void *ctx)
{
    const single *s = ctx;
    outs[0] = s->f(n, in, s->ctx);
    return outs[0] ? 1 : -1;
}

/* A writable view of element k (row-major) of t that does not bump t's
 * version counter: PyTorch perturbs through `.data`. */
static tt_tensor *element_view(const tt_tensor *t, int64_t k)
{
    int64_t idx[TT_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = k % t->shape[d];
        k /= t->shape[d];
    }
    tt_tensor *v = tt_untracked_alias(t);
    for (int d = 0; v && d < t->ndim; d++) {
        tt_tensor *s = tt_select(v, 0, idx[d]);
        tt_release(v);
        v = s;
    }
    return v;
}

static bool same_shape(const tt_tensor *a, const tt_tensor *b)
{
    return a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim);
}

static tt_status read_host(const tt_tensor *t, double **out)
{
    int64_t n = tt_numel(t);
    *out = malloc((size_t)(n > 0 ? n : 1) * sizeof **out);
    if (!*out) return tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
    tt_status st = tt_to_host(t, TT_F64, *out);
    if (st != TT_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* ---- the numerical Jacobian --------------------------------------------- */

/* Host Jacobians, one per (diff input, output), [rows = input numel][cols = output numel]. */
typedef struct {
    int nout; /* all outputs of the function */
    int64_t numel_out[TG_GRADCHECK_MAX_OUTPUTS];
    tt_dtype dtype_out[TG_GRADCHECK_MAX_OUTPUTS];
    double **num; /* num[j * nout + o] */
} numerical;

/* Runs f and copies its outputs' values at once: an output may be a view
 * of the input being perturbed (PyTorch clones each output for this). */
/* Replay (opts->replay): the first of a run of like calls (f at perturbed
 * inputs; the backward at one-hot grad_outputs) is captured
 * (tensor/capture.h), and the rest replay its kernels. The call's inputs are
 * changed in place, so the replayed kernels read the new values and rewrite
 * the captured call's results: the same arithmetic as a call, so the same
 * bits. Replay stops, and calls are made, when the capture is refused (an op
 * whose size depends on the data: that call is made again), when the call
 * draws random numbers or writes a tensor made outside it, and from the first
 * replay whose host reads (guards) give other values than the capture's. */
typedef struct {
    bool on; /* still replaying, or about to capture */
    tt__tape *tape;
    int n;
    tt_tensor **kept; /* the captured call's results (entries may be NULL), rewritten by each replay */
} replayer;

static void replayer_stop(replayer *rp)
{
    rp->on = false;
    tt__tape_free(rp->tape);
    rp->tape = NULL;
    if (rp->kept) release_all(rp->n, rp->kept);
    free(rp->kept);
    rp->kept = NULL;
    rp->n = 0;
}

/* Whether the call about to be made is to be captured (capture started). */
static bool replayer_capture_begin(replayer *rp)
{
    if (!rp->on || rp->tape) return false;
    if (tt__capture_begin() == TT_OK) return true;
    tt_clear_error(); /* gradcheck inside a captured step: that capture records the calls */
    replayer_stop(rp);
    return false;
}

/* Ends the capture of a call that returned st with results res[0..n): true
 * when the call ran to its end as a call does (res are its results); false
 * when it must be made again, eagerly, for its true results or error. */
static bool replayer_capture_end(replayer *rp, tt_status st, int n, tt_tensor *const *res)
{
    tt__tape *tape = tt__capture_end(st);
    if (!tape) {
        tt_clear_error();
        replayer_stop(rp);
        return false;
    }
    if (!tt__tape_self_contained(tape) || !(rp->kept = calloc((size_t)n + 1, sizeof *rp->kept))) {
        tt__tape_free(tape);
        replayer_stop(rp);
        return true;
    }
    rp->tape = tape;
    rp->n = n;
    for (int i = 0; i < n; i++) rp->kept[i] = res[i] ? tt_retain(res[i]) : NULL;
    return true;
}

/* One replay: true when it ran (rp->kept hold the results); false when the
 * call is to be made. */
static bool replayer_run(replayer *rp)
{
    if (!rp->tape) return false;
    if (tt__tape_run(rp->tape, NULL) == TT_OK) return true;
    tt_clear_error(); /* self-contained: only the call's own buffers were written */
    replayer_stop(rp);
    return false;
}

/* A call a replayer stands in for: its results in res, their count
 * returned, or -1 with the error set. */
typedef int (*replayable_call)(void *ctx, tt_tensor **res);

/* The call's results in res[0..cap): replayed when a capture of the call is
 * kept; else the call made, captured when the replayer is about to capture,
 * and made again when the capture ended without the call's true results. */
static int replay_or_call(replayer *rp, replayable_call fn, void *ctx, tt_tensor **res, int cap)
{
    if (replayer_run(rp)) {
        for (int i = 0; i < rp->n; i++) res[i] = rp->kept[i] ? tt_retain(rp->kept[i]) : NULL;
        return rp->n;
    }
    if (replayer_capture_begin(rp)) {
        int k = fn(ctx, res);
        if (replayer_capture_end(rp, k >= 0 ? TT_OK : tt_last_status(), k, res)) return k;
        release_all(cap, res);
    }
    return fn(ctx, res);
}

static int call_f(void *c, tt_tensor **outs) { return call(c, outs); }

/* f at the current inputs (replayed or called), its outputs' values read. */
static int evaluate(const checked *c, replayer *rp, tt_tensor **outs, double **vals)
{
    int k = replay_or_call(rp, call_f, (void *)c, outs, TG_GRADCHECK_MAX_OUTPUTS);
    for (int o = 0; o < k; o++)
        if (read_host(outs[o], &vals[o]) != TT_OK) {
            release_all(TG_GRADCHECK_MAX_OUTPUTS, outs);
            return -1;
        }
    return k;
}

/* Perturbs element k of input `in` to orig -/+ eps (in the input's dtype, as
 * `orig - v` on a 0-d tensor does), runs f at both points and writes row k
 * of each output's Jacobian: (f(x+eps) - f(x-eps)) / (2 eps) in the output's
 * dtype. The element is restored bit for bit. */
static tt_status perturb_row(const checked *c, replayer *rp, tt_tensor *in, int64_t k, double eps,
                             tt_tensor *const *ref, double **jac)
{
    tt_tensor *elem = element_view(in, k);
    if (!elem) return tt_last_status();
    double orig;
    tt_status st = tt_item(elem, &orig);
    if (st != TT_OK) {
        tt_release(elem);
        return st;
    }
    double lo = in->dtype == TT_F32 ? (double)((float)orig - (float)eps) : orig - eps;
    double hi = in->dtype == TT_F32 ? (double)((float)orig + (float)eps) : orig + eps;
    tt_tensor *outa[TG_GRADCHECK_MAX_OUTPUTS] = {0}, *outb[TG_GRADCHECK_MAX_OUTPUTS] = {0};
    double *va[TG_GRADCHECK_MAX_OUTPUTS] = {0}, *vb[TG_GRADCHECK_MAX_OUTPUTS] = {0};
    int na = -1, nb = -1;
    if ((st = tt_fill_(elem, lo)) == TT_OK) {
        na = evaluate(c, rp, outa, va);
        if ((st = tt_fill_(elem, hi)) == TT_OK && na >= 0) nb = evaluate(c, rp, outb, vb);
    }
    /* Always restore, keeping the first error. */
    tt_status rs = tt_fill_(elem, orig);
    if (st == TT_OK && (na < 0 || nb < 0)) st = tt_last_status();
    if (st == TT_OK) st = rs;
    tt_release(elem);
    int nout = 0;
    while (nout < TG_GRADCHECK_MAX_OUTPUTS && ref[nout]) nout++;
    if (st == TT_OK && (na != nout || nb != nout))
        st = tt_set_error(TT_EINVAL,
                          "Expected `func` to return the same number of outputs when inputs are "
                          "perturbed by %g, but got %d and %d.",
                          eps, na, nb);
    for (int o = 0; st == TT_OK && o < nout; o++) {
        const tt_tensor *a = outa[o], *b = outb[o];
        if (!same_shape(a, b) || !same_shape(a, ref[o])) {
            st = tt_set_error(TT_EINVAL,
                              "Expected `func` to return outputs with the same shape when inputs are "
                              "perturbed on index %lld by %g.",
                              (long long)k, eps);
            break;
        }
        if (a->dtype != b->dtype || a->dtype != ref[o]->dtype) {
            st = tt_set_error(TT_EINVAL,
                              "Expected `func` to return outputs with the same dtype when inputs are "
                              "perturbed on index %lld by %g, but got: dtypes torch.%s and torch.%s.",
                              (long long)k, eps, tt_dtype_name(a->dtype), tt_dtype_name(b->dtype));
            break;
        }
        int64_t cols = tt_numel(a);
        for (int64_t i = 0; i < cols; i++) {
            double d;
            if (a->dtype == TT_F32) {
                float fd = (float)vb[o][i] - (float)va[o][i];
                d = (double)(fd / (float)(2 * eps));
            } else {
                d = (vb[o][i] - va[o][i]) / (2 * eps);
            }
            jac[o][k * cols + i] = d;
        }
    }
    for (int o = 0; o < TG_GRADCHECK_MAX_OUTPUTS; o++) {
        free(va[o]);
        free(vb[o]);
    }
    release_all(TG_GRADCHECK_MAX_OUTPUTS, outa);
    release_all(TG_GRADCHECK_MAX_OUTPUTS, outb);
    return st;
}

static void numerical_free(numerical *nm, int ndiff)
{
    if (!nm->num) return;
    for (int i = 0; i < ndiff * nm->nout; i++) free(nm->num[i]);
    free(nm->num);
    nm->num = NULL;
}

static tt_status numerical_jacobians(const checked *c, int ndiff, tt_tensor *const *diff, tt_tensor *const *outs,
                                     int nout, const tg_gradcheck_options *o, numerical *nm)
{
    nm->nout = nout;
    nm->num = calloc((size_t)(ndiff * nout) + 1, sizeof *nm->num);
    if (!nm->num) return tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
    tt_tensor *ref[TG_GRADCHECK_MAX_OUTPUTS + 1] = {0};
    for (int o = 0; o < nout; o++) {
        ref[o] = outs[o];
        nm->numel_out[o] = tt_numel(outs[o]);
        nm->dtype_out[o] = outs[o]->dtype;
    }
    replayer rp = {.on = o->replay};
    tt_status st = TT_OK;
    for (int j = 0; st == TT_OK && j < ndiff; j++) {
        int64_t rows = tt_numel(diff[j]);
        for (int k = 0; st == TT_OK && k < nout; k++) {
            size_t n = (size_t)(rows * nm->numel_out[k]);
            if (!(nm->num[j * nout + k] = calloc(n + 1, sizeof(double))))
                st = tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
        }
        for (int64_t k = 0; st == TT_OK && k < rows; k++)
            st = perturb_row(c, &rp, diff[j], k, o->eps, ref, &nm->num[j * nout]);
    }
    replayer_stop(&rp);
    return st;
}

/* ---- the analytical Jacobian -------------------------------------------- */

typedef struct {
    bool sizes_ok, types_ok;
} grad_attrs;

/* Sets element c of the one-hot grad_output go to value. */
static tt_status set_element(tt_tensor *go, int64_t c, double value)
{
    tt_tensor *e = element_view(go, c);
    tt_status st = e ? tt_fill_(e, value) : tt_last_status();
    tt_release(e);
    return st;
}

/* d out / d diff at grad_output go, for replay_or_call. */
typedef struct {
    tt_tensor *out, *go;
    int ndiff;
    tt_tensor *const *diff;
} backward_call;

static int call_backward(void *ctx, tt_tensor **grads)
{
    backward_call *b = ctx;
    return tg_autograd_grad(1, &b->out, &b->go, b->ndiff, b->diff, true, false, true, grads) == TT_OK ? b->ndiff : -1;
}

/* One backward per output element with a one-hot grad_output (PyTorch's
 * _compute_analytical_jacobian_rows): column c of jac[j] is d out[c] / d
 * diff[j], in the input's dtype; an unused input gives a zero column. The
 * one grad_output is moved from element to element, so that the backwards
 * can be replayed (opts->replay). */
static tt_status analytical_jacobian(tt_tensor *out, int ndiff, tt_tensor *const *diff, double **jac, grad_attrs *attrs,
                                     bool replay)
{
    int64_t cols = tt_numel(out);
    tt_tensor **grads = calloc((size_t)ndiff + 1, sizeof *grads), *go = tt_zeros_like(out);
    backward_call bc = {out, go, ndiff, diff};
    replayer rp = {.on = replay};
    tt_status st = !grads ? tt_set_error(TT_ENOMEM, "out of memory in gradcheck") : go ? TT_OK : tt_last_status();
    for (int64_t c = 0; st == TT_OK && c < cols; c++) {
        if (c > 0 && (st = set_element(go, c - 1, 0.0)) != TT_OK) break;
        if ((st = set_element(go, c, 1.0)) != TT_OK) break;
        if (replay_or_call(&rp, call_backward, &bc, grads, ndiff) < 0) st = tt_last_status();
        for (int j = 0; st == TT_OK && j < ndiff; j++) {
            int64_t rows = tt_numel(diff[j]);
            tt_tensor *g = grads[j];
            if (!g) continue; /* calloc'd: a zero column */
            if (!same_shape(g, diff[j])) {
                attrs->sizes_ok = false;
                continue;
            }
            if (g->dtype != diff[j]->dtype) attrs->types_ok = false;
            double *v = NULL;
            if ((st = read_host(g, &v)) != TT_OK) break;
            for (int64_t r = 0; r < rows; r++) jac[j][r * cols + c] = round_to(diff[j]->dtype, v[r]);
            free(v);
        }
        release_all(ndiff, grads);
    }
    replayer_stop(&rp);
    tt_release(go);
    free(grads);
    return st;
}

/* ---- comparison ---------------------------------------------------------- */

/* torch.isclose(a, n, rtol, atol) for one element, in the promoted dtype. */
static bool isclose(double a, double n, bool f32, double atol, double rtol)
{
    if (a == n) return true;
    if (f32) {
        float fa = (float)a, fn = (float)n;
        float err = fabsf(fa - fn), allowed = (float)atol + fabsf((float)rtol * fn);
        return isfinite(err) && err <= allowed;
    }
    double err = fabs(a - n), allowed = atol + fabs(rtol * n);
    return isfinite(err) && err <= allowed;
}

/* ---- the report ------------------------------------------------------------ */

void tg_gradcheck_report_free(tg_gradcheck_report *r)
{
    if (!r) return;
    for (int i = 0; i < r->npairs; i++) {
        tt_release(r->pairs[i].numerical);
        tt_release(r->pairs[i].analytical);
        free(r->pairs[i].message);
    }
    free(r->pairs);
    if (r->grad_outputs) release_all(r->ngrad_outputs, r->grad_outputs);
    free(r->grad_outputs);
    free(r->message);
    free(r);
}

const tg_gradcheck_pair *tg_gradcheck_pair_at(const tg_gradcheck_report *r, int output, int diff_input)
{
    if (!r || output < 0 || output >= r->noutputs || diff_input < 0 || diff_input >= r->ndiff_inputs) return NULL;
    return &r->pairs[output * r->ndiff_inputs + diff_input];
}

/* Records the first failure's message (PyTorch raises at the first). */
static tt_status fail(tg_gradcheck_report *r, const char *msg)
{
    r->passed = false;
    if (r->message) return TT_OK;
    if (!(r->message = dup_str(msg))) return tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
    return TT_OK;
}

/* Fills a pair from its two host Jacobians: errors, the worst element,
 * the tensors, and on failure PyTorch's _get_notallclose_msg. */
static tt_status compare_pair(tg_gradcheck_pair *p, const double *num, tt_dtype num_dt, const double *ana,
                              tt_dtype ana_dt, const tg_gradcheck_options *o)
{
    bool f32 = tt_promote_types(num_dt, ana_dt) == TT_F32;
    int64_t n = p->rows * p->cols;
    double worst = -1;
    p->passed = true;
    p->worst_row = p->worst_col = p->worst_index = -1;
    for (int64_t i = 0; i < n; i++) {
        double a = ana[i], x = num[i];
        if (!isclose(a, x, f32, o->atol, o->rtol)) p->passed = false;
        double abs_err = a == x ? 0 : fabs(a - x);
        double rel_err = a == x ? 0 : x == 0 ? INFINITY : abs_err / fabs(x);
        double allowed = o->atol + o->rtol * fabs(x);
        double score = isnan(abs_err) ? INFINITY : abs_err == 0 ? 0 : allowed > 0 ? abs_err / allowed : INFINITY;
        if (isnan(abs_err)) abs_err = rel_err = NAN;
        /* a NaN maximum sticks, as torch's max does */
        if (!isnan(p->max_abs_err) && (isnan(abs_err) || abs_err > p->max_abs_err)) p->max_abs_err = abs_err;
        if (!isnan(p->max_rel_err) && (isnan(rel_err) || rel_err > p->max_rel_err)) p->max_rel_err = rel_err;
        if (score > worst) {
            worst = score;
            p->worst_index = i;
            p->worst_row = i / p->cols;
            p->worst_col = i % p->cols;
            p->worst_numerical = x;
            p->worst_analytical = a;
            p->worst_abs_err = abs_err;
            p->worst_rel_err = rel_err;
        }
    }
    int64_t shape[2] = {p->rows, p->cols};
    tt_tensor *nt = tt_from_data(2, shape, TT_F64, num, TT_CPU), *at = tt_from_data(2, shape, TT_F64, ana, TT_CPU);
    p->numerical = nt ? tt_cast(nt, num_dt) : NULL;
    p->analytical = at ? tt_cast(at, ana_dt) : NULL;
    tt_release(nt);
    tt_release(at);
    if (!p->numerical || !p->analytical) return tt_last_status();
    if (p->passed) return TT_OK;
    char *ns = tt_format(p->numerical), *as = tt_format(p->analytical);
    tt_status st = TT_OK;
    if (!ns || !as) {
        st = tt_last_status();
    } else {
        const char *fmt = "Jacobian mismatch for output %d with respect to input %d,\nnumerical:%s\nanalytical:%s\n";
        int len = snprintf(NULL, 0, fmt, p->output, p->diff_input, ns, as);
        if (!(p->message = malloc((size_t)len + 1))) st = tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
        else snprintf(p->message, (size_t)len + 1, fmt, p->output, p->diff_input, ns, as);
    }
    free(ns);
    free(as);
    return st;
}

/* ---- gradcheck ---------------------------------------------------------------- */

/* PyTorch's _check_inputs: warn for non-double inputs, refuse stride-0 ones
 * and the case where nothing requires grad. */
static tt_status check_inputs(int n, tt_tensor *const *in, int *ndiff)
{
    *ndiff = 0;
    for (int i = 0; i < n; i++) {
        if (!in[i]) return tt_set_error(TT_EINVAL, "gradcheck: input %d is NULL", i);
        if (!tg_requires_grad(in[i])) continue;
        if (in[i]->dtype != TT_F64)
            tg_warn(
                "Input #%d requires gradient and is not a double precision floating point. This check will "
                "likely fail if all the inputs are not of double precision floating point.",
                i);
        for (int d = 0; d < in[i]->ndim; d++)
            if (in[i]->strides[d] <= 0 && in[i]->shape[d] > 1)
                return tt_set_error(TT_EINVAL,
                                    "The %dth input has a dimension with stride 0. gradcheck only "
                                    "supports inputs that are non-overlapping to be able to compute the "
                                    "numerical gradients correctly. You should call .contiguous on the "
                                    "input before passing it to gradcheck.",
                                    i);
        (*ndiff)++;
    }
    if (!*ndiff)
        return tt_set_error(TT_EINVAL,
                            "gradcheck expects at least one input tensor to require gradient, but none "
                            "of the them have requires_grad=True.");
    return TT_OK;
}

/* _test_backward_mul_by_grad_output: zero grad_outputs must give zero
 * gradients of the input's dtype and size. */
static tt_status check_zero_grad(tg_gradcheck_report *r, int nout, tt_tensor *const *outs, int ndiff,
                                 tt_tensor *const *diff)
{
    tt_tensor *zeros[TG_GRADCHECK_MAX_OUTPUTS] = {0};
    tt_tensor **grads = calloc((size_t)ndiff + 1, sizeof *grads);
    tt_status st = grads ? TT_OK : tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
    for (int o = 0; st == TT_OK && o < nout; o++)
        if (!(zeros[o] = tt_zeros_like(outs[o]))) st = tt_last_status();
    if (st == TT_OK && nout > 0) st = tg_autograd_grad(nout, outs, zeros, ndiff, diff, false, false, true, grads);
    const char *msg = NULL;
    for (int j = 0; st == TT_OK && j < ndiff && !msg; j++) {
        tt_tensor *g = grads[j];
        if (!g) continue;
        double *v = NULL;
        if ((st = read_host(g, &v)) != TT_OK) break;
        for (int64_t i = 0; i < tt_numel(g) && !msg; i++)
            if (v[i] != 0) msg = "backward not multiplied by grad_output";
        free(v);
        if (!msg && g->dtype != diff[j]->dtype) msg = "grad is incorrect type";
        if (!msg && !same_shape(g, diff[j])) msg = "grad is incorrect size";
    }
    if (grads) release_all(ndiff, grads);
    free(grads);
    release_all(TG_GRADCHECK_MAX_OUTPUTS, zeros);
    r->zero_grad_ok = st == TT_OK && !msg;
    if (st == TT_OK && msg) st = fail(r, msg);
    return st;
}

static tt_status run_gradcheck(const checked *c, const tg_gradcheck_options *opts, tg_gradcheck_report **out)
{
    *out = NULL;
    tg_gradcheck_options o;
    if (opts) o = *opts;
    else tg_gradcheck_defaults(&o);
    if (c->n < 0 || (c->n > 0 && !c->in)) return tt_set_error(TT_EINVAL, "gradcheck: bad inputs");
    int ndiff;
    tt_status st = check_inputs(c->n, c->in, &ndiff);
    if (st != TT_OK) return st;

    tg_gradcheck_report *r = calloc(1, sizeof *r);
    tt_tensor **diff = calloc((size_t)ndiff + 1, sizeof *diff);
    int *diff_pos = calloc((size_t)ndiff + 1, sizeof *diff_pos);
    tt_tensor *outs[TG_GRADCHECK_MAX_OUTPUTS] = {0}, *douts[TG_GRADCHECK_MAX_OUTPUTS] = {0};
    numerical nm = {0};
    double **ana1 = NULL, **ana2 = NULL;
    int nall = 0, nd = 0;
    if (!r || !diff || !diff_pos) {
        st = tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
        goto done;
    }
    r->passed = true;
    r->options = o;
    r->ninputs = c->n;
    r->ndiff_inputs = ndiff;
    r->reentrant = true;
    for (int i = 0, j = 0; i < c->n; i++)
        if (tg_requires_grad(c->in[i])) {
            diff[j] = c->in[i];
            diff_pos[j++] = i;
        }

    if ((nall = call(c, outs)) < 0) {
        st = tt_last_status();
        goto done;
    }
    int dout_pos[TG_GRADCHECK_MAX_OUTPUTS];
    for (int k = 0; k < nall; k++)
        if (tg_requires_grad(outs[k])) {
            dout_pos[nd] = k;
            douts[nd++] = outs[k];
        }
    r->noutputs = nd;

    if ((st = numerical_jacobians(c, ndiff, diff, outs, nall, &o, &nm)) != TT_OK) goto done;

    if (nd == 0) {
        /* _check_no_differentiable_outputs: then the function must be constant. */
        for (int j = 0; j < ndiff; j++)
            for (int k = 0; k < nall; k++) /* integer outputs get no Jacobian in PyTorch */
                for (int64_t i = 0; tt_dtype_is_floating(nm.dtype_out[k]) && i < tt_numel(diff[j]) * nm.numel_out[k];
                     i++)
                    if (nm.num[j * nall + k][i] != 0) {
                        st = fail(r, "Numerical gradient for function expected to be zero");
                        goto done;
                    }
        r->zero_grad_ok = true;
        goto done;
    }

    r->npairs = nd * ndiff;
    ana1 = calloc((size_t)ndiff + 1, sizeof *ana1);
    ana2 = calloc((size_t)ndiff + 1, sizeof *ana2);
    if (!(r->pairs = calloc((size_t)r->npairs, sizeof *r->pairs)) || !ana1 || !ana2) {
        r->npairs = 0;
        st = tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
        goto done;
    }
    for (int oi = 0; oi < nd; oi++) {
        int64_t cols = tt_numel(douts[oi]);
        for (int j = 0; j < ndiff; j++) {
            free(ana1[j]);
            free(ana2[j]);
            size_t n = (size_t)(tt_numel(diff[j]) * cols) + 1;
            ana1[j] = calloc(n, sizeof(double));
            ana2[j] = calloc(n, sizeof(double));
            if (!ana1[j] || !ana2[j]) {
                st = tt_set_error(TT_ENOMEM, "out of memory in gradcheck");
                goto done;
            }
        }
        /* Everything twice, to catch nondeterminism ("reentrancy"). */
        grad_attrs attrs = {true, true};
        if ((st = analytical_jacobian(douts[oi], ndiff, diff, ana1, &attrs, o.replay)) != TT_OK) goto done;
        if ((st = analytical_jacobian(douts[oi], ndiff, diff, ana2, &attrs, o.replay)) != TT_OK) goto done;
        bool reentrant = true;
        for (int j = 0; j < ndiff; j++) {
            /* (j1 - j2).abs().max() > nondet_tol: a NaN maximum compares false */
            double m = 0;
            bool has_nan = false;
            for (int64_t i = 0; i < tt_numel(diff[j]) * cols; i++) {
                double d = fabs(ana1[j][i] - ana2[j][i]);
                if (isnan(d)) has_nan = true;
                else if (d > m) m = d;
            }
            if (m > r->nondet_max) r->nondet_max = m;
            if (!has_nan && tt_numel(diff[j]) * cols != 0 && m > o.nondet_tol) reentrant = false;
        }
        if (!attrs.types_ok && o.check_grad_dtypes && (st = fail(r, "Gradient has dtype mismatch")) != TT_OK) goto done;
        if (!attrs.sizes_ok && (st = fail(r, "Analytical gradient has incorrect size")) != TT_OK) goto done;
        if (!reentrant) {
            r->reentrant = false;
            char tol[64], msg[512];
            py_float_repr(o.nondet_tol, tol, sizeof tol);
            /* PyTorch 1.13's words, its missing space after "gradient." included. */
            snprintf(msg, sizeof msg,
                     "Backward is not reentrant, i.e., running backward with same input and "
                     "grad_output multiple times gives different values, although analytical "
                     "gradient matches numerical gradient.The tolerance for nondeterminism was %s.",
                     tol);
            if ((st = fail(r, msg)) != TT_OK) goto done;
        }
        for (int j = 0; j < ndiff; j++) {
            tg_gradcheck_pair *p = &r->pairs[oi * ndiff + j];
            p->output = oi;
            p->input = diff_pos[j];
            p->diff_input = j;
            p->rows = tt_numel(diff[j]);
            p->cols = cols;
            int k = dout_pos[oi];
            if ((st = compare_pair(p, nm.num[j * nall + k], nm.dtype_out[k], ana1[j], diff[j]->dtype, &o)) != TT_OK)
                goto done;
            if (!p->passed && (st = fail(r, p->message)) != TT_OK) goto done;
        }
    }
    st = check_zero_grad(r, nd, douts, ndiff, diff);

done:
    if (ana1)
        for (int j = 0; j < ndiff; j++) free(ana1[j]);
    if (ana2)
        for (int j = 0; j < ndiff; j++) free(ana2[j]);
    free(ana1);
    free(ana2);
    numerical_free(&nm, ndiff);
    release_all(TG_GRADCHECK_MAX_OUTPUTS, outs);
    free(diff);
    free(diff_pos);
    if (st != TT_OK) {
        tg_gradcheck_report_free(r);
        return st;
    }
    *out = r;
    return TT_OK;
}

tt_status tg_gradcheck_n(tg_checked_fn_n f, void *ctx, int ninputs, tt_tensor *const *inputs,
                         const tg_gradcheck_options *opts, tg_gradcheck_report **report)
{
    if (!report) return tt_set_error(TT_EINVAL, "gradcheck: report must not be NULL");
    *report = NULL;
    if (!f) return tt_set_error(TT_EINVAL, "gradcheck: the function must not be NULL");
    checked c = {f, ctx, ninputs, inputs};
    return run_gradcheck(&c, opts, report);
}

tt_status tg_gradcheck(tg_checked_fn f, void *ctx, int ninputs, tt_tensor *const *inputs,
                       const tg_gradcheck_options *opts, tg_gradcheck_report **report)
{
    if (!f) {
        if (report) *report = NULL;
        return tt_set_error(TT_EINVAL, "gradcheck: the function must not be NULL");
    }
    single s = {f, ctx};
    return tg_gradcheck_n(call_single, &s, ninputs, inputs, opts, report);
}

/* ---- gradgradcheck ------------------------------------------------------------- */

/* gradgradcheck's new_func: (inputs..., grad_outputs...) -> the gradients of
 * f's differentiable outputs, contracted with grad_outputs, with respect to
 * the inputs that require grad, with create_graph so that they are
 * differentiable; unused inputs' gradients are dropped. */
typedef struct {
    checked user;
    int ninputs, ngrad;
} gradgrad;

static int gradgrad_fn(int n, tt_tensor *const *args, tt_tensor **grads_out, void *ctx)
{
    const gradgrad *g = ctx;
    if (n != g->ninputs + g->ngrad) {
        tt_set_error(TT_EINVAL, "gradgradcheck: expected %d arguments, got %d", g->ninputs + g->ngrad, n);
        return -1;
    }
    checked user = g->user;
    user.n = g->ninputs;
    user.in = args;
    tt_tensor *outs[TG_GRADCHECK_MAX_OUTPUTS];
    int nall = call(&user, outs);
    if (nall < 0) return -1;
    tt_tensor *douts[TG_GRADCHECK_MAX_OUTPUTS];
    tt_tensor *diff[TG_GRADCHECK_MAX_OUTPUTS], *grads[TG_GRADCHECK_MAX_OUTPUTS] = {0};
    int nd = 0, ndiff = 0, k = -1;
    for (int i = 0; i < nall; i++)
        if (tg_requires_grad(outs[i])) douts[nd++] = outs[i];
    for (int i = 0; i < g->ninputs; i++)
        if (tg_requires_grad(args[i])) {
            if (ndiff == TG_GRADCHECK_MAX_OUTPUTS) {
                ndiff++;
                break;
            }
            diff[ndiff++] = args[i];
        }
    if (nd != g->ngrad)
        tt_set_error(TT_EINVAL,
                     "gradgradcheck: the function has %d outputs that require grad but %d grad_outputs "
                     "were given",
                     nd, g->ngrad);
    else if (ndiff > TG_GRADCHECK_MAX_OUTPUTS)
        tt_set_error(TT_EINVAL, "gradgradcheck: more than %d inputs require grad", TG_GRADCHECK_MAX_OUTPUTS);
    else if (nd == 0 || tg_autograd_grad(nd, douts, args + g->ninputs, ndiff, diff, true, true, true, grads) == TT_OK) {
        k = 0;
        for (int i = 0; i < ndiff; i++)
            if (grads[i]) grads_out[k++] = grads[i];
    }
    release_all(nall, outs);
    return k;
}

tt_status tg_gradgradcheck_n(tg_checked_fn_n f, void *ctx, int ninputs, tt_tensor *const *inputs,
                             tt_tensor *const *grad_outputs, const tg_gradcheck_options *opts,
                             tg_gradcheck_report **report)
{
    if (!report) return tt_set_error(TT_EINVAL, "gradgradcheck: report must not be NULL");
    *report = NULL;
    if (!f) return tt_set_error(TT_EINVAL, "gradgradcheck: the function must not be NULL");
    if (ninputs < 0 || (ninputs > 0 && !inputs)) return tt_set_error(TT_EINVAL, "gradgradcheck: bad inputs");
    for (int i = 0; i < ninputs; i++)
        if (!inputs[i]) return tt_set_error(TT_EINVAL, "gradcheck: input %d is NULL", i);
    tg_gradcheck_options o;
    if (opts) o = *opts;
    else tg_gradcheck_defaults(&o);

    gradgrad g = {{f, ctx, ninputs, inputs}, ninputs, 0};
    tt_tensor *outs[TG_GRADCHECK_MAX_OUTPUTS];
    int nall = call(&g.user, outs);
    if (nall < 0) return tt_last_status();
    tt_tensor *gos[TG_GRADCHECK_MAX_OUTPUTS] = {0};
    tt_status st = TT_OK;
    tt_generator gen = {o.seed, 0};
    for (int i = 0; st == TT_OK && i < nall; i++) {
        if (!tg_requires_grad(outs[i])) continue;
        if (grad_outputs) {
            if (!grad_outputs[g.ngrad])
                st = tt_set_error(TT_EINVAL, "gradgradcheck: grad_outputs[%d] is NULL", g.ngrad);
            else {
                gos[g.ngrad] = tt_retain(grad_outputs[g.ngrad]);
                g.ngrad++;
            }
            continue;
        }
        /* make_tensor(low=-1, high=1): high * r + low * (1 - r), r ~ U[0, 1). */
        tt_dtype dt = tt_dtype_is_floating(outs[i]->dtype) ? outs[i]->dtype : TT_F64;
        tt_tensor *u = tt_rand(outs[i]->ndim, outs[i]->shape, dt, tt_device_of(outs[i]), &gen);
        tt_tensor *one_minus = u ? tt_scalar_binary(TT_SUB, 1.0, u) : NULL;
        tt_tensor *v = one_minus ? tt_sub(u, one_minus) : NULL;
        tt_release(u);
        tt_release(one_minus);
        if (!v || (st = tg_set_requires_grad(v, true)) != TT_OK) {
            st = tt_last_status();
            tt_release(v);
            break;
        }
        gos[g.ngrad++] = v;
    }
    release_all(nall, outs);

    tt_tensor **args = calloc((size_t)(ninputs + g.ngrad) + 1, sizeof *args);
    if (st == TT_OK && !args) st = tt_set_error(TT_ENOMEM, "out of memory in gradgradcheck");
    if (st == TT_OK) {
        for (int i = 0; i < ninputs; i++) args[i] = inputs[i];
        for (int i = 0; i < g.ngrad; i++) args[ninputs + i] = gos[i];
        checked c = {gradgrad_fn, &g, ninputs + g.ngrad, args};
        st = run_gradcheck(&c, &o, report);
    }
    free(args);
    if (st == TT_OK) {
        tg_gradcheck_report *r = *report;
        r->ngrad_outputs = g.ngrad;
        if (!(r->grad_outputs = calloc((size_t)g.ngrad + 1, sizeof *r->grad_outputs))) {
            st = tt_set_error(TT_ENOMEM, "out of memory in gradgradcheck");
            r->ngrad_outputs = 0;
            tg_gradcheck_report_free(r);
            *report = NULL;
        } else {
            for (int i = 0; i < g.ngrad; i++) r->grad_outputs[i] = tt_retain(gos[i]);
        }
    }
    release_all(TG_GRADCHECK_MAX_OUTPUTS, gos);
    return st;
}

tt_status tg_gradgradcheck(tg_checked_fn f, void *ctx, int ninputs, tt_tensor *const *inputs,
                           tt_tensor *const *grad_outputs, const tg_gradcheck_options *opts,
                           tg_gradcheck_report **report)
{
    if (!f) {
        if (report) *report = NULL;
        return tt_set_error(TT_EINVAL, "gradgradcheck: the function must not be NULL");
    }
    single s = {f, ctx};
    return tg_gradgradcheck_n(call_single, &s, ninputs, inputs, grad_outputs, opts, report);
}
