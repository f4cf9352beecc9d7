/* tg-grad: differentiate an expression. See man/tg-grad.1.
 *
 * Binds NAME=VALUE tensors, marks the --wrt ones as requiring grad, evaluates
 * -e into libgrad calls (lib/expr), then asks torch.autograd.grad's C twin,
 * tg_autograd_grad, for the gradients: of the output (with --grad-output for a
 * non-scalar one), again of their sums for --order K, or of each gradient
 * element for --hessian. Writes /out, /grad/NAME and /hessian/... as HDF5, as
 * columns, or as PyTorch prints them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "tg/expr.h"
#include "tg/grad.h"

static const char usage[] =
    "Usage: tg-grad -e EXPR --wrt NAME[,NAME...] [--grad-output SRC] [--order K]\n"
    "               [--hessian] [--retain] [--allow-unused] [NAME=VALUE...]\n"
    "Differentiate an expression with reverse-mode autograd, as PyTorch's\n"
    "torch.autograd.grad does, and write the value and the gradients.\n"
    "\n"
    "  -e, --expr EXPR        the expression: statements NAME = EXPR; ..., the last\n"
    "                         expression is the output (see tg-grad(1))\n"
    "      --wrt NAMES        differentiate with respect to these names (comma-\n"
    "                         separated; repeatable): bindings, or names that -e\n"
    "                         assigns (intermediate values)\n"
    "      --grad-output SRC  the gradient of the output (PyTorch's grad_outputs):\n"
    "                         'ones', a tensor source (FILE, FILE:DATASET, -,\n"
    "                         -:DATASET) or an expression; needed when the output\n"
    "                         has more than one element\n"
    "      --order K          the K-th derivative: differentiate the sum of the\n"
    "                         gradient again, K-1 times, for each name (default 1)\n"
    "      --hessian          also write the Hessian of the output: /hessian/NAME,\n"
    "                         or /hessian/NAME1/NAME2 blocks for several names\n"
    "      --retain           keep the graph after the last differentiation\n"
    "                         (retain_graph=True)\n"
    "      --allow-unused     a name the output does not depend on gets a zero\n"
    "                         gradient instead of an error\n"
    "  NAME=VALUE             bind NAME: VALUE naming a file (FILE, FILE:DATASET,\n"
    "                         -, -:DATASET) is read, anything else is an expression:\n"
    "                         x=5  x='[1,2,3]'  x='randn(3,4)'  x='arange(-2,4)'\n"
    "common options:\n"
    "  -o, --output FILE      write to FILE (atomically); its extension says what:\n"
    "                         .h5/.hdf5, .csv, .tsv or .txt (others are refused)\n"
    "      --format FMT       h5, csv, tsv, text, or torch: print as PyTorch does,\n"
    "                         out = tensor(25., grad_fn=...) (default: torch on a\n"
    "                         terminal, else h5)\n" CMD_COMMON_HELP_REST
    "\n"
    "Output: /out (the value), /grad/NAME per --wrt name, /hessian/... with\n"
    "--hessian. csv, tsv and text hold the gradients as columns (and /out when it\n"
    "has their length), or with --hessian the Hessian blocks.\n"
    "Example: tg-grad -e 'x^2' --wrt x x=5 --order 2\n"
    "Exit status: 0 ok, 1 runtime error (evaluation, data, autograd),\n"
    "2 usage error (options, syntax of -e or a binding).  See tg-grad(1).\n";

enum {
    OPT_WRT = CMD_OPT_FIRST_PRIVATE,
    OPT_GRAD_OUTPUT,
    OPT_ORDER,
    OPT_HESSIAN,
    OPT_RETAIN,
    OPT_ALLOW_UNUSED,
};

static const struct option longopts[] = {
    CMD_COMMON_LONGOPTS,
    {"expr", required_argument, NULL, 'e'},
    {"wrt", required_argument, NULL, OPT_WRT},
    {"grad-output", required_argument, NULL, OPT_GRAD_OUTPUT},
    {"order", required_argument, NULL, OPT_ORDER},
    {"hessian", no_argument, NULL, OPT_HESSIAN},
    {"retain", no_argument, NULL, OPT_RETAIN},
    {"allow-unused", no_argument, NULL, OPT_ALLOW_UNUSED},
    {NULL, 0, NULL, 0},
};

#define MAX_ORDER 100

typedef struct {
    cmd_common co;
    const char *expr;
    cmd_names wrt;
    const char *grad_output;
    int order;
    bool hessian, retain, allow_unused;
    bool torch_format; /* --format torch */
    char **bindings;   /* argv words NAME=VALUE */
    int nbind;
} grad_opts;

/* One --wrt name: the tensor differentiated (a reference of ours) and its results. */
typedef struct {
    const char *name;
    tt_tensor *x;
    tt_tensor *grad;
    tt_tensor **hess; /* [nwrt] blocks with --hessian */
} wrt_var;

/* ---- small helpers -------------------------------------------------------- */

/* --grad-output SRC for an output: "ones", a tensor source, or an expression
 * evaluated (without recording) in env. Returns a new reference shaped,
 * typed and placed like out. */
static tt_tensor *grad_output_tensor(tg_env *env, const grad_opts *o, const tt_tensor *out)
{
    const char *src = o->grad_output;
    const char *who = "--grad-output";
    if (!strcmp(src, "ones")) return cmd_check(tt_ones_like(out), who);
    bool prev = tg_set_grad_enabled(false);
    tt_tensor *g = tg_env_value(env, src, who);
    tg_set_grad_enabled(prev);
    if (!g) cmd_expr_fail(NULL);
    tt_tensor *c = cmd_check(tt_cast(g, out->dtype), who);
    tt_release(g);
    tt_tensor *d = cmd_check(tt_to_device(c, tt_device_of(out)), who);
    tt_release(c);
    return d;
}

/* A zero gradient for x: zeros of its shape, dtype and device. */
static tt_tensor *zeros_for(const tt_tensor *x) { return cmd_check(tt_zeros_like(x), NULL); }

/* ---- the derivatives ---------------------------------------------------- */

/* First derivatives of out (with gout) for every name; unused names are an
 * error unless --allow-unused, which gives zeros. create_graph when more
 * derivatives follow. */
static void first_derivatives(const grad_opts *o, tt_tensor *out, tt_tensor *gout, wrt_var *v, bool create)
{
    int n = o->wrt.n;
    tt_tensor **xs = cmd_xcalloc((size_t)n, sizeof *xs);
    tt_tensor **gs = cmd_xcalloc((size_t)n, sizeof *gs);
    for (int i = 0; i < n; i++) xs[i] = v[i].x;
    tt_status st = tg_autograd_grad(1, &out, gout ? &gout : NULL, n, xs, o->retain || create, create, true, gs);
    if (st != TT_OK) cmd_fail_lib(NULL);
    for (int i = 0; i < n; i++) {
        if (!gs[i] && !o->allow_unused)
            cmd_fail(
                "--wrt %s: One of the differentiated Tensors appears to not have been used in the graph. "
                "Set allow_unused=True if this is the desired behavior. (the output does not depend on '%s'; "
                "--allow-unused gives it a zero gradient)",
                v[i].name, v[i].name);
        v[i].grad = gs[i] ? gs[i] : zeros_for(v[i].x);
    }
    free(xs);
    free(gs);
}

/* --order K: for each name on its own, g <- d sum(g) / dx, K-1 times. A
 * derivative that no longer depends on x (the third of x^2) is zero from
 * there on: zeros, not an error. */
static void higher_derivatives(const grad_opts *o, wrt_var *v)
{
    int n = o->wrt.n;
    for (int i = 0; i < n; i++) {
        for (int k = 2; k <= o->order; k++) {
            bool last = k == o->order;
            tt_tensor *g = v[i].grad, *h = NULL;
            if (tg_requires_grad(g)) {
                tt_tensor *s = cmd_check(tg_sum(g), NULL);
                /* The graph is shared between names: only the very last call may free it. */
                bool retain = o->retain || !last || i < n - 1;
                tt_status st = tg_autograd_grad(1, &s, NULL, 1, &v[i].x, retain, !last, true, &h);
                tt_release(s);
                if (st != TT_OK) cmd_fail_lib(NULL);
            }
            v[i].grad = h ? h : zeros_for(v[i].x);
            tt_release(g);
        }
    }
}

/* --hessian: the blocks d g_i / d x_j of the first derivatives g_i (made
 * with create_graph), as torch.autograd.functional.hessian returns them. */
static void hessian(const grad_opts *o, wrt_var *v)
{
    int n = o->wrt.n;
    tt_tensor **grads = cmd_xcalloc((size_t)n, sizeof *grads), **xs = cmd_xcalloc((size_t)n, sizeof *xs);
    tt_tensor **blocks = cmd_xcalloc((size_t)n * (size_t)n, sizeof *blocks);
    for (int i = 0; i < n; i++) {
        grads[i] = v[i].grad;
        xs[i] = v[i].x;
    }
    if (tg_hessian_from_grads(n, grads, xs, blocks) != TT_OK) cmd_fail_lib("--hessian");
    for (int i = 0; i < n; i++) {
        v[i].hess = cmd_xcalloc((size_t)n, sizeof *v[i].hess);
        memcpy(v[i].hess, blocks + i * n, (size_t)n * sizeof *blocks);
    }
    free(blocks);
    free(grads);
    free(xs);
}

/* ---- output --------------------------------------------------------------- */

/* Puts a detached copy of t (the file holds values, not graphs). */
static void put_value(tt_tensor_set *set, const char *name, const tt_tensor *t)
{
    tt_tensor *d = cmd_check(tg_detach(t), name);
    cmd_put(set, name, d);
    tt_release(d);
}

static char *hessian_name(const grad_opts *o, const wrt_var *v, int i, int j)
{
    return o->wrt.n == 1 ? cmd_xprintf("hessian/%s", v[i].name) : cmd_xprintf("hessian/%s/%s", v[i].name, v[j].name);
}

static char *grad_name(const wrt_var *v) { return cmd_xprintf("grad/%s", v->name); }

/* Can these tensors be text columns (1-D or 0-D, all of one length)? */
static bool columns_fit(int n, tt_tensor *const *ts)
{
    for (int i = 0; i < n; i++)
        if (ts[i]->ndim > 1 || tt_numel(ts[i]) != tt_numel(ts[0])) return false;
    return true;
}

static void provenance(tt_tensor_set *set, const grad_opts *o)
{
    cmd_provenance(set);
    cmd_attr_str(set, "expression", o->expr);
    size_t len = 1;
    for (int i = 0; i < o->wrt.n; i++) len += strlen(o->wrt.names[i]) + 1;
    char *wrt = cmd_xcalloc(len, 1);
    for (int i = 0; i < o->wrt.n; i++) {
        if (i) strcat(wrt, ",");
        strcat(wrt, o->wrt.names[i]);
    }
    cmd_attr_str(set, "wrt", wrt);
    free(wrt);
    cmd_attr_int(set, "order", o->order);
    if (o->grad_output) cmd_attr_str(set, "grad_output", o->grad_output);
    cmd_attr_seed(set, o->co.seed);
    cmd_attr_str(set, "dtype", tt_dtype_name(o->co.dtype));
    cmd_attr_str(set, "device", tt_device_name(o->co.device));
}

/* Every Hessian block into set, as /hessian/... (or its column name). */
static void put_hessians(tt_tensor_set *set, const grad_opts *o, const wrt_var *v)
{
    for (int i = 0; i < o->wrt.n; i++)
        for (int j = 0; j < o->wrt.n; j++) {
            char *name = hessian_name(o, v, i, j);
            put_value(set, name, v[i].hess[j]);
            free(name);
        }
}

/* The set written as HDF5: /out, /grad/NAME..., /hessian/.... For csv, tsv
 * and text: what fits in columns (see the help). */
static tt_tensor_set *make_set(const grad_opts *o, const tt_tensor *out, const wrt_var *v, bool columns)
{
    tt_tensor_set *set = tt_set_new();
    if (!set) cmd_fail_lib(NULL);
    provenance(set, o);
    int n = o->wrt.n;
    if (!(columns && o->hessian)) {
        tt_tensor **ts = cmd_xcalloc((size_t)n + 1, sizeof *ts);
        ts[0] = (tt_tensor *)out;
        for (int i = 0; i < n; i++) ts[i + 1] = v[i].grad;
        if (!columns || columns_fit(n + 1, ts)) put_value(set, "out", out);
        free(ts);
        for (int i = 0; i < n; i++) {
            char *name = grad_name(&v[i]);
            put_value(set, name, v[i].grad);
            free(name);
        }
    }
    if (o->hessian) put_hessians(set, o, v);
    return set;
}

/* "LABEL = tensor(...)", continuation lines indented under "tensor(". */
static void print_named(FILE *f, const char *label, const tt_tensor *t)
{
    char *s = tg_format(t);
    if (!s) cmd_fail_lib(label);
    int indent = (int)strlen(label) + 3;
    fprintf(f, "%s = ", label);
    for (const char *p = s; *p; p++) {
        fputc(*p, f);
        if (*p == '\n' && p[1]) fprintf(f, "%*s", indent, "");
    }
    fputc('\n', f);
    free(s);
}

/* The form a terminal gets (or --format torch): PyTorch's printing. */
static void print_torch(const grad_opts *o, const tt_tensor *out, const wrt_var *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) cmd_fail("out of memory");
    print_named(f, "out", out);
    for (int i = 0; i < o->wrt.n; i++) {
        char *name = grad_name(&v[i]);
        print_named(f, name, v[i].grad);
        free(name);
    }
    if (o->hessian)
        for (int i = 0; i < o->wrt.n; i++)
            for (int j = 0; j < o->wrt.n; j++) {
                char *name = hessian_name(o, v, i, j);
                print_named(f, name, v[i].hess[j]);
                free(name);
            }
    if (fclose(f) != 0) cmd_fail("out of memory");
    cmd_write_bytes(o->co.output, buf, len);
    free(buf);
}

/* ---- main ----------------------------------------------------------------- */

/* The tensor-set forms, and PyTorch's printing (by --format only). */
enum { F_TORCH = 4 };
static const cmd_form grad_forms[] = {CMD_SET_FORMS, [F_TORCH] = {"torch", "", TT_FMT_AUTO}, {NULL, NULL, TT_FMT_AUTO}};

static void parse(grad_opts *o, int argc, char **argv)
{
    int c;
    bool help = false;
    while ((c = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS "e:", longopts, NULL)) != -1) {
        if (cmd_common_option(&o->co, c, optarg)) continue;
        switch (c) {
        case 'h': help = true; break;
        case 'e':
            if (o->expr) cmd_usage_error("-e given twice; join statements with ';' in one expression");
            if (!*optarg) cmd_usage_error("invalid value '' for -e: expected an expression");
            o->expr = optarg;
            break;
        case OPT_WRT: cmd_names_add(&o->wrt, "--wrt", optarg); break;
        case OPT_GRAD_OUTPUT:
            if (!*optarg)
                cmd_usage_error(
                    "invalid value '' for --grad-output: expected 'ones', a tensor source or an expression");
            o->grad_output = optarg;
            break;
        case OPT_ORDER: o->order = (int)cmd_parse_int64("--order", optarg, 1, MAX_ORDER); break;
        case OPT_HESSIAN: o->hessian = true; break;
        case OPT_RETAIN: o->retain = true; break;
        case OPT_ALLOW_UNUSED: o->allow_unused = true; break;
        default: cmd_usage_error("unexpected option (internal error)");
        }
    }
    if (help) cmd_help(usage);
    o->torch_format = o->co.form == F_TORCH;
    if (!o->expr) cmd_usage_error("missing -e EXPR: the expression to differentiate");
    if (o->wrt.n == 0) cmd_usage_error("missing --wrt NAMES: what to differentiate with respect to");
    if (o->hessian && o->order > 1) cmd_usage_error("--hessian and --order %d cannot be used together", o->order);
    o->bindings = argv + optind;
    o->nbind = argc - optind;
    for (int i = 0; i < o->nbind; i++) {
        const char *eq = strchr(o->bindings[i], '=');
        if (!eq) cmd_usage_error("unexpected argument '%s': bindings are NAME=VALUE", o->bindings[i]);
        if (!eq[1]) cmd_usage_error("%s: missing value after '='", o->bindings[i]);
    }
}

int main(int argc, char **argv)
{
    cmd_init("tg-grad", argc, argv);
    grad_opts o = {.order = 1};
    cmd_common_init(&o.co);
    o.co.longopts = longopts;
    o.co.forms = grad_forms;
    parse(&o, argc, argv);
    bool torch_form = o.torch_format || (!o.co.output && o.co.format == TT_FMT_AUTO && isatty(STDOUT_FILENO));
    cmd_common_finish(&o.co);

    tg_env *env = tg_env_new();
    if (!env) cmd_fail_lib(NULL);
    tg_env_set_dtype(env, o.co.dtype);
    tg_env_set_device(env, o.co.device);
    tg_env_set_seed(env, o.co.seed);
    cmd_bind_all(env, o.nbind, o.bindings);

    /* Bound names become leaves that require grad; a name bound by -e is an
     * intermediate, looked up after evaluation (so every floating binding
     * then requires grad, for it to have a history). */
    wrt_var *v = cmd_xcalloc((size_t)o.wrt.n, sizeof *v);
    bool intermediates = false;
    for (int i = 0; i < o.wrt.n; i++) {
        v[i].name = o.wrt.names[i];
        tt_tensor *x = tg_env_get(env, o.wrt.names[i]);
        if (!x) {
            intermediates = true;
            continue;
        }
        if (tg_set_requires_grad(x, true) != TT_OK)
            cmd_fail("--wrt %s: %s (%s holds %s)", o.wrt.names[i], tt_last_error(), o.wrt.names[i],
                     tt_dtype_name(x->dtype));
        v[i].x = tt_retain(x);
    }
    if (intermediates)
        for (int i = 0; i < tg_env_count(env); i++) {
            tt_tensor *t = tg_env_get(env, tg_env_name(env, i));
            if (t && tt_dtype_is_floating(t->dtype) && !tg_requires_grad(t))
                cmd_check_status(tg_set_requires_grad(t, true), tg_env_name(env, i));
        }

    tt_tensor *out = tg_eval(env, o.expr);
    if (!out) cmd_expr_fail("-e");
    for (int i = 0; i < o.wrt.n; i++) {
        if (v[i].x) continue;
        tt_tensor *x = tg_env_get(env, o.wrt.names[i]);
        if (!x) {
            char *names = cmd_env_names(env);
            cmd_usage_error("--wrt: '%s' is not bound (bound: %s); bind it as %s=VALUE or assign it in -e",
                            o.wrt.names[i], names, o.wrt.names[i]);
        }
        if (!tg_requires_grad(x))
            cmd_fail("--wrt %s: %s does not require grad: -e computes it from no floating binding", o.wrt.names[i],
                     o.wrt.names[i]);
        v[i].x = tt_retain(x);
    }

    /* The output must have a history; PyTorch's checks, with tg-grad's hints. */
    if (!tg_requires_grad(out) && !o.allow_unused)
        cmd_fail(
            "-e: element 0 of tensors does not require grad and does not have a grad_fn "
            "(the output depends on no --wrt name%s; --allow-unused gives zero gradients)",
            tt_dtype_is_floating(out->dtype) ? "" : ", or is not floating");
    if (!o.grad_output && tt_numel(out) != 1)
        cmd_fail(
            "grad can be implicitly created only for scalar outputs "
            "(use --grad-output ones, or reduce the output, e.g. sum(...))");
    tt_tensor *gout = o.grad_output ? grad_output_tensor(env, &o, out) : NULL;
    if (gout && (gout->ndim != out->ndim || memcmp(gout->shape, out->shape, (size_t)out->ndim * sizeof *out->shape))) {
        char a[160], b[160];
        cmd_fail(
            "--grad-output: Mismatch in shape: grad_output[0] has a shape of torch.Size(%s) and output[0] has a "
            "shape of torch.Size(%s).",
            tt_shape_str(gout->ndim, gout->shape, a, sizeof a), tt_shape_str(out->ndim, out->shape, b, sizeof b));
    }

    if (!tg_requires_grad(out)) { /* --allow-unused: nothing depends on anything */
        for (int i = 0; i < o.wrt.n; i++) v[i].grad = zeros_for(v[i].x);
    } else {
        first_derivatives(&o, out, gout, v, o.order > 1 || o.hessian);
        if (o.order > 1) higher_derivatives(&o, v);
    }
    if (o.hessian) hessian(&o, v);

    if (torch_form) {
        print_torch(&o, out, v);
    } else {
        tt_file_format fmt = o.co.out_fmt;
        tt_tensor_set *set = make_set(&o, out, v, fmt != TT_FMT_H5);
        cmd_write(&o.co, set);
        tt_set_free(set);
    }

    for (int i = 0; i < o.wrt.n; i++) {
        tt_release(v[i].x);
        tt_release(v[i].grad);
        if (v[i].hess)
            for (int j = 0; j < o.wrt.n; j++) tt_release(v[i].hess[j]);
        free(v[i].hess);
    }
    free(v);
    cmd_names_free(&o.wrt);
    tt_release(gout);
    tt_release(out);
    tg_env_free(env);
    return 0;
}
