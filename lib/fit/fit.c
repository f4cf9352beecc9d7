/* tg_fit_stream and tg_fit (tg/fit.h): the spec is read and checked (model,
 * loss, initial values, options) before any point is read; then the first
 * pass checks every value and gathers the moments, the method runs (exact,
 * the default Newton, or a descent), and the report is made from one
 * evaluation at the final parameters. tg_fit on tensors is a stream whose
 * slices are read from the tensors. See fit_internal.h for the parts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"
#include "tensor/backend.h"

#define DEFAULT_STEPS 1000
#define AUTO_STEPS 500
#define AUTO_TOL 1e-12
#define LM_TOL 1e-15 /* MINPACK's ftol and xtol: near machine precision, the answer polished */

/* ---- names and results --------------------------------------------------------- */

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
    free(r->determined);
    free(r->history);
    free(r);
}

static tg_fit_result *result_new(const tg_model *m)
{
    tg_fit_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    int np = m->np;
    r->nparams = np;
    r->names = calloc((size_t)np, sizeof *r->names);
    r->values = calloc((size_t)np, sizeof *r->values);
    r->stderrs = calloc((size_t)np, sizeof *r->stderrs);
    r->cov = calloc((size_t)(np * np), sizeof *r->cov);
    r->determined = calloc((size_t)np, sizeof *r->determined);
    r->rank = np;
    for (int i = 0; r->determined && i < np; i++) r->determined[i] = true;
    bool ok = r->names && r->values && r->stderrs && r->cov && r->determined;
    for (int i = 0; ok && i < np; i++) ok = (r->names[i] = strdup(m->names[i])) != NULL;
    if (!ok) {
        tg_fit_result_free(r);
        return NULL;
    }
    return r;
}

bool tgf_dvec_push(tgf_dvec *h, double v)
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

double tgf_norm2(int n, const double *g)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += g[i] * g[i];
    return sqrt(s);
}

/* ---- the run's bookkeeping ----------------------------------------------------- */

void tgf_diverged(tgf_fit *F, int64_t step, double L)
{
    F->diverged_at = step, F->diverged_loss = L, F->steps = step;
    tgf_dvec_push(&F->hist, L);
    F->stop = TG_STOP_DIVERGED;
}

bool tgf_after_step(tgf_fit *F, int64_t step, double L, const double *theta_before, double Lprev, double gnorm,
                    double tol)
{
    const tg_fit_spec *sp = F->sp;
    F->steps = step;
    tgf_dvec_push(&F->hist, L);
    if (!F->have_best || L < F->best_loss) {
        F->have_best = true;
        F->best_loss = L;
        memcpy(F->best, theta_before, sizeof(double) * (size_t)F->model->np);
    }
    if (sp->on_step && !sp->on_step(step, L, sp->ctx)) {
        F->stop = TG_STOP_CALLBACK;
        return true;
    }
    if (step > 1) F->last_change = fabs(Lprev - L) / fmax(fabs(L), 1e-300);
    if (sp->has_loss_below && L <= sp->loss_below) {
        F->stop = TG_STOP_LOSS_BELOW;
        F->stop_loss = L;
        return true;
    }
    if (tol > 0 && step > 1 && (fabs(Lprev - L) <= tol * fmax(fabs(L), 1e-300) || gnorm < tol)) {
        F->stop = TG_STOP_TOL;
        return true;
    }
    return false;
}

/* ---- the spec ---------------------------------------------------------------------- */

static void param_list(const tg_model *m, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < m->np && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", m->names[i]);
}

/* Initial values into theta: as given, else 1 for an expression model's
 * parameters (gnuplot's and scipy's start), 0 for line and poly. */
static tt_status read_init(const tg_fit_spec *sp, const tg_model *m, double *theta)
{
    bool given[MAX_PARAMS] = {false};
    char list[512];
    for (int i = 0; i < sp->ninit; i++) {
        const char *nm = sp->init_names ? sp->init_names[i] : NULL;
        int k = tg_model_param_index(m, nm);
        if (k < 0) {
            param_list(m, list, sizeof list);
            return tt_set_error(TT_EUSAGE, "parameter '%s' is not in the model '%s' (its parameters: %s)",
                                nm ? nm : "(null)", m->text, list);
        }
        if (!isfinite(sp->init_values[i]))
            return tt_set_error(TT_EUSAGE, "the initial value of '%s' is %g; it must be a finite number", nm,
                                sp->init_values[i]);
        theta[k] = sp->init_values[i];
        given[k] = true;
    }
    if (m->kind == TG_MODEL_EXPR)
        for (int i = 0; i < m->np; i++)
            if (!given[i]) theta[i] = 1;
    return TT_OK;
}

static tt_status check_options(const tg_fit_spec *sp)
{
    if (isnan(sp->lr) || sp->lr < 0 || isinf(sp->lr))
        return tt_set_error(TT_EUSAGE, "the learning rate must be a positive number, got %g", sp->lr);
    if (!(sp->lr_decay >= 0) || !isfinite(sp->lr_decay))
        return tt_set_error(TT_EUSAGE, "the learning-rate decay must be zero or positive, got %g", sp->lr_decay);
    if (sp->optimizer == TG_OPT_MOMENTUM && !(sp->momentum >= 0 && sp->momentum < 1))
        return tt_set_error(TT_EUSAGE, "the momentum must be in [0, 1), got %g", sp->momentum);
    if (sp->steps < 0 || sp->epochs < 0 || sp->batch < 0 || sp->slice < 0)
        return tt_set_error(TT_EUSAGE, "%s must not be negative, got %lld",
                            sp->steps < 0    ? "steps"
                            : sp->epochs < 0 ? "epochs"
                            : sp->batch < 0  ? "the batch size"
                                             : "the slice",
                            (long long)(sp->steps < 0    ? sp->steps
                                        : sp->epochs < 0 ? sp->epochs
                                        : sp->batch < 0  ? sp->batch
                                                         : sp->slice));
    if (isnan(sp->tol)) return tt_set_error(TT_EUSAGE, "the tolerance is NaN");
    if (sp->dtype != TT_F32 && sp->dtype != TT_F64)
        return tt_set_error(TT_EDTYPE, "fits run in float32 or float64, not %s", tt_dtype_name(sp->dtype));
    return TT_OK;
}

/* Everything about the spec that needs no data: the model and the loss
 * (compiled; their syntax first), the initial values (into theta) and the
 * options. *model and loss are the caller's to free, also on an error. */
static tt_status check_spec(const tg_fit_spec *sp, tg_model **model, tgf_loss *loss, double *theta)
{
    tt_status st;
    if ((st = tg_model_new_with_data(sp->model, sp->nx, sp->x_names, model)) ||
        (st = tgf_loss_init(loss, sp->loss, *model)))
        return st;
    const tg_model *m = *model;
    if (m->kind == TG_MODEL_EXPR && m->np == 0)
        return tt_set_error(TT_EUSAGE,
                            "the model '%s' has no parameters to fit (name them in the expression, e.g. "
                            "'a*exp(k*x)')",
                            m->text);
    if ((st = read_init(sp, m, theta)) || (st = check_options(sp))) return st;
    if (sp->method == TG_METHOD_EXACT && !tg_fit_exact_covers(m, loss->kind))
        return tt_set_error(TT_EUSAGE,
                            "the exact method covers least squares (mse, half-mse, sse) for line and poly:K, "
                            "and orthogonal for line; not the model '%s' with the loss '%s'",
                            m->text, loss->text);
    return TT_OK;
}

tt_status tg_fit_check(const tg_fit_spec *spec)
{
    tg_fit_spec defaults;
    if (!spec) tg_fit_spec_defaults(&defaults);
    tg_model *model = NULL;
    tgf_loss loss = {0};
    double theta[MAX_PARAMS] = {0};
    tt_clear_error();
    tt_status st = check_spec(spec ? spec : &defaults, &model, &loss, theta);
    tgf_loss_free(&loss);
    tg_model_free(model);
    return st;
}

/* Expression models and losses are evaluated block by block: on data longer
 * than a block they must be elementwise in x, and sums or means over the
 * points. */
static tt_status check_blockwise(const tgf_fit *F)
{
    if (F->n <= BLOCK) return TT_OK;
    if (F->model->kind == TG_MODEL_EXPR && !F->model->elementwise)
        return tt_set_error(TT_EUSAGE,
                            "the model '%s' is not elementwise in x (each prediction must depend on its own x "
                            "only), which a fit of more than %d points needs: it is evaluated block by block",
                            F->model->text, TG_FIT_BLOCK);
    if (F->loss.kind == TG_LOSS_EXPR && !F->loss.additive)
        return tt_set_error(TT_EUSAGE,
                            "the loss '%s' is not a sum or mean over the points (such as 'mean((pred-y)^2)' or "
                            "'sum(abs(pred-y))/2', terms free of the data only as factors), which a fit of more "
                            "than %d points needs: it is evaluated block by block",
                            F->loss.text, TG_FIT_BLOCK);
    return TT_OK;
}

/* ---- honest reports ----------------------------------------------------------------- */

/* Whether every parameter left free is one whose column of J vanished in the fit. */
static bool vanished(const tgf_fit *F, const tg_fit_result *r)
{
    bool any = false;
    for (int i = 0; i < F->model->np; i++) {
        if (!r->determined[i] && !F->lm_vanished[i]) return false;
        any |= F->lm_vanished[i];
    }
    return any;
}

/* The parameters the data leave free: an error naming them and why, unless
 * the spec allows it (or the closed form of poly:K, which cannot fit them). */
static tt_status undetermined_error(const tgf_fit *F, const tg_fit_result *r)
{
    const tg_model *m = F->model;
    bool exact_poly = F->sp->method == TG_METHOD_EXACT && (m->kind == TG_MODEL_POLY || m->nx > 1);
    if (F->sp->allow_undetermined && !exact_poly) return TT_OK;
    char list[512] = "";
    size_t used = 0;
    int nfree = 0;
    for (int i = 0; i < m->np && used < sizeof list; i++)
        if (!r->determined[i])
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", nfree++ ? ", " : "", m->names[i]);
    char why[512];
    if (F->n < m->np)
        snprintf(why, sizeof why, "%lld point%s for %d parameters", (long long)F->n, F->n == 1 ? "" : "s", m->np);
    else if (m->kind == TG_MODEL_LINE && m->nx > 1)
        snprintf(why, sizeof why,
                 "the x columns (and the intercept's constant) are linearly dependent (collinear) on these points");
    else if (m->kind != TG_MODEL_EXPR && F->mo.cxx == 0)
        snprintf(why, sizeof why, "every x is the same (%.17g)", F->mo.xmin);
    else if (m->kind == TG_MODEL_POLY)
        snprintf(why, sizeof why, "fewer distinct x values%s than the %d coefficients",
                 F->weighted ? " of nonzero weight" : "", m->np);
    else if (m->kind == TG_MODEL_LINE) snprintf(why, sizeof why, "every point of nonzero weight has the same x");
    else if (vanished(F, r))
        snprintf(why, sizeof why,
                 "the fit ran to where no prediction depends on %s any more (its derivative fell below the "
                 "rounding of its largest value in the fit), after every first step the method tries; other "
                 "initial values may reach a minimum",
                 nfree == 1 ? "it" : "them");
    else
        snprintf(why, sizeof why,
                 "on these points the model's derivatives with respect to %s are zero or linearly dependent "
                 "(changing %s along some direction leaves every prediction the same)",
                 nfree == 1 ? "it" : "them", nfree == 1 ? "it" : "them");
    if (exact_poly && F->sp->allow_undetermined)
        return tt_set_error(TT_EINVAL,
                            "the data do not determine %s of the model '%s' (rank %d of %d): %s; the closed form "
                            "cannot fit it anyway (the default method can)",
                            list, m->text, r->rank, m->np, why);
    return tt_set_error(TT_EINVAL, "the data do not determine %s of the model '%s' (rank %d of %d): %s", list, m->text,
                        r->rank, m->np, why);
}

/* Whether the run converged: the method's own test, or for a fixed budget
 * (no test) of line or poly, the answer against the optimum of the same loss
 * (the closed form for least squares, else the default method from the
 * answer): more than 3 of its own standard errors away is implausible. */
static tt_status judge_convergence(tgf_fit *F, const double *theta, tg_fit_result *r)
{
    const tg_fit_spec *sp = F->sp;
    const tg_model *m = F->model;
    bool descent = sp->method != TG_METHOD_EXACT;
    r->tested = descent && (sp->optimizer == TG_OPT_AUTO || sp->tol > 0);
    r->last_change = F->last_change;
    r->far_param = -1;
    switch (F->stop) {
    case TG_STOP_STEPS: r->converged = !r->tested; break;
    case TG_STOP_TOL: r->converged = !(r->stalled = F->lm_stalled); break;
    case TG_STOP_CALLBACK:
    case TG_STOP_DIVERGED: r->converged = false; break;
    default: r->converged = true; break;
    }
    if (!descent || r->tested || F->stop != TG_STOP_STEPS || m->kind == TG_MODEL_EXPR) return TT_OK;
    double best[MAX_PARAMS];
    tt_status st;
    if (tg_fit_exact_covers(m, F->loss.kind)) {
        tg_fit_result *e = result_new(m);
        if (!e) return tt_set_error(TT_ENOMEM, "out of memory");
        st = tgf_exact(F, best, e);
        bool ok = !st && e->rank == m->np;
        tg_fit_result_free(e);
        if (st) return st;
        if (!ok) return TT_OK;
    } else { /* the default method on the same loss, from the answer */
        tgf_fit G = *F;
        tg_fit_spec gs = *sp;
        gs.on_step = NULL, gs.has_loss_below = false, gs.keep_best = false;
        G.sp = &gs, G.hist = (tgf_dvec){0}, G.have_best = false, G.have_final = false;
        double th[MAX_PARAMS];
        if (G.standardized) tgf_to_std(m, &G.tr, theta, th);
        else memcpy(th, theta, sizeof th);
        st = tgf_newton(&G, th, AUTO_STEPS, AUTO_TOL);
        free(G.hist.v);
        F->passes = G.passes;
        if (st) return st;
        if (G.stop == TG_STOP_DIVERGED) return TT_OK;
        if (G.standardized) tgf_to_user(m, &G.tr, th, best);
        else memcpy(best, th, sizeof best);
    }
    for (int i = 0; i < m->np; i++) {
        double d = fabs(theta[i] - best[i]) / r->stderrs[i];
        if (d > 3 && !(d <= r->far_sigmas)) r->far_param = i, r->far_sigmas = d, r->far_exact = best[i];
    }
    r->implausible = r->far_param >= 0;
    r->converged = !r->implausible;
    return TT_OK;
}

/* A float32 descent of data held in float64: a column whose rounding to
 * float32 moves its values by more than 1e-3 of its spread lost precision. */
static void judge_precision(const tgf_fit *F, tg_fit_result *r)
{
    const tg_fit_spec *sp = F->sp;
    bool f32_descent = sp->dtype == TT_F32 && sp->method != TG_METHOD_EXACT && sp->optimizer != TG_OPT_AUTO;
    if (!f32_descent || F->data_dtype == TT_F32) return;
    double err[2] = {F->mo.xerr32, F->mo.yerr32}, spread[2] = {sqrt(F->mo.cxx / F->mo.n), sqrt(F->mo.cyy / F->mo.n)};
    for (int c = 0; c < 2; c++)
        if (err[c] > 1e-3 * spread[c]) {
            r->precision_lost = true;
            r->precision_col = c, r->precision_err = err[c], r->precision_spread = spread[c];
            return;
        }
}

/* ---- tg_fit_stream ------------------------------------------------------------------ */

tt_status tg_fit_stream(const tg_fit_data *data, const tg_fit_spec *spec_in, tg_fit_result **out)
{
    return tgf_fit_run(data, spec_in, NULL, out);
}

tt_status tgf_fit_run(const tg_fit_data *data, const tg_fit_spec *spec_in, const tgf_dist *dist, tg_fit_result **out)
{
    if (!out) return tt_set_error(TT_EINVAL, "tg_fit_stream: out is NULL");
    *out = NULL;
    if (!data) return tt_set_error(TT_EINVAL, "tg_fit_stream: data is NULL");
    tg_fit_spec defaults;
    if (!spec_in) tg_fit_spec_defaults(&defaults);
    const tg_fit_spec *sp = spec_in ? spec_in : &defaults;
    tgf_fit F = {0};
    tg_fit_result *r = NULL;
    double theta[MAX_PARAMS] = {0};
    tt_status st;
    tt_clear_error();
    F.sp = sp;
    F.n = data->n;
    F.weighted = data->weighted;
    F.data_dtype = data->dtype;

    if ((st = check_spec(sp, &F.model, &F.loss, theta))) goto fail;
    const tg_model *m = F.model;
    if (data->nx != m->nx) {
        st = tt_set_error(TT_EUSAGE, "the data have %d x column%s and the model '%s' reads %d", data->nx,
                          data->nx == 1 ? "" : "s", m->text, m->nx);
        goto fail;
    }
    if (F.n <= 0) {
        st = tt_set_error(TT_EINVAL, "the dataset is empty (x and y have no values)");
        goto fail;
    }
    if (F.n < m->np && !sp->allow_undetermined) {
        st = tt_set_error(TT_EINVAL, "%lld point%s cannot determine the %d parameters of the model '%s'",
                          (long long)F.n, F.n == 1 ? "" : "s", m->np, m->text);
        goto fail;
    }
    if ((st = check_blockwise(&F))) goto fail;
    if (m->kind == TG_MODEL_EXPR || F.loss.kind == TG_LOSS_EXPR) {
        if (!(F.menv = tg_env_new()) || !(F.lenv = tg_env_new())) {
            st = tt_set_error(TT_ENOMEM, "out of memory");
            goto fail;
        }
        tg_env_set_seed(F.menv, sp->seed);
        tg_env_set_seed(F.lenv, sp->seed);
        tg_env_set_dtype(F.menv, TT_F64);
        tg_env_set_dtype(F.lenv, TT_F64);
    }

    /* the first pass: every value checked, the moments */
    if ((st = tgf_stream_open(&F.stream, data, sp->slice))) goto fail;
    F.stream.dist = dist;
    if ((st = tgf_scan(&F.stream, &F.mo))) goto fail;
    F.passes = 1;
    F.standardized = m->kind != TG_MODEL_EXPR && F.loss.kind != TG_LOSS_EXPR && m->nx == 1;
    if (m->kind != TG_MODEL_EXPR) F.tr = tgf_make_trans(m, &F.mo);

    if (!(r = result_new(m))) {
        st = tt_set_error(TT_ENOMEM, "out of memory");
        goto fail;
    }
    int64_t dof = F.n - m->np, max_steps = 0;
    double used_lr = 0;
    bool reported = false;
    if (sp->method == TG_METHOD_EXACT) {
        if ((st = tgf_exact(&F, theta, r))) goto fail;
        F.stop = TG_STOP_EXACT;
        reported = true;
    } else if (sp->optimizer == TG_OPT_AUTO) {
        int64_t maxsteps = sp->steps > 0 ? sp->steps : sp->epochs > 0 ? sp->epochs : AUTO_STEPS;
        double tol = sp->tol == 0 ? AUTO_TOL : sp->tol;
        max_steps = maxsteps;
        if (F.standardized) {
            double th[MAX_PARAMS];
            tgf_to_std(m, &F.tr, theta, th);
            if ((st = tgf_newton(&F, th, maxsteps, tol))) goto fail;
            tgf_to_user(m, &F.tr, th, theta);
            double unit = F.loss.kind == TG_LOSS_L1 ? F.tr.sy : F.tr.sy * F.tr.sy;
            for (int64_t i = 0; i < F.hist.n; i++) F.hist.v[i] *= unit;
            if (F.have_best) {
                double tmp[MAX_PARAMS];
                tgf_to_user(m, &F.tr, F.best, tmp);
                memcpy(F.best, tmp, sizeof tmp);
            }
            if (F.stop == TG_STOP_LOSS_BELOW) F.stop_loss *= unit;
            if (F.stop == TG_STOP_DIVERGED) F.diverged_loss *= unit;
        } else if (tgf_lm_covers(&F)) {
            if ((st = tgf_lm(&F, theta, maxsteps, sp->tol == 0 ? LM_TOL : tol))) goto fail;
        } else if ((st = tgf_newton(&F, theta, maxsteps, tol))) {
            goto fail;
        }
    } else {
        double lr = sp->lr > 0 ? sp->lr : sp->optimizer == TG_OPT_ADAM ? 1e-3 : 0.01;
        int64_t batch = sp->optimizer == TG_OPT_SGD && sp->batch > 0 && sp->batch < F.n ? sp->batch : F.n;
        int64_t maxsteps = sp->steps > 0    ? sp->steps
                           : sp->epochs > 0 ? sp->epochs * tgf_descent_steps(&F, batch)
                                            : DEFAULT_STEPS;
        double tol = sp->tol > 0 ? sp->tol : 0;
        max_steps = maxsteps;
        used_lr = lr;
        if (F.menv) {
            tg_env_set_dtype(F.menv, sp->dtype);
            tg_env_set_dtype(F.lenv, sp->dtype);
            tg_env_set_device(F.menv, sp->device);
            tg_env_set_device(F.lenv, sp->device);
        }
        st = tgf_descend(&F, theta, lr, maxsteps, tol);
        if (F.menv) {
            tg_env_set_dtype(F.menv, TT_F64);
            tg_env_set_dtype(F.lenv, TT_F64);
            tg_env_set_device(F.menv, TT_CPU);
            tg_env_set_device(F.lenv, TT_CPU);
        }
        if (st) goto fail;
    }

    if (sp->keep_best && F.have_best && F.stop != TG_STOP_EXACT &&
        memcmp(theta, F.best, sizeof(double) * (size_t)m->np)) {
        memcpy(theta, F.best, sizeof(double) * (size_t)m->np);
        F.have_final = false;
    }
    memcpy(r->values, theta, sizeof(double) * (size_t)m->np);
    r->n = F.n, r->dof = dof, r->steps = F.steps, r->stop = F.stop;
    r->max_steps = max_steps, r->lr = used_lr;
    r->nhistory = F.hist.n, r->history = F.hist.v;
    F.hist.v = NULL;
    if (F.stop == TG_STOP_DIVERGED) {
        r->loss = F.diverged_loss, r->sse = NAN, r->rms = NAN;
        for (int i = 0; i < m->np * m->np; i++) r->cov[i] = NAN;
        for (int i = 0; i < m->np; i++) r->stderrs[i] = NAN;
        if (sp->keep_best && F.have_best) {
            F.have_final = false;
            tgf_report(&F, theta, r);
            for (int i = 0; i < m->np * m->np; i++) r->cov[i] = NAN;
            for (int i = 0; i < m->np; i++) r->stderrs[i] = NAN;
        }
        st = tt_set_error(TT_ERUNTIME, "loss became %s at step %lld", isnan(F.diverged_loss) ? "NaN" : "Inf",
                          (long long)F.diverged_at);
        *out = r;
        r = NULL;
        goto done;
    }
    if (!reported && (st = tgf_report(&F, theta, r))) goto fail;
    if (F.stop == TG_STOP_LOSS_BELOW && !(sp->keep_best && F.have_best && F.best_loss < F.stop_loss))
        r->loss = F.stop_loss;
    tgf_statistics(&F, r);
    if (r->rank < m->np && (st = undetermined_error(&F, r))) goto fail;
    if ((st = judge_convergence(&F, theta, r))) goto fail;
    judge_precision(&F, r);
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
    free(F.hist.v);
    tgf_stream_close(&F.stream);
    tgf_loss_free(&F.loss);
    tg_model_free(F.model);
    tg_env_free(F.menv);
    tg_env_free(F.lenv);
    return st;
}

/* ---- tg_fit: tensors as a stream ----------------------------------------------------- */

typedef struct {
    const tt_tensor *t[TGF_MAX_X + 2]; /* the columns in the stream's order (x..., y, weights): 1-D views */
    int ncols;
} tensor_src;

/* A column's values start .. start+count-1 as doubles: straight from host
 * memory for contiguous float tensors on the CPU, else through a view. */
static tt_status tensor_read_col(const tt_tensor *t, int64_t start, int64_t count, double *dst)
{
    const tt_storage *s = t->storage;
    if (s->backend->type == TT_DEVICE_CPU && t->strides[0] == 1 && (t->dtype == TT_F32 || t->dtype == TT_F64)) {
        if (t->dtype == TT_F64) memcpy(dst, (const double *)s->buf + t->offset + start, sizeof *dst * (size_t)count);
        else {
            const float *f = (const float *)s->buf + t->offset + start;
            for (int64_t i = 0; i < count; i++) dst[i] = f[i];
        }
        return TT_OK;
    }
    tt_tensor *v = tt_slice(t, 0, start, start + count, 1);
    tt_status st = v ? tt_to_host(v, TT_F64, dst) : tt_last_status();
    tt_release(v);
    return st;
}

static tt_status tensor_read(void *ctx, int64_t start, int64_t count, double *const *cols)
{
    const tensor_src *src = ctx;
    for (int c = 0; c < src->ncols; c++) {
        tt_status st = tensor_read_col(src->t[c], start, count, cols[c]);
        if (st) return st;
    }
    return TT_OK;
}

/* t as a 1-D view (a column (N, 1) or a 0-d value reshaped), checked. */
static tt_status as_vector(const tt_tensor *t, const char *what, tt_tensor **out)
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
    int64_t n = tt_numel(t);
    *out = tt_reshape(t, 1, &n);
    return *out ? TT_OK : tt_last_status();
}

tt_status tg_fit(const tt_tensor *xt, const tt_tensor *yt, const tt_tensor *wt, const tg_fit_spec *spec,
                 tg_fit_result **out)
{
    if (!out) return tt_set_error(TT_EINVAL, "tg_fit: out is NULL");
    *out = NULL;
    tt_clear_error();
    int nx = spec && spec->nx > 1 ? spec->nx : 1;
    tensor_src src = {{NULL}, 0};
    tt_tensor *xs[TGF_MAX_X] = {NULL}, *y = NULL, *w = NULL;
    tt_status st = TT_OK;
    if (nx > TGF_MAX_X) st = tt_set_error(TT_EUSAGE, "a fit takes 1 to %d x columns, not %d", TGF_MAX_X, nx);
    else if (nx > 1 && (!xt || xt->ndim != 2 || xt->shape[1] != nx)) {
        char buf[64];
        st = tt_set_error(TT_ESHAPE, "x must have shape (N, %d) for %d x columns, got %s", nx, nx,
                          xt ? tt_shape_str(xt->ndim, xt->shape, buf, sizeof buf) : "none");
    }
    for (int j = 0; j < nx && !st; j++) {
        tt_tensor *col = nx > 1 ? tt_select(xt, 1, j) : NULL;
        st = nx > 1 && !col ? tt_last_status() : as_vector(nx > 1 ? col : xt, "x", &xs[j]);
        tt_release(col);
    }
    if (!st) st = as_vector(yt, "y", &y);
    if (!st && wt) st = as_vector(wt, "weights", &w);
    if (!st && tt_numel(xs[0]) != tt_numel(y)) {
        int64_t n = tt_numel(xs[0]);
        st = tt_set_error(TT_ESHAPE, "x has %lld value%s and y has %lld", (long long)n, n == 1 ? "" : "s",
                          (long long)tt_numel(y));
    }
    if (!st && w && tt_numel(w) != tt_numel(y))
        st = tt_set_error(TT_ESHAPE, "weights has %lld values and y has %lld", (long long)tt_numel(w),
                          (long long)tt_numel(y));
    if (!st) {
        for (int j = 0; j < nx; j++) src.t[src.ncols++] = xs[j];
        src.t[src.ncols++] = y;
        if (w) src.t[src.ncols++] = w;
        tg_fit_data data = {
            .n = tt_numel(y), .nx = nx, .weighted = w != NULL, .dtype = xs[0]->dtype, .read = tensor_read, .ctx = &src};
        st = tg_fit_stream(&data, spec, out);
    }
    for (int j = 0; j < nx; j++) tt_release(xs[j]);
    tt_release(y);
    tt_release(w);
    return st;
}
