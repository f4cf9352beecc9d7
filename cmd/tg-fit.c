/* tg-fit: fit a model to (x, y) by gradient descent through libgrad. See
 * man/tg-fit.1.
 *
 * Reads x, y (and weights) from one HDF5 file or text table (a file or
 * standard input, read once), checks them (lengths, NaN/Inf rows, which
 * --drop-nan removes), hands them to tg_fit (lib/fit) with the options as a
 * tg_fit_spec, and reports the parameters with their standard errors as text
 * (a terminal), name=value lines (--format kv) or HDF5 (a pipe, -o FILE.h5).
 * Side outputs: --history (the loss curve), --plot (an SVG drawn by plot.c),
 * --log-every and --progress on standard error.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "mpi.h"
#include "plot.h"
#include "progress.h"
#include "tg/expr.h"
#include "tg/fit.h"
#ifdef TG_MPI
#include "tg/fit_mpi.h"
#endif

static const char usage[] =
    "Usage: tg-fit [FILE] [-x NAME] [-y NAME] [-w NAME] [--model MODEL] [--loss LOSS]\n"
    "              [--init NAME=V,...] [--method descent|exact] [--optimizer OPT]\n"
    "              [--lr LR] [--steps N | --epochs N] [--plot FILE.svg] [options]\n"
    "Fit a model to (x, y) by gradient descent through libgrad, as the seeds'\n"
    "PyTorch loops do, and report each parameter with its standard error.\n"
    "\n"
    "Input: FILE (HDF5 or text; '-' or nothing: standard input), so that\n"
    "`tg-gen line ... | tg-fit` works.\n"
    "  -x, --x NAME           the x dataset or column (default x; for text without\n"
    "                         such a column, the first one; columns without a\n"
    "                         header are named 1, 2, ...)\n"
    "  -y, --y NAME           the y dataset or column (default y, else the next one)\n"
    "  -w, --weights NAME     per-point weights 1/sigma^2 (each loss term times w)\n"
    "      --drop-nan         drop rows holding NaN or Inf (with a note) instead of\n"
    "                         failing\n"
    "Model and loss:\n"
    "  -m, --model MODEL      line (default: y = w*x + b), poly:K (c0 + c1 x + ...\n"
    "                         + cK x^K) or an expression in x whose other names are\n"
    "                         parameters, all given by --init: 'a*exp(k*x)'\n"
    "  -l, --loss LOSS        mse (default), half-mse, sse, l1, huber[:DELTA],\n"
    "                         orthogonal (total least squares, line only), or an\n"
    "                         expression over pred, y, x: 'sum((pred-y)^2)/2'\n"
    "      --init NAME=V,...  initial parameter values (repeatable)\n"
    "      --method M         descent (default) or exact (closed-form least\n"
    "                         squares or total least squares, to compare with)\n"
    "Descent (the default with none of these converges on any line in few steps,\n"
    "on internally standardized data; any of them runs the seeds' raw loop):\n"
    "      --optimizer OPT    gd, sgd, momentum or adam (default gd; sgd with\n"
    "                         --batch, momentum with --momentum)\n"
    "      --lr LR            learning rate (> 0)\n"
    "      --lr-decay D       lr / (1 + D*step)\n"
    "      --momentum B       momentum coefficient (default 0.9)\n"
    "      --batch N          sgd: a fresh random batch of N points each step\n"
    "      --steps N          at most N steps\n"
    "      --epochs N         or N passes over the data\n"
    "      --tol T            stop when the relative loss change or the gradient\n"
    "                         norm falls below T (0: never)\n"
    "      --loss-below L     stop once the loss is <= L\n"
    "      --keep-best        report the parameters of the lowest loss seen\n"
    "      --slice N          points read at a time (default 65536): memory is\n"
    "                         bounded by the slice; the answer does not depend on it\n"
    "                         (sgd draws its batches within a slice)\n"
    "Reporting:\n"
    "      --format FMT       text (default on a terminal), kv (name=value lines\n"
    "                         for eval), h5 (default otherwise), csv or tsv (the\n"
    "                         parameters as a table: parameter, value, stderr)\n"
    "      --progress         a progress bar (steps, loss, rate, ETA) on standard\n"
    "                         error whenever it is a terminal (default: on a\n"
    "                         terminal whose TERM is not dumb, for a descent that\n"
    "                         runs over half a second)\n"
    "      --no-progress      never draw the progress bar\n"
    "      --log-every N      print 'step K loss L' every N steps on standard error\n"
    "      --history FILE     write the loss after each step (.h5/.hdf5, .csv, .tsv\n"
    "                         or .txt)\n"
    "      --plot FILE.svg    draw the data, the fitted curve and the loss curve\n"
    "                         (SVG: the name must end in .svg)\n"
    "common options:\n"
    "  -o, --output FILE      write the report to FILE (atomically); its extension\n"
    "                         says what: .h5/.hdf5, .csv, .tsv, .txt or .kv/.sh/.env\n"
    "                         (others are refused)\n"
    "      --dtype TYPE       f32 or f64 (default: the data's, f64 for text)\n"
    "      --device DEV       " CMD_DEVICES
    "\n"
    "      --seed N           seed of the batch order (default: $TG_SEED, else 0)\n"
    "  -h, --help             show this help and exit\n"
    "      --version          show the version and exit\n"
    "\n"
    "Examples:\n"
    "  tg-gen line --slope 3 --intercept 0.8 -n 500 | tg-fit\n"
    "  tg-fit data.csv --format kv      # eval \"$(tg-fit data.csv --format kv)\"\n"
    "  tg-fit data.h5 --optimizer sgd --batch 8 --lr 0.001 --steps 8000 \\\n"
    "      --loss 'sum((pred-y)^2)/2' --plot fit.svg\n"
    "Exit status: 0 ok, 1 runtime or data error (also divergence), 2 usage error.\n"
    "See tg-fit(1).\n";

enum {
    OPT_DROP_NAN = CMD_OPT_FIRST_PRIVATE,
    OPT_INIT,
    OPT_METHOD,
    OPT_OPTIMIZER,
    OPT_LR,
    OPT_LR_DECAY,
    OPT_MOMENTUM,
    OPT_BATCH,
    OPT_STEPS,
    OPT_EPOCHS,
    OPT_TOL,
    OPT_LOSS_BELOW,
    OPT_KEEP_BEST,
    OPT_SLICE,
    OPT_LOG_EVERY,
    OPT_HISTORY,
    OPT_PLOT,
};

static const struct option longopts[] = {
    CMD_COMMON_LONGOPTS,
    {"x", required_argument, NULL, 'x'},
    {"y", required_argument, NULL, 'y'},
    {"weights", required_argument, NULL, 'w'},
    {"drop-nan", no_argument, NULL, OPT_DROP_NAN},
    {"model", required_argument, NULL, 'm'},
    {"loss", required_argument, NULL, 'l'},
    {"init", required_argument, NULL, OPT_INIT},
    {"method", required_argument, NULL, OPT_METHOD},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"lr", required_argument, NULL, OPT_LR},
    {"lr-decay", required_argument, NULL, OPT_LR_DECAY},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"tol", required_argument, NULL, OPT_TOL},
    {"loss-below", required_argument, NULL, OPT_LOSS_BELOW},
    {"keep-best", no_argument, NULL, OPT_KEEP_BEST},
    {"slice", required_argument, NULL, OPT_SLICE},
    CMD_PROGRESS_LONGOPTS,
    {"log-every", required_argument, NULL, OPT_LOG_EVERY},
    {"history", required_argument, NULL, OPT_HISTORY},
    {"plot", required_argument, NULL, OPT_PLOT},
    {NULL, 0, NULL, 0},
};

/* The report's forms: --format NAME or -o's extension. */
typedef enum { OUT_H5, OUT_CSV, OUT_TSV, OUT_TEXT, OUT_KV } out_kind;
static const cmd_form report_forms[] = {
    [OUT_H5] = {"h5", ".h5 .hdf5", TT_FMT_H5},      [OUT_CSV] = {"csv", ".csv", TT_FMT_AUTO},
    [OUT_TSV] = {"tsv", ".tsv", TT_FMT_AUTO},       [OUT_TEXT] = {"text", ".txt", TT_FMT_AUTO},
    [OUT_KV] = {"kv", ".kv .sh .env", TT_FMT_AUTO}, {NULL, NULL, TT_FMT_AUTO},
};
/* --plot draws SVG; --history writes the loss curve as a tensor set. */
static const cmd_form plot_forms[] = {{"svg", ".svg", TT_FMT_AUTO}, {NULL, NULL, TT_FMT_AUTO}};

typedef struct {
    cmd_common co;
    bool dtype_given;
    const char *input; /* FILE, "-" */
    const char *xname, *yname, *wname;
    bool drop_nan;
    const char *model, *loss;
    tg_model *compiled; /* the model, from the library */
    char **init_names;
    double *init_values;
    int ninit;
    tg_fit_method method;
    bool optimizer_given;
    tg_optimizer optimizer;
    const char *optimizer_name;
    double lr, lr_decay, momentum;
    bool lr_given, lr_decay_given, momentum_given;
    int64_t batch, steps, epochs;
    bool tol_given;
    double tol;
    bool has_loss_below;
    double loss_below;
    bool keep_best;
    cmd_progress_mode progress;
    int64_t slice, log_every;
    const char *history, *plot;
    tt_file_format history_fmt;
    out_kind out;
} fit_opts;

/* ---- small helpers -------------------------------------------------------- */

/* Looks like a name ("msee", "half-mse", "huber:2"), not an expression. */
static bool looks_like_name(const char *s)
{
    size_t n = strcspn(s, ":");
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || s[i] == '-' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* The shortest %g that reads back as v exactly. */
static void fmt_num(char *buf, size_t n, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v || isnan(v)) return;
    }
}

/* Levenshtein distance, small strings only (for "did you mean"). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 30 || lb > 30) return 99;
    int d[32][32];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = c < del ? (c < ins ? c : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* ---- option parsing ------------------------------------------------------- */

/* "--init a=1,k=0.1" (repeatable). */
static void add_init(fit_opts *o, const char *arg)
{
    const char *p = arg;
    for (;;) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (!eq) cmd_usage_error("invalid value '%s' for --init: expected NAME=VALUE[,NAME=VALUE...]", arg);
        size_t nl = (size_t)(eq - p);
        if (!cmd_is_identifier(p, nl))
            cmd_usage_error("invalid value '%s' for --init: '%.*s' is not a name", arg, (int)nl, p);
        for (int i = 0; i < o->ninit; i++)
            if (strlen(o->init_names[i]) == nl && !strncmp(o->init_names[i], p, nl))
                cmd_usage_error("--init names '%.*s' twice", (int)nl, p);
        char *name = strndup(p, nl), *val = strndup(eq + 1, n - nl - 1);
        char **names = realloc(o->init_names, (size_t)(o->ninit + 1) * sizeof *names);
        if (!name || !val || !names) cmd_fail("out of memory");
        o->init_names = names;
        double *vals = realloc(o->init_values, (size_t)(o->ninit + 1) * sizeof *vals);
        if (!vals) cmd_fail("out of memory");
        o->init_values = vals;
        char *opt = cmd_xprintf("--init %s", name);
        vals[o->ninit] = cmd_parse_double(opt, val);
        free(opt);
        free(val);
        names[o->ninit++] = name;
        if (!p[n]) break;
        p += n + 1;
    }
}

/* The text on its own line with a caret under its first column, as the
 * expression language shows an error in --model or --loss. */
#define CARET_AT_START "\n  %s\n  ^"

/* The library's loss for LOSS; an unknown name (with the nearest known one)
 * or a bad huber delta is a usage error. */
static tg_loss_kind check_loss(const char *loss)
{
    tg_loss_kind kind;
    double delta;
    if (tg_loss_parse(loss, &kind, &delta) == TT_OK) return kind;
    const char *colon = strchr(loss, ':');
    if (colon && !strncmp(loss, "huber:", 6)) cmd_parse_positive_double("--loss huber:DELTA", colon + 1);
    if (!looks_like_name(loss)) cmd_expr_fail(NULL);
    const char *const *loss_names = tg_loss_names(), *best = NULL;
    int bestd = 3;
    for (int i = 0; loss_names[i]; i++) {
        int d = edit_distance(loss, loss_names[i]);
        if (d < bestd) bestd = d, best = loss_names[i];
    }
    if (best)
        cmd_usage_error(
            "unknown loss '%s' (did you mean %s?): expected mse, half-mse, sse, l1, huber[:DELTA], "
            "orthogonal or an expression over pred, y, x" CARET_AT_START,
            loss, best, loss);
    cmd_usage_error(
        "unknown loss '%s': expected mse, half-mse, sse, l1, huber[:DELTA], orthogonal or an "
        "expression over pred, y, x such as 'mean((pred-y)^2)'" CARET_AT_START,
        loss, loss);
}

/* The model compiled by the library; an unknown name (with the nearest
 * known one) is a usage error, and so is an expression's syntax error. */
static tg_model *compile_model(const char *m)
{
    if (m && (!strcmp(m, "poly") || !strcmp(m, "poly:")))
        cmd_usage_error("--model poly needs a degree: poly:K, as in poly:2");
    tg_model *model;
    if (tg_model_new(m, &model) == TT_OK) return model;
    if (tt_last_status() == TT_EUSAGE && looks_like_name(m) && !strchr(m, ':')) {
        const char *const *names = tg_model_names();
        for (int i = 0; names[i]; i++)
            if (edit_distance(m, names[i]) <= 2)
                cmd_usage_error("unknown model '%s' (did you mean %s?)" CARET_AT_START, m, names[i], m);
        cmd_usage_error(
            "unknown model '%s': expected line, poly:K or an expression in x with parameters from "
            "--init, such as --model 'a*exp(k*x)' --init a=1,k=0.1" CARET_AT_START,
            m, m);
    }
    cmd_expr_fail(NULL);
}

/* Usage checks of the model, loss and method, before any data is read. */
static void check_model(fit_opts *o)
{
    tg_model *model = o->compiled = compile_model(o->model);
    int np = tg_model_nparams(model);
    if (tg_model_get_kind(model) != TG_MODEL_EXPR) {
        for (int i = 0; i < o->ninit; i++) {
            if (tg_model_param_index(model, o->init_names[i]) >= 0) continue;
            char list[256] = "";
            for (int j = 0; j < np && strlen(list) < 200; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
                         tg_model_param(model, j));
            cmd_usage_error("--init %s: the model %s has no parameter '%s' (its parameters: %s)", o->init_names[i],
                            tg_model_text(model), o->init_names[i], list);
        }
    }
    const char *loss = o->loss ? o->loss : "mse";
    tg_loss_kind kind = check_loss(loss);
    if (tg_loss_check_model(kind, model) != TT_OK)
        cmd_usage_error("--loss %s fits a line only (total least squares); drop --model %s", loss, o->model);
    if (o->method == TG_METHOD_EXACT) {
        if (tg_model_get_kind(model) == TG_MODEL_EXPR)
            cmd_usage_error("--method exact needs --model line or poly:K (an expression model has no closed form)");
        if (!tg_fit_exact_covers(model, kind))
            cmd_usage_error("--method exact solves mse, half-mse, sse or orthogonal, not --loss %s", loss);
        if (o->optimizer_given || o->lr_given || o->lr_decay_given || o->momentum_given || o->batch || o->steps ||
            o->epochs || o->tol_given || o->has_loss_below || o->keep_best)
            cmd_usage_error("--method exact takes no descent options (--optimizer, --lr, --steps, ...)");
    }
}

static void parse(fit_opts *o, int argc, char **argv)
{
    static const char *const methods[] = {"descent", "exact", NULL};
    static const char *const optimizers[] = {"gd", "sgd", "momentum", "adam", NULL};
    static const tg_optimizer opt_values[] = {TG_OPT_GD, TG_OPT_SGD, TG_OPT_MOMENTUM, TG_OPT_ADAM};
    bool help = false;
    int c;
    while ((c = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS "x:y:w:m:l:", longopts, NULL)) != -1) {
        if (c == CMD_OPT_DTYPE) o->dtype_given = true;
        if (cmd_common_option(&o->co, c, optarg) || cmd_progress_option(c, &o->progress)) continue;
        switch (c) {
        case 'h': help = true; break;
        case 'x': o->xname = optarg; break;
        case 'y': o->yname = optarg; break;
        case 'w': o->wname = optarg; break;
        case OPT_DROP_NAN: o->drop_nan = true; break;
        case 'm':
            if (!*optarg) cmd_usage_error("invalid value '' for --model: expected line, poly:K or an expression");
            o->model = optarg;
            break;
        case 'l':
            if (!*optarg)
                cmd_usage_error(
                    "invalid value '' for --loss: expected mse, half-mse, sse, l1, huber[:DELTA], "
                    "orthogonal or an expression");
            o->loss = optarg;
            break;
        case OPT_INIT: add_init(o, optarg); break;
        case OPT_METHOD:
            o->method = cmd_parse_choice("--method", optarg, methods) ? TG_METHOD_EXACT : TG_METHOD_DESCENT;
            break;
        case OPT_OPTIMIZER: {
            int i = cmd_parse_choice("--optimizer", optarg, optimizers);
            o->optimizer = opt_values[i];
            o->optimizer_name = optimizers[i];
            o->optimizer_given = true;
            break;
        }
        case OPT_LR:
            o->lr = cmd_parse_double("--lr", optarg);
            if (!(o->lr > 0)) cmd_usage_error("--lr must be a positive number, got '%s'", optarg);
            o->lr_given = true;
            break;
        case OPT_LR_DECAY:
            o->lr_decay = cmd_parse_nonneg_double("--lr-decay", optarg);
            o->lr_decay_given = true;
            break;
        case OPT_MOMENTUM:
            o->momentum = cmd_parse_nonneg_double("--momentum", optarg);
            if (o->momentum >= 1) cmd_usage_error("--momentum must be below 1, got '%s'", optarg);
            o->momentum_given = true;
            break;
        case OPT_BATCH: o->batch = cmd_parse_int64("--batch", optarg, 1, INT64_MAX); break;
        case OPT_STEPS: o->steps = cmd_parse_int64("--steps", optarg, 1, INT64_MAX / 2); break;
        case OPT_EPOCHS: o->epochs = cmd_parse_int64("--epochs", optarg, 1, INT64_MAX / 2); break;
        case OPT_TOL:
            o->tol = cmd_parse_nonneg_double("--tol", optarg);
            o->tol_given = true;
            break;
        case OPT_LOSS_BELOW:
            o->loss_below = cmd_parse_double("--loss-below", optarg);
            o->has_loss_below = true;
            break;
        case OPT_KEEP_BEST: o->keep_best = true; break;
        case OPT_SLICE: o->slice = cmd_parse_int64("--slice", optarg, 1, INT64_MAX); break;
        case OPT_LOG_EVERY: o->log_every = cmd_parse_int64("--log-every", optarg, 1, INT64_MAX); break;
        case OPT_HISTORY:
            if (!*optarg) cmd_usage_error("invalid value '' for --history: expected a file name");
            o->history = optarg;
            break;
        case OPT_PLOT:
            if (!*optarg) cmd_usage_error("invalid value '' for --plot: expected a file name");
            o->plot = optarg;
            break;
        default: cmd_usage_error("unexpected option (internal error)");
        }
    }
    if (help) cmd_help(usage);
    if (optind < argc) o->input = argv[optind++];
    if (optind < argc)
        cmd_usage_error("unexpected argument '%s': tg-fit reads one FILE (x and y are named with -x, -y)",
                        argv[optind]);
    if (o->steps && o->epochs) cmd_usage_error("--steps and --epochs cannot be used together");

    /* The optimizer: named, else implied by its options (the seeds' raw loop). */
    if (!o->optimizer_given) {
        if (o->batch) {
            o->optimizer = TG_OPT_SGD, o->optimizer_name = "sgd";
        } else if (o->momentum_given) {
            o->optimizer = TG_OPT_MOMENTUM, o->optimizer_name = "momentum";
        } else if (o->lr_given || o->lr_decay_given) {
            o->optimizer = TG_OPT_GD, o->optimizer_name = "gd";
        } else {
            o->optimizer = TG_OPT_AUTO, o->optimizer_name = "auto";
        }
    }
    if (o->batch && o->optimizer != TG_OPT_SGD)
        cmd_usage_error("--batch needs --optimizer sgd (%s uses every point at each step)", o->optimizer_name);
    if (o->momentum_given && o->optimizer != TG_OPT_MOMENTUM)
        cmd_usage_error("--momentum needs --optimizer momentum (not %s)", o->optimizer_name);
    check_model(o);

    /* The report's form: --format, else -o's extension, else the terminal. */
    if (o->co.output && o->co.form < 0) o->co.form = cmd_form_by_path("-o", o->co.output, report_forms, "--format");
    o->out = o->co.form >= 0 ? (out_kind)o->co.form : isatty(STDOUT_FILENO) ? OUT_TEXT : OUT_H5;
    o->co.format = o->out == OUT_H5 ? TT_FMT_H5 : TT_FMT_TEXT; /* text is never refused on a terminal */
    if (o->history) {
        int k = cmd_form_by_path("--history", o->history, cmd_set_forms, NULL);
        o->history_fmt = k >= 0 ? cmd_set_forms[k].fmt : TT_FMT_H5; /* a device or FIFO: as a pipe */
    }
    if (o->plot) cmd_form_by_path("--plot", o->plot, plot_forms, NULL);
}

/* ---- reading the data ----------------------------------------------------- */

typedef struct {
    const char *label; /* "data.csv", "standard input" */
    bool text;
    const char *xname, *yname, *wname; /* as found */
    bool weighted;
    int64_t n;      /* the points fitted */
    tt_dtype dtype; /* the data's floating type */
    tt_source *src;
    tg_fit_source *fs; /* the points, read from src a slice at a time */
} fit_data;

/* The first column other than `skip` (text without x/y names). */
static const char *column_after(char *const *names, int n, const char *skip)
{
    for (int i = 0; i < n; i++)
        if (!skip || strcmp(names[i], skip)) return names[i];
    return NULL;
}

/* Opens the source and checks x, y and the weights (names, shapes, lengths)
 * before any point is read; the points are read by the fit, slice by slice. */
static void read_data(const fit_opts *o, fit_data *d)
{
    const char *path = o->input ? o->input : "-";
    if (!strcmp(path, "-") && cmd_mpi_active())
        cmd_usage_error(
            "under an MPI launcher, give a FILE: standard input reaches rank 0 alone (tg-gen ... -o "
            "FILE.h5, then mpirun tg-fit FILE.h5)");
    if (!strcmp(path, "-") && isatty(STDIN_FILENO))
        cmd_usage_error("no input: give a FILE, or pipe data in (tg-gen line | tg-fit)");
    d->label = strcmp(path, "-") ? path : "standard input";
    tt_source *src = d->src = tt_source_open(path);
    if (!src) cmd_fail_lib(tt_last_error() && strstr(tt_last_error(), d->label) ? NULL : d->label);
    d->text = tt_source_is_text(src);

    /* Names: as given, else x and y, else (text) the first two columns. */
    char *const *cols = NULL;
    int ncols = 0;
    if (d->text) cmd_check_status(tt_source_names(src, &cols, &ncols), NULL);
    bool has_x = false, has_y = false;
    for (int i = 0; i < ncols; i++) {
        if (!strcmp(cols[i], "x")) has_x = true;
        if (!strcmp(cols[i], "y")) has_y = true;
    }
    d->xname = o->xname;
    if (!d->xname) d->xname = has_x || !d->text ? "x" : column_after(cols, ncols, NULL);
    d->yname = o->yname;
    if (!d->yname) d->yname = has_y || !d->text ? "y" : column_after(cols, ncols, d->xname);
    if (!d->xname || !d->yname || (!o->xname && !o->yname && d->text && ncols < 2))
        cmd_fail("%s holds %d column%s: expected x and y (name them with -x and -y)", d->label, ncols,
                 ncols == 1 ? "" : "s");
    d->wname = o->wname;
    d->weighted = d->wname != NULL;

    /* x, then y: a missing one says which option names it. */
    const char *names[2] = {d->xname, d->yname}, *opts_[2] = {"-x", "-y"};
    for (int c = 0; c < 2; c++) {
        int ndim;
        int64_t shape[TT_MAX_DIMS];
        tt_dtype dt;
        tt_status st = tt_source_info(src, names[c], &ndim, shape, &dt);
        if (st == TT_ENOTFOUND) cmd_fail("%s; name it with %s NAME", tt_last_error(), opts_[c]);
        if (st != TT_OK) cmd_fail_lib(NULL); /* x is damaged: said before y is looked for */
    }
    tg_fit_source_spec fss = {d->xname, d->yname, d->wname, o->drop_nan, " (--drop-nan drops such rows)"};
    if (tg_fit_source_open(src, &fss, &d->fs) != TT_OK) cmd_fail_lib(NULL);
    const tg_fit_data *fd = tg_fit_source_data(d->fs);
    d->n = fd->n;
    d->dtype = fd->dtype;
    int64_t first, dropped = tg_fit_source_dropped(d->fs, &first);
    if (dropped) {
        if (d->text)
            cmd_warn("%s: dropped %lld row%s holding NaN or Inf (the first: line %lld); %lld left", d->label,
                     (long long)dropped, dropped == 1 ? "" : "s", (long long)tg_fit_source_line(d->fs, first),
                     (long long)d->n);
        else
            cmd_warn("%s: dropped %lld point%s holding NaN or Inf (the first: index %lld); %lld left", d->label,
                     (long long)dropped, dropped == 1 ? "" : "s", (long long)first, (long long)d->n);
    }
}

/* ---- progress, log lines, Ctrl-C ------------------------------------------- */

/* Ctrl-C during the descent stops it at the next step; the parameters reached
 * are reported on standard output and the program then dies of SIGINT. */
static volatile sig_atomic_t interrupted;
static struct sigaction saved_sigint; /* cmd's handler: removes temporary files, dies */

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    sigaction(SIGINT, &saved_sigint, NULL); /* a second Ctrl-C ends the program */
}

typedef struct {
    cmd_progress bar;
    int64_t log_every;
    int64_t total; /* expected steps, 0 when unknown */
} step_ctx;

static void draw_bar(step_ctx *s, int64_t step, double loss)
{
    double rate = cmd_progress_rate(&s->bar, step);
    char line[200];
    int len = 0;
    if (s->total > 0) {
        int width = 30;
        double frac = fmin(1.0, (double)step / (double)s->total);
        int fill = (int)(frac * width);
        len += snprintf(line + len, sizeof line - len, "[");
        for (int i = 0; i < width; i++) line[len++] = i < fill ? '=' : i == fill ? '>' : ' ';
        len += snprintf(line + len, sizeof line - len, "] %lld/%lld", (long long)step, (long long)s->total);
    } else {
        len += snprintf(line + len, sizeof line - len, "step %lld", (long long)step);
    }
    len += snprintf(line + len, sizeof line - len, "  loss %.6g", loss);
    if (rate > 0) len += snprintf(line + len, sizeof line - len, "  %.0f steps/s", rate);
    if (s->total > 0) {
        line[len++] = ' ', line[len++] = ' ';
        cmd_progress_eta(line + len, sizeof line - len, s->total - step, rate);
    }
    cmd_progress_draw(&s->bar, line);
}

static bool on_step(int64_t step, double loss, void *ctx)
{
    step_ctx *s = ctx;
    if (s->log_every && (step == 1 || step % s->log_every == 0)) {
        cmd_progress_clear(&s->bar);
        fprintf(stderr, "step %lld loss %.9g\n", (long long)step, loss);
    }
    if (cmd_progress_due(&s->bar, step == s->total)) draw_bar(s, step, loss);
    return !interrupted;
}

/* ---- the report ------------------------------------------------------------ */

/* The stop reason's name; the descent's callback stops it only on Ctrl-C. */
static const char *stop_name(const tg_fit_result *r)
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
            (long long)r->n, d->label, d->xname, d->yname, d->wname ? ", weights " : "", d->wname ? d->wname : "");
    fprintf(f, "loss %s, ", o->loss ? o->loss : "mse");
    if (o->method == TG_METHOD_EXACT) fprintf(f, "method exact\n\n");
    else if (o->optimizer == TG_OPT_AUTO)
        fprintf(f, "default descent%s\n\n",
                tg_model_get_kind(o->compiled) != TG_MODEL_EXPR ? " (on standardized data)" : "");
    else
        fprintf(f, "optimizer %s%s%s\n\n", o->optimizer_name, o->lr_given ? ", lr " : "",
                o->lr_given ? (snprintf(fb, sizeof fb, "%g", o->lr), fb) : "");

    int nw = 9;
    for (int i = 0; i < p; i++)
        if ((int)strlen(r->names[i]) > nw) nw = (int)strlen(r->names[i]);
    fprintf(f, "%-*s   %-16s   %-14s\n", nw, "parameter", "value", "standard error");
    for (int i = 0; i < p; i++) {
        fprintf(f, "%-*s = %-16.10g +/- %-12.6g", nw, r->names[i], r->values[i], r->stderrs[i]);
        if (r->values[i] != 0 && isfinite(r->stderrs[i]))
            fprintf(f, " (%.3g%%)", fabs(r->stderrs[i] / r->values[i]) * 100);
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
    fprintf(f, "final loss                  %.10g\n", r->loss);
    fprintf(f, "sum of squares of residuals %.10g%s\n", r->sse, d->weighted ? " (weighted)" : "");
    fprintf(f, "degrees of freedom          %lld\n", (long long)r->dof);
    fprintf(f, "rms of residuals            %.10g\n", r->rms);
    if (r->dof > 0) fprintf(f, "residual variance (sse/dof) %.10g\n", r->sse / (double)r->dof);
    fprintf(f, "steps                       %lld\n", (long long)r->steps);
    fprintf(f, "stop                        %s (%s)\n", stop_name(r), stop_text(r->stop));
}

static void print_kv(FILE *f, const tg_fit_result *r)
{
    char a[40];
    int p = r->nparams;
    for (int i = 0; i < p; i++) {
        fmt_num(a, sizeof a, r->values[i]);
        fprintf(f, "%s=%s\n", r->names[i], a);
        fmt_num(a, sizeof a, r->stderrs[i]);
        fprintf(f, "%s_stderr=%s\n", r->names[i], a);
    }
    fmt_num(a, sizeof a, r->loss);
    fprintf(f, "loss=%s\n", a);
    fprintf(f, "steps=%lld\n", (long long)r->steps);
    fprintf(f, "stop=%s\n", stop_name(r));
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
        fmt_num(e, sizeof e, r->stderrs[i]);
        fprintf(f, "%s%c%s%c%s\n", r->names[i], sep, v, sep, e);
    }
}

static tt_tensor *f64_tensor(int ndim, const int64_t *shape, const double *v)
{
    return cmd_check(tt_from_data(ndim, shape, TT_F64, v, TT_CPU), NULL);
}

static void put_f64(tt_tensor_set *set, const char *name, int ndim, const int64_t *shape, const double *v)
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
        put_f64(set, name, 0, NULL, &r->values[i]);
        free(name);
    }
    for (int i = 0; i < p; i++) {
        char *name = cmd_xprintf("stderr/%s", r->names[i]);
        put_f64(set, name, 0, NULL, &r->stderrs[i]);
        free(name);
    }
    int64_t shape[2] = {p, p};
    put_f64(set, "cov", 2, shape, r->cov);
    double *corr = cmd_xcalloc((size_t)p * (size_t)p, sizeof *corr);
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) { corr[i * p + j] = correlation(r, i, j); }
    put_f64(set, "corr", 2, shape, corr);
    free(corr);
    int64_t nh = r->nhistory;
    put_f64(set, "history", 1, &nh, r->history);

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
    cmd_attr_int(set, "n", r->n);
    cmd_attr_int(set, "dof", r->dof);
    cmd_attr_int(set, "steps", r->steps);
    cmd_attr_str(set, "stop", stop_name(r));
    cmd_attr_str(set, "input", d->label);
    cmd_attr_str(set, "x", d->xname);
    cmd_attr_str(set, "y", d->yname);
    if (d->wname) cmd_attr_str(set, "weights", d->wname);
    cmd_attr_seed(set, o->co.seed);
    cmd_attr_str(set, "dtype", tt_dtype_name(o->co.dtype));
    cmd_attr_str(set, "device", tt_device_name(o->co.device));
    return set;
}

/* Text (the report or kv lines) to -o FILE atomically, or to stdout. */
static void write_report(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
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
    if (o->out == OUT_KV) print_kv(f, r);
    else if (o->out == OUT_CSV || o->out == OUT_TSV) print_table(f, r, o->out == OUT_CSV ? ',' : '\t');
    else print_text(f, o, d, r);
    if (fclose(f) != 0) cmd_fail("out of memory");
    cmd_write_bytes(o->co.output, buf, len);
    free(buf);
}

static void write_history(const fit_opts *o, const tg_fit_result *r)
{
    tt_tensor_set *set = tt_set_new();
    if (!set) cmd_fail("out of memory");
    int64_t n = r->nhistory;
    double *steps = cmd_xcalloc((size_t)n, sizeof *steps);
    for (int64_t i = 0; i < n; i++) steps[i] = (double)(i + 1);
    if (o->history_fmt == TT_FMT_H5) cmd_provenance(set);
    put_f64(set, "step", 1, &n, steps);
    put_f64(set, "loss", 1, &n, r->history);
    free(steps);
    cmd_write_set(o->history, o->history_fmt, set);
    tt_set_free(set);
}

/* ---- the plot --------------------------------------------------------------- */

/* y of the fitted model at xs (NULL when it cannot be evaluated). */
static double *model_values(const fit_opts *o, const tg_fit_result *r, const double *xs, int64_t n)
{
    double *ys = cmd_xcalloc((size_t)n, sizeof *ys);
    if (tg_model_predict(o->compiled, r->values, xs, n, ys) != TT_OK) {
        free(ys);
        return NULL;
    }
    return ys;
}

/* The data points a plot draws at most: every k-th point of more (an SVG of
 * 10^8 circles would be gigabytes). */
#define PLOT_POINTS 20000

static void write_plot(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    int64_t np = d->n < PLOT_POINTS ? d->n : PLOT_POINTS, shown = 0;
    double *px = cmd_xcalloc((size_t)np, sizeof *px), *py = cmd_xcalloc((size_t)np, sizeof *py);
    double lo, hi;
    if (tg_fit_source_sample(d->fs, np, px, py, &shown, &lo, &hi) != TT_OK) cmd_fail_lib(NULL);
    int64_t nc = 400;
    double *cx = cmd_xcalloc((size_t)nc, sizeof *cx);
    for (int64_t i = 0; i < nc; i++) cx[i] = lo + (hi - lo) * (double)i / (double)(nc - 1);
    double *cy = model_values(o, r, cx, nc);
    if (!cy) cmd_warn("--plot: cannot evaluate the model for the curve: %s", tt_last_error());

    char title[256], curve[160], data[96], losst[160], pb[64];
    const char *m = tg_model_text(o->compiled);
    if (tg_model_get_kind(o->compiled) == TG_MODEL_LINE) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%.5g", r->values[0]);
        snprintf(b, sizeof b, "%.5g", fabs(r->values[1]));
        snprintf(title, sizeof title, "y = %s x %s %s", a, r->values[1] < 0 ? "-" : "+", b);
    } else {
        int len = snprintf(title, sizeof title, "%s:", strlen(m) > 40 ? "model" : m);
        for (int i = 0; i < r->nparams && len < (int)sizeof title - 40; i++)
            len += snprintf(title + len, sizeof title - (size_t)len, " %s=%.4g", r->names[i], r->values[i]);
    }
    if (shown < d->n) snprintf(data, sizeof data, "data (%lld of %lld points)", (long long)shown, (long long)d->n);
    else snprintf(data, sizeof data, "data (%lld points)", (long long)d->n);
    snprintf(curve, sizeof curve, "fit (%s)", o->method == TG_METHOD_EXACT ? "exact" : "descent");
    const char *lossname = o->loss ? o->loss : "mse";
    if (strlen(lossname) > 40) lossname = "expression";
    if (o->method == TG_METHOD_EXACT) snprintf(losst, sizeof losst, "loss (%s)", lossname);
    else snprintf(losst, sizeof losst, "loss (%s), %lld steps, stop: %s", lossname, (long long)r->steps, stop_name(r));
    snprintf(pb, sizeof pb, "closed form: no descent steps");
    plot_fit pf = {
        .x = px,
        .y = py,
        .n = shown,
        .cx = cx,
        .cy = cy,
        .ncurve = cy ? nc : 0,
        .title = title,
        .xlabel = d->xname,
        .ylabel = d->yname,
        .data_label = data,
        .curve_label = curve,
        .loss = r->history,
        .nloss = r->nhistory,
        .loss_title = losst,
        .loss_note = pb,
    };
    size_t len = 0;
    char *svg = plot_fit_svg(&pf, &len);
    if (!svg) cmd_fail("out of memory drawing --plot");
    cmd_write_bytes(o->plot, svg, len);
    free(svg);
    free(cx);
    free(cy);
    free(px);
    free(py);
}

/* ---- main ------------------------------------------------------------------- */

/* What main holds, released at exit on every path (cmd_fail exits from deep
 * inside the writers): host data from the start, the tensors once made. */
static fit_opts opts;
static fit_data data;
static tg_fit_result *result;

static void release_host(void)
{
    tg_fit_result_free(result);
    tg_fit_source_free(data.fs);
#ifdef TG_MPI
    /* closing is collective: wait outside libhdf5 (and its guard) while rank 0 writes */
    if (data.src) MPI_Barrier(MPI_COMM_WORLD);
#endif
    tt_source_close(data.src);
    tg_model_free(opts.compiled);
    for (int i = 0; i < opts.ninit; i++) free(opts.init_names[i]);
    free(opts.init_names);
    free(opts.init_values);
}

static void spec_from_opts(const fit_opts *o, tg_fit_spec *spec)
{
    tg_fit_spec_defaults(spec);
    spec->model = o->model;
    spec->loss = o->loss;
    spec->ninit = o->ninit;
    spec->init_names = (const char *const *)o->init_names;
    spec->init_values = o->init_values;
    spec->method = o->method;
    spec->optimizer = o->optimizer;
    if (o->lr_given) spec->lr = o->lr;
    if (o->lr_decay_given) spec->lr_decay = o->lr_decay;
    if (o->momentum_given) spec->momentum = o->momentum;
    spec->batch = o->batch;
    spec->steps = o->steps;
    spec->epochs = o->epochs;
    if (o->tol_given) spec->tol = o->tol > 0 ? o->tol : -1;
    spec->has_loss_below = o->has_loss_below;
    spec->loss_below = o->loss_below;
    spec->keep_best = o->keep_best;
    spec->slice = o->slice;
    spec->seed = o->co.seed;
    spec->dtype = o->co.dtype;
    spec->device = o->co.device;
}

int main(int argc, char **argv)
{
    cmd_init("tg-fit", argc, argv);
    cmd_mpi_start(&argc, &argv);
    atexit(release_host);
    fit_opts *const op = &opts;
    cmd_common_init(&op->co);
    op->co.longopts = longopts;
    op->co.forms = report_forms;
    parse(op, argc, argv);
    cmd_common_finish(&op->co);
    if (op->history) cmd_check_output_path(op->history);
    if (op->plot) cmd_check_output_path(op->plot);
    fit_opts o = *op; /* read-only from here; `opts` keeps what release_host frees */

    /* The whole request is checked (expressions' syntax first) before any data is read. */
    tg_fit_spec spec;
    spec_from_opts(&o, &spec);
    if (tg_fit_check(&spec) != TT_OK) cmd_expr_fail(NULL);

    /* The device asked for must work, whatever the method runs there (the data
     * stay on the host and are read a slice at a time). */
    if (o.co.device.type != TT_DEVICE_CPU) {
        int64_t one = 1;
        tt_release(cmd_check(tt_zeros(1, &one, TT_F32, o.co.device), NULL));
    }
    fit_data *const dp = &data;
    read_data(&o, dp);
    fit_data d = *dp;
    tt_dtype dt = o.dtype_given ? o.co.dtype : d.dtype;
    o.co.dtype = dt;
    spec.dtype = dt;

    step_ctx sc = {0};
    bool speaks = cmd_mpi_rank == 0; /* under MPI, rank 0 alone shows progress and writes */
    cmd_progress_start(&sc.bar, speaks ? o.progress : CMD_PROGRESS_OFF);
    sc.log_every = speaks ? o.log_every : 0;
    if (o.steps) sc.total = o.steps;
    else if (o.epochs) sc.total = o.epochs * (o.batch ? (d.n + o.batch - 1) / o.batch : 1);
    if (o.method != TG_METHOD_EXACT) { /* log lines, the bar, and Ctrl-C stopping the descent */
        spec.on_step = on_step;
        spec.ctx = &sc;
    }
    /* under MPI, a rank that stopped alone would leave the others in a pass: mpirun ends the job */
    bool catch_sigint = spec.on_step && !cmd_mpi_active() && !cmd_signal_ignored(SIGINT);
    if (catch_sigint) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &saved_sigint);
    }

#ifdef TG_MPI
    tt_status st = tg_fit_stream_mpi(tg_fit_source_data(d.fs), &spec, MPI_COMM_WORLD, &result);
#else
    tt_status st = tg_fit_stream(tg_fit_source_data(d.fs), &spec, &result);
#endif
    tg_fit_result *r = result;
    if (catch_sigint && !interrupted) sigaction(SIGINT, &saved_sigint, NULL);
    cmd_progress_clear(&sc.bar);
    if (st != TT_OK) {
        if (r && r->stop == TG_STOP_DIVERGED) {
            const char *err = tt_last_error();
            char lr[64];
            if (o.lr_given) snprintf(lr, sizeof lr, "now %g", r->lr);
            else snprintf(lr, sizeof lr, "now the %s default, %g", o.optimizer_name, r->lr);
            cmd_fail("%s; try a smaller --lr (%s)", err && *err ? err : "the loss became NaN", lr);
        }
        cmd_expr_fail(NULL);
    }
    if (interrupted) {
        /* As gnuplot's fit: the parameters reached on standard output, no file. */
        cmd_warn("interrupted at step %lld: the parameters reached follow; no file is written", (long long)r->steps);
        fit_opts shown = o;
        shown.co.output = NULL;
        if (shown.out == OUT_H5 && isatty(STDOUT_FILENO)) shown.out = OUT_TEXT;
        write_report(&shown, &d, r);
        fflush(stdout);
        cmd_die_of_signal(SIGINT);
    }

    if (!speaks) return 0;
    /* Side outputs first, the report last (a failure leaves no report). */
    if (o.history) write_history(&o, r);
    if (o.plot) write_plot(&o, &d, r);
    write_report(&o, &d, r);
    return 0;
}
