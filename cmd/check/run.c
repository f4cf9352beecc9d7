/* tg-check's runner: gradcheck, and gradgradcheck with --order 2, of every
 * case of a set, into rows: per input that requires grad (and, for
 * gradgradcheck, per grad_output), the worst over the outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tg/grad.h"

#define SMALL_JACOBIAN 100 /* print both Jacobians of a failure up to this many elements */

/* Flat index -> "[1,2]" for a shape ("[]" for 0-d). */
static void index_str(int64_t flat, int ndim, const int64_t *shape, char *buf, size_t len)
{
    int64_t idx[TT_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t s = shape[d] > 0 ? shape[d] : 1;
        idx[d] = flat % s;
        flat /= s;
    }
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? ",%lld" : "%lld", (long long)idx[d]);
    if (k < len) snprintf(buf + k, len - k, "]");
}

static check_row *new_row(check_results *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        check_row *v = realloc(r->v, (size_t)r->cap * sizeof *v);
        if (!v) cmd_fail("out of memory");
        r->v = v;
    }
    check_row *w = &r->v[r->n++];
    memset(w, 0, sizeof *w);
    return w;
}

void check_results_free(check_results *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->v[i].input);
        free(r->v[i].element);
        free(r->v[i].detail);
    }
    free(r->v);
}

/* The pair's badness: |a - n| / (atol + rtol |n|) at its worst element. */
static double badness(const tg_gradcheck_pair *p, const tg_gradcheck_options *g)
{
    if (p->worst_row < 0) return -1;
    if (isnan(p->worst_abs_err)) return INFINITY;
    return p->worst_abs_err / (g->atol + g->rtol * fabs(p->worst_numerical));
}

/* An error row: the check could not run. */
static void error_row(check_results *res, const check_case *c, int order, const char *msg)
{
    check_row *w = new_row(res);
    w->op = c->op;
    w->what = c->what;
    w->input = cmd_xstrdup("-");
    w->input_index = -1;
    w->order = order;
    w->error = true;
    w->max_abs = w->max_rel = NAN;
    w->element = cmd_xstrdup("-");
    w->detail = cmd_xstrdup(msg);
    res->errors++;
    fprintf(stderr, "%s: %s: %s\n", cmd_name, c->op, msg);
}

/* Rows of one report: per input that requires grad (and, for gradgradcheck,
 * per grad_output), the worst over the outputs. */
static void report_rows(check_results *res, const check_case *c, int order, const tg_gradcheck_report *r, int out_ndim,
                        const int64_t *out_shape)
{
    int first = res->n;
    for (int j = 0; j < r->ndiff_inputs; j++) {
        const tg_gradcheck_pair *worst = NULL;
        bool passed = true;
        double max_abs = 0, max_rel = 0;
        for (int k = 0; k < r->noutputs; k++) {
            const tg_gradcheck_pair *p = &r->pairs[k * r->ndiff_inputs + j];
            passed &= p->passed;
            if (p->max_abs_err > max_abs || isnan(p->max_abs_err)) max_abs = p->max_abs_err;
            if (p->max_rel_err > max_rel || isnan(p->max_rel_err)) max_rel = p->max_rel_err;
            if (!worst || badness(p, &r->options) > badness(worst, &r->options) ||
                (p->passed == false && worst->passed))
                worst = p;
        }
        check_row *w = new_row(res);
        w->op = c->op;
        w->what = c->what;
        w->order = order;
        w->input_index = j;
        w->passed = passed;
        w->max_abs = max_abs;
        w->max_rel = max_rel;
        int in = worst ? worst->input : -1;
        bool is_grad_out = in >= c->ninputs;
        if (!worst) w->input = cmd_xstrdup("-");
        else if (is_grad_out)
            w->input = r->ngrad_outputs > 1 ? cmd_xprintf("grad_out%d", in - c->ninputs) : cmd_xstrdup("grad_out");
        else w->input = cmd_xstrdup(c->names[in]);
        if (!worst || worst->worst_row < 0) {
            w->element = cmd_xstrdup("-");
        } else {
            char a[160], b[160];
            const tt_tensor *xin = is_grad_out ? r->grad_outputs[in - c->ninputs] : c->inputs[in];
            index_str(worst->worst_row, xin->ndim, xin->shape, a, sizeof a);
            if (order == 1) {
                index_str(worst->worst_col, out_ndim, out_shape, b, sizeof b);
                w->element = cmd_xprintf("%s%s -> out%s", w->input, a, b);
            } else {
                /* gradgradcheck's outputs are the gradients of the inputs that require grad */
                int o = worst->output, seen = 0, which = -1;
                for (int i = 0; i < c->ninputs && which < 0; i++)
                    if (tg_requires_grad(c->inputs[i]) && seen++ == o) which = i;
                const tt_tensor *g = which >= 0 ? c->inputs[which] : xin;
                index_str(worst->worst_col, g->ndim, g->shape, b, sizeof b);
                w->element = cmd_xprintf("%s%s -> grad_%s%s", w->input, a, which >= 0 ? c->names[which] : "?", b);
            }
            w->numerical = worst->worst_numerical;
            w->analytical = worst->worst_analytical;
        }
        if (!passed) {
            res->failed++;
            /* the message of the failing pair (PyTorch's), Jacobians when small */
            const tg_gradcheck_pair *p = worst && !worst->passed ? worst : NULL;
            for (int k = 0; !p && k < r->noutputs; k++)
                if (!r->pairs[k * r->ndiff_inputs + j].passed) p = &r->pairs[k * r->ndiff_inputs + j];
            char head[512];
            snprintf(head, sizeof head,
                     "worst element %s: numerical %.17g, analytical %.17g (abs err %.3g, rel err %.3g; "
                     "allowed atol + rtol |numerical| = %.3g)\n",
                     w->element, p->worst_numerical, p->worst_analytical, p->worst_abs_err, p->worst_rel_err,
                     r->options.atol + r->options.rtol * fabs(p->worst_numerical));
            const char *msg = p->message ? p->message : "";
            if (p->rows * p->cols <= SMALL_JACOBIAN) {
                w->detail = cmd_xprintf("%s%s", head, msg);
            } else {
                size_t first_line = strcspn(msg, "\n");
                w->detail = cmd_xprintf("%s%.*s\n(the Jacobians are %lldx%lld: not shown)\n", head, (int)first_line,
                                        msg, (long long)p->rows, (long long)p->cols);
            }
        }
    }
    /* A failure that is no pair's (backward not reentrant, zero grad_output
     * not giving zero gradients): its message goes with the first row. */
    if (!r->passed && res->n > first) {
        bool pairs_ok = true;
        for (int i = first; i < res->n; i++) pairs_ok &= res->v[i].passed;
        if (pairs_ok) {
            check_row *w = &res->v[first];
            w->passed = false;
            res->failed++;
            w->detail = cmd_xprintf("%s\n", r->message ? r->message : "gradcheck failed");
        }
    }
}

/* Runs the checks of one case: gradcheck, and gradgradcheck for order 2. */
static void run_case(const check_opts *o, check_results *res, check_case *c)
{
    /* One plain call first: the output's shape for element indices, and a
     * clear error when the function cannot run at all. */
    tt_tensor *out = NULL;
    TG_NO_GRAD { out = c->fn(c->ninputs, c->inputs, c->ctx); }
    if (!out && tt_last_status() == TT_ESYNTAX && o->mode != MODE_ALL)
        cmd_usage_error("%s", cmd_lib_error()); /* the command line's text, not the op */
    if (!out) {
        error_row(res, c, 1, cmd_lib_error());
        return;
    }
    int out_ndim = out->ndim;
    int64_t out_shape[TT_MAX_DIMS];
    memcpy(out_shape, out->shape, sizeof out_shape);
    tt_release(out);

    for (int order = 1; order <= o->order; order++) {
        tg_gradcheck_report *r = NULL;
        tt_status st = order == 1 ? tg_gradcheck(c->fn, c->ctx, c->ninputs, c->inputs, &o->gc, &r)
                                  : tg_gradgradcheck(c->fn, c->ctx, c->ninputs, c->inputs, NULL, &o->gc, &r);
        if (st != TT_OK || !r) {
            error_row(res, c, order, cmd_lib_error());
            tg_gradcheck_report_free(r);
            return;
        }
        report_rows(res, c, order, r, out_ndim, out_shape);
        tg_gradcheck_report_free(r);
    }
}

void check_run(const check_opts *o, const check_set *s, check_results *res)
{
    for (int i = 0; i < s->n; i++) run_case(o, res, &s->v[i]);
}
