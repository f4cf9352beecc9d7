/* The functions of the expression language: a table of name, arity,
 * parameter names (for keyword arguments) and handler. A handler evaluates
 * its own arguments, because some are read as plain integers (dims, sizes,
 * [3, 4] as a shape) rather than as tensors. Also: the suggestions for
 * unknown names (nearest by edit distance). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

#define EX_MAX_PARAMS 4 /* keyword arguments a function can have */
typedef struct ex_func ex_func;
typedef struct {
    const ex_func *f;
    const ex_node *node;
    const ex_node *arg[EX_MAX_ARGS]; /* by parameter position; NULL when not given */
    bool keyword[EX_MAX_ARGS];       /* given as NAME = expr */
    int nargs;                       /* how many were given */
} call;
typedef int (*handler)(ex_eval *E, const call *c, ex_val *out);
struct ex_func {
    const char *name;
    int min, max;                      /* argument counts */
    const char *params[EX_MAX_PARAMS]; /* names usable as keywords, by position */
    handler fn;
    int op;           /* tt_unary_op, tt_reduce_op, ... for handlers shared by several names */
    bool elementwise; /* each output element depends on the same element of the inputs only */
};

/* ---- argument helpers (0 ok, -1 with the error set) ------------------------- */
/* "a tensor", or the number in the fewest digits that read back exactly. */
static const char *describe(const ex_val *v, char buf[32])
{
    if (v->t) return "a tensor";
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v->num);
        if (strtod(buf, NULL) == v->num) break;
    }
    return buf;
}

static bool given(const call *c, int i) { return i < EX_MAX_ARGS && c->arg[i]; }

static int arg_value(ex_eval *E, const call *c, int i, ex_val *v) { return ex_eval_node(E, c->arg[i], v); }

/* A tensor argument; a number becomes a 0-d tensor of the env's dtype. */
static int arg_tensor(ex_eval *E, const call *c, int i, tt_tensor **t)
{
    ex_val v;
    if (arg_value(E, c, i, &v)) return -1;
    *t = v.t ? v.t : ex_number_tensor(E->env, v.num);
    return *t ? 0 : -1;
}

static int arg_number(ex_eval *E, const call *c, int i, const char *what, double *x)
{
    ex_val v;
    if (arg_value(E, c, i, &v)) return -1;
    if (v.t) {
        tt_release(v.t);
        return tt_set_error(TT_EINVAL, "%s(): %s must be a number, got a tensor (at column %d)", c->f->name, what,
                            c->arg[i]->col),
               -1;
    }
    *x = v.num;
    return 0;
}

static int node_int(ex_eval *E, const call *c, const ex_node *n, const char *what, int64_t *out)
{
    ex_val v;
    if (ex_eval_node(E, n, &v)) return -1;
    if (v.t || v.num != floor(v.num) || fabs(v.num) > 1e15) {
        char buf[32];
        tt_set_error(TT_EINVAL, "%s(): %s must be an integer, got %s (at column %d)", c->f->name, what,
                     describe(&v, buf), n->col);
        tt_release(v.t);
        return -1;
    }
    *out = (int64_t)v.num;
    return 0;
}

static int arg_int(ex_eval *E, const call *c, int i, const char *what, int *out)
{
    int64_t v;
    if (node_int(E, c, c->arg[i], what, &v)) return -1;
    if (v < -1000000 || v > 1000000)
        return tt_set_error(TT_EINVAL, "%s(): %s %lld is out of range (at column %d)", c->f->name, what, (long long)v,
                            c->arg[i]->col),
               -1;
    *out = (int)v;
    return 0;
}

static int arg_bool(ex_eval *E, const call *c, int i, const char *what, bool *out)
{
    ex_val v = {0};
    if (arg_number(E, c, i, what, &v.num)) return -1;
    char buf[32];
    if (v.num != 0 && v.num != 1)
        return tt_set_error(TT_EINVAL, "%s(): %s must be true or false, got %s (at column %d)", c->f->name, what,
                            describe(&v, buf), c->arg[i]->col),
               -1;
    *out = v.num != 0;
    return 0;
}

/* Integers from arguments first..nargs-1, or from one list literal there:
 * reshape(x, 3, 4) and reshape(x, [3, 4]) alike. */
static int arg_ints(ex_eval *E, const call *c, int first, const char *what, int64_t *out, int *n)
{
    const ex_node *const *src = c->arg + first;
    int count = c->nargs - first;
    const ex_node *list = count == 1 && src[0]->kind == N_LIST ? src[0] : NULL;
    if (list) count = list->nitems;
    if (count > TT_MAX_DIMS)
        return tt_set_error(TT_EINVAL, "%s(): at most %d %s, got %d (at column %d)", c->f->name, TT_MAX_DIMS, what,
                            count, c->node->col),
               -1;
    for (int k = 0; k < count; k++)
        if (node_int(E, c, list ? list->items[k].node : src[k], what, &out[k])) return -1;
    *n = count;
    return 0;
}

static int done(ex_val *out, tt_tensor *r, const call *c)
{
    out->t = r;
    return r ? 0 : (ex_op_error(c->f->name, c->node->col), -1);
}

/* ---- handlers ----------------------------------------------------------------- */
static int f_unary(ex_eval *E, const call *c, ex_val *out)
{
    ex_val v;
    if (arg_value(E, c, 0, &v)) return -1;
    if (!v.t) return ex_fold(c->f->op, false, v.num, 0, &out->num) ? (ex_op_error(c->f->name, c->node->col), -1) : 0;
    tt_tensor *r = tg_unary(c->f->op, v.t);
    tt_release(v.t);
    return done(out, r, c);
}

/* reduction='mean' (the default), 'sum' or 'none': a string literal. */
static int arg_reduction(const call *c, int i, tg_reduction *r)
{
    *r = TG_REDUCTION_MEAN;
    if (!given(c, i)) return 0;
    const ex_node *n = c->arg[i];
    if (n->kind != N_STR)
        return tt_set_error(TT_EINVAL, "%s(): reduction must be 'mean', 'sum' or 'none' (at column %d)", c->f->name,
                            n->col),
               -1;
    char s[64];
    snprintf(s, sizeof s, "%.*s", n->namelen, n->name);
    return tg_reduction_parse(s, r) ? (ex_op_error(c->f->name, n->col), -1) : 0;
}

/* NAME(input, target, reduction='mean'[, param]): the op table's losses, and
 * l1_loss (op -1), composed. A number becomes a 0-d tensor. */
static int f_loss(ex_eval *E, const call *c, ex_val *out)
{
    tg_reduction r;
    double param = 0;
    if (c->f->op >= 0) tg_loss_param((tg_loss_op)c->f->op, &param);
    if (arg_reduction(c, 2, &r) || (given(c, 3) && arg_number(E, c, 3, c->f->params[3], &param))) return -1;
    tt_tensor *x, *t;
    if (arg_tensor(E, c, 0, &x)) return -1;
    if (arg_tensor(E, c, 1, &t)) return tt_release(x), -1;
    tt_tensor *res = c->f->op < 0 ? tg_l1_loss(x, t, r) : tg_loss((tg_loss_op)c->f->op, x, t, r, param);
    tt_release(x);
    tt_release(t);
    return done(out, res, c);
}

/* logsumexp(x, dim[, keepdim]): dim an integer or a list of them. */
static int f_logsumexp(ex_eval *E, const call *c, ex_val *out)
{
    int64_t d64[TT_MAX_DIMS];
    int dims[TT_MAX_DIMS], ndims = 1;
    bool keepdim = false;
    if (c->arg[1]->kind == N_LIST) {
        call one = *c;
        one.arg[0] = c->arg[1], one.nargs = 1;
        if (arg_ints(E, &one, 0, "dim", d64, &ndims)) return -1;
        for (int i = 0; i < ndims; i++) dims[i] = (int)d64[i];
    } else if (arg_int(E, c, 1, "dim", &dims[0])) {
        return -1;
    }
    if (given(c, 2) && arg_bool(E, c, 2, "keepdim", &keepdim)) return -1;
    tt_tensor *x;
    if (arg_tensor(E, c, 0, &x)) return -1;
    tt_tensor *r = tg_logsumexp(x, dims, ndims, keepdim);
    tt_release(x);
    return done(out, r, c);
}

/* cumsum(x, dim): the op table's scans. */
static int f_scan(ex_eval *E, const call *c, ex_val *out)
{
    int dim;
    if (arg_int(E, c, 1, "dim", &dim)) return -1;
    tt_tensor *x;
    if (arg_tensor(E, c, 0, &x)) return -1;
    tt_tensor *r = tg_scan((tt_scan_op)c->f->op, x, dim, false);
    tt_release(x);
    return done(out, r, c);
}

/* square(x) is pow(x, 2), as PyTorch composes it (PowBackward0). */
static int f_square(ex_eval *E, const call *c, ex_val *out)
{
    ex_val v;
    if (arg_value(E, c, 0, &v)) return -1;
    return ex_binop(TT_POW, c->f->name, c->node->col, v, (ex_val){NULL, 2}, out);
}

static int f_binary(ex_eval *E, const call *c, ex_val *out) /* pow, matmul */
{
    ex_val a, b;
    if (arg_value(E, c, 0, &a)) return -1;
    if (arg_value(E, c, 1, &b)) return tt_release(a.t), -1;
    return ex_binop(c->f->op, c->f->name, c->node->col, a, b, out);
}

/* sum/mean/prod(x[, dim[, keepdim]]): dim an integer or a list of them. */
static int f_reduce(ex_eval *E, const call *c, ex_val *out)
{
    int64_t d64[TT_MAX_DIMS];
    int dims[TT_MAX_DIMS], ndims = 0;
    bool keepdim = false;
    if (given(c, 1)) {
        if (c->arg[1]->kind == N_LIST && c->f->op != TT_PROD) {
            call one = *c;
            one.arg[0] = c->arg[1], one.nargs = 1;
            if (arg_ints(E, &one, 0, "dim", d64, &ndims)) return -1;
            for (int i = 0; i < ndims; i++) dims[i] = (int)d64[i];
        } else {
            if (arg_int(E, c, 1, "dim", &dims[0])) return -1;
            ndims = 1;
        }
    }
    if (given(c, 2) && arg_bool(E, c, 2, "keepdim", &keepdim)) return -1;
    tt_tensor *x;
    if (arg_tensor(E, c, 0, &x)) return -1;
    tt_tensor *r;
    if (c->f->op == TT_MEAN && !ndims && E->env->mean_divisor > 0) { /* a block's share of a mean over all points */
        tt_tensor *s = tg_sum(x);
        r = s ? tg_binary_scalar(TT_DIV, s, E->env->mean_divisor) : NULL;
        tt_release(s);
    } else {
        r = tg_reduce(c->f->op, x, ndims ? dims : NULL, ndims, keepdim);
    }
    tt_release(x);
    return done(out, r, c);
}

/* max/min(x): all elements; (x, dim[, keepdim]) with dim an integer literal
 * or dim=: values along dim; (a, b) otherwise, or when a is a number:
 * elementwise (torch.maximum, a number taking the tensor's dtype). */
static int f_extreme(ex_eval *E, const call *c, ex_val *out)
{
    const ex_node *second = c->arg[1];
    const ex_node *lit = second && second->kind == N_NEG ? second->items[0].node : second;
    ex_val x;
    if (arg_value(E, c, 0, &x)) return -1;
    bool by_dim = c->arg[2] || c->keyword[1] || (second && x.t && lit->kind == N_NUM && lit->is_int);
    if (second && !by_dim) {
        ex_val b;
        if (arg_value(E, c, 1, &b)) return tt_release(x.t), -1;
        return ex_binop(c->f->op == TT_MAX ? TT_MAXIMUM : TT_MINIMUM, c->f->name, c->node->col, x, b, out);
    }
    int dim = 0;
    bool keepdim = false;
    if ((second && arg_int(E, c, 1, "dim", &dim)) || (given(c, 2) && arg_bool(E, c, 2, "keepdim", &keepdim)) ||
        (!x.t && !(x.t = ex_number_tensor(E->env, x.num))))
        return tt_release(x.t), -1;
    tt_tensor *r = !second              ? tg_reduce(c->f->op, x.t, NULL, 0, keepdim)
                   : c->f->op == TT_MAX ? tg_max_dim(x.t, dim, keepdim, NULL)
                                        : tg_min_dim(x.t, dim, keepdim, NULL);
    tt_release(x.t);
    return done(out, r, c);
}

static int f_transpose(ex_eval *E, const call *c, ex_val *out)
{
    if (c->nargs == 2)
        return tt_set_error(TT_EINVAL, "transpose() takes 1 or 3 arguments, got 2 (at column %d)", c->node->col), -1;
    int d0 = 0, d1 = 0;
    if (c->nargs == 3 && (arg_int(E, c, 1, "dim0", &d0) || arg_int(E, c, 2, "dim1", &d1))) return -1;
    tt_tensor *x;
    if (arg_tensor(E, c, 0, &x)) return -1;
    tt_tensor *r;
    if (c->nargs == 3) r = tg_transpose(x, d0, d1);
    else if (x->ndim <= 2) r = tg_t(x);
    else r = NULL, tt_set_error(TT_EINVAL, "a %d-D tensor needs the two dims to swap: transpose(x, d0, d1)", x->ndim);
    tt_release(x);
    return done(out, r, c);
}

static int f_shape(ex_eval *E, const call *c, ex_val *out) /* reshape, expand */
{
    int64_t shape[TT_MAX_DIMS];
    int n;
    if (arg_ints(E, c, 1, "sizes", shape, &n)) return -1;
    tt_tensor *x;
    if (arg_tensor(E, c, 0, &x)) return -1;
    tt_tensor *r = c->f->op ? tg_expand(x, n, shape) : tg_reshape(x, n, shape);
    tt_release(x);
    return done(out, r, c);
}

/* where(cond, a, b): a number a or b takes the other's dtype (both numbers:
 * the env's), as torch.where(c, x, 1.) does. */
static int f_where(ex_eval *E, const call *c, ex_val *out)
{
    ex_val v[3] = {{0}};
    tt_tensor *r = NULL;
    int i;
    for (i = 0; i < 3; i++)
        if (arg_value(E, c, i, &v[i])) goto fail;
    for (i = 0; i < 3; i++)
        if (!v[i].t) {
            const tt_tensor *other = i == 1 ? v[2].t : i == 2 ? v[1].t : NULL;
            tt_dtype dt = i == 0 ? TT_BOOL : other ? other->dtype : E->env->dtype;
            if (!(v[i].t = tt_scalar(v[i].num, dt, E->env->device))) goto fail;
        }
    r = tg_where(v[0].t, v[1].t, v[2].t);
    for (i = 0; i < 3; i++) tt_release(v[i].t);
    return done(out, r, c);
fail:
    for (i = 0; i < 3; i++) tt_release(v[i].t);
    return -1;
}

static int f_clamp(ex_eval *E, const call *c, ex_val *out)
{
    double lo = NAN, hi = NAN;
    if (given(c, 1) && arg_number(E, c, 1, "min", &lo)) return -1;
    if (given(c, 2) && arg_number(E, c, 2, "max", &hi)) return -1;
    if (!given(c, 1) && !given(c, 2))
        return tt_set_error(TT_EINVAL, "clamp(): give min, max or both (at column %d)", c->node->col), -1;
    tt_tensor *x;
    if (arg_tensor(E, c, 0, &x)) return -1;
    tt_tensor *r = tg_clamp(x, lo, hi);
    tt_release(x);
    return done(out, r, c);
}

static int f_softmax(ex_eval *E, const call *c, ex_val *out)
{
    int dim = -1;
    if (given(c, 1) && arg_int(E, c, 1, "dim", &dim)) return -1;
    tt_tensor *x;
    if (arg_tensor(E, c, 0, &x)) return -1;
    tt_tensor *r = c->f->op ? tg_log_softmax(x, dim) : tg_softmax(x, dim);
    tt_release(x);
    return done(out, r, c);
}

enum { C_ONES, C_ZEROS, C_RAND, C_RANDN };
static int f_fill(ex_eval *E, const call *c, ex_val *out) /* ones zeros rand randn */
{
    int64_t shape[TT_MAX_DIMS];
    int n;
    if (arg_ints(E, c, 0, "sizes", shape, &n)) return -1;
    tg_env *env = E->env;
    switch (c->f->op) {
    case C_ONES: return done(out, tt_ones(n, shape, env->dtype, env->device), c);
    case C_ZEROS: return done(out, tt_zeros(n, shape, env->dtype, env->device), c);
    case C_RAND: return done(out, tt_rand(n, shape, env->dtype, env->device, &env->gen), c);
    default: return done(out, tt_randn(n, shape, env->dtype, env->device, &env->gen), c);
    }
}

static int f_arange(ex_eval *E, const call *c, ex_val *out) /* arange(end), arange(start, end[, step]) */
{
    double start = 0, end, step = 1;
    if (!given(c, 1) && !given(c, 2)) {
        if (arg_number(E, c, 0, "end", &end)) return -1;
    } else if (!given(c, 1)) {
        return tt_set_error(TT_EINVAL, "arange(): end is missing (at column %d)", c->node->col), -1;
    } else if (arg_number(E, c, 0, "start", &start) || arg_number(E, c, 1, "end", &end) ||
               (given(c, 2) && arg_number(E, c, 2, "step", &step))) {
        return -1;
    }
    return done(out, tt_arange(start, end, step, E->env->dtype, E->env->device), c);
}

static int f_linspace(ex_eval *E, const call *c, ex_val *out)
{
    double lo, hi;
    int64_t steps;
    if (arg_number(E, c, 0, "start", &lo) || arg_number(E, c, 1, "end", &hi) ||
        node_int(E, c, c->arg[2], "steps", &steps))
        return -1;
    return done(out, tt_linspace(lo, hi, steps, E->env->dtype, E->env->device), c);
}

/* The op table's functions (tg/ops.def) first, then the others. */
#define UNARY_EXPR(name, ENUM) {#name, 1, 1, {"x"}, f_unary, TT_##ENUM, true},
#define UNARY_NOEXPR(name, ENUM)
#define BINARY_EXPR_OTHER(name, ENUM) {#name, 2, 2, {"x", "other"}, f_binary, TT_##ENUM, true},
#define BINARY_EXPR_EXPONENT(name, ENUM) {#name, 2, 2, {"x", "exponent"}, f_binary, TT_##ENUM, true},
#define BINARY_NOEXPR(name, ENUM)
#define REDUCE_REDUCE(name, ENUM) {#name, 1, 3, {"x", "dim", "keepdim"}, f_reduce, TT_##ENUM, false},
#define REDUCE_EXTREME(name, ENUM) {#name, 1, 3, {"x", "dim", "keepdim"}, f_extreme, TT_##ENUM, false},
static const ex_func funcs[] = {
#define TT_UNARY_OP(ENUM, name, ints, Node, saves, derivative, expr, ...) UNARY_##expr(name, ENUM)
#define TT_BINARY_OP(ENUM, name, kind, Node, saves, da, db, expr, ...) BINARY_##expr(name, ENUM)
#define TT_REDUCE_OP(ENUM, name, NodeAll, NodeDim, saves, bw, bw_dim, expr, ...) REDUCE_##expr(name, ENUM)
#define TT_SCAN_OP(ENUM, name, ...) {#name, 2, 2, {"x", "dim"}, f_scan, TT_##ENUM, false},
#define TT_LOSS_OP(ENUM, name, Node, param, ...) \
    {#name, 2, (param) ? 4 : 3, {"input", "target", "reduction", param}, f_loss, TG_##ENUM, false},
#include "tg/ops.def"
    {"l1_loss", 2, 3, {"input", "target", "reduction"}, f_loss, -1, false},
    {"logsumexp", 2, 3, {"x", "dim", "keepdim"}, f_logsumexp, 0, false},
    {"square", 1, 1, {"x"}, f_square, 0, true},
    {"matmul", 2, 2, {"x", "other"}, f_binary, EX_MATMUL, false},
    {"transpose", 1, 3, {"x", "dim0", "dim1"}, f_transpose, 0, false},
    {"reshape", 2, EX_MAX_ARGS, {0}, f_shape, 0, false},
    {"expand", 2, EX_MAX_ARGS, {0}, f_shape, 1, false},
    {"where", 3, 3, {"condition", "x", "y"}, f_where, 0, true},
    {"clamp", 1, 3, {"x", "min", "max"}, f_clamp, 0, true},
    {"softmax", 1, 2, {"x", "dim"}, f_softmax, 0, false},
    {"log_softmax", 1, 2, {"x", "dim"}, f_softmax, 1, false},
    {"ones", 1, TT_MAX_DIMS, {0}, f_fill, C_ONES, false},
    {"zeros", 1, TT_MAX_DIMS, {0}, f_fill, C_ZEROS, false},
    {"rand", 1, TT_MAX_DIMS, {0}, f_fill, C_RAND, false},
    {"randn", 1, TT_MAX_DIMS, {0}, f_fill, C_RANDN, false},
    {"arange", 1, 3, {"start", "end", "step"}, f_arange, 0, false},
    {"linspace", 3, 3, {"start", "end", "steps"}, f_linspace, 0, false},
};
#define NFUNCS ((int)(sizeof funcs / sizeof funcs[0]))

const char *const *tg_expr_functions(void)
{
    static const char *names[NFUNCS + 1];
    if (!names[0])
        for (int i = 0; i < NFUNCS; i++) names[i] = funcs[i].name;
    return names;
}

static const ex_func *find_func(const char *name, int len)
{
    for (int i = 0; i < NFUNCS; i++)
        if ((int)strlen(funcs[i].name) == len && !strncmp(funcs[i].name, name, (size_t)len)) return &funcs[i];
    return NULL;
}

/* Maps positional and keyword arguments to parameter positions, checking
 * the count (Python's rules: no positional after a keyword, no repeats). */
static int bind_args(const ex_func *f, const ex_node *n, call *c)
{
    memset(c, 0, sizeof *c);
    c->f = f, c->node = n, c->nargs = n->nitems;
    if (n->nitems < f->min || n->nitems > f->max) {
        char range[48];
        if (f->min == f->max) snprintf(range, sizeof range, "%d argument%s", f->min, f->min == 1 ? "" : "s");
        else snprintf(range, sizeof range, "%d to %d arguments", f->min, f->max);
        return tt_set_error(TT_EINVAL, "%s() takes %s, got %d (at column %d)", f->name, range, n->nitems, n->col), -1;
    }
    bool keywords = false;
    for (int i = 0; i < n->nitems; i++) {
        const ex_item *it = &n->items[i];
        int p = i;
        if (it->name) {
            keywords = true;
            for (p = 0; p < EX_MAX_PARAMS && !(f->params[p] && (int)strlen(f->params[p]) == it->namelen &&
                                               !strncmp(f->params[p], it->name, (size_t)it->namelen));
                 p++) {}
            if (p == EX_MAX_PARAMS)
                return tt_set_error(TT_EINVAL, "%s() got an unexpected keyword argument '%.*s' (at column %d)", f->name,
                                    it->namelen, it->name, it->col),
                       -1;
            if (c->arg[p])
                return tt_set_error(TT_EINVAL, "%s() got multiple values for argument '%s' (at column %d)", f->name,
                                    f->params[p], it->node->col),
                       -1;
        } else if (keywords) {
            return tt_set_error(TT_EINVAL, "%s(): positional argument after a keyword argument (at column %d)", f->name,
                                it->node->col),
                   -1;
        }
        c->arg[p] = it->node;
        c->keyword[p] = it->name != NULL;
    }
    if (!c->arg[0])
        return tt_set_error(TT_EINVAL, "%s() is missing its first argument '%s' (at column %d)", f->name, f->params[0],
                            n->col),
               -1;
    return 0;
}

bool ex_call_elementwise(const ex_node *n)
{
    const ex_func *f = find_func(n->name, n->namelen);
    if (!f) return false;
    if (f->fn == f_extreme) { /* max(a, b) is elementwise; max(x), max(x, 0) and max(x, dim=0) reduce */
        if (n->nitems != 2 || n->items[0].name || n->items[1].name) return false;
        const ex_node *second = n->items[1].node;
        const ex_node *lit = second->kind == N_NEG ? second->items[0].node : second;
        return !(lit->kind == N_NUM && lit->is_int);
    }
    return f->elementwise;
}

int ex_call(ex_eval *E, const ex_node *n, ex_val *out)
{
    *out = (ex_val){0};
    const ex_func *f = find_func(n->name, n->namelen);
    if (!f) return ex_unknown_name(E->env, n, true), -1;
    call c;
    if (bind_args(f, n, &c)) return -1;
    return f->fn(E, &c, out);
}

/* ---- constants ------------------------------------------------------------------- *
 * Python numbers, as torch's math.pi ...; a bound name of the same spelling wins. */
static const struct {
    const char *name;
    double value;
} constants[] = {
    {"pi", 3.14159265358979323846},
    {"e", 2.71828182845904523536},
    {"inf", INFINITY},
    {"nan", NAN},
};
#define NCONSTANTS ((int)(sizeof constants / sizeof constants[0]))

bool tg_expr_constant(const char *name, double *value)
{
    for (int i = 0; i < NCONSTANTS; i++)
        if (!strcmp(constants[i].name, name)) return *value = constants[i].value, true;
    return false;
}

/* ---- suggestions ----------------------------------------------------------------- */
/* Similarity as Python's difflib rates it, 2*M / (len(a) + len(b)), with M
 * the longest common subsequence (so 1 minus the insert/delete edit distance
 * relative to the lengths): sine is close to sin (0.86) and sign (0.75), not
 * to min (0.57); a one-letter name is close to nothing else. */
static double similarity(const char *a, int la, const char *b, int lb)
{
    if (la > 63 || lb > 63) return 0;
    int m[64][64] = {{0}};
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++)
            m[i][j] = a[i - 1] == b[j - 1]        ? m[i - 1][j - 1] + 1
                      : m[i - 1][j] > m[i][j - 1] ? m[i - 1][j]
                                                  : m[i][j - 1];
    return 2.0 * m[la][lb] / (la + lb);
}

/* Writes the candidates rated above 0.6 (about difflib's cutoff), best first,
 * at most five, as "a, b". */
static void nearest(char *buf, size_t size, const char *name, int len, const char *const *cands, int ncands)
{
    double score[256];
    int shown = 0;
    for (int i = 0; i < ncands; i++) score[i] = similarity(name, len, cands[i], (int)strlen(cands[i]));
    while (shown < 5) {
        int best = -1;
        for (int i = 0; i < ncands; i++)
            if (score[i] > 0.6 && score[i] < 1 && (best < 0 || score[i] > score[best])) best = i;
        if (best < 0) break;
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "%s%s", shown++ ? ", " : "", cands[best]);
        score[best] = 0;
    }
}

/* "unknown function 'sine' at column 1 (did you mean sin, sign?)"; env may be NULL. */
static void unknown_message(char *msg, size_t size, const tg_env *env, const ex_node *n, bool is_call)
{
    const char *cands[200 + NCONSTANTS + NFUNCS];
    int nc = 0, nbound = env ? env->count : 0;
    for (int i = 0; !is_call && i < nbound && nc < 200; i++) cands[nc++] = env->names[i];
    for (int i = 0; !is_call && i < NCONSTANTS; i++) cands[nc++] = constants[i].name;
    for (int i = 0; i < NFUNCS; i++) cands[nc++] = funcs[i].name;
    char near[256] = "", hint[512];
    nearest(near, sizeof near, n->name, n->namelen, cands, nc);
    if (!is_call && find_func(n->name, n->namelen)) {
        snprintf(hint, sizeof hint, " (%.*s is a function: call it as %.*s(...))", n->namelen, n->name, n->namelen,
                 n->name);
    } else if (near[0]) {
        snprintf(hint, sizeof hint, " (did you mean %s?)", near);
    } else if (is_call) {
        snprintf(hint, sizeof hint, " (functions:");
        for (int i = 0; i < NFUNCS; i++) {
            size_t used = strlen(hint);
            snprintf(hint + used, sizeof hint - used, "%s%s", i ? ", " : " ", funcs[i].name);
        }
        strncat(hint, ")", sizeof hint - strlen(hint) - 1);
    } else if (nbound) {
        snprintf(hint, sizeof hint, " (known:");
        for (int i = 0; i < nbound && i < 12; i++) {
            size_t used = strlen(hint);
            snprintf(hint + used, sizeof hint - used, "%s%s", i ? ", " : " ", i == 11 ? "..." : env->names[i]);
        }
        strncat(hint, ")", sizeof hint - strlen(hint) - 1);
    } else {
        snprintf(hint, sizeof hint, " (no names are bound)");
    }
    snprintf(msg, size, "unknown %s '%.*s' at column %d%s", is_call ? "function" : "name", n->namelen, n->name, n->col,
             hint);
}

void ex_unknown_name(const tg_env *env, const ex_node *n, bool is_call)
{
    char msg[1024];
    unknown_message(msg, sizeof msg, env, n, is_call);
    tt_set_error(TT_EINVAL, "%s", msg);
}

tt_status tg_expr_check(const char *program)
{
    if (!program) return tt_set_error(TT_EINVAL, "tg_expr_check: NULL program");
    ex_program prog;
    tt_status st = ex_parse(program, &prog);
    const ex_node *first = NULL; /* the leftmost call of an unknown function */
    for (int i = 0; st == TT_OK && i < prog.nall; i++) {
        const ex_node *n = prog.all[i];
        if (n->kind == N_CALL && !find_func(n->name, n->namelen) && (!first || n->col < first->col)) first = n;
    }
    if (first) {
        char msg[1024];
        unknown_message(msg, sizeof msg, NULL, first, true);
        st = ex_caret_error(TT_ESYNTAX, program, first->col, msg);
    }
    ex_free(&prog);
    return st;
}
