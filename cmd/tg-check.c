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
 *
 * This file is the command: options, then dispatch. The sources of cases,
 * the runner and the report are cmd/check/ (check.h says which is where).
 */
#include <string.h>

#include "check/check.h"
#include "guard.h"

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
    "      --device DEV       " CMD_DEVICES
    "\n"
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

/* --format's values and -o's extensions (check_opts.fmt is one of them) */
static const cmd_form report_forms[] = {
    [FMT_TEXT] = {"text", ".txt", TT_FMT_AUTO},
    [FMT_TAP] = {"tap", ".tap", TT_FMT_AUTO},
    [FMT_KV] = {"kv", ".kv", TT_FMT_AUTO},
    {NULL, NULL, TT_FMT_AUTO},
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
            cmd_names_append(l, a, (size_t)(b - a));
            if (!*p) break;
            start = p + 1;
        }
    }
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
        if (o->inputs.n > CHECK_MAX_INPUTS)
            cmd_usage_error("--inputs: at most %d inputs, got %d", CHECK_MAX_INPUTS, o->inputs.n);
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

/* ---- dispatch ----------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cmd_init("tg-check", argc, argv);
    cmd_set_failure_status(CHECK_TROUBLE); /* a check that cannot be carried out: cmp's trouble */
    cmd_guard_set_status(CHECK_TROUBLE);   /* a damaged file is trouble, as every data error here */
    check_opts o = {.order = 1, .name = NULL};
    cmd_common_init(&o.co);
    o.co.dtype = TT_F64; /* gradcheck's precision */
    o.co.longopts = longopts;
    o.co.forms = report_forms;
    tg_gradcheck_defaults(&o.gc);
    o.gc.replay = true; /* the same Jacobians, without the op layer's cost per evaluation */
    parse(&o, argc, argv);
    o.gc.seed = o.co.seed;
    if (!o.name) o.name = "Custom";
    if (!tt_dtype_is_floating(o.co.dtype))
        cmd_usage_error("--dtype %s: gradients need a floating dtype (f64 or f32)", tt_dtype_name(o.co.dtype));

    static void (*const sources[])(const check_opts *, check_set *) = {
        [MODE_ALL] = check_all_cases,
        [MODE_EXPR] = check_expr_cases,
        [MODE_SHELL] = check_shell_cases,
        [MODE_PLUGIN] = check_plugin_cases,
    };
    check_set set = {0};
    sources[o.mode](&o, &set);
    int status = 0;
    if (o.list) {
        check_list(&o, &set);
    } else if (o.graph) {
        check_graph(&o, &set);
    } else {
        check_results res = {0};
        check_run(&o, &set, &res);
        status = check_report(&o, &res);
        check_results_free(&res);
    }
    check_set_free(&set);
    cmd_names_free(&o.wrt);
    cmd_names_free(&o.backward);
    cmd_names_free(&o.inputs);
    cmd_names_free(&o.ops);
    return status;
}
