/* tg-check: numerical gradient checks. See man/tg-check.1.
 *
 * Four ways to name what is checked, each ending in libgrad's tg_gradcheck
 * (and tg_gradgradcheck for --order 2):
 *   --all                the built-in differentiable ops: every function and
 *                        operator of the expression language and the tg_ ops
 *                        the language does not reach, on inputs away from kinks;
 *   -e EXPR --wrt NAMES  an expression;
 *   --forward/--backward a custom op written in the shell, run through
 *                        tg_function_apply (so its node is <Name>Backward);
 *   --plugin LIB.so      custom ops written in C against <tg/plugin.h>.
 * Prints a table (text, TAP or name=value lines): op, input, order, worst
 * absolute and relative error, the worst element, PASS/FAIL; then the details
 * of each failure (PyTorch's "Jacobian mismatch ..." with both Jacobians
 * when small). Exit 0 all pass, 1 any fail, 2 usage error or trouble.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "guard.h"
#include "tg/dot.h"
#include "tg/expr.h"
#include "tg/function.h"
#include "tg/grad.h"
#include "tg/gradcheck.h"
#include "tg/plugin.h"

static const char usage[] =
    "Usage: tg-check --all [--op NAME[,NAME...]] [--order 2]\n"
    "       tg-check -e EXPR --wrt NAME[,NAME...] [NAME=VALUE...]\n"
    "       tg-check --forward EXPR --backward EXPR[,EXPR...] --inputs NAME[,NAME...]\n"
    "                [--name NAME] [NAME=VALUE...]\n"
    "       tg-check --plugin LIB.so [--op NAME[,NAME...]] [NAME=VALUE...]\n"
    "Check gradients numerically, as PyTorch's gradcheck and gradgradcheck do:\n"
    "central differences against the backward, elementwise within atol + rtol |n|.\n"
    "\n"
    "  --all                  every built-in differentiable op, on random inputs\n"
    "                         away from kinks (each op's own shapes)\n"
    "  -e, --expr EXPR        an expression (see tg-grad(1)); --wrt names the\n"
    "                         inputs that require grad\n"
    "      --wrt NAMES        comma-separated; a name not bound gets random values\n"
    "  --forward EXPR         a custom op written in the shell: the forward, over\n"
    "                         the --inputs names\n"
    "  --backward EXPRS       one expression per input, comma-separated (commas\n"
    "                         inside brackets or parentheses do not count): the\n"
    "                         gradient of that input, given 'grad' (the incoming\n"
    "                         gradient), 'out' (the forward's output) and the\n"
    "                         inputs; 'none' for an input without gradient\n"
    "      --inputs NAMES     the op's inputs, in order (comma-separated)\n"
    "      --name NAME        the op's name (default Custom: node CustomBackward)\n"
    "      --graph            print the op's autograd graph as DOT (as tg-graph\n"
    "                         does) instead of checking\n"
    "  --plugin LIB.so        custom ops in C: a shared object defining\n"
    "                         tg_plugin_entry (see <tg/plugin.h> and tg-check(1))\n"
    "      --op NAMES         with --all or --plugin: only these ops\n"
    "      --list             with --all or --plugin: list the ops and exit\n"
    "  NAME=VALUE             an input's value (FILE, FILE:DATASET, -, or an\n"
    "                         expression: x=5 x='[1,2,3]' x='randn(3,4)'); other\n"
    "                         names bound this way are constants\n"
    "\n"
    "      --order N          1: gradcheck (default); 2: also gradgradcheck\n"
    "      --eps E            perturbation (default 1e-06)\n"
    "      --atol A           absolute tolerance (default 1e-05)\n"
    "      --rtol R           relative tolerance (default 0.001)\n"
    "      --shape S          shape of random inputs, e.g. 3,4 (default 3; the\n"
    "                         plugin's own shapes with --plugin)\n"
    "      --dtype TYPE       f64 (default) or f32 (warns, as PyTorch does: needs\n"
    "                         looser tolerances, e.g. --eps 1e-3 --atol 1e-2\n"
    "                         --rtol 1e-2)\n"
    "      --device DEV       cpu (default) or vulkan[:N]\n"
    "      --seed N           seed of the random inputs (default: $TG_SEED, else 0)\n"
    "      --format FMT       text (default), tap (TAP, for prove) or kv (one line of\n"
    "                         name=value fields per row)\n"
    "  -o, --output FILE      write the report to FILE (atomically); its extension\n"
    "                         says what: .txt, .tap or .kv (others are refused)\n"
    "  -h, --help             show this help and exit\n"
    "      --version          show the version and exit\n"
    "\n"
    "Example: tg-check --forward 'w*x + b' --backward 'grad*x,grad*w,grad' \\\n"
    "           --inputs w,x,b --name MultiplyAdd\n"
    "Exit status: 0 every check passed, 1 a check failed, 2 usage error or\n"
    "trouble (an op that cannot run, a plugin that cannot be loaded).\n";

enum {
    OPT_ALL = CMD_OPT_FIRST_PRIVATE,
    OPT_WRT,
    OPT_FORWARD,
    OPT_BACKWARD,
    OPT_INPUTS,
    OPT_NAME,
    OPT_PLUGIN,
    OPT_OP,
    OPT_ORDER,
    OPT_EPS,
    OPT_ATOL,
    OPT_RTOL,
    OPT_SHAPE,
    OPT_GRAPH,
    OPT_LIST,
};

static const struct option longopts[] = {
    CMD_COMMON_LONGOPTS,
    {"all", no_argument, NULL, OPT_ALL},
    {"expr", required_argument, NULL, 'e'},
    {"wrt", required_argument, NULL, OPT_WRT},
    {"forward", required_argument, NULL, OPT_FORWARD},
    {"backward", required_argument, NULL, OPT_BACKWARD},
    {"inputs", required_argument, NULL, OPT_INPUTS},
    {"name", required_argument, NULL, OPT_NAME},
    {"plugin", required_argument, NULL, OPT_PLUGIN},
    {"op", required_argument, NULL, OPT_OP},
    {"order", required_argument, NULL, OPT_ORDER},
    {"eps", required_argument, NULL, OPT_EPS},
    {"atol", required_argument, NULL, OPT_ATOL},
    {"rtol", required_argument, NULL, OPT_RTOL},
    {"shape", required_argument, NULL, OPT_SHAPE},
    {"graph", no_argument, NULL, OPT_GRAPH},
    {"list", no_argument, NULL, OPT_LIST},
    {NULL, 0, NULL, 0},
};

#define EXIT_TROUBLE 2
#define MAX_INPUTS TG_PLUGIN_MAX_INPUTS
#define SMALL_JACOBIAN 100 /* print both Jacobians of a failure up to this many elements */

typedef enum { MODE_NONE, MODE_ALL, MODE_EXPR, MODE_SHELL, MODE_PLUGIN } check_mode;
typedef enum { FMT_TEXT, FMT_TAP, FMT_KV } report_format;
static const cmd_form report_forms[] = {
    [FMT_TEXT] = {"text", ".txt", TT_FMT_AUTO},
    [FMT_TAP] = {"tap", ".tap", TT_FMT_AUTO},
    [FMT_KV] = {"kv", ".kv", TT_FMT_AUTO},
    {NULL, NULL, TT_FMT_AUTO},
};

typedef struct {
    cmd_common co;
    check_mode mode;
    const char *mode_opt; /* the option that chose the mode, for messages */
    const char *expr;
    cmd_names wrt;
    const char *forward;
    cmd_names backward; /* expressions, "none" kept as is */
    cmd_names inputs;
    const char *name;
    const char *plugin;
    cmd_names ops;
    int order;
    tg_gradcheck_options gc;
    int64_t shape[TT_MAX_DIMS];
    int shape_ndim;
    bool shape_given;
    bool graph, list;
    report_format fmt;
    char **bindings;
    int nbind;
} check_opts;

/* ---- small helpers ---------------------------------------------------------- */

/* "tg-check: MSG", exit 2: the check could not be carried out (cmp's trouble). */
static _Noreturn void trouble(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void trouble(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", cmd_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(EXIT_TROUBLE);
}

static const char *last_error(void)
{
    const char *e = tt_last_error();
    return e && *e ? e : "unknown error";
}

/* Re-sets the library error with a prefix (the old text is copied first). */
static void prefix_error(const char *prefix)
{
    tt_status st = tt_last_status();
    char *old = cmd_xstrdup(last_error());
    tt_set_error(st == TT_OK ? TT_ERUNTIME : st, "%s: %s", prefix, old);
    free(old);
}

static void list_add(cmd_names *l, const char *s, size_t n)
{
    char **v = realloc(l->names, (size_t)(l->n + 1) * sizeof *v);
    if (!v || !(v[l->n] = strndup(s, n))) cmd_fail("out of memory");
    l->names = v;
    l->n++;
}

static int list_find(const cmd_names *l, const char *s)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], s)) return i;
    return -1;
}

/* "--backward 'grad*x,clamp(grad, -1, 1),none'": split at commas outside
 * brackets and parentheses; repeatable (each use appends). */
static void add_exprs(cmd_names *l, const char *arg)
{
    const char *start = arg;
    int depth = 0;
    for (const char *p = arg;; p++) {
        if (*p == '(' || *p == '[') depth++;
        else if ((*p == ')' || *p == ']') && depth > 0) depth--;
        if (*p == '\0' || (*p == ',' && depth == 0)) {
            const char *a = start, *b = p;
            while (a < b && (*a == ' ' || *a == '\t')) a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
            if (a == b)
                cmd_usage_error(
                    "invalid value '%s' for --backward: empty expression (write 'none' for an input "
                    "without gradient)",
                    arg);
            list_add(l, a, (size_t)(b - a));
            if (!*p) break;
            start = p + 1;
        }
    }
}

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

/* ---- random inputs ------------------------------------------------------------- *
 * Counter-based: element k of a stream is a function of (seed, stream, k), so
 * an op's inputs do not depend on which other ops run. */

typedef enum {
    R_NORMAL,   /* randn */
    R_ANY,      /* uniform [-2, 2) */
    R_POS,      /* [0.5, 2): log, sqrt, pow's base */
    R_AWAY,     /* [-2, 2) with |x| >= 0.1: abs, relu, sign, a denominator, prod */
    R_DISTINCT, /* [-2, 2), values at least 0.1 apart: max, min */
    R_APART,    /* [-2, 2), each element at least 0.1 from input 0's: max(a, b) */
    R_CLAMP,    /* [-2, 2) at least 0.1 from -0.5 and 0.5: clamp(x, -0.5, 0.5) */
    R_UNIT,     /* [-0.9, 0.9): asin, acos */
    R_UNIFORM,  /* [lo, hi) from a plugin */
} value_range;

typedef struct {
    uint64_t seed, counter;
} stream;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static double next_uniform(stream *s, double lo, double hi)
{
    return lo + (hi - lo) * tt_philox_uniform(s->seed, s->counter++);
}

/* A new f64 CPU tensor of shape, values per range. ref: input 0's values for R_APART. */
static tt_tensor *random_tensor(stream *s, int ndim, const int64_t *shape, value_range r, double lo, double hi,
                                const double *ref, int64_t nref)
{
    int64_t n = tt_shape_numel(ndim, shape);
    double *v = cmd_xcalloc((size_t)n, sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        double x = 0;
        for (int tries = 0; tries < 10000; tries++) {
            bool ok = true;
            switch (r) {
            case R_NORMAL: x = tt_philox_normal(s->seed, s->counter++); break;
            case R_UNIFORM: x = next_uniform(s, lo, hi); break;
            case R_POS: x = next_uniform(s, 0.5, 2); break;
            case R_UNIT: x = next_uniform(s, -0.9, 0.9); break;
            default: x = next_uniform(s, -2, 2); break;
            }
            if (r == R_AWAY) ok = fabs(x) >= 0.1;
            else if (r == R_CLAMP) ok = fabs(x - 0.5) >= 0.1 && fabs(x + 0.5) >= 0.1;
            else if (r == R_DISTINCT)
                for (int64_t j = 0; j < i && ok; j++) ok = fabs(x - v[j]) >= 0.1;
            else if (r == R_APART && ref && nref > 0) ok = fabs(x - ref[i % nref]) >= 0.1;
            if (ok) break;
        }
        v[i] = x;
    }
    tt_tensor *t = tt_from_data(ndim, shape, TT_F64, v, TT_CPU);
    free(v);
    if (!t) trouble("cannot make a random input: %s", last_error());
    return t;
}

/* Makes t (a new reference, consumed) an input: a fresh contiguous leaf of
 * the dtype and device asked for, requiring grad unless constant. */
static tt_tensor *make_input(const check_opts *o, tt_tensor *t, bool requires_grad, const char *name)
{
    tt_tensor *c = tt_cast(t, o->co.dtype);
    tt_release(t);
    tt_tensor *d = c ? tt_to_device(c, o->co.device) : NULL;
    tt_release(c);
    tt_tensor *x = d ? tt_clone(d) : NULL;
    tt_release(d);
    if (!x) trouble("input %s: %s", name, last_error());
    if (requires_grad && tg_set_requires_grad(x, true) != TT_OK) trouble("input %s: %s", name, last_error());
    return x;
}

/* ---- what is checked ---------------------------------------------------------- */

/* One function under check: its inputs (those requiring grad are checked)
 * and how to compute it. */
typedef struct check_case {
    char *op;   /* the name shown */
    char *what; /* the expression or description (kv's expr=), may be NULL */
    int ninputs;
    char *names[MAX_INPUTS];
    tt_tensor *inputs[MAX_INPUTS];
    tg_checked_fn fn;
    void *ctx;
} check_case;

static void case_free(check_case *c)
{
    free(c->op);
    free(c->what);
    for (int i = 0; i < c->ninputs; i++) {
        free(c->names[i]);
        tt_release(c->inputs[i]);
    }
}

/* --- expressions: evaluated in a fresh environment per call --- */

typedef struct {
    const check_opts *o;
    const char *expr;
    const char *context;     /* "-e", or NULL */
    const tg_env *constants; /* other bindings (may be NULL) */
    int ninputs;
    char *const *names;
} expr_fn;

static tg_env *new_env(const check_opts *o, const tg_env *constants)
{
    tg_env *env = tg_env_new();
    if (!env) return NULL;
    tg_env_set_dtype(env, o->co.dtype);
    tg_env_set_device(env, o->co.device);
    tg_env_set_seed(env, o->co.seed);
    if (constants)
        for (int i = 0; i < tg_env_count(constants); i++) {
            const char *name = tg_env_name(constants, i);
            if (tg_env_set(env, name, tg_env_get(constants, name)) != TT_OK) {
                tg_env_free(env);
                return NULL;
            }
        }
    return env;
}

static tt_tensor *eval_expr_fn(int n, tt_tensor *const *in, void *ctx)
{
    const expr_fn *e = ctx;
    tg_env *env = new_env(e->o, e->constants);
    if (!env) return NULL;
    for (int i = 0; i < n; i++)
        if (tg_env_set(env, e->names[i], in[i]) != TT_OK) {
            tg_env_free(env);
            return NULL;
        }
    tt_tensor *out = tg_eval(env, e->expr);
    tg_env_free(env);
    if (!out && e->context) prefix_error(e->context);
    return out;
}

/* --- a custom op written in the shell --- */

typedef struct {
    const check_opts *o;
    const tg_env *constants;
    tg_function fn;
} shell_op;

/* Inputs beyond what save_for_backward holds (TG_FUNCTION_MAX_SAVED, one
 * slot being the output) are kept as ctx data: references to the inputs,
 * which make no cycle (an input does not reference the node). */
typedef struct {
    int n;
    tt_tensor *t[MAX_INPUTS];
} kept_inputs;

static void kept_free(void *p)
{
    kept_inputs *k = p;
    for (int i = 0; i < k->n; i++) tt_release(k->t[i]);
    free(k);
}

static tt_tensor *shell_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    const shell_op *s = tg_ctx_user_data(ctx);
    const check_opts *o = s->o;
    tg_env *env = new_env(o, s->constants);
    if (!env) return NULL;
    for (int i = 0; i < n; i++)
        if (tg_env_set(env, o->inputs.names[i], in[i]) != TT_OK) {
            tg_env_free(env);
            return NULL;
        }
    tt_tensor *out = tg_eval(env, o->forward);
    tg_env_free(env);
    if (!out) {
        prefix_error("--forward");
        return NULL;
    }
    if (!tt_dtype_is_floating(out->dtype)) {
        tt_release(out);
        tt_set_error(TT_EDTYPE, "--forward: the output is %s, not floating", tt_dtype_name(out->dtype));
        return NULL;
    }
    tt_tensor *save[TG_FUNCTION_MAX_SAVED];
    int nsave = 0;
    save[nsave++] = out;
    bool all = n + 1 <= TG_FUNCTION_MAX_SAVED;
    if (all)
        for (int i = 0; i < n; i++) save[nsave++] = in[i];
    else {
        kept_inputs *k = calloc(1, sizeof *k);
        if (!k) {
            tt_release(out);
            tt_set_error(TT_ENOMEM, "out of memory");
            return NULL;
        }
        k->n = n;
        for (int i = 0; i < n; i++) k->t[i] = in[i] ? tt_retain(in[i]) : NULL;
        tg_ctx_set_data(ctx, k, kept_free);
    }
    if (tg_ctx_save_for_backward(ctx, nsave, save) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

static int shell_backward(tg_ctx *ctx, const tt_tensor *grad, tt_tensor **gi, int max_grads)
{
    const shell_op *s = tg_ctx_user_data(ctx);
    const check_opts *o = s->o;
    int n = tg_ctx_num_inputs(ctx);
    tg_env *env = new_env(o, s->constants);
    if (!env) return -1;
    tt_status st = TT_OK;
    tt_tensor *out = tg_ctx_saved(ctx, 0);
    if (!out) st = tt_last_status();
    const kept_inputs *k = tg_ctx_data(ctx);
    for (int i = 0; st == TT_OK && i < n; i++) {
        tt_tensor *x = k ? k->t[i] : tg_ctx_saved(ctx, 1 + i);
        if (!x && !k) st = tt_last_status();
        else if (x) st = tg_env_set(env, o->inputs.names[i], x);
    }
    if (st == TT_OK) st = tg_env_set(env, "out", out);
    if (st == TT_OK) st = tg_env_set(env, "grad", (tt_tensor *)grad);
    if (st != TT_OK) {
        tg_env_free(env);
        return -1;
    }
    int count = o->backward.n;
    for (int i = 0; i < count && i < max_grads; i++) {
        if (!strcmp(o->backward.names[i], "none")) continue;
        if (!(gi[i] = tg_eval(env, o->backward.names[i]))) {
            char *ctx_text = cmd_xprintf("--backward expression %d ('%s')", i + 1, o->backward.names[i]);
            prefix_error(ctx_text);
            free(ctx_text);
            tg_env_free(env);
            return -1;
        }
    }
    tg_env_free(env);
    return count;
}

static tt_tensor *apply_fn(int n, tt_tensor *const *in, void *ctx)
{
    const shell_op *s = ctx;
    return tg_function_apply(&s->fn, n, in, ctx);
}

/* --- a plugin op --- */

static tt_tensor *apply_plugin_op(int n, tt_tensor *const *in, void *ctx)
{
    const tg_plugin_op *op = ctx;
    return tg_function_apply(op->function, n, in, op->user_data);
}

/* ---- the built-in ops (--all) ---------------------------------------------------- *
 * Each is an expression of the language or, for the tg_ ops the language does
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
    expr_fn e;
} builtin_ctx;

static tt_tensor *eval_builtin(int n, tt_tensor *const *in, void *ctx)
{
    builtin_ctx *bc = ctx;
    (void)n;
    if (bc->b->cfn) return bc->b->cfn(in);
    return eval_expr_fn(n, in, &bc->e);
}

/* Builds the inputs of a built-in from its spec. */
static void builtin_inputs(const check_opts *o, const builtin *b, check_case *c, bool *constant)
{
    stream s = {o->co.seed ^ fnv1a(b->name), 0};
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
        tt_tensor *t = random_tensor(&s, nd, dims, r, 0, 0, ref, nref);
        if (!ref) {
            nref = tt_numel(t);
            ref = cmd_xcalloc((size_t)nref, sizeof *ref);
            if (tt_to_host(t, TT_F64, ref) != TT_OK) trouble("%s: %s", b->name, last_error());
        }
        int i = c->ninputs++;
        c->names[i] = cmd_xstrdup(name);
        constant[i] = is_const;
        c->inputs[i] = make_input(o, t, !is_const, name);
    }
    free(ref);
    free(spec);
}

/* ---- results ---------------------------------------------------------------------- */

typedef struct {
    const char *op;   /* borrowed from the case */
    const char *what; /* borrowed */
    char *input;      /* the input's name, or "grad_out" for gradgradcheck's grad_outputs */
    int input_index;  /* PyTorch's "input j" (among those requiring grad) */
    int order;
    bool passed, error;
    double max_abs, max_rel;
    char *element; /* "x[1,2] -> out[1,2]", or "-" */
    double numerical, analytical;
    char *detail; /* lines shown under a failure (or the error), may be NULL */
} row;

typedef struct {
    row *v;
    int n, cap;
    int failed, errors;
} results;

static row *new_row(results *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        row *v = realloc(r->v, (size_t)r->cap * sizeof *v);
        if (!v) cmd_fail("out of memory");
        r->v = v;
    }
    row *w = &r->v[r->n++];
    memset(w, 0, sizeof *w);
    return w;
}

static void results_free(results *r)
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
static void error_row(results *res, const check_case *c, int order, const char *msg)
{
    row *w = new_row(res);
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
static void report_rows(results *res, const check_case *c, int order, const tg_gradcheck_report *r, int out_ndim,
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
        row *w = new_row(res);
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
            row *w = &res->v[first];
            w->passed = false;
            res->failed++;
            w->detail = cmd_xprintf("%s\n", r->message ? r->message : "gradcheck failed");
        }
    }
}

/* Runs the checks of one case: gradcheck, and gradgradcheck for order 2. */
static void run_case(const check_opts *o, results *res, check_case *c)
{
    /* One plain call first: the output's shape for element indices, and a
     * clear error when the function cannot run at all. */
    tt_tensor *out = NULL;
    TG_NO_GRAD { out = c->fn(c->ninputs, c->inputs, c->ctx); }
    if (!out && tt_last_status() == TT_ESYNTAX && o->mode != MODE_ALL)
        cmd_usage_error("%s", last_error()); /* the command line's text, not the op */
    if (!out) {
        error_row(res, c, 1, last_error());
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
            error_row(res, c, order, last_error());
            tg_gradcheck_report_free(r);
            return;
        }
        report_rows(res, c, order, r, out_ndim, out_shape);
        tg_gradcheck_report_free(r);
    }
}

/* ---- output ------------------------------------------------------------------------ */

static const char *fmt_err(double v, char *buf, size_t len)
{
    if (isnan(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.2e", v);
    return buf;
}

static const char *result_word(const row *w) { return w->error ? "ERROR" : w->passed ? "PASS" : "FAIL"; }

/* Shell-quotes a value for kv when needed ('...', with ' as '\''). */
static void put_kv(FILE *f, const char *key, const char *value, bool last)
{
    bool plain = *value != '\0';
    for (const char *p = value; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:+-/@%[]>", *p) != NULL;
    fprintf(f, "%s=", key);
    if (plain) fputs(value, f);
    else {
        fputc('\'', f);
        for (const char *p = value; *p; p++)
            if (*p == '\'') fputs("'\\''", f);
            else fputc(*p, f);
        fputc('\'', f);
    }
    fputc(last ? '\n' : ' ', f);
}

/* Writes each line of text with a prefix. */
static void put_indented(FILE *f, const char *prefix, const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        fprintf(f, "%s%.*s\n", prefix, (int)n, text);
        text += n;
        if (*text == '\n') text++;
    }
}

static void print_text(FILE *f, const results *res)
{
    int wop = 2, win = 5, wel = 13;
    for (int i = 0; i < res->n; i++) {
        const row *w = &res->v[i];
        if ((int)strlen(w->op) > wop) wop = (int)strlen(w->op);
        if ((int)strlen(w->input) > win) win = (int)strlen(w->input);
        if ((int)strlen(w->element) > wel) wel = (int)strlen(w->element);
    }
    fprintf(f, "%-*s  %-*s  order  max abs err  max rel err  %-*s  result\n", wop, "op", win, "input", wel,
            "worst element");
    for (int i = 0; i < res->n; i++) {
        const row *w = &res->v[i];
        char a[32], b[32];
        fprintf(f, "%-*s  %-*s  %5d  %11s  %11s  %-*s  %s\n", wop, w->op, win, w->input, w->order,
                fmt_err(w->max_abs, a, sizeof a), fmt_err(w->max_rel, b, sizeof b), wel, w->element, result_word(w));
    }
    for (int i = 0; i < res->n; i++) {
        const row *w = &res->v[i];
        if (w->passed) continue;
        if (w->error) fprintf(f, "\nERROR %s (order %d): could not run the check:\n", w->op, w->order);
        else fprintf(f, "\nFAIL %s, input %s (input %d), order %d:\n", w->op, w->input, w->input_index, w->order);
        if (w->detail) put_indented(f, "  ", w->detail);
    }
    int total = res->n, bad = res->failed + res->errors;
    if (!bad) fprintf(f, "\nall %d checks passed\n", total);
    else if (res->errors) fprintf(f, "\n%d of %d checks failed, %d could not run\n", res->failed, total, res->errors);
    else fprintf(f, "\n%d of %d checks failed\n", res->failed, total);
}

static void print_tap(FILE *f, const results *res)
{
    fprintf(f, "TAP version 13\n1..%d\n", res->n);
    for (int i = 0; i < res->n; i++) {
        const row *w = &res->v[i];
        char a[32], b[32];
        fprintf(f, "%s %d - %s input %s order %d: max abs err %s, max rel err %s, worst %s\n",
                w->passed ? "ok" : "not ok", i + 1, w->op, w->input, w->order, fmt_err(w->max_abs, a, sizeof a),
                fmt_err(w->max_rel, b, sizeof b), w->element);
        if (!w->passed && w->detail) put_indented(f, "# ", w->detail);
    }
}

static void print_kv(FILE *f, const results *res)
{
    for (int i = 0; i < res->n; i++) {
        const row *w = &res->v[i];
        char buf[64];
        put_kv(f, "op", w->op, false);
        if (w->what) put_kv(f, "expr", w->what, false);
        put_kv(f, "input", w->input, false);
        snprintf(buf, sizeof buf, "%d", w->order);
        put_kv(f, "order", buf, false);
        snprintf(buf, sizeof buf, "%.17g", w->max_abs);
        put_kv(f, "max_abs_err", buf, false);
        snprintf(buf, sizeof buf, "%.17g", w->max_rel);
        put_kv(f, "max_rel_err", buf, false);
        put_kv(f, "worst", w->element, false);
        if (strcmp(w->element, "-")) {
            snprintf(buf, sizeof buf, "%.17g", w->numerical);
            put_kv(f, "numerical", buf, false);
            snprintf(buf, sizeof buf, "%.17g", w->analytical);
            put_kv(f, "analytical", buf, false);
        }
        put_kv(f, "result", w->error ? "error" : w->passed ? "pass" : "fail", true);
    }
    fprintf(f, "checks=%d passed=%d failed=%d errors=%d\n", res->n, res->n - res->failed - res->errors, res->failed,
            res->errors);
}

/* Writes buf to -o FILE atomically (temporary file + rename) or to stdout;
 * any failure is trouble (exit 2). */
static void write_out(const char *path, const char *buf, size_t len)
{
    if (!path) {
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
            if (errno == EPIPE) exit(EXIT_TROUBLE);
            trouble("standard output: %s", strerror(errno));
        }
        return;
    }
    if (cmd_write_bytes_to(path, buf, len) != TT_OK) trouble("%s", tt_last_error());
}

/* ---- plugins -------------------------------------------------------------------------- */

typedef struct {
    void *handle;
    const tg_plugin *p;
} plugin_lib;

static plugin_lib load_plugin(const char *path)
{
    plugin_lib pl = {0};
    struct stat st;
    if (stat(path, &st) != 0) trouble("--plugin %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) trouble("--plugin %s: %s", path, strerror(EISDIR));
    /* dlopen searches the library path for a name without '/': a file given
     * on the command line is meant, so make it a path. */
    char *p = strchr(path, '/') ? cmd_xstrdup(path) : cmd_xprintf("./%s", path);
    dlerror();
    pl.handle = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    free(p);
    if (!pl.handle) {
        const char *e = dlerror();
        trouble("--plugin %s: cannot load it as a shared object: %s", path, e ? e : "unknown error");
    }
    dlerror();
    void *sym = dlsym(pl.handle, TG_PLUGIN_ENTRY_NAME);
    if (!sym)
        trouble("--plugin %s: no entry point: the library does not define %s() (see <tg/plugin.h>)", path,
                TG_PLUGIN_ENTRY_NAME);
    /* The plugin must run on this program's libtg, not on a second copy
     * (libtg.so, which it links) with its own grad mode and errors: the
     * program is linked with -rdynamic and the whole archive, so libtg's
     * symbols resolve here first. */
    void *self = dlopen(NULL, RTLD_NOW);
    void *mine = self ? dlsym(self, "tg_set_grad_enabled") : NULL;
    bool exported = mine && mine == (void *)(uintptr_t)tg_set_grad_enabled;
    if (self) dlclose(self);
    if (!exported)
        trouble(
            "--plugin %s: this tg-check does not export libtg to plugins (it must be linked with -rdynamic "
            "and --whole-archive libtg.a; see the Makefile)",
            path);
    tg_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object pointer -> function pointer, as POSIX allows */
    pl.p = entry();
    if (!pl.p) trouble("--plugin %s: %s() returned NULL", path, TG_PLUGIN_ENTRY_NAME);
    if (pl.p->version != TG_PLUGIN_VERSION)
        trouble(
            "--plugin %s: plugin API version %d, but this tg-check speaks version %d: rebuild the plugin against "
            "this tg's <tg/plugin.h>",
            path, pl.p->version, TG_PLUGIN_VERSION);
    if (pl.p->nops < 0 || (pl.p->nops > 0 && !pl.p->ops))
        trouble("--plugin %s: invalid op table (nops %d)", path, pl.p->nops);
    for (int i = 0; i < pl.p->nops; i++) {
        const tg_plugin_op *op = &pl.p->ops[i];
        if (!op->function || !op->function->name || !*op->function->name || !op->function->forward ||
            !op->function->backward)
            trouble("--plugin %s: op %d has no function, name, forward or backward", path, i);
        if (op->ninputs < 1 || op->ninputs > TG_PLUGIN_MAX_INPUTS || !op->inputs)
            trouble("--plugin %s: op %s: ninputs must be 1 to %d with inputs described, got %d", path,
                    op->function->name, TG_PLUGIN_MAX_INPUTS, op->ninputs);
        for (int j = 0; j < op->ninputs; j++)
            if (op->inputs[j].ndim < 0 || op->inputs[j].ndim > TT_MAX_DIMS)
                trouble("--plugin %s: op %s: input %d has %d dims", path, op->function->name, j, op->inputs[j].ndim);
    }
    return pl;
}

/* ---- option parsing --------------------------------------------------------------------- */

static void set_mode(check_opts *o, check_mode m, const char *opt)
{
    if (o->mode != MODE_NONE && o->mode != m)
        cmd_usage_error("%s and %s cannot be used together: check one kind of thing at a time", o->mode_opt, opt);
    o->mode = m;
    o->mode_opt = opt;
}

static void parse(check_opts *o, int argc, char **argv)
{
    int c;
    bool help = false;
    while ((c = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS "e:", longopts, NULL)) != -1) {
        if (cmd_common_option(&o->co, c, optarg)) continue;
        switch (c) {
        case 'h': help = true; break;
        case OPT_ALL: set_mode(o, MODE_ALL, "--all"); break;
        case 'e':
            set_mode(o, MODE_EXPR, "-e");
            if (o->expr) cmd_usage_error("-e given twice; join statements with ';' in one expression");
            if (!*optarg) cmd_usage_error("invalid value '' for -e: expected an expression");
            o->expr = optarg;
            break;
        case OPT_WRT: cmd_names_add(&o->wrt, "--wrt", optarg); break;
        case OPT_FORWARD:
            set_mode(o, MODE_SHELL, "--forward");
            if (o->forward) cmd_usage_error("--forward given twice");
            if (!*optarg) cmd_usage_error("invalid value '' for --forward: expected an expression");
            o->forward = optarg;
            break;
        case OPT_BACKWARD: add_exprs(&o->backward, optarg); break;
        case OPT_INPUTS: cmd_names_add(&o->inputs, "--inputs", optarg); break;
        case OPT_NAME:
            if (!cmd_is_identifier(optarg, strlen(optarg)))
                cmd_usage_error("invalid value '%s' for --name: expected a name like MultiplyAdd", optarg);
            o->name = optarg;
            break;
        case OPT_PLUGIN:
            set_mode(o, MODE_PLUGIN, "--plugin");
            if (!*optarg) cmd_usage_error("invalid value '' for --plugin: expected a shared object (LIB.so)");
            o->plugin = optarg;
            break;
        case OPT_OP: cmd_names_add(&o->ops, "--op", optarg); break;
        case OPT_ORDER: o->order = (int)cmd_parse_int64("--order", optarg, 1, 2); break;
        case OPT_EPS: o->gc.eps = cmd_parse_positive_double("--eps", optarg); break;
        case OPT_ATOL: o->gc.atol = cmd_parse_nonneg_double("--atol", optarg); break;
        case OPT_RTOL: o->gc.rtol = cmd_parse_nonneg_double("--rtol", optarg); break;
        case OPT_SHAPE:
            o->shape_ndim = cmd_parse_shape("--shape", optarg, o->shape);
            o->shape_given = true;
            break;
        case OPT_GRAPH: o->graph = true; break;
        case OPT_LIST: o->list = true; break;
        default: cmd_usage_error("unexpected option (internal error)");
        }
    }
    if (help) cmd_help(usage);
    /* --format, else -o's extension, else text */
    if (o->co.output && o->co.form < 0) o->co.form = cmd_form_by_path("-o", o->co.output, report_forms, "--format");
    o->fmt = o->co.form >= 0 ? (report_format)o->co.form : FMT_TEXT;
    if (o->mode == MODE_NONE)
        cmd_usage_error("nothing to check: give --all, -e EXPR, --forward EXPR or --plugin LIB.so");
    if (o->mode == MODE_EXPR && o->wrt.n == 0)
        cmd_usage_error("missing --wrt NAMES: the inputs of -e to check the gradients of");
    if (o->mode != MODE_EXPR && o->wrt.n)
        cmd_usage_error("--wrt goes with -e (--forward names its inputs with --inputs)");
    if (o->mode == MODE_SHELL) {
        if (!o->backward.n) cmd_usage_error("missing --backward EXPR[,EXPR...]: one gradient expression per input");
        if (!o->inputs.n)
            cmd_usage_error("missing --inputs NAMES: the names the forward expression uses for its inputs");
        if (o->inputs.n > MAX_INPUTS) cmd_usage_error("--inputs: at most %d inputs, got %d", MAX_INPUTS, o->inputs.n);
        for (int i = 0; i < o->inputs.n; i++)
            if (!strcmp(o->inputs.names[i], "out") || !strcmp(o->inputs.names[i], "grad"))
                cmd_usage_error(
                    "--inputs: '%s' is taken: the backward expressions use 'out' for the forward's output "
                    "and 'grad' for the incoming gradient",
                    o->inputs.names[i]);
    } else {
        if (o->backward.n) cmd_usage_error("--backward goes with --forward");
        if (o->inputs.n) cmd_usage_error("--inputs goes with --forward");
        if (o->name) cmd_usage_error("--name goes with --forward");
    }
    if (o->ops.n && o->mode != MODE_ALL && o->mode != MODE_PLUGIN) cmd_usage_error("--op goes with --all or --plugin");
    if (o->list && o->mode != MODE_ALL && o->mode != MODE_PLUGIN) cmd_usage_error("--list goes with --all or --plugin");
    if (o->graph && o->mode != MODE_SHELL && o->mode != MODE_PLUGIN)
        cmd_usage_error("--graph goes with --forward or --plugin");
    if (o->mode == MODE_ALL && o->shape_given)
        cmd_usage_error("--shape does not go with --all: each built-in op has its own shapes");
    o->bindings = argv + optind;
    o->nbind = argc - optind;
    if (o->mode == MODE_ALL && o->nbind)
        cmd_usage_error("unexpected argument '%s': --all makes its own inputs", o->bindings[0]);
    for (int i = 0; i < o->nbind; i++) {
        const char *eq = strchr(o->bindings[i], '=');
        if (!eq) cmd_usage_error("unexpected argument '%s': bindings are NAME=VALUE", o->bindings[i]);
        if (!eq[1]) cmd_usage_error("%s: missing value after '='", o->bindings[i]);
    }
}

/* ---- the modes ------------------------------------------------------------------------------ */

/* Binds NAME=VALUE words in env (syntax errors are usage errors, others trouble). */
static void bind_all(tg_env *env, const check_opts *o)
{
    for (int i = 0; i < o->nbind; i++)
        if (tg_env_bind(env, o->bindings[i]) != TT_OK) {
            const char *err = last_error();
            bool named = strstr(err, o->bindings[i]) != NULL;
            if (tt_last_status() == TT_ESYNTAX) {
                if (named) cmd_usage_error("%s", err);
                cmd_usage_error("%s: %s", o->bindings[i], err);
            }
            if (named) trouble("%s", err);
            trouble("%s: %s", o->bindings[i], err);
        }
}

/* The inputs named in `names`: bound values (as fresh leaves), else random
 * normal of --shape; the other bindings stay in env as constants. */
static void named_inputs(const check_opts *o, tg_env *env, const cmd_names *names, check_case *c, stream *s)
{
    for (int i = 0; i < names->n; i++) {
        const char *name = names->names[i];
        tt_tensor *v = tg_env_get(env, name);
        tt_tensor *t;
        if (v) {
            if (!tt_dtype_is_floating(v->dtype) && v->dtype != TT_I64 && v->dtype != TT_BOOL)
                trouble("input %s: not a number tensor", name);
            t = tt_retain(v);
        } else {
            int nd = o->shape_given ? o->shape_ndim : 1;
            const int64_t *sh = o->shape_given ? o->shape : (const int64_t[]){3};
            t = random_tensor(s, nd, sh, R_NORMAL, 0, 0, NULL, 0);
        }
        /* a custom op's input whose backward is 'none' has no gradient: a constant */
        bool grad = !(o->mode == MODE_SHELL && i < o->backward.n && !strcmp(o->backward.names[i], "none"));
        c->names[i] = cmd_xstrdup(name);
        c->inputs[i] = make_input(o, t, grad, name);
        if (v && tg_env_set(env, name, c->inputs[i]) != TT_OK) trouble("input %s: %s", name, last_error());
        c->ninputs++;
    }
}

/* Removes the inputs from env, leaving only the constants. */
static tg_env *constants_of(const check_opts *o, tg_env *env, const cmd_names *names)
{
    tg_env *k = new_env(o, NULL);
    if (!k) trouble("%s", last_error());
    for (int i = 0; i < tg_env_count(env); i++) {
        const char *n = tg_env_name(env, i);
        if (list_find(names, n) < 0 && tg_env_set(k, n, tg_env_get(env, n)) != TT_OK) trouble("%s", last_error());
    }
    return k;
}

/* --graph: the op applied to its inputs, as DOT with the inputs named. */
static void print_graph(const check_opts *o, int ncases, check_case *cases)
{
    tt_tensor **outs = cmd_xcalloc((size_t)ncases, sizeof *outs);
    const char **out_names = cmd_xcalloc((size_t)ncases, sizeof *out_names);
    int np = 0;
    for (int i = 0; i < ncases; i++) np += cases[i].ninputs;
    tt_tensor **params = cmd_xcalloc((size_t)np, sizeof *params);
    const char **pnames = cmd_xcalloc((size_t)np, sizeof *pnames);
    np = 0;
    for (int i = 0; i < ncases; i++) {
        outs[i] = cases[i].fn(cases[i].ninputs, cases[i].inputs, cases[i].ctx);
        if (!outs[i]) trouble("%s: %s", cases[i].op, last_error());
        out_names[i] = ncases > 1 ? cases[i].op : "out";
        for (int j = 0; j < cases[i].ninputs; j++) {
            params[np] = cases[i].inputs[j];
            pnames[np++] = cases[i].names[j];
        }
    }
    tg_dot_options d = {.nparams = np, .params = params, .param_names = pnames, .output_names = out_names};
    char *dot = tg_dot_string(ncases, outs, &d);
    if (!dot) trouble("--graph: %s", last_error());
    write_out(o->co.output, dot, strlen(dot));
    free(dot);
    for (int i = 0; i < ncases; i++) tt_release(outs[i]);
    free(outs);
    free(out_names);
    free(params);
    free(pnames);
}

static void check_op_names(const check_opts *o, int n, const char *(*name_of)(int, const void *), const void *arg,
                           const char *where)
{
    for (int k = 0; k < o->ops.n; k++) {
        bool found = false;
        for (int i = 0; i < n && !found; i++) found = !strcmp(name_of(i, arg), o->ops.names[k]);
        if (found) continue;
        size_t len = 1;
        for (int i = 0; i < n; i++) len += strlen(name_of(i, arg)) + 2;
        char *known = cmd_xcalloc(len, 1);
        for (int i = 0; i < n; i++) {
            if (i) strcat(known, ", ");
            strcat(known, name_of(i, arg));
        }
        cmd_usage_error("--op %s: no such op in %s (ops: %s)", o->ops.names[k], where, known);
    }
}

static const char *builtin_name(int i, const void *arg)
{
    (void)arg;
    return builtins[i].name;
}

static const char *plugin_op_name(int i, const void *arg)
{
    const tg_plugin *p = arg;
    return p->ops[i].function->name;
}

static bool selected(const check_opts *o, const char *name) { return !o->ops.n || list_find(&o->ops, name) >= 0; }

static void warning_note(const check_opts *o)
{
    if (o->co.dtype != TT_F64)
        fprintf(stderr,
                "%s: note: checking in %s: central differences lose precision, so the default tolerances are "
                "too tight; loosen them, e.g. --eps 1e-3 --atol 1e-2 --rtol 1e-2\n",
                cmd_name, tt_dtype_name(o->co.dtype));
}

int main(int argc, char **argv)
{
    cmd_init("tg-check", argc, argv);
    cmd_guard_set_status(EXIT_TROUBLE); /* a damaged file is trouble, as every data error here */
    check_opts o = {.order = 1, .name = NULL};
    cmd_common_init(&o.co);
    o.co.dtype = TT_F64; /* gradcheck's precision */
    o.co.longopts = longopts;
    o.co.forms = report_forms;
    tg_gradcheck_defaults(&o.gc);
    parse(&o, argc, argv);
    o.gc.seed = o.co.seed;
    if (!o.name) o.name = "Custom";
    if (!tt_dtype_is_floating(o.co.dtype))
        cmd_usage_error("--dtype %s: gradients need a floating dtype (f64 or f32)", tt_dtype_name(o.co.dtype));

    check_case *cases = NULL;
    int ncases = 0;
    builtin_ctx *bctx = NULL;
    expr_fn efn = {0};
    shell_op sop = {0};
    tg_env *env = NULL, *constants = NULL;
    plugin_lib pl = {0};
    stream s = {o.co.seed, 0};

    switch (o.mode) {
    case MODE_ALL: {
        check_op_names(&o, NBUILTINS, builtin_name, NULL, "--all");
        if (o.list) {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            if (!f) cmd_fail("out of memory");
            for (int i = 0; i < NBUILTINS; i++)
                if (selected(&o, builtins[i].name))
                    fprintf(f, "%-18s %-28s %s\n", builtins[i].name,
                            builtins[i].expr ? builtins[i].expr : builtins[i].label, builtins[i].inputs);
            fclose(f);
            write_out(o.co.output, buf, len);
            free(buf);
            return 0;
        }
        cases = cmd_xcalloc(NBUILTINS, sizeof *cases);
        bctx = cmd_xcalloc(NBUILTINS, sizeof *bctx);
        for (int i = 0; i < NBUILTINS; i++) {
            const builtin *b = &builtins[i];
            if (!selected(&o, b->name)) continue;
            check_case *c = &cases[ncases];
            bool constant[MAX_INPUTS] = {0};
            c->op = cmd_xstrdup(b->name);
            c->what = cmd_xstrdup(b->expr ? b->expr : b->label);
            builtin_inputs(&o, b, c, constant);
            bctx[ncases] = (builtin_ctx){b, {&o, b->expr, NULL, NULL, c->ninputs, c->names}};
            c->fn = eval_builtin;
            c->ctx = &bctx[ncases];
            ncases++;
        }
        break;
    }
    case MODE_EXPR:
    case MODE_SHELL: {
        env = new_env(&o, NULL);
        if (!env) trouble("%s", last_error());
        bind_all(env, &o);
        const cmd_names *names = o.mode == MODE_EXPR ? &o.wrt : &o.inputs;
        cases = cmd_xcalloc(1, sizeof *cases);
        check_case *c = &cases[ncases++];
        named_inputs(&o, env, names, c, &s);
        constants = constants_of(&o, env, names);
        if (o.mode == MODE_EXPR) {
            c->op = cmd_xstrdup(o.expr);
            efn = (expr_fn){&o, o.expr, "-e", constants, c->ninputs, c->names};
            c->fn = eval_expr_fn;
            c->ctx = &efn;
        } else {
            c->op = cmd_xstrdup(o.name);
            size_t len = strlen(o.forward) + 32;
            for (int i = 0; i < o.backward.n; i++) len += strlen(o.backward.names[i]) + 2;
            c->what = cmd_xcalloc(len, 1);
            strcat(c->what, o.forward);
            strcat(c->what, " ; backward ");
            for (int i = 0; i < o.backward.n; i++) {
                if (i) strcat(c->what, ", ");
                strcat(c->what, o.backward.names[i]);
            }
            sop = (shell_op){&o, constants, {o.name, shell_forward, shell_backward, false}};
            c->fn = apply_fn;
            c->ctx = &sop;
        }
        break;
    }
    case MODE_PLUGIN: {
        pl = load_plugin(o.plugin);
        const tg_plugin *p = pl.p;
        check_op_names(&o, p->nops, plugin_op_name, p, o.plugin);
        if (o.list) {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            if (!f) cmd_fail("out of memory");
            for (int i = 0; i < p->nops; i++) {
                const tg_plugin_op *op = &p->ops[i];
                if (!selected(&o, op->function->name)) continue;
                fprintf(f, "%s(", op->function->name);
                for (int j = 0; j < op->ninputs; j++) {
                    char sh[128];
                    tt_shape_str(op->inputs[j].ndim, op->inputs[j].shape, sh, sizeof sh);
                    if (op->inputs[j].name) fprintf(f, "%s%s: %s", j ? ", " : "", op->inputs[j].name, sh);
                    else fprintf(f, "%sinput%d: %s", j ? ", " : "", j, sh);
                }
                fprintf(f, ")%s%s\n", op->description ? "  " : "", op->description ? op->description : "");
            }
            fclose(f);
            write_out(o.co.output, buf, len);
            free(buf);
            dlclose(pl.handle);
            return 0;
        }
        env = new_env(&o, NULL);
        if (!env) trouble("%s", last_error());
        bind_all(env, &o);
        cases = cmd_xcalloc((size_t)(p->nops ? p->nops : 1), sizeof *cases);
        cmd_names used = {0};
        for (int i = 0; i < p->nops; i++) {
            const tg_plugin_op *op = &p->ops[i];
            if (!selected(&o, op->function->name)) continue;
            check_case *c = &cases[ncases++];
            c->op = cmd_xstrdup(op->function->name);
            if (op->description) c->what = cmd_xstrdup(op->description);
            stream ps = {o.co.seed ^ fnv1a(op->function->name), 0};
            for (int j = 0; j < op->ninputs; j++) {
                const tg_plugin_input *in = &op->inputs[j];
                char *name = in->name ? cmd_xstrdup(in->name) : cmd_xprintf("input%d", j);
                if (list_find(&used, name) < 0) list_add(&used, name, strlen(name));
                tt_tensor *v = tg_env_get(env, name), *t;
                if (v) t = tt_retain(v);
                else if (o.shape_given)
                    t = random_tensor(&ps, o.shape_ndim, o.shape, in->low == 0 && in->high == 0 ? R_NORMAL : R_UNIFORM,
                                      in->low, in->high, NULL, 0);
                else
                    t = random_tensor(&ps, in->ndim, in->shape, in->low == 0 && in->high == 0 ? R_NORMAL : R_UNIFORM,
                                      in->low, in->high, NULL, 0);
                c->names[j] = name;
                c->inputs[j] = make_input(&o, t, !in->no_grad, name);
                c->ninputs++;
            }
            c->fn = apply_plugin_op;
            c->ctx = (void *)op;
        }
        for (int i = 0; i < o.nbind; i++) {
            size_t n = strcspn(o.bindings[i], "=");
            char *name = strndup(o.bindings[i], n);
            if (name && list_find(&used, name) < 0)
                cmd_usage_error("%s: no selected op of %s has an input named '%s'", o.bindings[i], o.plugin, name);
            free(name);
        }
        cmd_names_free(&used);
        break;
    }
    case MODE_NONE: break;
    }

    int status = 0;
    if (o.graph) {
        print_graph(&o, ncases, cases);
    } else {
        results res = {0};
        for (int i = 0; i < ncases; i++) run_case(&o, &res, &cases[i]);
        warning_note(&o);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) cmd_fail("out of memory");
        if (o.fmt == FMT_TAP) print_tap(f, &res);
        else if (o.fmt == FMT_KV) print_kv(f, &res);
        else print_text(f, &res);
        if (fclose(f) != 0) cmd_fail("out of memory");
        write_out(o.co.output, buf, len);
        free(buf);
        status = res.errors ? EXIT_TROUBLE : res.failed ? 1 : 0;
        results_free(&res);
    }

    for (int i = 0; i < ncases; i++) case_free(&cases[i]);
    free(cases);
    free(bctx);
    tg_env_free(env);
    tg_env_free(constants);
    cmd_names_free(&o.wrt);
    cmd_names_free(&o.backward);
    cmd_names_free(&o.inputs);
    cmd_names_free(&o.ops);
    if (pl.handle) dlclose(pl.handle);
    return status;
}
