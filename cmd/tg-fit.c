/* tg-fit: fit a model to (x, y) through lib/fit. See man/tg-fit.1.
 *
 * main is parse + dispatch: the options (fit/options.c), the data opened in
 * place and checked (fit/data.c), tg_fit_stream (or its MPI form) with the
 * options as a tg_fit_spec, then the side outputs (--history, --residuals,
 * --plot: fit/report.c, fit/outputs.c) and the report with the standard
 * errors as text (a terminal), name=value lines (--format kv) or HDF5 (a
 * pipe, -o FILE.h5). Here too: --log-every and the progress bar on standard
 * error, and Ctrl-C, which stops a descent at the next step.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "fit/fit.h"
#include "mpi.h"
#include "progress.h"
#include "tg/fit.h"
#ifdef TG_MPI
#include "tg/fit_mpi.h"
#endif

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
    fit_parse(op, argc, argv);
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
    fit_read_data(&o, dp);
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
    fit_warn_about(&o, &d, r);
    if (interrupted) {
        /* As gnuplot's fit: the parameters reached on standard output, no file. */
        cmd_warn("interrupted at step %lld: the parameters reached follow; no file is written", (long long)r->steps);
        fit_opts shown = o;
        shown.co.output = NULL;
        if (shown.out == OUT_H5 && isatty(STDOUT_FILENO)) shown.out = OUT_TEXT;
        fit_write_report(&shown, &d, r);
        fflush(stdout);
        cmd_die_of_signal(SIGINT);
    }

    /* Side outputs first, the report last (a failure leaves no report). */
#ifdef TG_MPI
    /* --residuals as HDF5 is as large as the data: every rank writes its rows */
    bool residuals_by_all = o.residuals && o.residuals_fmt == TT_FMT_H5;
    if (residuals_by_all) fit_write_residuals_mpi(&o, &d, r);
#else
    bool residuals_by_all = false;
#endif
    if (!speaks) return 0;
    if (o.history) fit_write_history(&o, r);
    if (o.residuals && !residuals_by_all) fit_write_residuals(&o, &d, r);
    if (o.plot) fit_write_plot(&o, &d, r);
    fit_write_report(&o, &d, r);
    return 0;
}
