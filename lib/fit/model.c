/* tg_model: what a model is, in one place: the names (line, poly:K), an
 * expression parsed once (its parameters are the parser's free names other
 * than x), the formula for reports and plots, predictions for a chunk of
 * points, and the prediction as a libgrad graph on a block. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_internal.h"

const char *const *tg_model_names(void)
{
    static const char *const names[] = {"line", "poly:K", NULL};
    return names;
}

/* ---- the arena of a graph ------------------------------------------------- */

tt_tensor *tgf_keep(tgf_arena *a, tt_tensor *t)
{
    if (!t) return NULL;
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 32;
        tt_tensor **p = realloc(a->t, sizeof *p * (size_t)cap);
        if (!p) {
            tt_release(t);
            tt_set_error(TT_ENOMEM, "out of memory");
            return NULL;
        }
        a->t = p, a->cap = cap;
    }
    a->t[a->n++] = t;
    return t;
}

void tgf_arena_clear(tgf_arena *a)
{
    for (int i = a->n - 1; i >= 0; i--) tt_release(a->t[i]);
    a->n = 0;
}

void tgf_arena_free(tgf_arena *a)
{
    tgf_arena_clear(a);
    free(a->t);
    a->t = NULL;
    a->cap = 0;
}

tt_status tgf_prefix_error(const char *prefix)
{
    tt_status st = tt_last_status();
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tt_last_error());
    return tt_set_error(st ? st : TT_ERUNTIME, "%s%s", prefix, msg);
}

/* ---- parsing ----------------------------------------------------------------- */

static bool whole_number(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!*s || !isdigit((unsigned char)*s)) return false;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool tgf_is_plain_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_')) return false;
    while (*s && (isalnum((unsigned char)*s) || *s == '_' || *s == '-')) s++;
    return !*s;
}

static tt_status add_param(tg_model *m, const char *name)
{
    if (m->np >= MAX_PARAMS)
        return tt_set_error(TT_EUSAGE, "the model '%s' has more than %d parameters", m->text, MAX_PARAMS);
    if (!(m->names[m->np] = strdup(name))) return tt_set_error(TT_ENOMEM, "out of memory");
    m->np++;
    return TT_OK;
}

static bool is_data_name(const tg_model *m, const char *name)
{
    for (int j = 0; j < m->nx; j++)
        if (!strcmp(m->xnames[j], name)) return true;
    return false;
}

static tt_status parse_model(tg_model *m)
{
    const char *model = m->text;
    if (!strcmp(model, "line")) {
        m->kind = TG_MODEL_LINE, m->K = 1;
        if (m->nx == 1) return add_param(m, "w") || add_param(m, "b") ? tt_last_status() : TT_OK;
        for (int j = 0; j < m->nx; j++) { /* w_ and the column's name as a shell name */
            char name[96];
            snprintf(name, sizeof name, "w_%s", m->xnames[j]);
            for (char *c = name + 2; *c; c++)
                if (!(isalnum((unsigned char)*c) || *c == '_')) *c = '_';
            if (tg_model_param_index(m, name) >= 0)
                return tt_set_error(TT_EUSAGE, "the x columns '%s' and another one both make the coefficient '%s'",
                                    m->xnames[j], name);
            if (add_param(m, name)) return tt_last_status();
        }
        return add_param(m, "b");
    }
    if (!strncmp(model, "poly:", 5) || !strcmp(model, "poly")) {
        long K;
        if (!model[4] || !whole_number(model + 5, 0, TG_MODEL_MAX_POLY, &K))
            return tt_set_error(TT_EUSAGE, "the model 'poly:K' needs a whole degree K from 0 to %d, got '%s'",
                                TG_MODEL_MAX_POLY, model);
        m->kind = TG_MODEL_POLY, m->K = (int)K;
        if (m->nx > 1) return tt_set_error(TT_EUSAGE, "the model 'poly:%ld' takes one x column, not %d", K, m->nx);
        for (int k = 0; k <= K; k++) {
            char name[16];
            snprintf(name, sizeof name, "c%d", k);
            if (add_param(m, name)) return tt_last_status();
        }
        return TT_OK;
    }
    if (tgf_is_plain_name(model) && strcmp(model, "x"))
        return tt_set_error(TT_EUSAGE,
                            "unknown model '%s' (known: line, poly:K, or an expression over x and named "
                            "parameters such as 'a*exp(k*x)')",
                            model);
    m->kind = TG_MODEL_EXPR;
    if (tg_expr_check(model) || !(m->prog = tg_program_parse(model))) return tgf_prefix_error("model: ");
    m->elementwise = tg_program_is_elementwise(m->prog, m->nx, (const char *const *)m->xnames);
    for (int i = 0; i < tg_program_nnames(m->prog); i++) {
        const char *name = tg_program_name(m->prog, i);
        double constant;
        if (is_data_name(m, name) || tg_expr_constant(name, &constant)) continue; /* pi is no parameter */
        if (!strcmp(name, "y") || !strcmp(name, "pred"))
            return tt_set_error(TT_EUSAGE,
                                "the model '%s' uses '%s', which names the data (the model is a function of x "
                                "and its parameters)",
                                model, name);
        if (add_param(m, name)) return tt_last_status();
    }
    const char *names[TGF_MAX_X + MAX_PARAMS];
    for (int j = 0; j < m->nx; j++) names[j] = m->xnames[j];
    for (int i = 0; i < m->np; i++) names[m->nx + i] = m->names[i];
    m->params_elementwise = tg_program_is_elementwise(m->prog, m->nx + m->np, names);
    return TT_OK;
}

tt_status tg_model_new(const char *model, tg_model **out) { return tg_model_new_with_data(model, 0, NULL, out); }

tt_status tg_model_new_with_data(const char *model, int nx, const char *const *x_names, tg_model **out)
{
    *out = NULL;
    if (nx < 0 || nx > TGF_MAX_X || (nx > 0 && !x_names))
        return tt_set_error(TT_EUSAGE, "a model takes 1 to %d x columns, not %d", TGF_MAX_X, nx);
    tg_model *m = calloc(1, sizeof *m);
    if (!m || !(m->text = strdup(model ? model : "line"))) {
        free(m);
        return tt_set_error(TT_ENOMEM, "out of memory");
    }
    m->nx = nx > 0 ? nx : 1;
    for (int j = 0; j < m->nx; j++)
        if (!(m->xnames[j] = strdup(nx > 0 ? x_names[j] : "x"))) {
            tg_model_free(m);
            return tt_set_error(TT_ENOMEM, "out of memory");
        }
    tt_status st = parse_model(m);
    if (st) {
        tg_model_free(m);
        return st;
    }
    *out = m;
    return TT_OK;
}

void tg_model_free(tg_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->np; i++) free(m->names[i]);
    for (int j = 0; j < m->nx; j++) free(m->xnames[j]);
    tg_program_free(m->prog);
    free(m->text);
    free(m);
}

tg_model_kind tg_model_get_kind(const tg_model *m) { return m->kind; }
const char *tg_model_text(const tg_model *m) { return m->text; }
int tg_model_degree(const tg_model *m) { return m->kind == TG_MODEL_EXPR ? 0 : m->K; }
int tg_model_nparams(const tg_model *m) { return m->np; }
int tg_model_nx(const tg_model *m) { return m->nx; }
const char *tg_model_x_name(const tg_model *m, int j) { return j >= 0 && j < m->nx ? m->xnames[j] : NULL; }
const char *tg_model_param(const tg_model *m, int i) { return i >= 0 && i < m->np ? m->names[i] : NULL; }

int tg_model_param_index(const tg_model *m, const char *name)
{
    for (int i = 0; name && i < m->np; i++)
        if (!strcmp(m->names[i], name)) return i;
    return -1;
}

const char *tg_model_formula(const tg_model *m, char *buf, size_t n)
{
    if (m->kind == TG_MODEL_LINE && m->nx > 1) {
        size_t len = (size_t)snprintf(buf, n, "y =");
        for (int j = 0; j < m->nx && len < n; j++)
            len += (size_t)snprintf(buf + len, n - len, " %s*%s +", m->names[j], m->xnames[j]);
        if (len < n) snprintf(buf + len, n - len, " b");
    } else if (m->kind == TG_MODEL_LINE) snprintf(buf, n, "y = w*x + b");
    else if (m->kind == TG_MODEL_POLY) {
        size_t len = (size_t)snprintf(buf, n, "y = c0");
        for (int i = 1; i <= m->K && len < n; i++)
            len += (size_t)snprintf(buf + len, n - len, i == 1 ? " + c1*x" : " + c%d*x^%d", i, i);
    } else snprintf(buf, n, "y = %s", m->text);
    return buf;
}

/* ---- the prediction ---------------------------------------------------------- */

tt_tensor *tgf_model_graph(const tg_model *m, tg_env *env, const tgf_block *d, tt_tensor *const *P, tgf_arena *ar)
{
    switch (m->kind) {
    case TG_MODEL_LINE: {
        tt_tensor *acc = P[m->nx];
        for (int j = 0; j < m->nx; j++) {
            tt_tensor *wx = tgf_keep(ar, tg_mul(P[j], d->xs[j]));
            if (!wx || !(acc = tgf_keep(ar, tg_add(wx, acc)))) return NULL;
        }
        return acc;
    }
    case TG_MODEL_POLY: {
        if (m->K == 0) return tgf_keep(ar, tg_expand(P[0], 1, &d->n));
        tt_tensor *acc = P[0], *xk = d->x;
        for (int k = 1; k <= m->K; k++) {
            if (k > 1 && !(xk = tgf_keep(ar, tt_mul(xk, d->x)))) return NULL; /* x^k: data, no graph */
            tt_tensor *term = tgf_keep(ar, tg_mul(P[k], xk));
            if (!term || !(acc = tgf_keep(ar, tg_add(acc, term)))) return NULL;
        }
        return acc;
    }
    case TG_MODEL_EXPR: {
        for (int j = 0; j < m->nx; j++)
            if (tg_env_set(env, m->xnames[j], d->xs[j])) return NULL;
        for (int i = 0; i < m->np; i++)
            if (tg_env_set(env, m->names[i], P[i])) return NULL;
        tt_tensor *pred = tg_program_eval(env, m->prog);
        if (!pred) {
            tgf_prefix_error("model: ");
            return NULL;
        }
        if (!tgf_keep(ar, pred)) return NULL;
        int64_t k = tt_numel(pred);
        if (k != d->n && k != 1) {
            tt_set_error(TT_ESHAPE, "the model '%s' gives %lld values for %lld points", m->text, (long long)k,
                         (long long)d->n);
            return NULL;
        }
        return pred;
    }
    }
    return NULL;
}

tt_status tg_model_predict(const tg_model *m, const double *theta, const double *x, int64_t n, double *pred)
{
    if (m->nx != 1) return tt_set_error(TT_EUSAGE, "the model '%s' takes %d x columns", m->text, m->nx);
    return tg_model_predict_cols(m, theta, &x, n, pred);
}

tt_status tg_model_predict_cols(const tg_model *m, const double *theta, const double *const *xs, int64_t n,
                                double *pred)
{
    const double *x = xs[0];
    if (m->kind == TG_MODEL_LINE) {
        for (int64_t i = 0; i < n; i++) {
            double acc = theta[m->nx];
            for (int j = 0; j < m->nx; j++) acc += theta[j] * xs[j][i];
            pred[i] = acc;
        }
        return TT_OK;
    }
    if (m->kind == TG_MODEL_POLY) {
        for (int64_t i = 0; i < n; i++) {
            double acc = 0;
            for (int k = m->K; k >= 0; k--) acc = acc * x[i] + theta[k];
            pred[i] = acc;
        }
        return TT_OK;
    }
    if (n == 0) return TT_OK;
    tg_env *env = tg_env_new();
    if (!env) return tt_last_status();
    tg_env_set_dtype(env, TT_F64);
    tt_tensor *P[MAX_PARAMS] = {0};
    tgf_arena ar = {0};
    tt_status st = TT_OK;
    for (int i = 0; i < m->np && !st; i++)
        if (!(P[i] = tt_scalar(theta[i], TT_F64, TT_CPU))) st = tt_last_status();
    /* chunks of a block: an expression model is elementwise (or evaluated whole) */
    int64_t chunk = m->elementwise ? BLOCK : n;
    for (int64_t at = 0; at < n && !st; at += chunk) {
        int64_t k = n - at < chunk ? n - at : chunk;
        tgf_block d = {.n = k};
        bool ok = true;
        for (int j = 0; j < m->nx && ok; j++)
            ok = (d.xs[j] = tgf_keep(&ar, tt_from_data(1, &k, TT_F64, xs[j] + at, TT_CPU))) != NULL;
        d.x = d.xs[0];
        bool prev = tg_set_grad_enabled(false);
        tt_tensor *p = ok ? tgf_model_graph(m, env, &d, P, &ar) : NULL;
        tg_set_grad_enabled(prev);
        tt_tensor *full = p ? tgf_keep(&ar, tt_expand(p, 1, &k)) : NULL; /* a constant model gives one value */
        st = full ? tt_to_host(full, TT_F64, pred + at) : tt_last_status() ? tt_last_status() : TT_ERUNTIME;
        tgf_arena_clear(&ar);
    }
    tgf_arena_free(&ar);
    for (int i = 0; i < m->np; i++) tt_release(P[i]);
    tg_env_free(env);
    return st;
}
