/* tg-fit's report (see fit.h): text, name=value lines, a table or a tensor
 * set; the loss history; the warnings on standard error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "tg/expr.h"

/* The shortest %g that reads back as v exactly. */
static void fmt_num(char *buf, size_t n, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v || isnan(v)) return;
    }
}

/* ---- the report ------------------------------------------------------------ */

/* The stop reason's name; the descent's callback stops it only on Ctrl-C. */
const char *fit_stop_name(const tg_fit_result *r)
{
    return r->stop == TG_STOP_CALLBACK ? "interrupted" : tg_stop_reason_name(r->stop);
}

static const char *stop_text(tg_stop_reason r)
{
    switch (r) {
    case TG_STOP_STEPS: return "ran the requested steps";
    case TG_STOP_TOL: return "converged: the change fell below the tolerance";
    case TG_STOP_LOSS_BELOW: return "the loss reached --loss-below";
    case TG_STOP_CALLBACK: return "Ctrl-C: the parameters reached, not converged";
    case TG_STOP_EXACT: return "closed form, no descent steps";
    case TG_STOP_DIVERGED: return "diverged";
    }
    return "";
}

/* The correlation of parameters i and j (NaN where a variance is zero). */
static double correlation(const tg_fit_result *r, int i, int j)
{
    int p = r->nparams;
    double den = sqrt(r->cov[i * p + i] * r->cov[j * p + j]);
    return den > 0 ? r->cov[i * p + j] / den : NAN;
}

static void print_text(FILE *f, const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    char fb[512];
    int p = r->nparams;
    fprintf(f, "Fit of %s to %lld points (%s: %s, %s%s%s)\n", tg_model_formula(o->compiled, fb, sizeof fb),
            (long long)r->n, d->label, d->xname, d->yname, d->wname ? (o->sigma ? ", sigma " : ", weights ") : "",
            d->wname ? d->wname : "");
    if (tg_model_get_kind(o->compiled) == TG_MODEL_EXPR || d->nx > 1) {
        fprintf(f, "parameters: ");
        for (int i = 0; i < p; i++) fprintf(f, "%s%s", i ? ", " : "", r->names[i]);
        fprintf(f, "; data: ");
        for (int j = 0; j < d->nx; j++) fprintf(f, "%s%s", j ? ", " : "", d->xnames[j]);
        fputc('\n', f);
    }
    fprintf(f, "loss %s, ", o->loss ? o->loss : "mse");
    if (o->method == TG_METHOD_EXACT) fprintf(f, "method exact\n\n");
    else if (o->optimizer == TG_OPT_AUTO && tg_model_get_kind(o->compiled) == TG_MODEL_EXPR &&
             (o->loss_kind == TG_LOSS_MSE || o->loss_kind == TG_LOSS_HALF_MSE || o->loss_kind == TG_LOSS_SSE))
        fprintf(f, "default method: Levenberg-Marquardt (exact Jacobian)\n\n");
    else if (o->optimizer == TG_OPT_AUTO)
        fprintf(f, "default descent%s\n\n",
                tg_model_get_kind(o->compiled) != TG_MODEL_EXPR ? " (on standardized data)" : "");
    else
        fprintf(f, "optimizer %s%s%s\n\n", o->optimizer_name, o->lr_given ? ", lr " : "",
                o->lr_given ? (snprintf(fb, sizeof fb, "%g", o->lr), fb) : "");

    int nw = 9;
    for (int i = 0; i < p; i++)
        if ((int)strlen(r->names[i]) > nw) nw = (int)strlen(r->names[i]);
    fprintf(f, "%-*s   %-16s   %-14s", nw, "parameter", "value", "standard error");
    if (o->ci_given) fprintf(f, "         %g%% confidence interval", o->ci * 100);
    fputc('\n', f);
    for (int i = 0; i < p; i++) {
        fprintf(f, "%-*s = %-16.10g +/- ", nw, r->names[i], r->values[i]);
        if (!r->determined[i]) fprintf(f, "%-12s", "undetermined");
        else fprintf(f, "%-12.6g", r->stderrs[i]);
        char rel[32] = "";
        if (r->values[i] != 0 && isfinite(r->stderrs[i]))
            snprintf(rel, sizeof rel, "(%.3g%%)", fabs(r->stderrs[i] / r->values[i]) * 100);
        if (o->ci_given) {
            double lo, hi;
            tg_fit_ci(r, i, o->ci, &lo, &hi);
            fprintf(f, " %-10s [%.10g, %.10g]", rel, lo, hi);
        } else if (*rel) {
            fprintf(f, " %s", rel);
        }
        fputc('\n', f);
    }
    if (p > 1) {
        fprintf(f, "\ncorrelation matrix of the parameters:\n%*s", nw, "");
        for (int j = 0; j < p; j++) fprintf(f, " %8.8s", r->names[j]);
        fputc('\n', f);
        for (int i = 0; i < p; i++) {
            fprintf(f, "%-*s", nw, r->names[i]);
            for (int j = 0; j <= i; j++) { fprintf(f, " %8.3f", correlation(r, i, j)); }
            fputc('\n', f);
        }
        fprintf(f, "\ncovariance matrix:\n%*s", nw, "");
        for (int j = 0; j < p; j++) fprintf(f, " %12.12s", r->names[j]);
        fputc('\n', f);
        for (int i = 0; i < p; i++) {
            fprintf(f, "%-*s", nw, r->names[i]);
            for (int j = 0; j <= i; j++) fprintf(f, " %12.5g", r->cov[i * p + j]);
            fputc('\n', f);
        }
    }
    fputc('\n', f);
    /* Each line as gnuplot's fit log or scipy names it (man page, OUTPUT). */
    fprintf(f, "final loss                  %.10g\n", r->loss);
    fprintf(f, "chi-square (WSSR)           %.10g%s\n", r->chi2,
            !d->weighted ? " (unweighted: the sum of squared residuals)" : "");
    fprintf(f, "degrees of freedom (ndf)    %lld\n", (long long)r->dof);
    fprintf(f, "reduced chi-square          %.10g (WSSR/ndf)\n", r->chi2_red);
    fprintf(f, "p-value                     %.10g (P(chi-square >= WSSR), gnuplot's FIT_P)\n", r->p_value);
    fprintf(f, "rms of residuals            %.10g (sqrt(WSSR/ndf), gnuplot's FIT_STDFIT)\n", r->rms);
    fprintf(f, "R^2                         %.10g (adjusted %.10g)\n", r->r2, r->r2_adj);
    fprintf(f, "covariance                  %s\n",
            r->absolute_sigma ? "absolute: (J^T W J)^-1 (--absolute-sigma)" : "scaled by the reduced chi-square");
    fprintf(f, "standard errors from        %s\n",
            r->stderr_hessian ? "the Hessian of the loss" : "J^T W J (the residuals' curvature left out)");
    fprintf(f, "steps                       %lld\n", (long long)r->steps);
    fprintf(f, "stop                        %s (%s)\n", fit_stop_name(r), stop_text(r->stop));
    fprintf(f, "converged                   %s\n", r->converged ? "yes" : "no");
}

/* A standard error, or "undetermined" for a parameter the data leave free. */
static void fmt_stderr(char *buf, size_t n, const tg_fit_result *r, int i)
{
    if (!r->determined[i]) snprintf(buf, n, "undetermined");
    else fmt_num(buf, n, r->stderrs[i]);
}

static void print_kv(FILE *f, const fit_opts *o, const tg_fit_result *r)
{
    char a[40];
    int p = r->nparams;
    for (int i = 0; i < p; i++) {
        fmt_num(a, sizeof a, r->values[i]);
        fprintf(f, "%s=%s\n", r->names[i], a);
        fmt_stderr(a, sizeof a, r, i);
        fprintf(f, "%s_stderr=%s\n", r->names[i], a);
    }
    fmt_num(a, sizeof a, r->loss);
    fprintf(f, "loss=%s\n", a);
    fprintf(f, "steps=%lld\n", (long long)r->steps);
    fprintf(f, "stop=%s\n", fit_stop_name(r));
    fprintf(f, "converged=%d\n", r->converged ? 1 : 0);
    fprintf(f, "stderr=%s\n", r->stderr_hessian ? "hessian" : "jacobian");
    const struct {
        const char *key;
        double v;
    } stats[] = {
        {"chi2", r->chi2}, {"chi2_red", r->chi2_red}, {"p_value", r->p_value}, {"r2", r->r2}, {"r2_adj", r->r2_adj}};
    for (size_t k = 0; k < sizeof stats / sizeof *stats; k++) {
        fmt_num(a, sizeof a, stats[k].v);
        fprintf(f, "%s=%s\n", stats[k].key, a);
    }
    fmt_num(a, sizeof a, o->ci);
    fprintf(f, "ci_level=%s\n", a);
    for (int i = 0; i < p; i++) {
        double lo, hi;
        tg_fit_ci(r, i, o->ci, &lo, &hi);
        fmt_num(a, sizeof a, lo);
        fprintf(f, "%s_ci_low=%s\n", r->names[i], a);
        fmt_num(a, sizeof a, hi);
        fprintf(f, "%s_ci_high=%s\n", r->names[i], a);
    }
    fmt_num(a, sizeof a, r->sse);
    fprintf(f, "sse=%s\n", a);
    fmt_num(a, sizeof a, r->rms);
    fprintf(f, "rms=%s\n", a);
    fprintf(f, "n=%lld\n", (long long)r->n);
    fprintf(f, "dof=%lld\n", (long long)r->dof);
    for (int i = 0; i < p; i++)
        for (int j = i; j < p; j++) {
            fmt_num(a, sizeof a, r->cov[i * p + j]);
            fprintf(f, "cov_%s_%s=%s\n", r->names[i], r->names[j], a);
        }
    for (int i = 0; i < p; i++)
        for (int j = i + 1; j < p; j++) {
            fmt_num(a, sizeof a, correlation(r, i, j));
            fprintf(f, "corr_%s_%s=%s\n", r->names[i], r->names[j], a);
        }
}

/* The parameters as a table: a header, then one row per parameter. */
static void print_table(FILE *f, const tg_fit_result *r, char sep)
{
    char v[40], e[40];
    fprintf(f, "parameter%cvalue%cstderr\n", sep, sep);
    for (int i = 0; i < r->nparams; i++) {
        fmt_num(v, sizeof v, r->values[i]);
        fmt_stderr(e, sizeof e, r, i);
        fprintf(f, "%s%c%s%c%s\n", r->names[i], sep, v, sep, e);
    }
}

static tt_tensor *f64_tensor(int ndim, const int64_t *shape, const double *v)
{
    return cmd_check(tt_from_data(ndim, shape, TT_F64, v, TT_CPU), NULL);
}

void fit_put_f64(tt_tensor_set *set, const char *name, int ndim, const int64_t *shape, const double *v)
{
    tt_tensor *t = f64_tensor(ndim, shape, v);
    cmd_put(set, name, t);
    tt_release(t);
}

static tt_tensor_set *result_set(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    tt_tensor_set *set = tt_set_new();
    if (!set) cmd_fail("out of memory");
    cmd_provenance(set);
    int p = r->nparams;
    for (int i = 0; i < p; i++) {
        char *name = cmd_xprintf("params/%s", r->names[i]);
        fit_put_f64(set, name, 0, NULL, &r->values[i]);
        free(name);
    }
    for (int i = 0; i < p; i++) {
        char *name = cmd_xprintf("stderr/%s", r->names[i]);
        fit_put_f64(set, name, 0, NULL, &r->stderrs[i]);
        free(name);
    }
    for (int i = 0; i < p; i++) {
        double ci[2];
        tg_fit_ci(r, i, o->ci, &ci[0], &ci[1]);
        for (int k = 0; k < 2; k++) {
            char *name = cmd_xprintf("%s/%s", k ? "ci_high" : "ci_low", r->names[i]);
            fit_put_f64(set, name, 0, NULL, &ci[k]);
            free(name);
        }
    }
    cmd_attr_num(set, "ci_level", o->ci);
    int64_t shape[2] = {p, p};
    fit_put_f64(set, "cov", 2, shape, r->cov);
    double *corr = cmd_xcalloc((size_t)p * (size_t)p, sizeof *corr);
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) { corr[i * p + j] = correlation(r, i, j); }
    fit_put_f64(set, "corr", 2, shape, corr);
    free(corr);
    int64_t nh = r->nhistory;
    fit_put_f64(set, "history", 1, &nh, r->history);

    size_t len = 1;
    for (int i = 0; i < p; i++) len += strlen(r->names[i]) + 1;
    char *names = cmd_xcalloc(len, 1);
    for (int i = 0; i < p; i++) {
        if (i) strcat(names, ",");
        strcat(names, r->names[i]);
    }
    cmd_attr_str(set, "parameters", names);
    free(names);
    cmd_attr_str(set, "model", o->model ? o->model : "line");
    cmd_attr_str(set, "loss_function", o->loss ? o->loss : "mse");
    cmd_attr_str(set, "method", o->method == TG_METHOD_EXACT ? "exact" : "descent");
    if (o->method != TG_METHOD_EXACT) cmd_attr_str(set, "optimizer", o->optimizer_name);
    if (o->lr_given) cmd_attr_num(set, "lr", o->lr);
    cmd_attr_num(set, "loss", r->loss);
    cmd_attr_num(set, "sse", r->sse);
    cmd_attr_num(set, "rms", r->rms);
    cmd_attr_num(set, "chi2", r->chi2);
    cmd_attr_num(set, "chi2_red", r->chi2_red);
    cmd_attr_num(set, "p_value", r->p_value);
    cmd_attr_num(set, "r2", r->r2);
    cmd_attr_num(set, "r2_adj", r->r2_adj);
    cmd_attr_int(set, "converged", r->converged);
    cmd_attr_int(set, "absolute_sigma", r->absolute_sigma);
    cmd_attr_str(set, "stderr", r->stderr_hessian ? "hessian" : "jacobian");
    cmd_attr_int(set, "n", r->n);
    cmd_attr_int(set, "dof", r->dof);
    cmd_attr_int(set, "steps", r->steps);
    cmd_attr_str(set, "stop", fit_stop_name(r));
    cmd_attr_str(set, "input", d->label);
    cmd_attr_str(set, "x", d->xname);
    cmd_attr_str(set, "y", d->yname);
    if (d->wname) cmd_attr_str(set, o->sigma ? "sigma" : "weights", d->wname);
    cmd_attr_seed(set, o->co.seed);
    cmd_attr_str(set, "dtype", tt_dtype_name(o->co.dtype));
    cmd_attr_str(set, "device", tt_device_name(o->co.device));
    return set;
}

/* Text (the report or kv lines) to -o FILE atomically, or to stdout. */
void fit_write_report(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    if (o->out == OUT_H5) {
        tt_tensor_set *set = result_set(o, d, r);
        cmd_write(&o->co, set);
        tt_set_free(set);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) cmd_fail("out of memory");
    if (o->out == OUT_KV) print_kv(f, o, r);
    else if (o->out == OUT_CSV || o->out == OUT_TSV) print_table(f, r, o->out == OUT_CSV ? ',' : '\t');
    else print_text(f, o, d, r);
    if (fclose(f) != 0) cmd_fail("out of memory");
    cmd_write_bytes(o->co.output, buf, len);
    free(buf);
}

void fit_write_history(const fit_opts *o, const tg_fit_result *r)
{
    tt_tensor_set *set = tt_set_new();
    if (!set) cmd_fail("out of memory");
    int64_t n = r->nhistory;
    double *steps = cmd_xcalloc((size_t)n, sizeof *steps);
    for (int64_t i = 0; i < n; i++) steps[i] = (double)(i + 1);
    if (o->history_fmt == TT_FMT_H5) cmd_provenance(set);
    fit_put_f64(set, "step", 1, &n, steps);
    fit_put_f64(set, "loss", 1, &n, r->history);
    free(steps);
    cmd_write_set(o->history, o->history_fmt, set);
    tt_set_free(set);
}

/* ---- warnings ---------------------------------------------------------------- */

/* What the numbers alone would hide, on standard error (see DIAGNOSTICS). */
void fit_warn_about(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    char a[40], b[40];
    if (r->rank < r->nparams) {
        char list[512] = "";
        int nfree = 0;
        for (int i = 0; i < r->nparams && strlen(list) < 400; i++)
            if (!r->determined[i])
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", nfree++ ? ", " : "", r->names[i]);
        cmd_warn("warning: the data do not determine %s (rank %d of %d): %s undetermined", list, r->rank, r->nparams,
                 nfree > 1 ? "their standard errors are" : "its standard error is");
    }
    if (r->dof <= 0 && !r->absolute_sigma)
        cmd_warn(
            "warning: %lld points for %d parameters leave no degrees of freedom: the standard errors are not defined",
            (long long)r->n, r->nparams);
    if (r->tested && !r->converged && r->stop == TG_STOP_STEPS)
        cmd_warn(
            "warning: not converged after %lld steps (the last step changed the loss by %.3g relative; more --steps%s)",
            (long long)r->steps, r->last_change, o->optimizer == TG_OPT_AUTO ? "" : ", a larger --lr or --tol");
    if (r->stalled)
        cmd_warn(
            "warning: not converged: after %lld steps no step reduces the sum of squares, yet the residuals are not "
            "orthogonal to the model's derivatives (a stall; try other --init values)",
            (long long)r->steps);
    if (r->implausible) {
        int i = r->far_param;
        snprintf(a, sizeof a, "%.6g", r->values[i]);
        snprintf(b, sizeof b, "%.6g", r->far_exact);
        cmd_warn(
            "warning: not converged after %lld steps (%s = %s lies %.3g of its standard errors from the optimum of the "
            "same loss, %s%s; more --steps, a larger --lr, or the default method)",
            (long long)r->steps, r->names[i], a, r->far_sigmas, b,
            tg_fit_exact_covers(o->compiled, o->loss_kind) ? ", as --method exact finds it" : "");
    }
    if (r->precision_lost)
        cmd_warn(
            "warning: %s lost precision in the conversion to float32 (rounding errors up to %.3g against a spread of "
            "%.3g); use --dtype f64",
            r->precision_col ? d->yname : d->xname, r->precision_err, r->precision_spread);
}
