/* tg-fit's data (see fit.h): the input opened in place, its columns found
 * and checked before any read, the slice reader opened. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../mpi.h"
#include "fit.h"
#include "tg/expr.h"

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
            if ((strlen(name) > 1 || strlen(names[k]) > 1) && fit_edit_distance(name, names[k]) == 1 &&
                strcmp(names[k], d->yname) != 0) /* single letters are all one edit apart */
                cmd_warn("warning: '%s' in the model is a parameter, one letter away from the column '%s' (a typo?)",
                         name, names[k]);
    }
    tg_program_free(prog);
}

void fit_read_data(const fit_opts *o, fit_data *d)
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
