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
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
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
    "  -x, --x NAME[,NAME...] the x dataset or column (default x; for text without\n"
    "                         such a column, the first one; columns without a\n"
    "                         header are named 1, 2, ...); several: the line is\n"
    "                         y = w_A*A + w_B*B + ... + b\n"
    "  -y, --y NAME|EXPR      the y dataset or column (default y, else the next one),\n"
    "                         or an expression over the columns: -y 'log(y)'\n"
    "  -w, --weights NAME     per-point weights 1/sigma^2 (each loss term times w)\n"
    "  -s, --sigma NAME       per-point uncertainties of y (weights 1/sigma^2;\n"
    "                         gnuplot's using 1:2:3)\n"
    "      --absolute-sigma   the sigmas are absolute: the covariance is not\n"
    "                         rescaled by the reduced chi-square\n"
    "      --stderr FROM      jacobian (J^T W J, as gnuplot and scipy: the default\n"
    "                         for least squares and l1) or hessian (the full\n"
    "                         Hessian of the loss: the default for other losses)\n"
    "      --drop-nan         drop rows holding NaN or Inf (with a note) instead of\n"
    "                         failing\n"
    "Model and loss:\n"
    "  -m, --model MODEL      line (default: y = w*x + b), poly:K (c0 + c1 x + ...\n"
    "                         + cK x^K) or an expression in x whose other names are\n"
    "                         parameters (from 1, or --init): 'a*exp(k*x)'; names\n"
    "                         of columns or datasets are data: 'a*x + c*z + d'\n"
    "  -l, --loss LOSS        mse (default), half-mse, sse, l1, huber[:DELTA],\n"
    "                         orthogonal (total least squares, line only), or an\n"
    "                         expression over pred, y, x: 'sum((pred-y)^2)/2'\n"
    "      --init NAME=V,...  initial parameter values (repeatable)\n"
    "      --method M         descent (default) or exact (closed-form least\n"
    "                         squares or total least squares, to compare with)\n"
    "      --allow-undetermined  fit even when the data leave parameters free\n"
    "                         (their standard errors print as undetermined)\n"
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
    "      --ci LEVEL         confidence intervals at LEVEL (a fraction, 0.95)\n"
    "                         from Student's t (kv always has them, at 0.95)\n"
    "      --progress         a progress bar (steps, loss, rate, ETA) on standard\n"
    "                         error whenever it is a terminal (default: on a\n"
    "                         terminal whose TERM is not dumb, for a descent that\n"
    "                         runs over half a second)\n"
    "      --no-progress      never draw the progress bar\n"
    "      --log-every N      print 'step K loss L' every N steps on standard error\n"
    "      --history FILE     write the loss after each step (.h5/.hdf5, .csv, .tsv\n"
    "                         or .txt)\n"
    "      --residuals FILE   write x, y, fit and residual = y - fit per point\n"
    "                         (with --sigma: sigma and residual/sigma too)\n"
    "      --plot FILE.svg    draw the data (with --sigma's error bars), the fitted\n"
    "                         curve, the residuals and the loss curve\n"
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
    OPT_ABSOLUTE_SIGMA,
    OPT_STDERR,
    OPT_ALLOW_UNDETERMINED,
    OPT_CI,
    OPT_RESIDUALS,
};

static const struct option longopts[] = {
    CMD_COMMON_LONGOPTS,
    {"x", required_argument, NULL, 'x'},
    {"y", required_argument, NULL, 'y'},
    {"weights", required_argument, NULL, 'w'},
    {"sigma", required_argument, NULL, 's'},
    {"absolute-sigma", no_argument, NULL, OPT_ABSOLUTE_SIGMA},
    {"stderr", required_argument, NULL, OPT_STDERR},
    {"allow-undetermined", no_argument, NULL, OPT_ALLOW_UNDETERMINED},
    {"ci", required_argument, NULL, OPT_CI},
    {"residuals", required_argument, NULL, OPT_RESIDUALS},
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
    int nxlist;         /* -x x,z: the x columns named (xlist[0] the first) */
    char *xlist[TG_FIT_MAX_X];
    tg_loss_kind loss_kind;
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
    bool sigma, absolute_sigma, allow_undetermined; /* sigma: wname names sigmas (--sigma) */
    bool stderr_hessian, stderr_jacobian;           /* --stderr, when given */
    bool ci_given;
    double ci; /* the confidence level (0.95 unless --ci) */
    int64_t slice, log_every;
    const char *history, *plot, *residuals;
    tt_file_format history_fmt, residuals_fmt;
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
    if (o->nxlist > 1) { /* the line's coefficients are named after the columns */
        tg_model_free(model);
        o->compiled = NULL;
        if (tg_model_new_with_data(o->model, o->nxlist, (const char *const *)o->xlist, &model) != TT_OK)
            cmd_usage_error("%s", tt_last_error());
        o->compiled = model;
    }
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
    tg_loss_kind kind = o->loss_kind = check_loss(loss);
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
    static const char *const stderr_sources[] = {"jacobian", "hessian", NULL};
    static const char *const optimizers[] = {"gd", "sgd", "momentum", "adam", NULL};
    static const tg_optimizer opt_values[] = {TG_OPT_GD, TG_OPT_SGD, TG_OPT_MOMENTUM, TG_OPT_ADAM};
    bool help = false;
    int c;
    while ((c = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS "x:y:w:s:m:l:", longopts, NULL)) != -1) {
        if (c == CMD_OPT_DTYPE) o->dtype_given = true;
        if (cmd_common_option(&o->co, c, optarg) || cmd_progress_option(c, &o->progress)) continue;
        switch (c) {
        case 'h': help = true; break;
        case 'x': o->xname = optarg; break; /* split into xlist after the options */
        case 'y': o->yname = optarg; break;
        case 'w':
        case 's':
            if (o->wname && o->sigma != (c == 's'))
                cmd_usage_error(
                    "-w (weights) and --sigma (uncertainties) cannot be used together: weights are 1/sigma^2");
            o->wname = optarg;
            o->sigma = c == 's';
            break;
        case OPT_ABSOLUTE_SIGMA: o->absolute_sigma = true; break;
        case OPT_STDERR:
            o->stderr_hessian = cmd_parse_choice("--stderr", optarg, stderr_sources) == 1;
            o->stderr_jacobian = !o->stderr_hessian;
            break;
        case OPT_ALLOW_UNDETERMINED: o->allow_undetermined = true; break;
        case OPT_CI:
            o->ci = cmd_parse_double("--ci", optarg);
            if (!(o->ci > 0 && o->ci < 1))
                cmd_usage_error("--ci takes a confidence level between 0 and 1 (0.95 for 95%%), got '%s'", optarg);
            o->ci_given = true;
            break;
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
        case OPT_RESIDUALS:
            if (!*optarg) cmd_usage_error("invalid value '' for --residuals: expected a file name");
            o->residuals = optarg;
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
    if (!o->ci_given) o->ci = 0.95;
    for (const char *p = o->xname; p;) { /* -x x,z */
        size_t n = strcspn(p, ",");
        if (!n) cmd_usage_error("invalid value '%s' for -x: an empty column name", o->xname);
        for (int j = 0; j < o->nxlist; j++)
            if (strlen(o->xlist[j]) == n && !strncmp(o->xlist[j], p, n))
                cmd_usage_error("-x names the column '%s' twice", o->xlist[j]);
        if (o->nxlist == TG_FIT_MAX_X) cmd_usage_error("-x takes at most %d columns", TG_FIT_MAX_X);
        if (!(o->xlist[o->nxlist++] = strndup(p, n))) cmd_fail("out of memory");
        p = p[n] ? p + n + 1 : NULL;
    }
    if (o->absolute_sigma && !o->wname)
        cmd_usage_error("--absolute-sigma needs the uncertainties: --sigma COLUMN (or -w WEIGHTS)");

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
    if (o->residuals) {
        int k = cmd_form_by_path("--residuals", o->residuals, cmd_set_forms, NULL);
        o->residuals_fmt = k >= 0 ? cmd_set_forms[k].fmt : TT_FMT_H5;
    }
    if (o->plot) cmd_form_by_path("--plot", o->plot, plot_forms, NULL);
}

/* ---- reading the data ----------------------------------------------------- */

typedef struct {
    const char *label; /* "data.csv", "standard input" */
    bool text;
    const char *xname, *yname, *wname; /* as found */
    bool weighted;
    bool sigma; /* --sigma: the weight column holds uncertainties (the fit takes 1/sigma^2) */
    int nx;     /* x columns: x (xnames[0] == xname), then the other regressors */
    const char *xnames[TG_FIT_MAX_X];
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

/* A column or dataset the fit reads must exist: a missing one says which
 * option names it (the reads come later, slice by slice). */
static void check_present(tt_source *src, const char *name, const char *opt)
{
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    tt_dtype dt;
    tt_status st = tt_source_info(src, name, &ndim, shape, &dt);
    if (st == TT_ENOTFOUND && opt) cmd_fail("%s; name it with %s NAME", tt_last_error(), opt);
    if (st != TT_OK) cmd_fail_lib(NULL);
}

/* Whether the source has a column or dataset of this name. */
static bool has_name(char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return true;
    return false;
}

/* -y: a column (or dataset) of that name, else an expression over the
 * columns (gnuplot's using 1:(log($2))): its syntax, and each name it reads
 * (pi and the other constants apart) a column, checked before any read. */
static void check_response(tt_source *src, const char *yname)
{
    if (!tg_fit_source_is_expression(src, yname)) {
        check_present(src, yname, "-y");
        return;
    }
    if (tg_expr_check(yname))
        cmd_usage_error("-y '%s' is neither a column nor an expression: %s", yname, tt_last_error());
    tg_program *p = tg_program_parse(yname);
    if (!p) cmd_fail_lib("-y");
    int used = 0;
    for (int i = 0; i < tg_program_nnames(p); i++) {
        double constant;
        if (tg_expr_constant(tg_program_name(p, i), &constant)) continue;
        check_present(src, tg_program_name(p, i), "-y");
        used++;
    }
    tg_program_free(p);
    if (!used) cmd_usage_error("-y '%s' reads no column (the response is an expression over the columns)", yname);
}

static void add_regressor(fit_data *d, tt_source *src, const char *name)
{
    if (d->nx == TG_FIT_MAX_X) cmd_usage_error("a fit takes at most %d x columns", TG_FIT_MAX_X);
    check_present(src, name, "-x");
    d->xnames[d->nx++] = name;
}

/* The x columns: x, the other names of -x x,z, and the names of an
 * expression model that are columns or datasets of the input (data, not
 * parameters: 'a*x + c*z + d' reads z); a parameter one edit away from a
 * column's name draws a warning (a typo would become a fitted parameter),
 * unless both are single letters. */
static void regressors(const fit_opts *o, fit_data *d, tt_source *src)
{
    d->nx = 1, d->xnames[0] = d->xname;
    for (int j = 1; j < o->nxlist; j++) add_regressor(d, src, o->xlist[j]);
    if (tg_model_get_kind(o->compiled) != TG_MODEL_EXPR) return;
    char *const *names = NULL;
    int nnames = 0;
    cmd_check_status(tt_source_names(src, &names, &nnames), NULL);
    tg_program *prog = tg_program_parse(o->model);
    if (!prog) cmd_expr_fail(NULL);
    for (int i = 0; i < tg_program_nnames(prog); i++) {
        const char *name = tg_program_name(prog, i);
        bool taken = !strcmp(name, d->xname) || !strcmp(name, d->yname) || (d->wname && !strcmp(name, d->wname));
        if (taken || !has_name(names, nnames, name)) continue;
        bool listed = false;
        for (int j = 0; j < d->nx; j++) listed |= !strcmp(d->xnames[j], name);
        for (int k = 0; k < nnames && !listed; k++) /* the source's copy of the name outlives prog */
            if (!strcmp(names[k], name)) add_regressor(d, src, names[k]), listed = true;
    }
    for (int i = 0; i < tg_program_nnames(prog); i++) {
        const char *name = tg_program_name(prog, i);
        if (has_name(names, nnames, name) || !strcmp(name, "x")) continue;
        for (int k = 0; k < nnames; k++)
            if ((strlen(name) > 1 || strlen(names[k]) > 1) && edit_distance(name, names[k]) == 1 &&
                strcmp(names[k], d->yname) != 0) /* single letters are all one edit apart */
                cmd_warn("warning: '%s' in the model is a parameter, one letter away from the column '%s' (a typo?)",
                         name, names[k]);
    }
    tg_program_free(prog);
}

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
    d->xname = o->nxlist ? o->xlist[0] : NULL;
    if (!d->xname) d->xname = has_x || !d->text ? "x" : column_after(cols, ncols, NULL);
    d->yname = o->yname;
    if (!d->yname) d->yname = has_y || !d->text ? "y" : column_after(cols, ncols, d->xname);
    if (!d->xname || !d->yname || (!o->xname && !o->yname && d->text && ncols < 2))
        cmd_fail("%s holds %d column%s: expected x and y (name them with -x and -y)", d->label, ncols,
                 ncols == 1 ? "" : "s");
    d->wname = o->wname;
    d->weighted = d->wname != NULL;
    d->sigma = o->sigma;

    /* x, then y, the other x columns and the weights: a missing one says
     * which option names it; x is damaged: said before y is looked for. */
    check_present(src, d->xname, "-x");
    check_response(src, d->yname);
    regressors(o, d, src);
    if (d->wname) check_present(src, d->wname, o->sigma ? "--sigma" : NULL);
    tg_fit_source_spec fss = {d->xname, d->yname, d->wname, o->drop_nan, " (--drop-nan drops such rows)",
                              d->sigma, d->nx,    d->xnames};
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
            (long long)r->n, d->label, d->xname, d->yname, d->wname ? (o->sigma ? ", sigma " : ", weights ") : "",
            d->wname ? d->wname : "");
    if (tg_model_get_kind(o->compiled) == TG_MODEL_EXPR || d->nx > 1) {
        fprintf(f, "parameters: ");
        for (int i = 0; i < p; i++) fprintf(f, "%s%s", i ? ", " : "", r->names[i]);
        fprintf(f, "; data: ");
        for (int j = 0; j < d->nx; j++) fprintf(f, "%s%s", j ? ", " : "", d->xnames[j]);
        fputc('\n', f);
    }
    fprintf(f, "loss %s, ", o->loss ? o->loss : "mse");
    if (o->method == TG_METHOD_EXACT) fprintf(f, "method exact\n\n");
    else if (o->optimizer == TG_OPT_AUTO && tg_model_get_kind(o->compiled) == TG_MODEL_EXPR &&
             (o->loss_kind == TG_LOSS_MSE || o->loss_kind == TG_LOSS_HALF_MSE || o->loss_kind == TG_LOSS_SSE))
        fprintf(f, "default method: Levenberg-Marquardt (exact Jacobian)\n\n");
    else if (o->optimizer == TG_OPT_AUTO)
        fprintf(f, "default descent%s\n\n",
                tg_model_get_kind(o->compiled) != TG_MODEL_EXPR ? " (on standardized data)" : "");
    else
        fprintf(f, "optimizer %s%s%s\n\n", o->optimizer_name, o->lr_given ? ", lr " : "",
                o->lr_given ? (snprintf(fb, sizeof fb, "%g", o->lr), fb) : "");

    int nw = 9;
    for (int i = 0; i < p; i++)
        if ((int)strlen(r->names[i]) > nw) nw = (int)strlen(r->names[i]);
    fprintf(f, "%-*s   %-16s   %-14s", nw, "parameter", "value", "standard error");
    if (o->ci_given) fprintf(f, "         %g%% confidence interval", o->ci * 100);
    fputc('\n', f);
    for (int i = 0; i < p; i++) {
        fprintf(f, "%-*s = %-16.10g +/- ", nw, r->names[i], r->values[i]);
        if (!r->determined[i]) fprintf(f, "%-12s", "undetermined");
        else fprintf(f, "%-12.6g", r->stderrs[i]);
        char rel[32] = "";
        if (r->values[i] != 0 && isfinite(r->stderrs[i]))
            snprintf(rel, sizeof rel, "(%.3g%%)", fabs(r->stderrs[i] / r->values[i]) * 100);
        if (o->ci_given) {
            double lo, hi;
            tg_fit_ci(r, i, o->ci, &lo, &hi);
            fprintf(f, " %-10s [%.10g, %.10g]", rel, lo, hi);
        } else if (*rel) {
            fprintf(f, " %s", rel);
        }
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
    /* Each line as gnuplot's fit log or scipy names it (man page, OUTPUT). */
    fprintf(f, "final loss                  %.10g\n", r->loss);
    fprintf(f, "chi-square (WSSR)           %.10g%s\n", r->chi2,
            !d->weighted ? " (unweighted: the sum of squared residuals)" : "");
    fprintf(f, "degrees of freedom (ndf)    %lld\n", (long long)r->dof);
    fprintf(f, "reduced chi-square          %.10g (WSSR/ndf)\n", r->chi2_red);
    fprintf(f, "p-value                     %.10g (P(chi-square >= WSSR), gnuplot's FIT_P)\n", r->p_value);
    fprintf(f, "rms of residuals            %.10g (sqrt(WSSR/ndf), gnuplot's FIT_STDFIT)\n", r->rms);
    fprintf(f, "R^2                         %.10g (adjusted %.10g)\n", r->r2, r->r2_adj);
    fprintf(f, "covariance                  %s\n",
            r->absolute_sigma ? "absolute: (J^T W J)^-1 (--absolute-sigma)" : "scaled by the reduced chi-square");
    fprintf(f, "standard errors from        %s\n",
            r->stderr_hessian ? "the Hessian of the loss" : "J^T W J (the residuals' curvature left out)");
    fprintf(f, "steps                       %lld\n", (long long)r->steps);
    fprintf(f, "stop                        %s (%s)\n", stop_name(r), stop_text(r->stop));
    fprintf(f, "converged                   %s\n", r->converged ? "yes" : "no");
}

/* A standard error, or "undetermined" for a parameter the data leave free. */
static void fmt_stderr(char *buf, size_t n, const tg_fit_result *r, int i)
{
    if (!r->determined[i]) snprintf(buf, n, "undetermined");
    else fmt_num(buf, n, r->stderrs[i]);
}

static void print_kv(FILE *f, const fit_opts *o, const tg_fit_result *r)
{
    char a[40];
    int p = r->nparams;
    for (int i = 0; i < p; i++) {
        fmt_num(a, sizeof a, r->values[i]);
        fprintf(f, "%s=%s\n", r->names[i], a);
        fmt_stderr(a, sizeof a, r, i);
        fprintf(f, "%s_stderr=%s\n", r->names[i], a);
    }
    fmt_num(a, sizeof a, r->loss);
    fprintf(f, "loss=%s\n", a);
    fprintf(f, "steps=%lld\n", (long long)r->steps);
    fprintf(f, "stop=%s\n", stop_name(r));
    fprintf(f, "converged=%d\n", r->converged ? 1 : 0);
    fprintf(f, "stderr=%s\n", r->stderr_hessian ? "hessian" : "jacobian");
    const struct {
        const char *key;
        double v;
    } stats[] = {
        {"chi2", r->chi2}, {"chi2_red", r->chi2_red}, {"p_value", r->p_value}, {"r2", r->r2}, {"r2_adj", r->r2_adj}};
    for (size_t k = 0; k < sizeof stats / sizeof *stats; k++) {
        fmt_num(a, sizeof a, stats[k].v);
        fprintf(f, "%s=%s\n", stats[k].key, a);
    }
    fmt_num(a, sizeof a, o->ci);
    fprintf(f, "ci_level=%s\n", a);
    for (int i = 0; i < p; i++) {
        double lo, hi;
        tg_fit_ci(r, i, o->ci, &lo, &hi);
        fmt_num(a, sizeof a, lo);
        fprintf(f, "%s_ci_low=%s\n", r->names[i], a);
        fmt_num(a, sizeof a, hi);
        fprintf(f, "%s_ci_high=%s\n", r->names[i], a);
    }
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
        fmt_stderr(e, sizeof e, r, i);
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
    for (int i = 0; i < p; i++) {
        double ci[2];
        tg_fit_ci(r, i, o->ci, &ci[0], &ci[1]);
        for (int k = 0; k < 2; k++) {
            char *name = cmd_xprintf("%s/%s", k ? "ci_high" : "ci_low", r->names[i]);
            put_f64(set, name, 0, NULL, &ci[k]);
            free(name);
        }
    }
    cmd_attr_num(set, "ci_level", o->ci);
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
    cmd_attr_num(set, "chi2", r->chi2);
    cmd_attr_num(set, "chi2_red", r->chi2_red);
    cmd_attr_num(set, "p_value", r->p_value);
    cmd_attr_num(set, "r2", r->r2);
    cmd_attr_num(set, "r2_adj", r->r2_adj);
    cmd_attr_int(set, "converged", r->converged);
    cmd_attr_int(set, "absolute_sigma", r->absolute_sigma);
    cmd_attr_str(set, "stderr", r->stderr_hessian ? "hessian" : "jacobian");
    cmd_attr_int(set, "n", r->n);
    cmd_attr_int(set, "dof", r->dof);
    cmd_attr_int(set, "steps", r->steps);
    cmd_attr_str(set, "stop", stop_name(r));
    cmd_attr_str(set, "input", d->label);
    cmd_attr_str(set, "x", d->xname);
    cmd_attr_str(set, "y", d->yname);
    if (d->wname) cmd_attr_str(set, o->sigma ? "sigma" : "weights", d->wname);
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
    if (o->out == OUT_KV) print_kv(f, o, r);
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

/* res[i] = y[i] - fit[i] at n points of the x columns xs (false when the
 * model cannot be evaluated). */
static bool residuals_at(const fit_opts *o, const tg_fit_result *r, const double *const *xs, const double *y, int64_t n,
                         double *fit, double *res)
{
    if (tg_model_predict_cols(o->compiled, r->values, xs, n, fit) != TT_OK) return false;
    for (int64_t i = 0; i < n; i++) res[i] = y[i] - fit[i];
    return true;
}

/* The columns of --residuals: the x columns, y, fit, residual, then with
 * --sigma sigma and residual/sigma; rows of them a slice at a time. */
enum { RES_MAX_COLS = TG_FIT_MAX_X + 5 };
typedef struct {
    int ncols;
    const char *names[RES_MAX_COLS];
    double *cols[RES_MAX_COLS], *weights; /* weights: a weight column that is not --sigma */
} residual_rows;

static void residual_rows_init(residual_rows *rr, const fit_data *d, int64_t cap)
{
    int nx = d->nx;
    memset(rr, 0, sizeof *rr);
    rr->ncols = d->sigma ? nx + 5 : nx + 3;
    for (int j = 0; j < nx; j++) rr->names[j] = d->xnames[j];
    rr->names[nx] = d->yname, rr->names[nx + 1] = "fit", rr->names[nx + 2] = "residual";
    rr->names[nx + 3] = "sigma", rr->names[nx + 4] = "normalized";
    for (int c = 0; c < rr->ncols; c++) rr->cols[c] = cmd_xcalloc((size_t)cap, sizeof *rr->cols[c]);
    if (d->weighted && !d->sigma) rr->weights = cmd_xcalloc((size_t)cap, sizeof *rr->weights);
}

static void residual_rows_free(residual_rows *rr)
{
    for (int c = 0; c < rr->ncols; c++) free(rr->cols[c]);
    free(rr->weights);
}

/* Reads points [at, at + m) and fills the columns' rows [0, m); an error
 * (with its message) when the data cannot be read or the model evaluated. */
static tt_status residual_rows_fill(residual_rows *rr, const fit_opts *o, const fit_data *d, const tg_fit_result *r,
                                    int64_t at, int64_t m)
{
    const tg_fit_data *fd = tg_fit_source_data(d->fs);
    int nx = d->nx;
    double **cols = rr->cols, *read[TG_FIT_MAX_X + 2];
    for (int c = 0; c <= nx; c++) read[c] = cols[c];
    if (d->weighted) read[nx + 1] = d->sigma ? cols[nx + 3] : rr->weights;
    if (fd->read(fd->ctx, at, m, read) != TT_OK) return tt_last_status();
    if (!residuals_at(o, r, (const double *const *)cols, cols[nx], m, cols[nx + 1], cols[nx + 2])) {
        char why[512];
        snprintf(why, sizeof why, "%s", tt_last_error());
        return tt_set_error(tt_last_status(), "--residuals: cannot evaluate the model: %s", why);
    }
    for (int64_t i = 0; d->sigma && i < m; i++) cols[nx + 4][i] = cols[nx + 2][i] / cols[nx + 3][i];
    return TT_OK;
}

/* Rows [0, m) of the columns, as a tensor set. */
static tt_tensor_set *residual_piece(const residual_rows *rr, int64_t m)
{
    tt_tensor_set *set = tt_set_new();
    if (!set) cmd_fail("out of memory");
    for (int c = 0; c < rr->ncols; c++) put_f64(set, rr->names[c], 1, &m, rr->cols[c]);
    return set;
}

/* x, y, fit, residual (and sigma, residual/sigma) per point, as gnuplot's
 * residuals and scipy's y - f(x, *popt), in a pass of its own over the data,
 * written a slice at a time (text or HDF5) to a temporary file renamed at
 * the end: memory bounded by the slice. */
static void write_residuals(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    bool h5 = o->residuals_fmt == TT_FMT_H5;
    int64_t n = d->n, cap = n < TG_FIT_SLICE ? n : TG_FIT_SLICE;
    residual_rows rr;
    residual_rows_init(&rr, d, cap);
    cmd_text *text = NULL;
    cmd_h5_out *h5out = NULL;
    tt_h5_writer *w = NULL;
    int ids[RES_MAX_COLS];
    if (h5) {
        h5out = cmd_h5_open(o->residuals, (uint64_t)n * (uint64_t)rr.ncols * sizeof(double));
        w = cmd_h5_writer(h5out);
        for (int c = 0; c < rr.ncols; c++)
            if ((ids[c] = tt_h5_writer_add(w, rr.names[c], TT_F64, 1, &n, NULL)) < 0) cmd_fail_lib(NULL);
    } else {
        text = cmd_text_open(o->residuals, o->residuals_fmt);
    }
    for (int64_t at = 0; at < n; at += cap) {
        int64_t m = n - at < cap ? n - at : cap;
        if (residual_rows_fill(&rr, o, d, r, at, m) != TT_OK) cmd_fail_lib(NULL);
        tt_tensor_set *piece = residual_piece(&rr, m);
        if (!h5) cmd_text_put(text, piece);
        for (int c = 0; h5 && c < rr.ncols; c++)
            if (tt_h5_writer_put(w, ids[c], at, piece->tensors[c]) != TT_OK) cmd_fail_lib(NULL);
        tt_set_free(piece);
    }
    if (h5) {
        tt_tensor_set *attrs = tt_set_new();
        if (!attrs) cmd_fail("out of memory");
        cmd_provenance(attrs);
        if (tt_h5_writer_attrs(w, attrs) != TT_OK) cmd_fail_lib(NULL);
        tt_set_free(attrs);
        cmd_h5_close(h5out);
    } else {
        cmd_text_close(text);
    }
    residual_rows_free(&rr);
}

#ifdef TG_MPI
/* --residuals as HDF5 under MPI: every rank makes the rows of the points it
 * fitted (tg_fit_mpi_range) and writes them into its own slice of one file
 * with collective writes, a slice at a time; the file is rank 0's temporary
 * file, renamed when every rank has written its rows. The datasets are those
 * of one process. */
static void write_residuals_mpi(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    int64_t n = d->n, cap = n < TG_FIT_SLICE ? n : TG_FIT_SLICE, first, end;
    tg_fit_mpi_range(n, cmd_mpi_rank, cmd_mpi_size, &first, &end);
    residual_rows rr;
    residual_rows_init(&rr, d, cap > 0 ? cap : 1);
    tt_tensor_set *attrs = tt_set_new();
    if (!attrs) cmd_fail("out of memory");
    cmd_provenance(attrs);
    cmd_mpi_h5 *h = cmd_mpi_h5_open(o->residuals, "--residuals", attrs);
    tt_set_free(attrs);
    tt_h5_par *f = cmd_mpi_h5_file(h);
    bool ok = true;
    for (int c = 0; ok && c < rr.ncols; c++) ok = tt_h5_par_dataset(f, rr.names[c], TT_F64, n, NULL) == TT_OK;
    cmd_mpi_agree(ok);
    int64_t rounds = (end - first + cap - 1) / (cap > 0 ? cap : 1), most;
    MPI_Allreduce(&rounds, &most, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    for (int64_t i = 0; i < most; i++) {
        int64_t at = first + i * cap, m = end - at < cap ? end - at : cap;
        if (ok && m > 0 && residual_rows_fill(&rr, o, d, r, at, m) != TT_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", tt_last_error());
            tt_set_error(tt_last_status(), "rank %d of %d (points %lld to %lld): %s", cmd_mpi_rank, cmd_mpi_size,
                         (long long)first, (long long)end - 1, why);
            ok = false;
        }
        tt_tensor_set *piece = ok && m > 0 ? residual_piece(&rr, m) : NULL;
        /* every rank makes every call (they are collective), with rows or none */
        for (int c = 0; c < rr.ncols; c++)
            if (tt_h5_par_write(f, rr.names[c], at, piece ? piece->tensors[c] : NULL) != TT_OK) ok = false;
        tt_set_free(piece);
    }
    cmd_mpi_h5_close(h, ok);
    residual_rows_free(&rr);
}
#endif

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
    /* A sample of the points (every column: the residuals need every x), in a pass of its own. */
    int64_t np = d->n < PLOT_POINTS ? d->n : PLOT_POINTS, shown = 0;
    int nx = d->nx;
    double *sample[TG_FIT_MAX_X + 2] = {NULL};
    for (int c = 0; c <= nx; c++) sample[c] = cmd_xcalloc((size_t)(np ? np : 1), sizeof *sample[c]);
    if (d->sigma) sample[nx + 1] = cmd_xcalloc((size_t)(np ? np : 1), sizeof *sample[nx + 1]);
    double lo, hi;
    if (tg_fit_source_sample_cols(d->fs, np, sample, &shown, &lo, &hi) != TT_OK) cmd_fail_lib(NULL);
    int64_t nc = 400;
    double *cx = cmd_xcalloc((size_t)nc, sizeof *cx);
    for (int64_t i = 0; i < nc; i++) cx[i] = lo + (hi - lo) * (double)i / (double)(nc - 1);
    double *cy = d->nx == 1 ? model_values(o, r, cx, nc) : NULL; /* several x: no curve over the first */
    if (!cy && d->nx == 1) cmd_warn("--plot: cannot evaluate the model for the curve: %s", tt_last_error());

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
    double *fit = cmd_xcalloc((size_t)(shown ? shown : 1), sizeof *fit);
    double *res = cmd_xcalloc((size_t)(shown ? shown : 1), sizeof *res);
    if (!residuals_at(o, r, (const double *const *)sample, sample[nx], shown, fit, res)) {
        free(res);
        res = NULL;
    }
    plot_fit pf = {
        .sigma = sample[nx + 1],
        .resid = res,
        .x = sample[0],
        .y = sample[nx],
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
    free(res);
    free(fit);
    for (int c = 0; c < nx + 2; c++) free(sample[c]);
    free(cx);
    free(cy);
}

/* ---- warnings ---------------------------------------------------------------- */

/* What the numbers alone would hide, on standard error (see DIAGNOSTICS). */
static void warn_about(const fit_opts *o, const fit_data *d, const tg_fit_result *r)
{
    char a[40], b[40];
    if (r->rank < r->nparams) {
        char list[512] = "";
        int nfree = 0;
        for (int i = 0; i < r->nparams && strlen(list) < 400; i++)
            if (!r->determined[i])
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", nfree++ ? ", " : "", r->names[i]);
        cmd_warn("warning: the data do not determine %s (rank %d of %d): %s undetermined", list, r->rank, r->nparams,
                 nfree > 1 ? "their standard errors are" : "its standard error is");
    }
    if (r->dof <= 0 && !r->absolute_sigma)
        cmd_warn(
            "warning: %lld points for %d parameters leave no degrees of freedom: the standard errors are not defined",
            (long long)r->n, r->nparams);
    if (r->tested && !r->converged && r->stop == TG_STOP_STEPS)
        cmd_warn(
            "warning: not converged after %lld steps (the last step changed the loss by %.3g relative; more --steps%s)",
            (long long)r->steps, r->last_change, o->optimizer == TG_OPT_AUTO ? "" : ", a larger --lr or --tol");
    if (r->stalled)
        cmd_warn(
            "warning: not converged: after %lld steps no step reduces the sum of squares, yet the residuals are not "
            "orthogonal to the model's derivatives (a stall; try other --init values)",
            (long long)r->steps);
    if (r->implausible) {
        int i = r->far_param;
        snprintf(a, sizeof a, "%.6g", r->values[i]);
        snprintf(b, sizeof b, "%.6g", r->far_exact);
        cmd_warn(
            "warning: not converged after %lld steps (%s = %s lies %.3g of its standard errors from the optimum of the "
            "same loss, %s%s; more --steps, a larger --lr, or the default method)",
            (long long)r->steps, r->names[i], a, r->far_sigmas, b,
            tg_fit_exact_covers(o->compiled, o->loss_kind) ? ", as --method exact finds it" : "");
    }
    if (r->precision_lost)
        cmd_warn(
            "warning: %s lost precision in the conversion to float32 (rounding errors up to %.3g against a spread of "
            "%.3g); use --dtype f64",
            r->precision_col ? d->yname : d->xname, r->precision_err, r->precision_spread);
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
    for (int j = 0; j < opts.nxlist; j++) free(opts.xlist[j]);
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
    spec->allow_undetermined = o->allow_undetermined;
    if (o->nxlist > 1) spec->nx = o->nxlist, spec->x_names = (const char *const *)o->xlist;
    spec->absolute_sigma = o->absolute_sigma;
    spec->stderr_hessian = o->stderr_hessian;
    spec->stderr_jacobian = o->stderr_jacobian;
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
    if (op->residuals) cmd_check_output_path(op->residuals);
    struct stat rs;
    /* every rank writes its rows into --residuals' HDF5 file: found out now, not after the fit */
    if (cmd_mpi_active() && op->residuals && op->residuals_fmt == TT_FMT_H5 && stat(op->residuals, &rs) == 0 &&
        !S_ISREG(rs.st_mode))
        cmd_usage_error("%s: under MPI, --residuals must name a regular file (each rank writes its part)",
                        op->residuals);
    fit_opts o = *op; /* read-only from here; `opts` keeps what release_host frees */

    /* The whole request is checked (expressions' syntax first) before any data is read. */
    tg_fit_spec spec;
    spec_from_opts(&o, &spec);
    if (tg_fit_check(&spec) != TT_OK) cmd_expr_fail(NULL);

    fit_data *const dp = &data;
    read_data(&o, dp);
    fit_data d = *dp;
    tt_dtype dt = o.dtype_given ? o.co.dtype : d.dtype;
    o.co.dtype = dt;
    spec.dtype = dt;
    /* The data are read as doubles, a slice at a time: the fit rounds them
     * to --dtype on --device itself, and says when that loses precision. The
     * device is tried first, so that a missing one is an error whatever the
     * method (the default and exact ones compute on the host). */
    if (o.co.device.type != TT_DEVICE_CPU) {
        int64_t one = 1;
        tt_release(cmd_check(tt_zeros(1, &one, TT_F32, o.co.device), NULL));
    }
    if (d.nx > 1) spec.nx = d.nx, spec.x_names = d.xnames;
    /* the model over the data's columns, for the report's formula and predictions */
    tg_model *with_data;
    if (tg_model_new_with_data(o.model, d.nx, d.xnames, &with_data) != TT_OK) cmd_expr_fail(NULL);
    tg_model_free(opts.compiled);
    opts.compiled = o.compiled = with_data;

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
        const char *err = tt_last_error();
        if (err && (strstr(err, "do not determine") || strstr(err, "cannot determine")) && !o.allow_undetermined)
            cmd_fail("%s; --allow-undetermined fits it anyway", err);
        cmd_expr_fail(NULL);
    }
    warn_about(&o, &d, r);
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

    /* Side outputs first, the report last (a failure leaves no report). */
#ifdef TG_MPI
    /* --residuals as HDF5 is as large as the data: every rank writes its rows */
    bool residuals_by_all = o.residuals && o.residuals_fmt == TT_FMT_H5;
    if (residuals_by_all) write_residuals_mpi(&o, &d, r);
#else
    bool residuals_by_all = false;
#endif
    if (!speaks) return 0;
    if (o.history) write_history(&o, r);
    if (o.residuals && !residuals_by_all) write_residuals(&o, &d, r);
    if (o.plot) write_plot(&o, &d, r);
    write_report(&o, &d, r);
    return 0;
}
