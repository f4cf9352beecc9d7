/* tg-check --all: the catalogue of built-in ops. The op table's rows come
 * first (include/tg/ops.def: each op with its table inputs, through its
 * expression function, else through its tg_ function), then the forms the
 * table does not make: operators, broadcasting, scalars, dims, views, in-place
 * ops, composed functions. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tg/grad.h"

/* Each is an expression of the language or, for the tg_ ops the language does
 * not reach, a C function. Inputs: "NAME:SHAPE[:RANGE]" separated by spaces;
 * SHAPE "()" is 0-d; RANGE any (default), pos, away, distinct, apart, clamp, unit,
 * normal, or const (a constant, away from 0: where's condition). */

typedef tt_tensor *(*c_op)(tt_tensor *const *in);

typedef struct {
    const char *name;
    const char *expr; /* or NULL: cfn */
    c_op cfn;
    const char *label; /* for C ops: what it computes */
    const char *inputs;
} builtin;

static tt_tensor *c_permute(tt_tensor *const *in) { return tg_permute(in[0], (const int[]){2, 0, 1}); }
static tt_tensor *c_slice(tt_tensor *const *in) { return tg_slice(in[0], 1, 1, 4, 2); }
static tt_tensor *c_select(tt_tensor *const *in) { return tg_select(in[0], 0, 1); }
static tt_tensor *c_squeeze(tt_tensor *const *in) { return tg_squeeze(in[0], 1); }
static tt_tensor *c_unsqueeze(tt_tensor *const *in) { return tg_unsqueeze(in[0], 1); }
static tt_tensor *c_view(tt_tensor *const *in) { return tg_view(in[0], 2, (const int64_t[]){3, 2}); }
static tt_tensor *c_t(tt_tensor *const *in) { return tg_t(in[0]); }
static tt_tensor *c_mm(tt_tensor *const *in) { return tg_mm(in[0], in[1]); }
static tt_tensor *c_mv(tt_tensor *const *in) { return tg_mv(in[0], in[1]); }
static tt_tensor *c_bmm(tt_tensor *const *in) { return tg_bmm(in[0], in[1]); }
static tt_tensor *c_clone(tt_tensor *const *in) { return tg_clone(in[0]); }
static tt_tensor *c_sum_to(tt_tensor *const *in) { return tg_sum_to_shape(in[0], 1, (const int64_t[]){3}); }
static tt_tensor *c_contiguous(tt_tensor *const *in)
{
    tt_tensor *t = tg_t(in[0]);
    tt_tensor *c = t ? tg_contiguous(t) : NULL;
    tt_release(t);
    return c;
}
static tt_tensor *c_cast(tt_tensor *const *in) { return tg_cast(in[0], in[0]->dtype); }
/* index_select / index_add at indices [2, 0, 2] along dim 0 (repeats add up). */
static tt_tensor *c_indexed(tt_tensor *const *in, bool add)
{
    tt_tensor *idx = tt_from_data(1, (const int64_t[]){3}, TT_I64, (const int64_t[]){2, 0, 2}, tt_device_of(in[0]));
    tt_tensor *r = !idx ? NULL : add ? tg_index_add(in[0], 0, idx, in[1]) : tg_index_select(in[0], 0, idx);
    tt_release(idx);
    return r;
}
static tt_tensor *c_index_select(tt_tensor *const *in) { return c_indexed(in, false); }
static tt_tensor *c_index_add(tt_tensor *const *in) { return c_indexed(in, true); }
/* In place on a non-leaf: y = a.clone(); y.OP_(b). */
static tt_tensor *c_inplace(tt_tensor *const *in, tt_status (*op)(tt_tensor *, const tt_tensor *))
{
    tt_tensor *y = tg_clone(in[0]);
    if (y && op(y, in[1]) != TT_OK) {
        tt_release(y);
        return NULL;
    }
    return y;
}
static tt_tensor *c_add_(tt_tensor *const *in) { return c_inplace(in, tg_add_); }
static tt_tensor *c_sub_(tt_tensor *const *in) { return c_inplace(in, tg_sub_); }
static tt_tensor *c_mul_(tt_tensor *const *in) { return c_inplace(in, tg_mul_); }
static tt_tensor *c_div_(tt_tensor *const *in) { return c_inplace(in, tg_div_); }
static tt_tensor *c_copy_(tt_tensor *const *in) { return c_inplace(in, tg_copy_); }

/* The op table's ops (tg/ops.def), each with its table inputs: through its
 * expression function, else (an operator) through its tg_ function. */
#define C_UNARY_EXPR(name)
#define C_UNARY_NOEXPR(name) \
    static tt_tensor *c_##name(tt_tensor *const *in) { return tg_##name(in[0]); }
#define C_BINARY_EXPR_OTHER(name)
#define C_BINARY_EXPR_EXPONENT(name)
#define C_BINARY_NOEXPR(name) \
    static tt_tensor *c_##name(tt_tensor *const *in) { return tg_##name(in[0], in[1]); }
#define TT_UNARY_OP(ENUM, name, ints, Node, saves, derivative, expr, check) C_UNARY_##expr(name)
#define TT_BINARY_OP(ENUM, name, kind, Node, saves, da, db, expr, check) C_BINARY_##expr(name)
#include "tg/ops.def"
#define UNARY_EXPR(name, check) {#name, #name "(x)", NULL, NULL, check},
#define UNARY_NOEXPR(name, check) {#name, NULL, c_##name, "tg_" #name "(x)", check},
#define BINARY_EXPR_OTHER(name, check) {#name, #name "(a, b)", NULL, NULL, check},
#define BINARY_EXPR_EXPONENT BINARY_EXPR_OTHER
#define BINARY_NOEXPR(name, check) {#name, NULL, c_##name, "tg_" #name "(a, b)", check},
#define REDUCE_REDUCE(name, check) {#name, #name "(x)", NULL, NULL, check},
#define REDUCE_EXTREME REDUCE_REDUCE

static const builtin builtins[] = {
#define TT_UNARY_OP(ENUM, name, ints, Node, saves, derivative, expr, check) UNARY_##expr(name, check)
#define TT_BINARY_OP(ENUM, name, kind, Node, saves, da, db, expr, check) BINARY_##expr(name, check)
#define TT_REDUCE_OP(ENUM, name, NodeAll, NodeDim, saves, bw, bw_dim, expr, check) REDUCE_##expr(name, check)
#define TT_SCAN_OP(ENUM, name, Node, check) {#name, #name "(x, 1)", NULL, NULL, check},
#define TT_LOSS_OP(ENUM, name, Node, param, pdefault, loss, dloss, check) {#name, #name "(a, b)", NULL, NULL, check},
#include "tg/ops.def"
    /* composed, and other forms */
    {"index", "x[[2, 0, 2]]", NULL, NULL, "x:3,4"},
    {"index_select", NULL, c_index_select, "tg_index_select(x, 0, [2, 0, 2])", "x:3,4"},
    {"index_add", NULL, c_index_add, "tg_index_add(x, 0, [2, 0, 2], src)", "x:3,4 src:3,4"},
    {"index_dim1", "x[:, [3, 1]]", NULL, NULL, "x:3,4"},
    {"select_slice", "x[1, 1:3]", NULL, NULL, "x:3,4"},
    {"slice_step", "x[::2, -1]", NULL, NULL, "x:3,4"},
    {"l1_loss", "l1_loss(a, b)", NULL, NULL, "a:2,3 b:2,3:apart"},
    {"mse_loss_sum", "mse_loss(a, b, reduction='sum')", NULL, NULL, "a:2,3 b:2,3"},
    {"huber_loss_none", "huber_loss(a, b, 'none', delta=0.5)", NULL, NULL, "a:2,3 b:2,3:apart"},
    {"logsumexp", "logsumexp(x, 1)", NULL, NULL, "x:3,4"},
    {"logsumexp_dims", "logsumexp(x, [0, 1], keepdim=true)", NULL, NULL, "x:3,4"},
    /* operators */
    {"neg_op", "-x", NULL, NULL, "x:2,3"},
    {"square", "square(x)", NULL, NULL, "x:2,3"},
    /* binary operators, with broadcasting and Python-style scalars */
    {"add_op", "a + b", NULL, NULL, "a:2,3 b:2,3"},
    {"add_broadcast", "a + b", NULL, NULL, "a:2,3 b:3"},
    {"add_scalar", "x + 2", NULL, NULL, "x:2,3"},
    {"sub_op", "a - b", NULL, NULL, "a:2,3 b:2,3"},
    {"sub_broadcast", "a - b", NULL, NULL, "a:2,1 b:3"},
    {"rsub_scalar", "2 - x", NULL, NULL, "x:2,3"},
    {"mul_op", "a * b", NULL, NULL, "a:2,3 b:2,3"},
    {"mul_broadcast", "a * b", NULL, NULL, "a:2,3 b:2,1"},
    {"mul_0d", "a * b", NULL, NULL, "a:2,3 b:()"},
    {"mul_scalar", "3 * x", NULL, NULL, "x:2,3"},
    {"div_op", "a / b", NULL, NULL, "a:2,3 b:2,3:away"},
    {"div_broadcast", "a / b", NULL, NULL, "a:2,3 b:3:away"},
    {"div_scalar", "x / 2", NULL, NULL, "x:2,3"},
    {"rdiv_scalar", "2 / x", NULL, NULL, "x:2,3:away"},
    {"pow_op", "a ^ b", NULL, NULL, "a:2,3:pos b:2,3"},
    {"pow_scalar", "x ^ 3", NULL, NULL, "x:2,3"},
    {"pow_scalar_frac", "x ** 0.5", NULL, NULL, "x:2,3:pos"},
    {"rpow_scalar", "2 ^ x", NULL, NULL, "x:2,3"},
    {"max_elementwise", "max(a, b)", NULL, NULL, "a:2,3 b:2,3:apart"},
    {"min_elementwise", "min(a, b)", NULL, NULL, "a:2,3 b:2,3:apart"},
    {"maximum_scalar", "max(x, 0.0)", NULL, NULL, "x:2,3:away"},
    {"minimum_scalar", "min(x, 0.0)", NULL, NULL, "x:2,3:away"},
    /* reductions over dims */
    {"sum_dim", "sum(x, 1)", NULL, NULL, "x:3,4"},
    {"sum_dim_keepdim", "sum(x, 0, true)", NULL, NULL, "x:3,4"},
    {"sum_dims", "sum(x, [0, 2])", NULL, NULL, "x:2,3,2"},
    {"mean_dim", "mean(x, -1)", NULL, NULL, "x:3,4"},
    {"mean_dim_keepdim", "mean(x, 1, keepdim=true)", NULL, NULL, "x:3,4"},
    {"prod_dim", "prod(x, 1)", NULL, NULL, "x:3,4:away"},
    {"prod_dim_keepdim", "prod(x, 0, true)", NULL, NULL, "x:3,4:away"},
    {"max_dim", "max(x, 1)", NULL, NULL, "x:3,4:distinct"},
    {"max_dim_keepdim", "max(x, 0, true)", NULL, NULL, "x:3,4:distinct"},
    {"min_dim", "min(x, 1)", NULL, NULL, "x:3,4:distinct"},
    {"min_dim_keepdim", "min(x, dim=0, keepdim=true)", NULL, NULL, "x:3,4:distinct"},
    /* linear algebra */
    {"matmul", "a @ b", NULL, NULL, "a:2,3 b:3,4"},
    {"matmul_fn", "matmul(a, b)", NULL, NULL, "a:2,3 b:3,4"},
    {"matmul_mv", "a @ b", NULL, NULL, "a:2,3 b:3"},
    {"matmul_vm", "a @ b", NULL, NULL, "a:3 b:3,4"},
    {"matmul_dot", "a @ b", NULL, NULL, "a:3 b:3"},
    {"matmul_batched", "a @ b", NULL, NULL, "a:2,2,3 b:3,2"},
    {"mm", NULL, c_mm, "tg_mm(a, b)", "a:2,3 b:3,4"},
    {"mv", NULL, c_mv, "tg_mv(a, v)", "a:2,3 v:3"},
    {"bmm", NULL, c_bmm, "tg_bmm(a, b)", "a:2,2,3 b:2,3,2"},
    /* shapes and views */
    {"transpose", "transpose(x)", NULL, NULL, "x:2,3"},
    {"transpose_dims", "transpose(x, 0, 2)", NULL, NULL, "x:2,3,2"},
    {"reshape", "reshape(x, 3, 2)", NULL, NULL, "x:2,3"},
    {"reshape_infer", "reshape(x, [-1])", NULL, NULL, "x:2,3"},
    {"expand", "expand(x, 3, 4)", NULL, NULL, "x:1,4"},
    {"expand_new_dim", "expand(x, [2, -1])", NULL, NULL, "x:3"},
    {"permute", NULL, c_permute, "tg_permute(x, [2, 0, 1])", "x:2,3,2"},
    {"slice", NULL, c_slice, "tg_slice(x, 1, 1, 4, 2)", "x:2,5"},
    {"select", NULL, c_select, "tg_select(x, 0, 1)", "x:3,2"},
    {"squeeze", NULL, c_squeeze, "tg_squeeze(x, 1)", "x:3,1,2"},
    {"unsqueeze", NULL, c_unsqueeze, "tg_unsqueeze(x, 1)", "x:3,2"},
    {"view", NULL, c_view, "tg_view(x, [3, 2])", "x:2,3"},
    {"t", NULL, c_t, "tg_t(x)", "x:2,3"},
    {"contiguous", NULL, c_contiguous, "tg_contiguous(tg_t(x))", "x:2,3"},
    {"clone", NULL, c_clone, "tg_clone(x)", "x:2,3"},
    {"cast", NULL, c_cast, "tg_cast(x, x's dtype)", "x:2,3"},
    {"sum_to_shape", NULL, c_sum_to, "tg_sum_to_shape(x, [3])", "x:2,3"},
    /* selection */
    {"where", "where(c > 0, a, b)", NULL, NULL, "c:2,3:const a:2,3 b:2,3"},
    {"clamp", "clamp(x, -0.5, 0.5)", NULL, NULL, "x:2,3:clamp"},
    {"clamp_min", "clamp(x, min=0)", NULL, NULL, "x:2,3:away"},
    {"clamp_max", "clamp(x, max=0)", NULL, NULL, "x:2,3:away"},
    {"softmax", "softmax(x)", NULL, NULL, "x:2,3"},
    {"softmax_dim0", "softmax(x, 0)", NULL, NULL, "x:2,3"},
    {"log_softmax", "log_softmax(x)", NULL, NULL, "x:2,3"},
    {"log_softmax_dim0", "log_softmax(x, 0)", NULL, NULL, "x:2,3"},
    /* in place on a non-leaf (y = a.clone(); y.OP_(b)) */
    {"add_", NULL, c_add_, "a.clone().add_(b)", "a:2,3 b:2,3"},
    {"sub_", NULL, c_sub_, "a.clone().sub_(b)", "a:2,3 b:3"},
    {"mul_", NULL, c_mul_, "a.clone().mul_(b)", "a:2,3 b:2,3"},
    {"div_", NULL, c_div_, "a.clone().div_(b)", "a:2,3 b:2,3:away"},
    {"copy_", NULL, c_copy_, "a.clone().copy_(b)", "a:2,3 b:3"},
};
#define NBUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

typedef struct {
    const builtin *b;
    check_expr e;
} builtin_ctx;

static tt_tensor *eval_builtin(int n, tt_tensor *const *in, void *ctx)
{
    builtin_ctx *bc = ctx;
    (void)n;
    if (bc->b->cfn) return bc->b->cfn(in);
    return check_eval_expr(n, in, &bc->e);
}

/* Builds the inputs of a built-in from its spec. */
static void builtin_inputs(const check_opts *o, const builtin *b, check_case *c, bool *constant)
{
    check_stream s = {o->co.seed ^ check_hash(b->name), 0};
    char *spec = cmd_xstrdup(b->inputs), *save = NULL;
    double *ref = NULL;
    int64_t nref = 0;
    for (char *tok = strtok_r(spec, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *name = tok, *shape = strchr(tok, ':');
        *shape++ = '\0';
        char *range = strchr(shape, ':');
        if (range) *range++ = '\0';
        int64_t dims[TT_MAX_DIMS];
        int nd = cmd_parse_shape("--all", shape, dims);
        value_range r = R_ANY;
        bool is_const = false;
        if (range) {
            static const char *const names[] = {"normal", "any",   "pos",  "away",  "distinct",
                                                "apart",  "clamp", "unit", "const", NULL};
            static const value_range ranges[] = {R_NORMAL, R_ANY,   R_POS,  R_AWAY, R_DISTINCT,
                                                 R_APART,  R_CLAMP, R_UNIT, R_AWAY};
            int k = cmd_parse_choice("--all", range, names);
            r = ranges[k];
            is_const = !strcmp(range, "const");
        }
        tt_tensor *t = check_random(&s, nd, dims, r, 0, 0, ref, nref);
        if (!ref) {
            nref = tt_numel(t);
            ref = cmd_xcalloc((size_t)nref, sizeof *ref);
            if (tt_to_host(t, TT_F64, ref) != TT_OK) cmd_die(CHECK_TROUBLE, "%s: %s", b->name, cmd_lib_error());
        }
        int i = c->ninputs++;
        c->names[i] = cmd_xstrdup(name);
        constant[i] = is_const;
        c->inputs[i] = check_input(o, t, !is_const, name);
    }
    free(ref);
    free(spec);
}

static const char *builtin_name(int i, const void *arg)
{
    (void)arg;
    return builtins[i].name;
}

/* name, what it computes, inputs: one line each, as --list shows them. */
static void all_listing(const check_opts *o, check_set *s)
{
    FILE *f = open_memstream(&s->listing, &s->listing_len);
    if (!f) cmd_fail("out of memory");
    for (int i = 0; i < NBUILTINS; i++)
        if (check_selected(o, builtins[i].name))
            fprintf(f, "%-18s %-28s %s\n", builtins[i].name, builtins[i].expr ? builtins[i].expr : builtins[i].label,
                    builtins[i].inputs);
    if (fclose(f) != 0) cmd_fail("out of memory");
}

void check_all_cases(const check_opts *o, check_set *s)
{
    check_op_names(o, NBUILTINS, builtin_name, NULL, "--all");
    if (o->list) return all_listing(o, s);
    s->v = cmd_xcalloc(NBUILTINS, sizeof *s->v);
    builtin_ctx *bctx = cmd_xcalloc(NBUILTINS, sizeof *bctx);
    s->ctx = bctx;
    s->ctx_free = free;
    for (int i = 0; i < NBUILTINS; i++) {
        const builtin *b = &builtins[i];
        if (!check_selected(o, b->name)) continue;
        check_case *c = &s->v[s->n];
        bool constant[CHECK_MAX_INPUTS] = {0};
        c->op = cmd_xstrdup(b->name);
        c->what = cmd_xstrdup(b->expr ? b->expr : b->label);
        builtin_inputs(o, b, c, constant);
        bctx[s->n] = (builtin_ctx){b, {o, b->expr, NULL, NULL, c->ninputs, c->names}};
        c->fn = eval_builtin;
        c->ctx = &bctx[s->n];
        s->n++;
    }
}
