/* tg-check's modules (cmd/tg-check.c is the command: options, then dispatch).
 *
 * Each way of naming what is checked is a source that fills a check_set with
 * cases (a function and its inputs): --all (catalogue.c, the op table and the
 * forms the table does not make), -e, --forward/--backward and --plugin
 * (sources.c). One runner (run.c) gradchecks every case into result rows; one
 * report module (report.c) prints them as text, TAP or name=value lines, or
 * draws the cases' graphs. A check that cannot be carried out exits
 * CHECK_TROUBLE (cmd_fail's status here: cmd_set_failure_status). */
#ifndef TG_CHECK_H
#define TG_CHECK_H

#include "../cmd.h"
#include "tg/gradcheck.h"
#include "tg/plugin.h"

#define CHECK_TROUBLE 2 /* cmp's convention: 0 all pass, 1 a check failed, 2 trouble */
#define CHECK_MAX_INPUTS TG_PLUGIN_MAX_INPUTS

typedef enum { MODE_NONE, MODE_ALL, MODE_EXPR, MODE_SHELL, MODE_PLUGIN } check_mode;
typedef enum { FMT_TEXT, FMT_TAP, FMT_KV } report_format;

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

/* One function under check: its inputs (those requiring grad are checked)
 * and how to compute it. */
typedef struct {
    char *op;   /* the name shown */
    char *what; /* the expression or description (kv's expr=), may be NULL */
    int ninputs;
    char *names[CHECK_MAX_INPUTS];
    tt_tensor *inputs[CHECK_MAX_INPUTS];
    tg_checked_fn fn;
    void *ctx;
} check_case;

/* What a source yields: the cases, or with --list the listing; and what the
 * cases' functions use, freed with them. */
typedef struct {
    check_case *v;
    int n;
    char *listing;
    size_t listing_len;
    void *ctx;
    void (*ctx_free)(void *ctx);
} check_set;

/* ---- the sources ------------------------------------------------------------ */
void check_all_cases(const check_opts *o, check_set *s);    /* catalogue.c */
void check_expr_cases(const check_opts *o, check_set *s);   /* sources.c */
void check_shell_cases(const check_opts *o, check_set *s);  /* sources.c */
void check_plugin_cases(const check_opts *o, check_set *s); /* sources.c */
void check_set_free(check_set *s);

/* ---- shared by the sources (sources.c) --------------------------------------- */
/* Value ranges of random inputs. */
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
/* Counter-based: element k of a stream is a function of (seed, stream, k), so
 * an op's inputs do not depend on which other ops run. */
typedef struct {
    uint64_t seed, counter;
} check_stream;
uint64_t check_hash(const char *s);
/* A new f64 CPU tensor of shape, values per range. ref: input 0's values for R_APART. */
tt_tensor *check_random(check_stream *s, int ndim, const int64_t *shape, value_range r, double lo, double hi,
                        const double *ref, int64_t nref);
/* t (consumed) as an input: a fresh contiguous leaf of --dtype on --device,
 * requiring grad unless constant. */
tt_tensor *check_input(const check_opts *o, tt_tensor *t, bool requires_grad, const char *name);
/* An environment of --dtype, --device and --seed holding `constants` (may be NULL). */
tg_env *check_env(const check_opts *o, const tg_env *constants);
/* An expression evaluated over the case's inputs (named), in a fresh environment per call. */
typedef struct {
    const check_opts *o;
    const char *expr;
    const char *context;     /* "-e", or NULL */
    const tg_env *constants; /* other bindings (may be NULL) */
    int ninputs;
    char *const *names;
} check_expr;
tt_tensor *check_eval_expr(int n, tt_tensor *const *in, void *ctx);
/* --op NAMES: each names one of the n ops (name_of(i)), else a usage error;
 * selected: whether an op is to be checked. */
void check_op_names(const check_opts *o, int n, const char *(*name_of)(int, const void *), const void *arg,
                    const char *where);
bool check_selected(const check_opts *o, const char *name);
void check_case_free(check_case *c);

/* ---- the runner (run.c) -------------------------------------------------------- */
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
} check_row;

typedef struct {
    check_row *v;
    int n, cap;
    int failed, errors;
} check_results;

/* gradcheck (and gradgradcheck for --order 2) of every case. */
void check_run(const check_opts *o, const check_set *s, check_results *res);
void check_results_free(check_results *r);

/* ---- the report (report.c) -------------------------------------------------------- */
/* The rows as --format says, to -o FILE or standard output; the exit status:
 * 0 all passed, 1 a check failed, 2 a check could not run. */
int check_report(const check_opts *o, const check_results *res);
/* --graph: the cases' functions applied to their inputs, as DOT. */
void check_graph(const check_opts *o, const check_set *s);
/* --list: the set's listing. */
void check_list(const check_opts *o, const check_set *s);

#endif
