/* tg-check's report: the runner's rows as a table (text), TAP or name=value
 * lines (kv), written atomically to -o FILE or to standard output; and the
 * --graph and --list outputs. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tg/dot.h"
#include "tg/grad.h"

static const char *fmt_err(double v, char *buf, size_t len)
{
    if (isnan(v)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.2e", v);
    return buf;
}

static const char *result_word(const check_row *w) { return w->error ? "ERROR" : w->passed ? "PASS" : "FAIL"; }

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

static void print_text(FILE *f, const check_results *res)
{
    int wop = 2, win = 5, wel = 13;
    for (int i = 0; i < res->n; i++) {
        const check_row *w = &res->v[i];
        if ((int)strlen(w->op) > wop) wop = (int)strlen(w->op);
        if ((int)strlen(w->input) > win) win = (int)strlen(w->input);
        if ((int)strlen(w->element) > wel) wel = (int)strlen(w->element);
    }
    fprintf(f, "%-*s  %-*s  order  max abs err  max rel err  %-*s  result\n", wop, "op", win, "input", wel,
            "worst element");
    for (int i = 0; i < res->n; i++) {
        const check_row *w = &res->v[i];
        char a[32], b[32];
        fprintf(f, "%-*s  %-*s  %5d  %11s  %11s  %-*s  %s\n", wop, w->op, win, w->input, w->order,
                fmt_err(w->max_abs, a, sizeof a), fmt_err(w->max_rel, b, sizeof b), wel, w->element, result_word(w));
    }
    for (int i = 0; i < res->n; i++) {
        const check_row *w = &res->v[i];
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

static void print_tap(FILE *f, const check_results *res)
{
    fprintf(f, "TAP version 13\n1..%d\n", res->n);
    for (int i = 0; i < res->n; i++) {
        const check_row *w = &res->v[i];
        char a[32], b[32];
        fprintf(f, "%s %d - %s input %s order %d: max abs err %s, max rel err %s, worst %s\n",
                w->passed ? "ok" : "not ok", i + 1, w->op, w->input, w->order, fmt_err(w->max_abs, a, sizeof a),
                fmt_err(w->max_rel, b, sizeof b), w->element);
        if (!w->passed && w->detail) put_indented(f, "# ", w->detail);
    }
}

static void print_kv(FILE *f, const check_results *res)
{
    for (int i = 0; i < res->n; i++) {
        const check_row *w = &res->v[i];
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
            if (errno == EPIPE) exit(CHECK_TROUBLE);
            cmd_die(CHECK_TROUBLE, "standard output: %s", strerror(errno));
        }
        return;
    }
    if (cmd_write_bytes_to(path, buf, len) != TT_OK) cmd_die(CHECK_TROUBLE, "%s", cmd_lib_error());
}

/* --graph: the op applied to its inputs, as DOT with the inputs named. */
void check_graph(const check_opts *o, const check_set *s)
{
    int ncases = s->n;
    const check_case *cases = s->v;
    tt_tensor **outs = cmd_xcalloc((size_t)ncases, sizeof *outs);
    const char **out_names = cmd_xcalloc((size_t)ncases, sizeof *out_names);
    int np = 0;
    for (int i = 0; i < ncases; i++) np += cases[i].ninputs;
    tt_tensor **params = cmd_xcalloc((size_t)np, sizeof *params);
    const char **pnames = cmd_xcalloc((size_t)np, sizeof *pnames);
    np = 0;
    for (int i = 0; i < ncases; i++) {
        outs[i] = cases[i].fn(cases[i].ninputs, cases[i].inputs, cases[i].ctx);
        if (!outs[i]) cmd_die(CHECK_TROUBLE, "%s: %s", cases[i].op, cmd_lib_error());
        out_names[i] = ncases > 1 ? cases[i].op : "out";
        for (int j = 0; j < cases[i].ninputs; j++) {
            params[np] = cases[i].inputs[j];
            pnames[np++] = cases[i].names[j];
        }
    }
    tg_dot_options d = {.nparams = np, .params = params, .param_names = pnames, .output_names = out_names};
    char *dot = tg_dot_string(ncases, outs, &d);
    if (!dot) cmd_die(CHECK_TROUBLE, "--graph: %s", cmd_lib_error());
    write_out(o->co.output, dot, strlen(dot));
    free(dot);
    for (int i = 0; i < ncases; i++) tt_release(outs[i]);
    free(outs);
    free(out_names);
    free(params);
    free(pnames);
}

static void warning_note(const check_opts *o)
{
    if (o->co.dtype != TT_F64)
        fprintf(stderr,
                "%s: note: checking in %s: central differences lose precision, so the default tolerances are "
                "too tight; loosen them, e.g. --eps 1e-3 --atol 1e-2 --rtol 1e-2\n",
                cmd_name, tt_dtype_name(o->co.dtype));
}

void check_list(const check_opts *o, const check_set *s) { write_out(o->co.output, s->listing, s->listing_len); }

int check_report(const check_opts *o, const check_results *res)
{
    warning_note(o);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) cmd_fail("out of memory");
    if (o->fmt == FMT_TAP) print_tap(f, res);
    else if (o->fmt == FMT_KV) print_kv(f, res);
    else print_text(f, res);
    if (fclose(f) != 0) cmd_fail("out of memory");
    write_out(o->co.output, buf, len);
    free(buf);
    return res->errors ? CHECK_TROUBLE : res->failed ? 1 : 0;
}
