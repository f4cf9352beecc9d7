/* tg-fit's options (see fit.h): the usage text, the table of long
 * options, and the checks of every option before any data is read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fit.h"
#include "tg/expr.h"

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
const cmd_form fit_report_forms[] = {
    [OUT_H5] = {"h5", ".h5 .hdf5", TT_FMT_H5},      [OUT_CSV] = {"csv", ".csv", TT_FMT_AUTO},
    [OUT_TSV] = {"tsv", ".tsv", TT_FMT_AUTO},       [OUT_TEXT] = {"text", ".txt", TT_FMT_AUTO},
    [OUT_KV] = {"kv", ".kv .sh .env", TT_FMT_AUTO}, {NULL, NULL, TT_FMT_AUTO},
};
/* --plot draws SVG; --history writes the loss curve as a tensor set. */
static const cmd_form plot_forms[] = {{"svg", ".svg", TT_FMT_AUTO}, {NULL, NULL, TT_FMT_AUTO}};

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

/* Levenshtein distance, small strings only (for "did you mean"). */
int fit_edit_distance(const char *a, const char *b)
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
        int d = fit_edit_distance(loss, loss_names[i]);
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
            if (fit_edit_distance(m, names[i]) <= 2)
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

void fit_parse(fit_opts *o, int argc, char **argv)
{
    o->co.longopts = longopts;
    o->co.forms = fit_report_forms;
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
    if (o->co.output && o->co.form < 0) o->co.form = cmd_form_by_path("-o", o->co.output, fit_report_forms, "--format");
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
