/* The losses, in one place: the names, huber's delta, expression losses
 * (parsed once; checked to be sums over points when the data is longer than
 * a block), the norm from a sum over points to the loss, and the loss of a
 * block as a libgrad graph. The per-point derivatives of the built-in losses
 * for line and poly are in kernels.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"

static const struct {
    const char *name;
    tg_loss_kind kind;
} losses[] = {
    {"mse", TG_LOSS_MSE}, {"half-mse", TG_LOSS_HALF_MSE}, {"sse", TG_LOSS_SSE},
    {"l1", TG_LOSS_L1},   {"huber", TG_LOSS_HUBER},       {"orthogonal", TG_LOSS_ORTHOGONAL},
};
#define NLOSSES ((int)(sizeof losses / sizeof losses[0]))

const char *const *tg_loss_names(void)
{
    static const char *names[NLOSSES + 1];
    if (!names[0])
        for (int i = 0; i < NLOSSES; i++) names[i] = losses[i].name;
    return names;
}

static const char known_losses[] =
    "known: mse, half-mse, sse, l1, huber[:DELTA], orthogonal, or an expression over pred, y and x";

tt_status tg_loss_parse(const char *loss, tg_loss_kind *kind, double *delta)
{
    *delta = 1;
    if (!loss) loss = "mse";
    for (int i = 0; i < NLOSSES; i++)
        if (!strcmp(loss, losses[i].name)) {
            *kind = losses[i].kind;
            return TT_OK;
        }
    if (!strncmp(loss, "huber:", 6)) {
        char *end;
        double d = strtod(loss + 6, &end);
        if (!loss[6] || *end || !(d > 0) || !isfinite(d))
            return tt_set_error(TT_EUSAGE, "huber:DELTA needs a positive number DELTA, got '%s'", loss);
        *kind = TG_LOSS_HUBER, *delta = d;
        return TT_OK;
    }
    if (tgf_is_plain_name(loss) && strcmp(loss, "pred") && strcmp(loss, "y") && strcmp(loss, "x"))
        return tt_set_error(TT_EUSAGE, "unknown loss '%s' (%s)", loss, known_losses);
    *kind = TG_LOSS_EXPR;
    return TT_OK;
}

tt_status tg_loss_check_model(tg_loss_kind kind, const tg_model *m)
{
    if (kind == TG_LOSS_ORTHOGONAL && m->kind != TG_MODEL_LINE)
        return tt_set_error(TT_EUSAGE, "the orthogonal loss needs the model 'line' (its parameters w and b), not '%s'",
                            m->text);
    if (kind == TG_LOSS_ORTHOGONAL && m->nx > 1)
        return tt_set_error(TT_EUSAGE, "the orthogonal loss fits a line in one x, not %d x columns", m->nx);
    return TT_OK;
}

bool tg_fit_exact_covers(const tg_model *m, tg_loss_kind kind)
{
    bool squared = kind == TG_LOSS_MSE || kind == TG_LOSS_HALF_MSE || kind == TG_LOSS_SSE;
    return (m->kind != TG_MODEL_EXPR && squared) || (m->kind == TG_MODEL_LINE && kind == TG_LOSS_ORTHOGONAL);
}

tt_status tgf_loss_init(tgf_loss *l, const char *text, const tg_model *m)
{
    memset(l, 0, sizeof *l);
    l->text = text ? text : "mse";
    tt_status st = tg_loss_parse(l->text, &l->kind, &l->delta);
    if (!st) st = tg_loss_check_model(l->kind, m);
    if (st || l->kind != TG_LOSS_EXPR) return st;
    if (tg_expr_check(l->text) || !(l->prog = tg_program_parse(l->text))) return tgf_prefix_error("loss: ");
    static const char *const data[] = {"pred", "y", "x"};
    l->additive = tg_program_is_additive(l->prog, 3, data);
    return TT_OK;
}

void tgf_loss_free(tgf_loss *l)
{
    tg_program_free(l->prog);
    l->prog = NULL;
}

double tgf_loss_norm(tg_loss_kind kind, int64_t n)
{
    switch (kind) {
    case TG_LOSS_SSE:
    case TG_LOSS_EXPR: return 1;
    case TG_LOSS_HALF_MSE:
    case TG_LOSS_ORTHOGONAL: return 0.5 / (double)n;
    default: return 1 / (double)n;
    }
}

tt_tensor *tgf_loss_graph(const tg_model *m, const tgf_loss *l, tg_loss_kind kind, tg_env *menv, tg_env *lenv,
                          const tgf_block *d, tt_tensor *const *P, double total, tgf_arena *ar)
{
    tt_tensor *terms;
    if (kind == TG_LOSS_ORTHOGONAL) { /* (w x - y + b)^2 / (w^2 + 1) */
        tt_tensor *wx = tgf_keep(ar, tg_mul(P[0], d->x));
        tt_tensor *t1 = wx ? tgf_keep(ar, tg_sub(wx, d->y)) : NULL;
        tt_tensor *t = t1 ? tgf_keep(ar, tg_add(t1, P[1])) : NULL;
        tt_tensor *t2 = t ? tgf_keep(ar, tg_pow_scalar(t, 2)) : NULL;
        tt_tensor *w2 = t2 ? tgf_keep(ar, tg_pow_scalar(P[0], 2)) : NULL;
        tt_tensor *den = w2 ? tgf_keep(ar, tg_add_scalar(w2, 1)) : NULL;
        terms = den ? tgf_keep(ar, tg_div(t2, den)) : NULL;
    } else {
        tt_tensor *pred = tgf_model_graph(m, menv, d, P, ar);
        if (!pred) return NULL;
        if (kind == TG_LOSS_EXPR) {
            if (tg_env_set(lenv, "pred", pred) || tg_env_set(lenv, "y", d->y) || tg_env_set(lenv, "x", d->x))
                return NULL;
            for (int i = 0; i < m->np; i++)
                if (tg_env_set(lenv, m->names[i], P[i])) return NULL;
            tg_env_set_mean_divisor(lenv, total);
            tt_tensor *L = tg_program_eval(lenv, l->prog);
            tg_env_set_mean_divisor(lenv, 0);
            if (!L) {
                tgf_prefix_error("loss: ");
                return NULL;
            }
            if (!tgf_keep(ar, L)) return NULL;
            if (tt_numel(L) != 1) {
                char buf[64];
                tt_set_error(TT_ESHAPE, "the loss '%s' must give one value, got shape %s (use mean() or sum())",
                             l->text, tt_shape_str(L->ndim, L->shape, buf, sizeof buf));
                return NULL;
            }
            return L;
        }
        tt_tensor *r = tgf_keep(ar, tg_sub(pred, d->y));
        if (!r) return NULL;
        if (kind == TG_LOSS_L1) {
            terms = tgf_keep(ar, tg_abs(r));
        } else if (kind == TG_LOSS_HUBER) { /* 0.5 q^2 + delta (|r| - q), q = min(|r|, delta) */
            tt_tensor *a = tgf_keep(ar, tg_abs(r));
            tt_tensor *q = a ? tgf_keep(ar, tg_clamp(a, NAN, l->delta)) : NULL;
            tt_tensor *q2 = q ? tgf_keep(ar, tg_pow_scalar(q, 2)) : NULL;
            tt_tensor *hq = q2 ? tgf_keep(ar, tg_mul_scalar(q2, 0.5)) : NULL;
            tt_tensor *aq = hq ? tgf_keep(ar, tg_sub(a, q)) : NULL;
            tt_tensor *daq = aq ? tgf_keep(ar, tg_mul_scalar(aq, l->delta)) : NULL;
            terms = daq ? tgf_keep(ar, tg_add(hq, daq)) : NULL;
        } else {
            terms = tgf_keep(ar, tg_pow_scalar(r, 2));
        }
    }
    if (terms && d->s) terms = tgf_keep(ar, tg_mul(terms, d->s));
    return terms ? tgf_keep(ar, tg_sum(terms)) : NULL;
}
