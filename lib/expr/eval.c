/* Eager evaluation of a parsed program: every node calls its tg_ op at once,
 * so the graph is the one a C program writing the same calls would build.
 * Values are tensors or Python-style numbers; a number meets a tensor through
 * tg_binary_scalar / tg_scalar_binary (x*2 is MulBackward0 with a None edge,
 * 2-x is RsubBackward1, x^2 is PowBackward0), and number OP number folds.
 * Intermediates are released as soon as they are consumed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

tt_tensor *ex_number_tensor(const tg_env *env, double v) { return tt_scalar(v, env->dtype, env->device); }

void ex_op_error(const char *label, int col)
{
    tt_status st = tt_last_status() ? tt_last_status() : TT_ERUNTIME;
    char *msg = strdup(tt_last_error());
    tt_set_error(st, "in %s at column %d: %s", label, col, msg ? msg : "failed");
    free(msg);
}

/* f(a) or a OP b of numbers: computed by the CPU kernel in float64, so that a
 * number means what the op means on a tensor (one meaning per op). */
int ex_fold(int op, bool binary, double a, double b, double *out)
{
    tt_tensor *ta = tt_scalar(a, TT_F64, TT_CPU), *tb = binary && ta ? tt_scalar(b, TT_F64, TT_CPU) : NULL;
    tt_tensor *r = !ta || (binary && !tb) ? NULL : binary ? tt_binary(op, ta, tb) : tt_unary(op, ta);
    tt_status st = r ? tt_item(r, out) : tt_last_status();
    tt_release(ta);
    tt_release(tb);
    tt_release(r);
    return st == TT_OK ? 0 : -1;
}

int ex_binop(int op, const char *label, int col, ex_val a, ex_val b, ex_val *out)
{
    *out = (ex_val){0};
    if (!a.t && !b.t && op != EX_MATMUL)
        return ex_fold(op, true, a.num, b.num, &out->num) ? (ex_op_error(label, col), -1) : 0;
    tt_tensor *r;
    if (op == EX_MATMUL) {
        if (!a.t || !b.t) tt_set_error(TT_EINVAL, "matmul needs two tensors, got a number");
        r = a.t && b.t ? tg_matmul(a.t, b.t) : NULL;
    } else if (a.t && b.t) {
        r = tg_binary(op, a.t, b.t);
    } else if (a.t) {
        r = tg_binary_scalar(op, a.t, b.num);
    } else {
        r = tg_scalar_binary(op, a.num, b.t);
    }
    tt_release(a.t);
    tt_release(b.t);
    if (!r) return ex_op_error(label, col), -1;
    out->t = r;
    return 0;
}

/* ---- array literals ---------------------------------------------------------- */
/* The shape is read from the first element at each depth; every list must
 * then agree with it, or the error names the column that does not. */
static int list_shape(const ex_node *n, int *ndim, int64_t *shape)
{
    *ndim = 0;
    for (const ex_node *l = n; l->kind == N_LIST; l = l->items[0].node) {
        if (*ndim == TT_MAX_DIMS)
            return tt_set_error(TT_EINVAL, "array literal at column %d has more than %d dimensions", n->col,
                                TT_MAX_DIMS),
                   -1;
        shape[(*ndim)++] = l->nitems;
        if (!l->nitems) break;
    }
    return 0;
}

static int list_fill(ex_eval *E, const ex_node *n, const ex_node *first, int d, int ndim, const int64_t *shape,
                     double **dst)
{
    if (d == ndim) {
        if (n->kind == N_LIST)
            return tt_set_error(TT_EINVAL,
                                "ragged array literal at column %d: expected a number at column %d, "
                                "found a list",
                                first->col, n->col),
                   -1;
        ex_val v;
        if (ex_eval_node(E, n, &v)) return -1;
        double x = v.num;
        if (v.t && (tt_numel(v.t) != 1 || tt_item(v.t, &x))) {
            tt_release(v.t);
            return tt_set_error(TT_EINVAL,
                                "array literal at column %d: the element at column %d is a tensor "
                                "of more than one element",
                                first->col, n->col),
                   -1;
        }
        tt_release(v.t);
        *(*dst)++ = x;
        return 0;
    }
    if (n->kind != N_LIST)
        return tt_set_error(TT_EINVAL,
                            "ragged array literal at column %d: expected a list at column %d, "
                            "found a number",
                            first->col, n->col),
               -1;
    if (n->nitems != shape[d])
        return tt_set_error(TT_EINVAL,
                            "ragged array literal at column %d: the list at column %d has %d "
                            "element%s, expected %lld",
                            first->col, n->col, n->nitems, n->nitems == 1 ? "" : "s", (long long)shape[d]),
               -1;
    for (int i = 0; i < n->nitems; i++)
        if (list_fill(E, n->items[i].node, first, d + 1, ndim, shape, dst)) return -1;
    return 0;
}

static int eval_list(ex_eval *E, const ex_node *n, ex_val *out)
{
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    if (list_shape(n, &ndim, shape)) return -1;
    int64_t numel = tt_shape_numel(ndim, shape);
    double *data = malloc((size_t)(numel ? numel : 1) * sizeof *data), *p = data;
    if (!data) return tt_set_error(TT_ENOMEM, "out of memory for an array literal"), -1;
    tt_tensor *t = NULL;
    if (!list_fill(E, n, n, 0, ndim, shape, &p)) {
        tt_tensor *f64 = tt_from_data(ndim, shape, TT_F64, data, E->env->device);
        t = f64 ? tt_cast(f64, E->env->dtype) : NULL;
        tt_release(f64);
    }
    free(data);
    out->t = t;
    return t ? 0 : -1;
}

/* ---- nodes --------------------------------------------------------------------- */
static int binop_of(ex_tok t)
{
    switch (t) {
    case T_PLUS: return TT_ADD;
    case T_MINUS: return TT_SUB;
    case T_STAR: return TT_MUL;
    case T_SLASH: return TT_DIV;
    case T_CARET:
    case T_POW: return TT_POW;
    case T_AT: return EX_MATMUL;
    case T_EQ: return TT_EQ;
    case T_NE: return TT_NE;
    case T_LT: return TT_LT;
    case T_LE: return TT_LE;
    case T_GT: return TT_GT;
    default: return TT_GE;
    }
}

/* ---- indexing -------------------------------------------------------------- */
/* An integer subscript or slice part; `dflt` where it is left out. */
static int subscript_int(ex_eval *E, const ex_node *n, int64_t dflt, int64_t *out)
{
    if (n->kind == N_EMPTY) return *out = dflt, 0;
    ex_val v;
    if (ex_eval_node(E, n, &v)) return -1;
    if (v.t || v.num != floor(v.num) || fabs(v.num) > 9e15) {
        tt_release(v.t);
        return tt_set_error(TT_EINVAL, "a slice takes integers (at column %d)", n->col), -1;
    }
    *out = (int64_t)v.num;
    return 0;
}

/* A tensor subscript as int64 indices: a list literal or a bound tensor of
 * integral values (tg's literals are floating) is taken as PyTorch takes a
 * LongTensor; bool masks are refused by tt_index. */
static tt_tensor *index_tensor(tt_tensor *t)
{
    if (!tt_dtype_is_floating(t->dtype)) return tt_retain(t);
    tt_tensor *i = tt_cast(t, TT_I64), *back = i ? tt_cast(i, t->dtype) : NULL, *same = back ? tt_eq(back, t) : NULL;
    tt_tensor *all = same ? tt_prod(same) : NULL;
    double ok = 0;
    if (all && tt_item(all, &ok) == TT_OK && !ok)
        tt_set_error(TT_EDTYPE, "an index must hold integers, got %s values that are not", tt_dtype_name(t->dtype));
    tt_release(back);
    tt_release(same);
    tt_release(all);
    if (!ok) tt_release(i);
    return ok ? i : NULL;
}

/* One subscript s of x at dim *d: a slice, an integer (a 0-d tensor is one),
 * or the tensor subscript, kept in *idx for its dim. x, or NULL (error set). */
static tt_tensor *subscript(ex_eval *E, const ex_node *s, const tt_tensor *x, int ndim0, int *d, tt_tensor **idx,
                            int *idx_dim)
{
    if (*d >= x->ndim) return tt_set_error(TT_EINVAL, "too many indices for tensor of dimension %d", ndim0), NULL;
    int64_t size = x->shape[*d];
    if (s->kind == N_SLICE) {
        int64_t a, b, step;
        if (subscript_int(E, s->items[0].node, 0, &a) || subscript_int(E, s->items[1].node, size, &b) ||
            subscript_int(E, s->items[2].node, 1, &step))
            return NULL;
        if (step <= 0) return tt_set_error(TT_EINVAL, "step must be greater than zero"), NULL;
        return tg_slice(x, (*d)++, a, b, step);
    }
    ex_val v;
    if (ex_eval_node(E, s, &v)) return NULL;
    if (v.t && v.t->ndim == 0) { /* a 0-d index selects, as in PyTorch */
        tt_status st = tt_item(v.t, &v.num);
        tt_release(v.t);
        v.t = NULL;
        if (st) return NULL;
    }
    if (v.t) {
        tt_tensor *i = *idx ? NULL : index_tensor(v.t);
        if (*idx) tt_set_error(TT_EINVAL, "only one tensor index is supported");
        tt_release(v.t);
        if (!i) return NULL;
        *idx = i;
        *idx_dim = (*d)++;
        return tt_retain((tt_tensor *)x);
    }
    if (v.num != floor(v.num)) return tt_set_error(TT_EINVAL, "an index must be an integer, got %g", v.num), NULL;
    if (v.num >= (double)size || v.num < -(double)size)
        return tt_set_error(TT_EINVAL, "index %.0f is out of bounds for dimension %d with size %lld", v.num, *d,
                            (long long)size),
               NULL;
    return tg_select(x, *d, (int64_t)v.num);
}

/* x[s0, s1, ...] as PyTorch reads it: integers select (SelectBackward0),
 * slices slice (SliceBackward0, a bare ':' too), left to right; the one
 * tensor subscript indexes its dim last (IndexBackward0). */
static int eval_index(ex_eval *E, const ex_node *n, ex_val *out)
{
    ex_val base;
    if (ex_eval_node(E, n->items[0].node, &base)) return -1;
    if (!base.t) return tt_set_error(TT_EINVAL, "in indexing at column %d: a number cannot be indexed", n->col), -1;
    tt_tensor *x = tt_retain(base.t), *idx = NULL;
    int d = 0, idx_dim = -1, col = n->col;
    for (int k = 1; k < n->nitems && x; k++) {
        col = n->items[k].node->col;
        tt_tensor *r = subscript(E, n->items[k].node, x, base.t->ndim, &d, &idx, &idx_dim);
        tt_release(x);
        x = r;
    }
    if (x && idx) {
        tt_tensor *r = tg_index(x, idx_dim, idx);
        tt_release(x);
        x = r;
    }
    tt_release(idx);
    tt_release(base.t);
    if (!x) return ex_op_error("indexing", col), -1;
    out->t = x;
    return 0;
}

int ex_eval_node(ex_eval *E, const ex_node *n, ex_val *out)
{
    *out = (ex_val){0};
    switch (n->kind) {
    case N_NUM: out->num = n->num; return 0;
    case N_NAME: {
        char name[256]; /* copied by hand: snprintf here was an eighth of a fit's instructions */
        size_t len = n->namelen < (int)sizeof name - 1 ? (size_t)n->namelen : sizeof name - 1;
        memcpy(name, n->name, len);
        name[len] = 0;
        tt_tensor *t = tg_env_get(E->env, name);
        if (!t && tg_expr_constant(name, &out->num)) return 0;
        if (!t) return ex_unknown_name(E->env, n, false), -1;
        out->t = tt_retain(t);
        return 0;
    }
    case N_STR:
        return tt_set_error(TT_EINVAL, "a string is a function's argument, as in reduction='sum' (at column %d)",
                            n->col),
               -1;
    case N_INDEX: return eval_index(E, n, out);
    case N_SLICE:
    case N_EMPTY: break; /* parts of an N_INDEX */
    case N_CALL: return ex_call(E, n, out);
    case N_LIST: return eval_list(E, n, out);
    case N_NEG: {
        ex_val v;
        if (ex_eval_node(E, n->items[0].node, &v)) return -1;
        if (!v.t) {
            out->num = -v.num;
            return 0;
        }
        out->t = tg_neg(v.t);
        tt_release(v.t);
        if (!out->t) return ex_op_error("'-'", n->col), -1;
        return 0;
    }
    case N_CHAIN: {
        ex_val acc, rhs;
        if (ex_eval_node(E, n->items[0].node, &acc)) return -1;
        for (int i = 1; i < n->nitems; i++) {
            const ex_item *it = &n->items[i];
            if (ex_eval_node(E, it->node, &rhs)) {
                tt_release(acc.t);
                return -1;
            }
            char label[8]; /* "'op'", by hand (snprintf per node was costly) */
            const char *op = ex_tok_text(it->op);
            size_t k = strlen(op) < sizeof label - 3 ? strlen(op) : sizeof label - 3;
            label[0] = '\'';
            memcpy(label + 1, op, k);
            label[k + 1] = '\'', label[k + 2] = 0;
            if (ex_binop(binop_of(it->op), label, it->col, acc, rhs, &acc)) return -1;
        }
        *out = acc;
        return 0;
    }
    case N_PROGRAM: break;
    }
    return tt_set_error(TT_EINVAL, "internal error: cannot evaluate this node"), -1;
}

tt_tensor *tg_eval(tg_env *env, const char *program)
{
    if (!env || !program) return tt_set_error(TT_EINVAL, "tg_eval: NULL environment or program"), NULL;
    tg_program *p = tg_program_parse(program);
    tt_tensor *result = p ? tg_program_eval(env, p) : NULL;
    tg_program_free(p);
    return result;
}
