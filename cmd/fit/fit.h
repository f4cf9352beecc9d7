/* tg-fit's modules (cmd/tg-fit.c is the command: main, the progress bar
 * and Ctrl-C): the options (options.c), the data and its columns (data.c),
 * the report, the saved history and the warnings (report.c), and the outputs
 * as large as the data or drawn from it, --residuals and --plot (outputs.c). */
#ifndef TG_CMD_FIT_H
#define TG_CMD_FIT_H

#include "../cmd.h"
#include "../progress.h"
#include "tg/fit.h"

/* The report's forms: --format NAME or -o's extension (fit_report_forms). */
typedef enum { OUT_H5, OUT_CSV, OUT_TSV, OUT_TEXT, OUT_KV } out_kind;
extern const cmd_form fit_report_forms[];

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

/* options.c: the command line into o (cmd_common_init done), every option checked. */
void fit_parse(fit_opts *o, int argc, char **argv);
/* Levenshtein distance, for "did you mean" and the typo warnings. */
int fit_edit_distance(const char *a, const char *b);

/* data.c: opens the input, finds x, y, the other regressors and the weights
 * (each missing one named with its option) and opens the slice reader. */
void fit_read_data(const fit_opts *o, fit_data *d);

/* report.c */
const char *fit_stop_name(const tg_fit_result *r);
void fit_put_f64(tt_tensor_set *set, const char *name, int ndim, const int64_t *shape, const double *v);
void fit_write_report(const fit_opts *o, const fit_data *d, const tg_fit_result *r);
void fit_write_history(const fit_opts *o, const tg_fit_result *r);
void fit_warn_about(const fit_opts *o, const fit_data *d, const tg_fit_result *r);

/* outputs.c */
void fit_write_residuals(const fit_opts *o, const fit_data *d, const tg_fit_result *r);
#ifdef TG_MPI
void fit_write_residuals_mpi(const fit_opts *o, const fit_data *d, const tg_fit_result *r);
#endif
void fit_write_plot(const fit_opts *o, const fit_data *d, const tg_fit_result *r);

#endif
