/* tg_fit: models, losses, descent, closed forms and standard errors (tg/fit.h).
 *
 * Layout of a fit:
 *  1. the spec is read: model (line, poly:K, expression), loss, parameters and
 *     their initial values; the data are copied to host doubles and checked;
 *  2. a method runs:
 *     - TG_METHOD_EXACT: closed forms (centred sums for the line, Householder
 *       QR for poly:K, the total-least-squares line for orthogonal);
 *     - TG_OPT_AUTO: damped Newton descent (Levenberg-Marquardt on libgrad's
 *       gradient and Hessian, each step accepted only when the loss falls) in
 *       float64; line and poly with built-in losses on standardized data
 *       (x -> (x - c)/h, y -> (y - ybar)/sy; the line uses sy = h, which keeps
 *       total least squares invariant), mapped back to the user's units;
 *     - explicit optimizers: the seeds' loop on the raw data in spec->dtype:
 *       loss, backward, p.data -= lr * p.grad (or momentum/adam), zero grads;
 *       a line with a squared loss on the CPU takes one fused pass per step
 *       instead (descend_fused; spec->autograd_only keeps the libgrad loop);
 *  3. the report: loss, sse and rms in the user's units (float64), and the
 *     covariance (2 L / dof) H^-1 from libgrad's Hessian (float64, in the
 *     standardized coordinates for line and poly, mapped back exactly).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg/fit.h"
#include "fit/fit_internal.h"

#define MAX_PARAMS 64
#define MAX_POLY 30
#define DEFAULT_STEPS 1000
#define AUTO_STEPS 500
#define AUTO_TOL 1e-12

typedef enum { M_LINE, M_POLY, M_EXPR } model_kind;
typedef enum { L_MSE, L_HALF, L_SSE, L_L1, L_HUBER, L_ORTH, L_EXPR } loss_kind;

typedef struct {
    model_kind mk;
    int K; /* poly degree (1 for the line) */
    int np;
    char *names[MAX_PARAMS];
    const char *model; /* as given, for messages */
    loss_kind lk;
    double delta; /* huber */
    const char *loss_expr;
    tg_env *menv, *lenv; /* expression model / loss environments */
} fctx;

/* A data set as tensors: x, y, optional weights s, and x^k for poly. */
typedef struct {
    int64_t n;
    tt_tensor *x, *y, *s;
    tt_tensor *xp[MAX_POLY + 1];
} fdata;

/* The standardization x -> (x - c)/h, y -> (y - my)/sy. */
typedef struct {
    double c, h, my, sy;
} ftrans;

typedef struct {
    tt_tensor **t;
    int n, cap;
    bool fail;
} arena;

static tt_tensor *keep(arena *a, tt_tensor *t)
{
    if (!t) {
        a->fail = true;
        return NULL;
    }
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 32;
        tt_tensor **p = realloc(a->t, sizeof *p * (size_t)cap);
        if (!p) {
            tt_release(t);
            a->fail = true;
            tt_set_error(TT_ENOMEM, "out of memory");
            return NULL;
        }
        a->t = p, a->cap = cap;
    }
    a->t[a->n++] = t;
    return t;
}
static void arena_clear(arena *a)
{
    for (int i = a->n - 1; i >= 0; i--) tt_release(a->t[i]);
    a->n = 0;
    a->fail = false;
}
static void arena_free(arena *a)
{
    arena_clear(a);
    free(a->t);
    a->t = NULL;
    a->cap = 0;
}

/* ---- names ----------------------------------------------------------- */

const char *tg_stop_reason_name(tg_stop_reason r)
{
    switch (r) {
    case TG_STOP_STEPS: return "steps";
    case TG_STOP_TOL: return "tol";
    case TG_STOP_LOSS_BELOW: return "loss-below";
    case TG_STOP_CALLBACK: return "callback";
    case TG_STOP_EXACT: return "exact";
    case TG_STOP_DIVERGED: return "diverged";
    }
    return "unknown";
}

void tg_fit_spec_defaults(tg_fit_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->method = TG_METHOD_DESCENT;
    spec->optimizer = TG_OPT_AUTO;
    spec->momentum = 0.9;
    spec->dtype = TT_F32;
    spec->device = TT_CPU;
}

void tg_fit_result_free(tg_fit_result *r)
{
    if (!r) return;
    for (int i = 0; i < r->nparams && r->names; i++) free(r->names[i]);
    free(r->names);
    free(r->values);
    free(r->stderrs);
    free(r->cov);
    free(r->history);
    free(r);
}

static void fctx_free(fctx *c)
{
    for (int i = 0; i < c->np; i++) free(c->names[i]);
    tg_env_free(c->menv);
    tg_env_free(c->lenv);
}

/* ---- parsing the model and the loss ----------------------------------- */

static bool is_name_start(char ch) { return isalpha((unsigned char)ch) || ch == '_'; }
static bool is_name_char(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

/* Collects the free names of an expression program: identifiers that are not
 * calls, keyword arguments or assigned names, nor one of `skip`. */
static int free_names(const char *prog, const char *const *skip, char out[][64], int max)
{
    char assigned[MAX_PARAMS][64];
    int na = 0, n = 0;
    /* two passes: assigned names first */
    for (int pass = 0; pass < 2; pass++) {
        const char *p = prog;
        while (*p) {
            if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
                while (isdigit((unsigned char)*p) || *p == '.') p++;
                if (*p == 'e' || *p == 'E') {
                    const char *q = p + 1;
                    if (*q == '+' || *q == '-') q++;
                    if (isdigit((unsigned char)*q)) {
                        p = q;
                        while (isdigit((unsigned char)*p)) p++;
                    }
                }
                continue;
            }
            if (!is_name_start(*p)) {
                p++;
                continue;
            }
            const char *s = p;
            while (is_name_char(*p)) p++;
            size_t len = (size_t)(p - s);
            const char *q = p;
            while (*q == ' ' || *q == '\t') q++;
            bool call = *q == '(';
            bool assign = *q == '=' && q[1] != '=';
            char name[64];
            if (len >= sizeof name) continue;
            memcpy(name, s, len);
            name[len] = 0;
            if (pass == 0) {
                if (assign && na < MAX_PARAMS) snprintf(assigned[na++], 64, "%s", name);
                continue;
            }
            if (call || assign) continue;
            bool skipit = !strcmp(name, "true") || !strcmp(name, "false");
            for (int i = 0; skip && skip[i]; i++) skipit |= !strcmp(name, skip[i]);
            for (int i = 0; i < na; i++) skipit |= !strcmp(name, assigned[i]);
            for (int i = 0; i < n; i++) skipit |= !strcmp(name, out[i]);
            if (!skipit && n < max) snprintf(out[n++], 64, "%s", name);
        }
    }
    return n;
}

static int param_index(const fctx *c, const char *name)
{
    for (int i = 0; i < c->np; i++)
        if (!strcmp(c->names[i], name)) return i;
    return -1;
}

static void param_list(const fctx *c, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < c->np && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", c->names[i]);
}

static tt_status add_param(fctx *c, const char *name)
{
    if (c->np >= MAX_PARAMS)
        return tt_set_error(TT_EUSAGE, "the model '%s' has more than %d parameters", c->model, MAX_PARAMS);
    c->names[c->np] = strdup(name);
    if (!c->names[c->np]) return tt_set_error(TT_ENOMEM, "out of memory");
    c->np++;
    return TT_OK;
}

static bool whole_number(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!*s || !isdigit((unsigned char)*s)) return false;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool is_plain_name(const char *s)
{
    if (!is_name_start(*s)) return false;
    while (*s && (is_name_char(*s) || *s == '-')) s++;
    return !*s;
}

static tt_status prefix_error(const char *prefix)
{
    tt_status st = tt_last_status();
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tt_last_error());
    return tt_set_error(st ? st : TT_ERUNTIME, "%s%s", prefix, msg);
}

static tt_status parse_model(fctx *c, const char *model)
{
    c->model = model;
    if (!strcmp(model, "line")) {
        c->mk = M_LINE, c->K = 1;
        if (add_param(c, "w") || add_param(c, "b")) return tt_last_status();
        return TT_OK;
    }
    if (!strncmp(model, "poly:", 5) || !strcmp(model, "poly")) {
        long K;
        if (!model[4] || !whole_number(model + 5, 0, MAX_POLY, &K))
            return tt_set_error(TT_EUSAGE, "the model 'poly:K' needs a whole degree K from 0 to %d, got '%s'", MAX_POLY,
                                model);
        c->mk = M_POLY, c->K = (int)K;
        for (int k = 0; k <= K; k++) {
            char name[16];
            snprintf(name, sizeof name, "c%d", k);
            if (add_param(c, name)) return tt_last_status();
        }
        return TT_OK;
    }
    if (is_plain_name(model) && strcmp(model, "x"))
        return tt_set_error(TT_EUSAGE,
                            "unknown model '%s' (known: line, poly:K, or an expression over x and named "
                            "parameters such as 'a*exp(k*x)')",
                            model);
    c->mk = M_EXPR;
    if (tg_expr_check(model)) return prefix_error("model: ");
    static const char *const skip[] = {"x", NULL};
    char names[MAX_PARAMS][64];
    int n = free_names(model, skip, names, MAX_PARAMS);
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i], "y") || !strcmp(names[i], "pred"))
            return tt_set_error(TT_EUSAGE,
                                "the model '%s' uses '%s', which names the data (the model is a function of x "
                                "and its parameters)",
                                model, names[i]);
        if (add_param(c, names[i])) return tt_last_status();
    }
    return TT_OK;
}

static const char known_losses[] =
    "known: mse, half-mse, sse, l1, huber[:DELTA], orthogonal, or an expression over pred, y and x";

static tt_status parse_loss(fctx *c, const char *loss)
{
    c->delta = 1;
    if (!strcmp(loss, "mse")) c->lk = L_MSE;
    else if (!strcmp(loss, "half-mse")) c->lk = L_HALF;
    else if (!strcmp(loss, "sse")) c->lk = L_SSE;
    else if (!strcmp(loss, "l1")) c->lk = L_L1;
    else if (!strcmp(loss, "orthogonal")) c->lk = L_ORTH;
    else if (!strcmp(loss, "huber")) c->lk = L_HUBER;
    else if (!strncmp(loss, "huber:", 6)) {
        char *end;
        double d = strtod(loss + 6, &end);
        if (!loss[6] || *end || !(d > 0) || !isfinite(d))
            return tt_set_error(TT_EUSAGE, "huber:DELTA needs a positive number DELTA, got '%s'", loss);
        c->lk = L_HUBER, c->delta = d;
    } else if (is_plain_name(loss) && strcmp(loss, "pred") && strcmp(loss, "y") && strcmp(loss, "x")) {
        return tt_set_error(TT_EUSAGE, "unknown loss '%s' (%s)", loss, known_losses);
    } else {
        if (tg_expr_check(loss)) return prefix_error("loss: ");
        c->lk = L_EXPR, c->loss_expr = loss;
    }
    if (c->lk == L_ORTH && c->mk != M_LINE)
        return tt_set_error(TT_EUSAGE, "the orthogonal loss needs the model 'line' (its parameters w and b), not '%s'",
                            c->model);
    return TT_OK;
}

/* ---- data ------------------------------------------------------------- */

static tt_status host_vector(const tt_tensor *t, const char *what, double **out, int64_t *n)
{
    *out = NULL;
    if (!t) return tt_set_error(TT_EINVAL, "%s is missing", what);
    bool ok = t->ndim == 1 || t->ndim == 0 || (t->ndim == 2 && t->shape[1] == 1);
    if (!ok) {
        char buf[64];
        return tt_set_error(TT_ESHAPE, "%s must be 1-D (N values) or a column (N, 1), got shape %s", what,
                            tt_shape_str(t->ndim, t->shape, buf, sizeof buf));
    }
    if (!tt_dtype_is_floating(t->dtype) && t->dtype != TT_I64)
        return tt_set_error(TT_EDTYPE, "%s must hold numbers, not %s", what, tt_dtype_name(t->dtype));
    *n = tt_numel(t);
    *out = malloc(sizeof **out * (size_t)(*n > 0 ? *n : 1));
    if (!*out) return tt_set_error(TT_ENOMEM, "out of memory reading %s", what);
    tt_status st = tt_to_host(t, TT_F64, *out);
    if (st) {
        free(*out);
        *out = NULL;
    }
    return st;
}

static tt_status check_finite(const double *v, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return tt_set_error(TT_EINVAL, "%s[%lld] is %s (row %lld)", what, (long long)i,
                                isnan(v[i]) ? "NaN"
                                : v[i] > 0  ? "Inf"
                                            : "-Inf",
                                (long long)i + 1);
    return TT_OK;
}

static void fdata_free(fdata *d)
{
    tt_release(d->x);
    tt_release(d->y);
    tt_release(d->s);
    for (int k = 0; k <= MAX_POLY; k++) tt_release(d->xp[k]);
    memset(d, 0, sizeof *d);
}

/* Tensors of dtype dt from host data; idx selects rows (NULL: all n); tr
 * standardizes (NULL: raw). */
static tt_status fdata_make(fdata *d, const fctx *c, const double *x, const double *y, const double *s,
                            const int64_t *idx, int64_t n, const ftrans *tr, tt_dtype dt, tt_device dev)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    double *bx = malloc(sizeof *bx * (size_t)(n > 0 ? n : 1) * 3), *by = bx + n, *bs = by + n;
    if (!bx) return tt_set_error(TT_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        int64_t j = idx ? idx[i] : i;
        bx[i] = tr ? (x[j] - tr->c) / tr->h : x[j];
        by[i] = tr ? (y[j] - tr->my) / tr->sy : y[j];
        bs[i] = s ? s[j] : 1;
    }
    int64_t shape[1] = {n};
    d->x = tt_from_data(1, shape, TT_F64, bx, TT_CPU);
    d->y = tt_from_data(1, shape, TT_F64, by, TT_CPU);
    if (s) d->s = tt_from_data(1, shape, TT_F64, bs, TT_CPU);
    bool ok = d->x && d->y && (!s || d->s);
    if (ok && c->mk == M_POLY)
        for (int k = 1; ok && k <= c->K; k++) {
            for (int64_t i = 0; i < n; i++) by[i] = pow(bx[i], k); /* bx: the (standardized) x */
            d->xp[k] = tt_from_data(1, shape, TT_F64, by, TT_CPU);
            ok = d->xp[k] != NULL;
        }
    free(bx);
    /* cast/move to the working dtype and device */
    tt_tensor **all[MAX_POLY + 4] = {&d->x, &d->y, &d->s};
    int na = 3;
    for (int k = 1; k <= c->K && c->mk == M_POLY; k++) all[na++] = &d->xp[k];
    for (int i = 0; ok && i < na; i++) {
        if (!*all[i]) continue;
        if (dt != TT_F64) {
            tt_tensor *t = tt_cast(*all[i], dt);
            tt_release(*all[i]);
            *all[i] = t;
            if (!t) {
                ok = false;
                break;
            }
        }
        if (dev.type != TT_DEVICE_CPU) {
            tt_tensor *t = tt_to_device(*all[i], dev);
            tt_release(*all[i]);
            *all[i] = t;
            if (!t) {
                ok = false;
                break;
            }
        }
    }
    if (!ok) {
        tt_status st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
        fdata_free(d);
        return st;
    }
    return TT_OK;
}

/* ---- the model and the loss as libgrad graphs ------------------------- */

static tt_tensor *build_pred(fctx *c, fdata *d, tt_tensor *const *P, arena *ar)
{
    switch (c->mk) {
    case M_LINE: {
        tt_tensor *wx = keep(ar, tg_mul(P[0], d->x));
        return wx ? keep(ar, tg_add(wx, P[1])) : NULL;
    }
    case M_POLY: {
        tt_tensor *acc = P[0];
        if (c->K == 0) return keep(ar, tg_expand(P[0], 1, &d->n));
        for (int k = 1; k <= c->K; k++) {
            tt_tensor *term = keep(ar, tg_mul(P[k], d->xp[k]));
            if (!term) return NULL;
            acc = keep(ar, tg_add(acc, term));
            if (!acc) return NULL;
        }
        return acc;
    }
    case M_EXPR: {
        if (tg_env_set(c->menv, "x", d->x)) return NULL;
        for (int i = 0; i < c->np; i++)
            if (tg_env_set(c->menv, c->names[i], P[i])) return NULL;
        tt_tensor *pred = tg_eval(c->menv, c->model);
        if (!pred) {
            prefix_error("model: ");
            return NULL;
        }
        keep(ar, pred);
        int64_t m = tt_numel(pred);
        if (m != d->n && m != 1) {
            tt_set_error(TT_ESHAPE, "the model '%s' gives %lld values for %lld points", c->model, (long long)m,
                         (long long)d->n);
            return NULL;
        }
        return pred;
    }
    }
    return NULL;
}

/* The loss of kind lk (L_EXPR: c's expression); delta for huber. Every tensor
 * made lives in the arena; the loss is returned borrowed. */
static tt_tensor *build_loss(fctx *c, fdata *d, tt_tensor *const *P, loss_kind lk, double delta, arena *ar)
{
    tt_tensor *terms;
    if (lk == L_ORTH) {
        tt_tensor *wx = keep(ar, tg_mul(P[0], d->x));
        tt_tensor *t1 = wx ? keep(ar, tg_sub(wx, d->y)) : NULL;
        tt_tensor *t = t1 ? keep(ar, tg_add(t1, P[1])) : NULL;
        tt_tensor *t2 = t ? keep(ar, tg_pow_scalar(t, 2)) : NULL;
        tt_tensor *w2 = t2 ? keep(ar, tg_pow_scalar(P[0], 2)) : NULL;
        tt_tensor *den = w2 ? keep(ar, tg_add_scalar(w2, 1)) : NULL;
        terms = den ? keep(ar, tg_div(t2, den)) : NULL;
    } else {
        tt_tensor *pred = build_pred(c, d, P, ar);
        if (!pred) return NULL;
        if (lk == L_EXPR) {
            tg_env *e = c->lenv;
            if (tg_env_set(e, "pred", pred) || tg_env_set(e, "y", d->y) || tg_env_set(e, "x", d->x)) return NULL;
            for (int i = 0; i < c->np; i++)
                if (tg_env_set(e, c->names[i], P[i])) return NULL;
            tt_tensor *L = tg_eval(e, c->loss_expr);
            if (!L) {
                prefix_error("loss: ");
                return NULL;
            }
            keep(ar, L);
            if (tt_numel(L) != 1) {
                char buf[64];
                tt_set_error(TT_ESHAPE, "the loss '%s' must give one value, got shape %s (use mean() or sum())",
                             c->loss_expr, tt_shape_str(L->ndim, L->shape, buf, sizeof buf));
                return NULL;
            }
            return L;
        }
        tt_tensor *r = keep(ar, tg_sub(pred, d->y));
        if (!r) return NULL;
        if (lk == L_L1) {
            terms = keep(ar, tg_abs(r));
        } else if (lk == L_HUBER) {
            /* 0.5 q^2 + delta (|r| - q), q = min(|r|, delta) */
            tt_tensor *a = keep(ar, tg_abs(r));
            tt_tensor *q = a ? keep(ar, tg_clamp(a, NAN, delta)) : NULL;
            tt_tensor *q2 = q ? keep(ar, tg_pow_scalar(q, 2)) : NULL;
            tt_tensor *hq = q2 ? keep(ar, tg_mul_scalar(q2, 0.5)) : NULL;
            tt_tensor *aq = hq ? keep(ar, tg_sub(a, q)) : NULL;
            tt_tensor *daq = aq ? keep(ar, tg_mul_scalar(aq, delta)) : NULL;
            terms = daq ? keep(ar, tg_add(hq, daq)) : NULL;
        } else {
            terms = keep(ar, tg_pow_scalar(r, 2));
        }
    }
    if (!terms) return NULL;
    if (d->s) terms = keep(ar, tg_mul(terms, d->s));
    if (!terms) return NULL;
    if (lk == L_SSE) return keep(ar, tg_sum(terms));
    tt_tensor *m = keep(ar, tg_mean(terms));
    if (m && (lk == L_HALF || lk == L_ORTH)) m = keep(ar, tg_mul_scalar(m, 0.5));
    return m;
}

/* ---- float64 evaluations on host parameter vectors --------------------- */

static tt_status make_params(int np, const double *theta, tt_dtype dt, tt_device dev, bool grad, tt_tensor **P)
{
    for (int i = 0; i < np; i++) P[i] = NULL;
    for (int i = 0; i < np; i++) {
        P[i] = tt_scalar(theta[i], dt, dev);
        if (!P[i] || (grad && tg_set_requires_grad(P[i], true))) {
            tt_status st = tt_last_status() ? tt_last_status() : TT_ENOMEM;
            for (int j = 0; j <= i; j++) tt_release(P[j]);
            return st;
        }
    }
    return TT_OK;
}
static void free_params(int np, tt_tensor **P)
{
    for (int i = 0; i < np; i++) tt_release(P[i]);
}

/* The loss at theta, no graph. */
static tt_status eval_loss(fctx *c, fdata *d, const double *theta, loss_kind lk, double delta, double *L)
{
    tt_tensor *P[MAX_PARAMS];
    tt_status st = make_params(c->np, theta, TT_F64, tt_device_of(d->y), false, P);
    if (st) return st;
    arena ar = {0};
    bool prev = tg_set_grad_enabled(false);
    tt_tensor *loss = build_loss(c, d, P, lk, delta, &ar);
    tg_set_grad_enabled(prev);
    st = loss ? tt_item(loss, L) : (tt_last_status() ? tt_last_status() : TT_ERUNTIME);
    arena_free(&ar);
    free_params(c->np, P);
    return st;
}

/* The loss, its gradient and (when H != NULL) its Hessian at theta, all by
 * libgrad: the gradient with create_graph, then tg_hessian_from_grads. */
static tt_status eval_lgh(fctx *c, fdata *d, const double *theta, loss_kind lk, double delta, double *L, double *g,
                          double *H)
{
    int np = c->np;
    tt_tensor *P[MAX_PARAMS], *G[MAX_PARAMS];
    tt_status st = make_params(np, theta, TT_F64, tt_device_of(d->y), true, P);
    if (st) return st;
    for (int i = 0; i < np; i++) G[i] = NULL;
    arena ar = {0};
    bool prev = tg_set_grad_enabled(true);
    tt_tensor *loss = build_loss(c, d, P, lk, delta, &ar);
    if (!loss) {
        st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
        goto done;
    }
    if ((st = tt_item(loss, L))) goto done;
    if (!isfinite(*L)) goto done;
    if (!tg_requires_grad(loss)) {
        for (int i = 0; i < np; i++) g[i] = 0;
        if (H)
            for (int i = 0; i < np * np; i++) H[i] = 0;
        goto done;
    }
    if ((st = tg_autograd_grad(1, &loss, NULL, np, P, true, H != NULL, true, G))) goto done;
    for (int i = 0; i < np; i++) {
        g[i] = 0;
        if (G[i] && (st = tt_item(G[i], &g[i]))) goto done;
    }
    if (H) {
        tt_tensor *B[MAX_PARAMS * MAX_PARAMS];
        if ((st = tg_hessian_from_grads(np, G, P, B))) goto done;
        for (int k = 0; k < np * np; k++) {
            if (!st) st = tt_item(B[k], &H[k]);
            tt_release(B[k]);
        }
        if (st) goto done;
        for (int i = 0; i < np; i++) /* symmetrize */
            for (int j = 0; j < i; j++) H[i * np + j] = H[j * np + i] = (H[i * np + j] + H[j * np + i]) / 2;
    }
done:
    tg_set_grad_enabled(prev);
    for (int i = 0; i < np; i++) tt_release(G[i]);
    arena_free(&ar);
    free_params(np, P);
    return st;
}

/* ---- the standardization ---------------------------------------------- */

static double binom(int n, int k)
{
    double r = 1;
    for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

/* Index of coefficient k (of x^k) in the parameter vector. */
static int coef_index(const fctx *c, int k) { return c->mk == M_LINE ? 1 - k : k; }

/* user = A std + my e0, in parameter order. */
static void trans_matrix(const fctx *c, const ftrans *t, double *A)
{
    int np = c->np, K = c->K;
    for (int i = 0; i < np * np; i++) A[i] = 0;
    for (int j = 0; j <= K; j++)
        for (int k = j; k <= K; k++)
            A[coef_index(c, j) * np + coef_index(c, k)] = t->sy * pow(t->h, -k) * binom(k, j) * pow(-t->c, k - j);
}
static void to_user(const fctx *c, const ftrans *t, const double *s, double *u)
{
    double A[MAX_PARAMS * MAX_PARAMS];
    int np = c->np;
    trans_matrix(c, t, A);
    for (int i = 0; i < np; i++) {
        u[i] = 0;
        for (int j = 0; j < np; j++) u[i] += A[i * np + j] * s[j];
    }
    u[coef_index(c, 0)] += t->my;
}
static void to_std(const fctx *c, const ftrans *t, const double *u, double *s)
{
    double A[MAX_PARAMS * MAX_PARAMS];
    int np = c->np, K = c->K;
    trans_matrix(c, t, A);
    double v[MAX_PARAMS];
    for (int i = 0; i < np; i++) v[i] = u[i];
    v[coef_index(c, 0)] -= t->my;
    for (int j = K; j >= 0; j--) { /* upper triangular in coefficient order */
        int r = coef_index(c, j);
        double acc = v[r];
        for (int k = j + 1; k <= K; k++) acc -= A[r * np + coef_index(c, k)] * s[coef_index(c, k)];
        s[r] = acc / A[r * np + r];
    }
}

static ftrans make_trans(const fctx *c, const double *x, const double *y, int64_t n)
{
    ftrans t = {0, 1, 0, 1};
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double vx = 0, vy = 0, mxd = 0;
    for (int64_t i = 0; i < n; i++) {
        vx += (x[i] - mx) * (x[i] - mx), vy += (y[i] - my) * (y[i] - my);
        if (fabs(x[i] - mx) > mxd) mxd = fabs(x[i] - mx);
    }
    t.c = mx, t.my = my;
    if (c->mk == M_LINE) {
        t.h = sqrt(vx / (double)n);
        if (!(t.h > 0)) t.h = 1;
        t.sy = t.h;
    } else {
        t.h = mxd > 0 ? mxd : 1;
        t.sy = sqrt(vy / (double)n);
        if (!(t.sy > 0)) t.sy = 1;
    }
    return t;
}

/* ---- results ---------------------------------------------------------- */

typedef struct {
    double *v;
    int64_t n, cap;
} dvec;
static bool dvec_push(dvec *h, double v)
{
    if (h->n == h->cap) {
        int64_t cap = h->cap ? 2 * h->cap : 256;
        double *p = realloc(h->v, sizeof *p * (size_t)cap);
        if (!p) return false;
        h->v = p, h->cap = cap;
    }
    h->v[h->n++] = v;
    return true;
}

static tg_fit_result *result_new(const fctx *c)
{
    tg_fit_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    int np = c->np;
    r->nparams = np;
    r->names = calloc((size_t)np, sizeof *r->names);
    r->values = calloc((size_t)np, sizeof *r->values);
    r->stderrs = calloc((size_t)np, sizeof *r->stderrs);
    r->cov = calloc((size_t)(np * np), sizeof *r->cov);
    bool ok = r->names && r->values && r->stderrs && r->cov;
    for (int i = 0; ok && i < np; i++) ok = (r->names[i] = strdup(c->names[i])) != NULL;
    if (!ok) {
        tg_fit_result_free(r);
        return NULL;
    }
    return r;
}

/* ---- descent ---------------------------------------------------------- */

typedef struct {
    fctx *c;
    const tg_fit_spec *sp;
    const double *x, *y, *s;
    int64_t n;
    dvec hist;
    double best_loss, best[MAX_PARAMS];
    bool have_best;
    int64_t steps, diverged_at;
    double diverged_loss;
    tg_stop_reason stop;
} run;

/* The loss became L (NaN or Inf) at step: the run stops there. */
static void diverged(run *R, int64_t step, double L)
{
    R->diverged_at = step, R->diverged_loss = L, R->steps = step;
    dvec_push(&R->hist, L);
    R->stop = TG_STOP_DIVERGED;
}

/* Bookkeeping after a step with loss L evaluated at theta_before; true: stop. */
static bool after_step(run *R, int64_t step, double L, const double *theta_before, double Lprev, double gnorm,
                       double tol)
{
    const tg_fit_spec *sp = R->sp;
    R->steps = step;
    dvec_push(&R->hist, L);
    if (!R->have_best || L < R->best_loss) {
        R->have_best = true;
        R->best_loss = L;
        memcpy(R->best, theta_before, sizeof(double) * (size_t)R->c->np);
    }
    if (sp->on_step && !sp->on_step(step, L, sp->ctx)) {
        R->stop = TG_STOP_CALLBACK;
        return true;
    }
    if (sp->has_loss_below && L <= sp->loss_below) {
        R->stop = TG_STOP_LOSS_BELOW;
        return true;
    }
    if (tol > 0 && step > 1 && (fabs(Lprev - L) <= tol * fmax(fabs(L), 1e-300) || gnorm < tol)) {
        R->stop = TG_STOP_TOL;
        return true;
    }
    return false;
}

static double norm2(int n, const double *g)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += g[i] * g[i];
    return sqrt(s);
}

/* Damped Newton (Levenberg-Marquardt on libgrad's Hessian) in float64 on data
 * d; theta in d's coordinates, updated in place. */
static tt_status newton(run *R, fdata *d, double delta, double *theta, int64_t maxsteps, double tol)
{
    fctx *c = R->c;
    int np = c->np;
    double L, g[MAX_PARAMS], H[MAX_PARAMS * MAX_PARAMS], dlt[MAX_PARAMS], trial[MAX_PARAMS];
    double mu = 0;
    tt_status st = eval_lgh(c, d, theta, c->lk, delta, &L, g, H);
    if (st) return st;
    for (int64_t step = 1; step <= maxsteps; step++) {
        if (!isfinite(L)) {
            diverged(R, step, L);
            return TT_OK;
        }
        double scale = 0;
        for (int i = 0; i < np; i++) scale = fmax(scale, fabs(H[i * np + i]));
        if (!(scale > 0)) scale = fmax(norm2(np, g), 1e-300);
        double Lnew = L;
        bool accepted = false, full = false, converged = false;
        double before[MAX_PARAMS];
        memcpy(before, theta, sizeof(double) * (size_t)np);
        if (norm2(np, g) > 0) {
            /* mu grows 4x per rejected try: 30 tries span 18 orders of magnitude */
            for (int tries = 0; tries < 30 && !accepted; tries++) {
                double ng[MAX_PARAMS];
                for (int i = 0; i < np; i++) ng[i] = -g[i];
                if (!tgf_chol_solve(np, H, mu, ng, dlt)) {
                    mu = fmax(mu * 4, 1e-9 * scale);
                    continue;
                }
                /* Newton's own test: when the decrease the quadratic model
                 * predicts (-g.dlt / 2) is below tol, the fit has converged;
                 * line-searching rounding noise would only burn evaluations. */
                double predicted = 0;
                for (int i = 0; i < np; i++) predicted -= g[i] * dlt[i] / 2;
                if (mu == 0 && tol > 0 && predicted <= tol * fmax(fabs(L), 1e-300)) {
                    converged = true;
                    break;
                }
                for (int i = 0; i < np; i++) trial[i] = theta[i] + dlt[i];
                double Lt;
                if ((st = eval_loss(c, d, trial, c->lk, delta, &Lt))) return st;
                if (isfinite(Lt) && Lt < L) {
                    accepted = true, full = mu == 0, Lnew = Lt;
                    memcpy(theta, trial, sizeof(double) * (size_t)np);
                    mu /= 4;
                    if (mu < 1e-12 * scale) mu = 0;
                } else {
                    mu = fmax(mu * 4, 1e-9 * scale);
                }
            }
        }
        /* the step's loss is the one at the start of the step (as the seeds print it) */
        bool stop = after_step(R, step, L, before, L, norm2(np, g), 0);
        if (stop) return TT_OK;
        if (converged || !accepted) {
            R->stop = TG_STOP_TOL;
            return TT_OK;
        }
        if (tol > 0 && full && fabs(L - Lnew) <= tol * fmax(fabs(Lnew), 1e-300)) {
            R->stop = TG_STOP_TOL;
            return TT_OK;
        }
        if ((st = eval_lgh(c, d, theta, c->lk, delta, &L, g, H))) return st;
    }
    R->stop = TG_STOP_STEPS;
    return TT_OK;
}

/* ---- the line with a squared loss, fused ------------------------------- *
 * For y = w*x + b with mse, half-mse or sse the loss and its gradient need
 * only three sums over the points, so one pass over x and y does a whole
 * step: no graph, no intermediate tensor. Per point the residual and its
 * products are computed in the working dtype exactly as the tg_ ops would
 * (w*x, + b, - y, squared, times the weight); the sums are accumulated in
 * double. Everything else (other models, losses, devices) runs through
 * libgrad, and spec->autograd_only forces that path for this case too. */

/* sums[0] = sum s r^2, sums[1] = sum s r x, sums[2] = sum s r over the points
 * idx[0..m) (idx NULL: 0..m), r = w*x + b - y. */
#define LINE_SUMS(T, NAME)                                                                                        \
    static void NAME(const T *x, const T *y, const T *s, const int64_t *idx, int64_t m, T w, T b, double sums[3]) \
    {                                                                                                             \
        double q = 0, rx = 0, r1 = 0;                                                                             \
        for (int64_t k = 0; k < m; k++) {                                                                         \
            int64_t i = idx ? idx[k] : k;                                                                         \
            T wx = w * x[i], pred = wx + b, r = pred - y[i], sr = s ? s[i] * r : r;                               \
            q += (double)(T)(r * r) * (s ? (double)s[i] : 1.0);                                                   \
            rx += (double)sr * (double)x[i];                                                                      \
            r1 += (double)sr;                                                                                     \
        }                                                                                                         \
        sums[0] = q, sums[1] = rx, sums[2] = r1;                                                                  \
    }
LINE_SUMS(float, line_sums_any_f32)
LINE_SUMS(double, line_sums_f64)

/* The common case (all points, no weights) in float32 with SSE vectors (every
 * x86-64 has them; the build does not vectorize by itself): each op rounds
 * to float as the scalar code does, and each lane adds 64 terms in float
 * before they join the double sums, which keeps the loop at memory speed. */
typedef float v4f __attribute__((vector_size(16)));

static double lanes(v4f v) { return (double)v[0] + (double)v[1] + (double)v[2] + (double)v[3]; }

static void line_sums_f32(const float *x, const float *y, const float *s, const int64_t *idx, int64_t m, float w,
                          float b, double sums[3])
{
    if (s || idx) {
        line_sums_any_f32(x, y, s, idx, m, w, b, sums);
        return;
    }
    const v4f vw = {w, w, w, w}, vb = {b, b, b, b};
    double q = 0, rx = 0, r1 = 0;
    int64_t k = 0;
    for (; k + 256 <= m; k += 256) {
        v4f aq = {0}, arx = {0}, ar = {0}, bq = {0}, brx = {0}, br = {0};
        for (int j = 0; j < 256; j += 8) {
            v4f x0, x1, y0, y1;
            memcpy(&x0, x + k + j, sizeof x0);
            memcpy(&x1, x + k + j + 4, sizeof x1);
            memcpy(&y0, y + k + j, sizeof y0);
            memcpy(&y1, y + k + j + 4, sizeof y1);
            v4f r0 = (vw * x0 + vb) - y0, r1v = (vw * x1 + vb) - y1;
            aq += r0 * r0, arx += r0 * x0, ar += r0;
            bq += r1v * r1v, brx += r1v * x1, br += r1v;
        }
        q += lanes(aq) + lanes(bq), rx += lanes(arx) + lanes(brx), r1 += lanes(ar) + lanes(br);
    }
    double tail[3];
    line_sums_any_f32(x + k, y + k, NULL, NULL, m - k, w, b, tail);
    sums[0] = q + tail[0], sums[1] = rx + tail[1], sums[2] = r1 + tail[2];
}

static bool fusable(const fctx *c, const tg_fit_spec *sp)
{
    return c->mk == M_LINE && (c->lk == L_MSE || c->lk == L_HALF || c->lk == L_SSE) &&
           sp->device.type == TT_DEVICE_CPU && !sp->autograd_only;
}

/* v rounded to dt (float32 or float64). */
static double in_dtype(tt_dtype dt, double v) { return dt == TT_F32 ? (double)(float)v : v; }

/* The new value of a parameter after momentum or adam (state in vel, m1, m2),
 * in double, as both descents compute it. */
static double adaptive_step(const tg_fit_spec *sp, double before, double g, double lr_t, int64_t step, double *vel,
                            double *m1, double *m2)
{
    if (sp->optimizer == TG_OPT_MOMENTUM) {
        *vel = sp->momentum * *vel + g;
        return before - lr_t * *vel;
    }
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    *m1 = b1 * *m1 + (1 - b1) * g;
    *m2 = b2 * *m2 + (1 - b2) * g * g;
    double mh = *m1 / (1 - pow(b1, (double)step)), vh = *m2 / (1 - pow(b2, (double)step));
    return before - lr_t * mh / (sqrt(vh) + eps);
}

/* The random batch of step `step`: a partial Fisher-Yates shuffle of perm. */
static void draw_batch(const tg_fit_spec *sp, int64_t *perm, int64_t n, int64_t batch, uint64_t *draws)
{
    for (int64_t j = 0; j < batch; j++) {
        double u = tt_philox_uniform(sp->seed, (*draws)++);
        int64_t r = j + (int64_t)(u * (double)(n - j));
        if (r >= n) r = n - 1;
        int64_t t = perm[j];
        perm[j] = perm[r];
        perm[r] = t;
    }
}

/* descend() for the fused case: theta (w, b) initial, then final. */
static tt_status descend_fused(run *R, double *theta, double lr, int64_t maxsteps, double tol)
{
    const tg_fit_spec *sp = R->sp;
    tt_dtype dt = sp->dtype;
    int64_t n = R->n;
    int64_t batch = sp->optimizer == TG_OPT_SGD && sp->batch > 0 && sp->batch < n ? sp->batch : n;
    float *fx = NULL, *fy = NULL, *fs = NULL;
    int64_t *perm = NULL;
    tt_status st = TT_OK;
    if (dt == TT_F32) { /* the points in float32 (as fdata_make would cast them) */
        fx = malloc(sizeof *fx * (size_t)n);
        fy = malloc(sizeof *fy * (size_t)n);
        fs = R->s ? malloc(sizeof *fs * (size_t)n) : NULL;
        if (!fx || !fy || (R->s && !fs)) {
            st = tt_set_error(TT_ENOMEM, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < n; i++) {
            fx[i] = (float)R->x[i];
            fy[i] = (float)R->y[i];
            if (fs) fs[i] = (float)R->s[i];
        }
    }
    if (batch < n) {
        if (!(perm = malloc(sizeof *perm * (size_t)n))) {
            st = tt_set_error(TT_ENOMEM, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < n; i++) perm[i] = i;
    }
    double p[2] = {in_dtype(dt, theta[0]), in_dtype(dt, theta[1])};
    double vel[2] = {0}, m1[2] = {0}, m2[2] = {0}, Lprev = NAN;
    uint64_t draws = 0;
    /* d loss / d sum: mse and sse average or add, half-mse halves */
    double per = R->c->lk == L_SSE ? 1 : 1 / (double)batch, half = R->c->lk == L_HALF ? 0.5 : 1;
    R->stop = TG_STOP_STEPS;
    for (int64_t step = 1; step <= maxsteps; step++) {
        double lr_t = lr / (1 + sp->lr_decay * (double)(step - 1)), sums[3];
        if (perm) draw_batch(sp, perm, n, batch, &draws);
        if (dt == TT_F32) line_sums_f32(fx, fy, fs, perm, batch, (float)p[0], (float)p[1], sums);
        else line_sums_f64(R->x, R->y, R->s, perm, batch, p[0], p[1], sums);
        double L = in_dtype(dt, sums[0] * per * half);
        double g[2] = {in_dtype(dt, 2 * half * per * sums[1]), in_dtype(dt, 2 * half * per * sums[2])};
        double before[2] = {p[0], p[1]};
        if (!isfinite(L)) {
            diverged(R, step, L);
            break;
        }
        for (int i = 0; i < 2; i++)
            p[i] = sp->optimizer == TG_OPT_MOMENTUM || sp->optimizer == TG_OPT_ADAM
                       ? in_dtype(dt, adaptive_step(sp, before[i], g[i], lr_t, step, &vel[i], &m1[i], &m2[i]))
                       : in_dtype(dt, before[i] - in_dtype(dt, g[i] * in_dtype(dt, lr_t))); /* p.data -= lr * p.grad */
        bool stop = after_step(R, step, L, before, Lprev, norm2(2, g), tol);
        Lprev = L;
        if (stop) break;
    }
    theta[0] = p[0], theta[1] = p[1];
out:
    free(fx);
    free(fy);
    free(fs);
    free(perm);
    return st;
}

/* The seeds' loop on raw data in spec->dtype. theta: initial, then final. */
static tt_status descend(run *R, double *theta, double lr, int64_t maxsteps, double tol)
{
    fctx *c = R->c;
    const tg_fit_spec *sp = R->sp;
    if (fusable(c, sp)) return descend_fused(R, theta, lr, maxsteps, tol);
    int np = c->np;
    int64_t n = R->n;
    tt_dtype dt = sp->dtype;
    tt_tensor *P[MAX_PARAMS], *Pd[MAX_PARAMS];
    tt_status st = make_params(np, theta, dt, sp->device, true, P);
    if (st) return st;
    for (int i = 0; i < np; i++) Pd[i] = NULL;
    for (int i = 0; i < np; i++)
        if (!(Pd[i] = tg_data(P[i]))) {
            st = tt_last_status();
            goto out;
        }
    int64_t batch = sp->optimizer == TG_OPT_SGD && sp->batch > 0 && sp->batch < n ? sp->batch : n;
    fdata full = {0};
    int64_t *perm = NULL;
    uint64_t draws = 0;
    if (batch == n) {
        if ((st = fdata_make(&full, c, R->x, R->y, R->s, NULL, n, NULL, dt, sp->device))) goto out;
    } else {
        perm = malloc(sizeof *perm * (size_t)n);
        if (!perm) {
            st = tt_set_error(TT_ENOMEM, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < n; i++) perm[i] = i;
    }
    double vel[MAX_PARAMS] = {0}, m1[MAX_PARAMS] = {0}, m2[MAX_PARAMS] = {0};
    double Lprev = NAN;
    arena ar = {0};
    R->stop = TG_STOP_STEPS;
    for (int64_t step = 1; step <= maxsteps; step++) {
        double lr_t = lr / (1 + sp->lr_decay * (double)(step - 1));
        fdata bd = {0}, *d = &full;
        if (batch < n) {
            draw_batch(sp, perm, n, batch, &draws); /* a fresh random batch */
            if ((st = fdata_make(&bd, c, R->x, R->y, R->s, perm, batch, NULL, dt, sp->device))) break;
            d = &bd;
        }
        tt_tensor *loss = build_loss(c, d, P, c->lk, c->delta, &ar);
        double L = NAN, before[MAX_PARAMS], g[MAX_PARAMS];
        if (!loss || (st = tt_item(loss, &L))) {
            if (!st) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
            arena_clear(&ar);
            fdata_free(&bd);
            break;
        }
        for (int i = 0; i < np; i++) tt_item(P[i], &before[i]);
        if (!isfinite(L)) {
            diverged(R, step, L);
            arena_clear(&ar);
            fdata_free(&bd);
            break;
        }
        if (tg_requires_grad(loss) && (st = tg_backward(loss, NULL, false, false))) {
            arena_clear(&ar);
            fdata_free(&bd);
            break;
        }
        for (int i = 0; i < np && !st; i++) {
            tt_tensor *gr = tg_get_grad(P[i]);
            g[i] = 0;
            if (gr) st = tt_item(gr, &g[i]);
            if (st) break;
            switch (sp->optimizer) {
            case TG_OPT_MOMENTUM:
            case TG_OPT_ADAM:
                st = tt_fill_(Pd[i], adaptive_step(sp, before[i], g[i], lr_t, step, &vel[i], &m1[i], &m2[i]));
                break;
            default: /* gd, sgd: p.data -= lr * p.grad */
                if (gr) {
                    tt_tensor *step_t = tt_mul_scalar(gr, lr_t);
                    st = step_t ? tt_sub_(Pd[i], step_t) : tt_last_status();
                    tt_release(step_t);
                }
                break;
            }
            if (!st && gr) st = tg_zero_grad(P[i]);
        }
        arena_clear(&ar);
        fdata_free(&bd);
        if (st) break;
        bool stop = after_step(R, step, L, before, Lprev, norm2(np, g), tol);
        Lprev = L;
        if (stop) break;
    }
    arena_free(&ar);
    for (int i = 0; i < np && !st; i++) st = tt_item(P[i], &theta[i]);
    fdata_free(&full);
    free(perm);
out:
    for (int i = 0; i < np; i++) {
        tt_release(Pd[i]);
        tt_release(P[i]);
    }
    return st;
}

/* ---- closed forms ----------------------------------------------------- */

static tt_status exact_fit(fctx *c, const double *x, const double *y, const double *s, int64_t n, const ftrans *t,
                           double *theta)
{
    if (c->mk == M_LINE) {
        double W = 0, mx = 0, my = 0;
        for (int64_t i = 0; i < n; i++) {
            double si = s ? s[i] : 1;
            W += si, mx += si * x[i], my += si * y[i];
        }
        if (!(W > 0)) return tt_set_error(TT_EINVAL, "every weight is zero");
        mx /= W, my /= W;
        double Sxx = 0, Sxy = 0, Syy = 0;
        for (int64_t i = 0; i < n; i++) {
            double si = s ? s[i] : 1, dx = x[i] - mx, dy = y[i] - my;
            Sxx += si * dx * dx, Sxy += si * dx * dy, Syy += si * dy * dy;
        }
        double a;
        if (c->lk == L_ORTH) {
            if (Sxy == 0) {
                if (Syy > Sxx)
                    return tt_set_error(TT_ERUNTIME,
                                        "the total-least-squares line is vertical (x and y uncorrelated, "
                                        "y spread wider than x)");
                a = 0;
            } else {
                double dd = Syy - Sxx;
                a = (dd + sqrt(dd * dd + 4 * Sxy * Sxy)) / (2 * Sxy);
            }
        } else {
            if (!(Sxx > 0))
                return tt_set_error(TT_EINVAL, "every x is the same (%g): the line's slope is not determined", x[0]);
            a = Sxy / Sxx;
        }
        theta[0] = a;
        theta[1] = my - a * mx;
        return TT_OK;
    }
    /* poly: Householder QR on the scaled Vandermonde matrix of t = (x - c)/h */
    int p = c->K + 1;
    double *M = malloc(sizeof *M * (size_t)(n * p + n));
    if (!M) return tt_set_error(TT_ENOMEM, "out of memory");
    double *r = M + n * p, cs[MAX_PARAMS];
    for (int64_t i = 0; i < n; i++) {
        double w = s ? sqrt(s[i]) : 1, u = (x[i] - t->c) / t->h, pw = 1;
        for (int k = 0; k < p; k++, pw *= u) M[i * p + k] = w * pw;
        r[i] = w * (y[i] - t->my) / t->sy;
    }
    bool ok = tgf_qr_lstsq((int)n, p, M, r, cs);
    free(M);
    if (!ok)
        return tt_set_error(TT_EINVAL,
                            "the points do not determine a degree-%d polynomial (fewer than %d distinct x "
                            "values with nonzero weight)",
                            c->K, p);
    to_user(c, t, cs, theta);
    return TT_OK;
}

/* ---- tg_fit ----------------------------------------------------------- */

static tt_status stats(fctx *c, fdata *std, fdata *raw, const ftrans *t, const double *theta, int64_t dof,
                       tg_fit_result *r)
{
    int np = c->np;
    loss_kind slk = (c->lk == L_MSE || c->lk == L_HALF || c->lk == L_SSE || c->lk == L_ORTH) ? c->lk : L_SSE;
    double th[MAX_PARAMS], L, g[MAX_PARAMS], H[MAX_PARAMS * MAX_PARAMS], Hi[MAX_PARAMS * MAX_PARAMS];
    fdata *d = std ? std : raw;
    if (std) to_std(c, t, theta, th);
    else memcpy(th, theta, sizeof(double) * (size_t)np);
    tt_status st = eval_lgh(c, d, th, slk, 1, &L, g, H);
    if (st) return st;
    bool ok = dof > 0 && isfinite(L) && tgf_sym_inverse(np, H, Hi);
    double A[MAX_PARAMS * MAX_PARAMS], T[MAX_PARAMS * MAX_PARAMS];
    if (std) trans_matrix(c, t, A);
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) {
            double v = 0;
            if (std)
                for (int k = 0; k < np; k++) v += A[i * np + k] * Hi[k * np + j];
            else v = Hi[i * np + j];
            T[i * np + j] = v;
        }
    for (int i = 0; i < np; i++)
        for (int j = 0; j < np; j++) {
            double v = 0;
            if (std)
                for (int k = 0; k < np; k++) v += T[i * np + k] * A[j * np + k];
            else v = T[i * np + j];
            r->cov[i * np + j] = ok ? 2 * L / (double)dof * v : NAN;
        }
    for (int i = 0; i < np; i++) {
        double v = r->cov[i * np + i];
        r->stderrs[i] = ok && v >= 0 ? sqrt(v) : NAN;
    }
    return TT_OK;
}

/* Loss, sse and rms at theta on the raw data (float64). */
static tt_status report_loss(fctx *c, fdata *raw, const double *s, const double *y, int64_t n, const double *theta,
                             tg_fit_result *r)
{
    tt_status st = eval_loss(c, raw, theta, c->lk, c->delta, &r->loss);
    if (st) return st;
    tt_tensor *P[MAX_PARAMS];
    if ((st = make_params(c->np, theta, TT_F64, TT_CPU, false, P))) return st;
    arena ar = {0};
    bool prev = tg_set_grad_enabled(false);
    tt_tensor *pred = build_pred(c, raw, P, &ar);
    tg_set_grad_enabled(prev);
    double *pv = malloc(sizeof *pv * (size_t)n);
    if (!pred || !pv) st = tt_last_status() ? tt_last_status() : tt_set_error(TT_ENOMEM, "out of memory");
    else if (tt_numel(pred) == 1) {
        st = tt_item(pred, &pv[0]);
        for (int64_t i = 1; i < n; i++) pv[i] = pv[0];
    } else st = tt_to_host(pred, TT_F64, pv);
    if (!st) {
        double sse = 0;
        for (int64_t i = 0; i < n; i++) sse += (s ? s[i] : 1) * (pv[i] - y[i]) * (pv[i] - y[i]);
        r->sse = sse;
        r->rms = sqrt(sse / (double)n);
    }
    free(pv);
    arena_free(&ar);
    free_params(c->np, P);
    return st;
}

/* Everything about the spec that needs no data: the model and loss (their
 * syntax first), the initial values (into theta) and the options. */
static tt_status check_spec(const tg_fit_spec *sp, fctx *c, double *theta)
{
    tt_status st;
    const char *model = sp->model ? sp->model : "line", *loss = sp->loss ? sp->loss : "mse";
    if ((st = parse_model(c, model)) || (st = parse_loss(c, loss))) return st;
    if (c->mk == M_EXPR && c->np == 0) {
        return tt_set_error(TT_EUSAGE,
                            "the model '%s' has no parameters to fit (name them in the expression, e.g. "
                            "'a*exp(k*x)')",
                            model);
    }
    /* initial values */
    bool given[MAX_PARAMS] = {false};
    for (int i = 0; i < sp->ninit; i++) {
        const char *nm = sp->init_names ? sp->init_names[i] : NULL;
        int k = nm ? param_index(c, nm) : -1;
        if (k < 0) {
            char list[512];
            param_list(c, list, sizeof list);
            return tt_set_error(TT_EUSAGE, "parameter '%s' is not in the model '%s' (its parameters: %s)",
                                nm ? nm : "(null)", model, list);
        }
        if (!isfinite(sp->init_values[i])) {
            return tt_set_error(TT_EUSAGE, "the initial value of '%s' is %g; it must be a finite number", nm,
                                sp->init_values[i]);
        }
        theta[k] = sp->init_values[i];
        given[k] = true;
    }
    if (c->mk == M_EXPR)
        for (int i = 0; i < c->np; i++)
            if (!given[i]) {
                char list[512];
                param_list(c, list, sizeof list);
                return tt_set_error(TT_EUSAGE,
                                    "parameter '%s' of the model '%s' has no initial value (an expression "
                                    "model needs one for each of its parameters: %s)",
                                    c->names[i], model, list);
            }
    /* options */
    if (isnan(sp->lr) || sp->lr < 0 || isinf(sp->lr)) {
        return tt_set_error(TT_EUSAGE, "the learning rate must be a positive number, got %g", sp->lr);
    }
    if (!(sp->lr_decay >= 0) || !isfinite(sp->lr_decay)) {
        return tt_set_error(TT_EUSAGE, "the learning-rate decay must be zero or positive, got %g", sp->lr_decay);
    }
    if (sp->optimizer == TG_OPT_MOMENTUM && !(sp->momentum >= 0 && sp->momentum < 1)) {
        return tt_set_error(TT_EUSAGE, "the momentum must be in [0, 1), got %g", sp->momentum);
    }
    if (sp->steps < 0 || sp->epochs < 0 || sp->batch < 0) {
        return tt_set_error(TT_EUSAGE, "%s must not be negative, got %lld",
                            sp->steps < 0    ? "steps"
                            : sp->epochs < 0 ? "epochs"
                                             : "the batch size",
                            (long long)(sp->steps < 0    ? sp->steps
                                        : sp->epochs < 0 ? sp->epochs
                                                         : sp->batch));
    }
    if (isnan(sp->tol)) { return tt_set_error(TT_EUSAGE, "the tolerance is NaN"); }
    if (sp->dtype != TT_F32 && sp->dtype != TT_F64) {
        return tt_set_error(TT_EDTYPE, "fits run in float32 or float64, not %s", tt_dtype_name(sp->dtype));
    }
    if (sp->method == TG_METHOD_EXACT &&
        !((c->mk == M_LINE || c->mk == M_POLY) && (c->lk == L_MSE || c->lk == L_HALF || c->lk == L_SSE)) &&
        !(c->mk == M_LINE && c->lk == L_ORTH)) {
        return tt_set_error(TT_EUSAGE,
                            "the exact method covers least squares (mse, half-mse, sse) for line and poly:K, "
                            "and orthogonal for line; not the model '%s' with the loss '%s'",
                            model, loss);
    }
    return TT_OK;
}

tt_status tg_fit_check(const tg_fit_spec *spec)
{
    tg_fit_spec defaults;
    if (!spec) tg_fit_spec_defaults(&defaults);
    fctx c = {0};
    double theta[MAX_PARAMS] = {0};
    tt_clear_error();
    tt_status st = check_spec(spec ? spec : &defaults, &c, theta);
    fctx_free(&c);
    return st;
}

tt_status tg_fit(const tt_tensor *xt, const tt_tensor *yt, const tt_tensor *wt, const tg_fit_spec *spec_in,
                 tg_fit_result **out)
{
    if (!out) return tt_set_error(TT_EINVAL, "tg_fit: out is NULL");
    *out = NULL;
    tg_fit_spec defaults;
    if (!spec_in) tg_fit_spec_defaults(&defaults);
    const tg_fit_spec *sp = spec_in ? spec_in : &defaults;
    fctx c = {0};
    double *x = NULL, *y = NULL, *s = NULL;
    int64_t n = 0, ny = 0, ns = 0;
    fdata raw = {0}, std = {0};
    run R = {0};
    tg_fit_result *r = NULL;
    tt_status st;
    double theta[MAX_PARAMS] = {0};
    const char *model = sp->model ? sp->model : "line";
    tt_clear_error();

    if ((st = check_spec(sp, &c, theta))) goto fail;
    /* data */
    if ((st = host_vector(xt, "x", &x, &n)) || (st = host_vector(yt, "y", &y, &ny))) goto fail;
    if (n != ny) {
        st = tt_set_error(TT_ESHAPE, "x has %lld value%s and y has %lld", (long long)n, n == 1 ? "" : "s",
                          (long long)ny);
        goto fail;
    }
    if (n == 0) {
        st = tt_set_error(TT_EINVAL, "the dataset is empty (x and y have no values)");
        goto fail;
    }
    if ((st = check_finite(x, n, "x")) || (st = check_finite(y, n, "y"))) goto fail;
    if (wt) {
        if ((st = host_vector(wt, "weights", &s, &ns))) goto fail;
        if (ns != n) {
            st = tt_set_error(TT_ESHAPE, "weights has %lld values and y has %lld", (long long)ns, (long long)n);
            goto fail;
        }
        if ((st = check_finite(s, n, "weights"))) goto fail;
        for (int64_t i = 0; i < n; i++)
            if (s[i] < 0) {
                st = tt_set_error(TT_EINVAL, "weights[%lld] is negative (%g, row %lld)", (long long)i, s[i],
                                  (long long)i + 1);
                goto fail;
            }
    }
    if (n < c.np) {
        st = tt_set_error(TT_EINVAL, "%lld point%s cannot determine the %d parameters of the model '%s'", (long long)n,
                          n == 1 ? "" : "s", c.np, model);
        goto fail;
    }
    if (c.mk == M_EXPR || c.lk == L_EXPR) {
        if (!(c.menv = tg_env_new()) || !(c.lenv = tg_env_new())) {
            st = tt_set_error(TT_ENOMEM, "out of memory");
            goto fail;
        }
        tg_env_set_seed(c.menv, sp->seed);
        tg_env_set_seed(c.lenv, sp->seed);
    }

    ftrans tr = {0, 1, 0, 1};
    bool line_poly = c.mk != M_EXPR;
    if (line_poly) tr = make_trans(&c, x, y, n);
    if ((st = fdata_make(&raw, &c, x, y, s, NULL, n, NULL, TT_F64, TT_CPU))) goto fail;
    if (line_poly && (st = fdata_make(&std, &c, x, y, s, NULL, n, &tr, TT_F64, TT_CPU))) goto fail;
    if (c.menv) {
        tg_env_set_dtype(c.menv, TT_F64);
        tg_env_set_dtype(c.lenv, TT_F64);
    }

    R.c = &c, R.sp = sp, R.x = x, R.y = y, R.s = s, R.n = n;
    int64_t dof = n - c.np, max_steps = 0;
    double used_lr = 0;
    if (sp->method == TG_METHOD_EXACT) {
        if ((st = exact_fit(&c, x, y, s, n, &tr, theta))) goto fail;
        R.stop = TG_STOP_EXACT;
    } else if (sp->optimizer == TG_OPT_AUTO) {
        int64_t maxsteps = sp->steps > 0 ? sp->steps : sp->epochs > 0 ? sp->epochs : AUTO_STEPS;
        double tol = sp->tol == 0 ? AUTO_TOL : sp->tol;
        max_steps = maxsteps;
        if (line_poly && c.lk != L_EXPR) {
            double th[MAX_PARAMS];
            to_std(&c, &tr, theta, th);
            if ((st = newton(&R, &std, c.delta / tr.sy, th, maxsteps, tol))) goto fail;
            to_user(&c, &tr, th, theta);
            for (int64_t i = 0; i < R.hist.n; i++) R.hist.v[i] *= c.lk == L_L1 ? tr.sy : tr.sy * tr.sy;
            if (R.have_best) {
                double tmp[MAX_PARAMS];
                to_user(&c, &tr, R.best, tmp);
                memcpy(R.best, tmp, sizeof tmp);
            }
        } else {
            if ((st = newton(&R, &raw, c.delta, theta, maxsteps, tol))) goto fail;
        }
    } else {
        double lr = sp->lr > 0 ? sp->lr : sp->optimizer == TG_OPT_ADAM ? 1e-3 : 0.01;
        int64_t batch = sp->optimizer == TG_OPT_SGD && sp->batch > 0 && sp->batch < n ? sp->batch : n;
        int64_t maxsteps = sp->steps > 0    ? sp->steps
                           : sp->epochs > 0 ? sp->epochs * ((n + batch - 1) / batch)
                                            : DEFAULT_STEPS;
        double tol = sp->tol > 0 ? sp->tol : 0;
        max_steps = maxsteps;
        used_lr = lr;
        if (c.menv) {
            tg_env_set_dtype(c.menv, sp->dtype);
            tg_env_set_dtype(c.lenv, sp->dtype);
        }
        st = descend(&R, theta, lr, maxsteps, tol);
        if (c.menv) {
            tg_env_set_dtype(c.menv, TT_F64);
            tg_env_set_dtype(c.lenv, TT_F64);
        }
        if (st) goto fail;
    }

    if (!(r = result_new(&c))) {
        st = tt_set_error(TT_ENOMEM, "out of memory");
        goto fail;
    }
    if (sp->keep_best && R.have_best && R.stop != TG_STOP_EXACT) memcpy(theta, R.best, sizeof(double) * (size_t)c.np);
    memcpy(r->values, theta, sizeof(double) * (size_t)c.np);
    r->n = n, r->dof = dof, r->steps = R.steps, r->stop = R.stop;
    r->max_steps = max_steps, r->lr = used_lr;
    r->nhistory = R.hist.n, r->history = R.hist.v;
    R.hist.v = NULL;
    if (R.stop == TG_STOP_DIVERGED) {
        r->loss = R.diverged_loss, r->sse = NAN, r->rms = NAN;
        for (int i = 0; i < c.np * c.np; i++) r->cov[i] = NAN;
        for (int i = 0; i < c.np; i++) r->stderrs[i] = NAN;
        if (sp->keep_best && R.have_best) report_loss(&c, &raw, s, y, n, theta, r);
        st = tt_set_error(TT_ERUNTIME, "loss became %s at step %lld", isnan(R.diverged_loss) ? "NaN" : "Inf",
                          (long long)R.diverged_at);
        *out = r;
        r = NULL;
        goto done;
    }
    if ((st = report_loss(&c, &raw, s, y, n, theta, r))) goto fail;
    if ((st = stats(&c, line_poly ? &std : NULL, &raw, &tr, theta, dof, r))) goto fail;
    *out = r;
    r = NULL;
    st = TT_OK;
    tt_clear_error();
    goto done;
fail:
    if (!st) st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
    tg_fit_result_free(r);
    r = NULL;
done:
    free(R.hist.v);
    fdata_free(&raw);
    fdata_free(&std);
    free(x);
    free(y);
    free(s);
    fctx_free(&c);
    return st;
}
