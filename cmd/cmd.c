/* Shared helpers for the tg-* commands; see cmd.h. */
#include "cmd.h"
#include "guard.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *cmd_name = "tg";

static int cmd_argc;
static char **cmd_argv;
static char *cmd_line;

/* libgrad's warnings (PyTorch's UserWarnings), each distinct one once, as
 * Python's default filter shows them; remembered until exit. */
enum { REMEMBERED_WARNINGS = 32 };
static char *warnings_seen[REMEMBERED_WARNINGS];

static void library_warning(const char *message, void *ctx)
{
    (void)ctx;
    int i = 0;
    for (; i < REMEMBERED_WARNINGS && warnings_seen[i]; i++)
        if (!strcmp(warnings_seen[i], message)) return;
    if (i < REMEMBERED_WARNINGS) warnings_seen[i] = strdup(message);
    cmd_warn("warning: %s", message);
}

static void free_cmd_line(void)
{
    free(cmd_line);
    cmd_line = NULL;
    for (int i = 0; i < REMEMBERED_WARNINGS; i++) {
        free(warnings_seen[i]);
        warnings_seen[i] = NULL;
    }
}

/* ---- temporary output files and the signals that end a program --------------- *
 * An output is written to a temporary file that is renamed when complete; if
 * SIGINT, SIGTERM or SIGHUP ends the program first, the handler removes every
 * registered temporary file and the program dies of that signal. The table
 * changes only with those signals blocked, so the handler sees it whole. */
enum { MAX_TEMPORARIES = 8 };
static char *temporaries[MAX_TEMPORARIES];
static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP};

void cmd_remove_temporaries(void)
{
    for (int i = 0; i < MAX_TEMPORARIES; i++)
        if (temporaries[i]) unlink(temporaries[i]); /* async-signal-safe */
    tt_io_remove_temporaries();
}

void cmd_die_of_signal(int sig)
{
    cmd_remove_temporaries();
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig); /* not reached: the default action ends the program */
}

static void on_fatal_signal(int sig) { cmd_die_of_signal(sig); }

static void remove_temporaries_at_exit(void)
{
    sigset_t set, old;
    sigfillset(&set);
    sigprocmask(SIG_BLOCK, &set, &old);
    cmd_remove_temporaries();
    for (int i = 0; i < MAX_TEMPORARIES; i++) {
        free(temporaries[i]);
        temporaries[i] = NULL;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void block_fatal_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) sigaddset(&set, fatal_signals[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

static void install_signal_handlers(void)
{
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
        struct sigaction sa, old;
        /* A signal ignored from the start (a background job's SIGINT) stays ignored. */
        if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t j = 0; j < sizeof fatal_signals / sizeof *fatal_signals; j++)
            sigaddset(&sa.sa_mask, fatal_signals[j]);
        sigaction(fatal_signals[i], &sa, NULL);
    }
}

bool cmd_signal_ignored(int sig)
{
    struct sigaction old;
    return sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
}

struct cmd_output {
    tt_output *out;
    int slot; /* in temporaries[], -1 when written in place */
};

cmd_output *cmd_output_open(const char *path)
{
    cmd_output *o = calloc(1, sizeof *o);
    if (!o) return tt_set_error(TT_ENOMEM, "%s: out of memory", path), NULL;
    o->slot = -1;
    sigset_t old;
    block_fatal_signals(&old); /* no moment where the file exists unregistered */
    o->out = tt_output_open(path);
    const char *temp = o->out ? tt_output_temp(o->out) : NULL;
    for (int i = 0; temp && i < MAX_TEMPORARIES; i++)
        if (!temporaries[i]) {
            temporaries[i] = strdup(temp);
            if (temporaries[i]) o->slot = i;
            break;
        }
    bool lost = temp && o->slot < 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (!o->out) {
        free(o);
        const char *err = tt_last_error();
        if (!err || !strstr(err, path)) tt_set_error(tt_last_status(), "%s: %s", path, err ? err : "cannot write");
        return NULL;
    }
    if (lost) {
        cmd_output_abort(o);
        return tt_set_error(TT_ENOMEM, "%s: out of memory", path), NULL;
    }
    return o;
}

FILE *cmd_output_file(const cmd_output *o) { return tt_output_file(o->out); }
tt_output *cmd_output_lib(const cmd_output *o) { return o->out; }

static void unregister(cmd_output *o)
{
    if (o->slot < 0) return;
    char *p = temporaries[o->slot];
    temporaries[o->slot] = NULL;
    free(p);
    o->slot = -1;
}

tt_status cmd_output_commit(cmd_output *o)
{
    /* Flush while a signal can still remove the file, then rename with them blocked. */
    fflush(tt_output_file(o->out));
    sigset_t old;
    block_fatal_signals(&old);
    tt_status st = tt_output_commit(o->out);
    unregister(o);
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(o);
    return st;
}

void cmd_output_abort(cmd_output *o)
{
    if (!o) return;
    sigset_t old;
    block_fatal_signals(&old);
    tt_output_abort(o->out);
    unregister(o);
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(o);
}

/* ---- program name, command line, messages ------------------------------ */

static bool shell_safe(const char *w)
{
    if (!*w) return false;
    for (const char *p = w; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-", *p)) return false;
    return true;
}

/* The words joined by spaces, each quoted for a POSIX shell where needed. */
static char *join_words(int n, char **words)
{
    size_t len = 1;
    for (int i = 0; i < n; i++) len += 3 + 4 * strlen(words[i]);
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) {
        if (i) *p++ = ' ';
        const char *w = i == 0 ? cmd_name : words[i]; /* not the path it was run by */
        if (shell_safe(w)) {
            p = stpcpy(p, w);
            continue;
        }
        *p++ = '\'';
        for (const char *q = w; *q; q++) {
            if (*q == '\'') p = stpcpy(p, "'\\''");
            else *p++ = *q;
        }
        *p++ = '\'';
    }
    *p = 0;
    return s;
}

void cmd_init(const char *name, int argc, char **argv)
{
    cmd_heap_init();
    cmd_name = name;
    cmd_argc = argc;
    cmd_argv = argv;
    free(cmd_line);
    cmd_line = join_words(argc, argv);
    static bool registered;
    if (!registered) {
        atexit(free_cmd_line);
        atexit(remove_temporaries_at_exit); /* an exit before the rename is a failure */
        registered = true;
    }
    /* A closed pipe becomes EPIPE from write(2), handled where output is written. */
    signal(SIGPIPE, SIG_IGN);
    install_signal_handlers();
    tg_set_warning_handler(library_warning, NULL); /* "tg-check: warning: ...", not Python's "UserWarning: ..." */
    /* A damaged file ends in an error, not a crash or a hang (guard.h); the
     * guard removes the temporary files before it exits. */
    cmd_guard_install();
    cmd_guard_set_cleanup(cmd_remove_temporaries);
}

const char *cmd_command_line(void) { return cmd_line ? cmd_line : cmd_name; }

static bool quiet;
void cmd_set_quiet(bool on) { quiet = on; }

static void vmessage(const char *fmt, va_list ap)
{
    if (quiet) return;
    fflush(stdout);
    fprintf(stderr, "%s: ", cmd_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cmd_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    if (!quiet) fprintf(stderr, "Try '%s --help' for more information.\n", cmd_name);
    exit(CMD_EXIT_USAGE);
}

static int failure_status = CMD_EXIT_FAILURE;
void cmd_set_failure_status(int status) { failure_status = status; }

void cmd_die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    exit(status);
}

void cmd_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    exit(failure_status);
}

const char *cmd_lib_error(void)
{
    const char *err = tt_last_error();
    return err && *err ? err : "unknown error";
}

void cmd_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

void cmd_fail_lib(const char *context)
{
    const char *err = cmd_lib_error();
    if (context && *context) cmd_fail("%s: %s", context, err);
    cmd_fail("%s", err);
}

static _Noreturn void exit_flushing_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno == EPIPE) exit(failure_status);
        cmd_fail("standard output: %s", strerror(errno));
    }
    exit(0);
}

void cmd_version(void)
{
    if (quiet) exit(0); /* one copy from an MPI job, rank 0's */
    printf("%s (tg) %s\n", cmd_name, TG_VERSION);
    exit_flushing_stdout();
}

void cmd_help(const char *text)
{
    if (quiet) exit(0);
    for (const char *p = text, *hole; *p; p = hole + strlen(CMD_DEVICES)) {
        if (!(hole = strstr(p, CMD_DEVICES))) {
            fputs(p, stdout);
            break;
        }
        fwrite(p, 1, (size_t)(hole - p), stdout);
        fputs(tt_device_help(), stdout);
    }
    exit_flushing_stdout();
}

tt_tensor *cmd_check(tt_tensor *t, const char *context)
{
    if (!t) cmd_fail_lib(context);
    return t;
}

void cmd_check_status(tt_status st, const char *context)
{
    if (st != TT_OK) cmd_fail_lib(context);
}

/* ---- strict parsing ------------------------------------------------------ */

/* strtod over the whole string. 0: ok; -1: not a number; 1: overflows. */
static int strict_strtod(const char *s, double *out)
{
    if (!*s || strchr(" \t\n\v\f\r", *s)) return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end) return -1;
    if (errno == ERANGE && isinf(d)) return 1;
    *out = d;
    return 0;
}

double cmd_parse_double(const char *opt, const char *s)
{
    double d = 0;
    int r = strict_strtod(s, &d);
    if (r < 0) cmd_usage_error("invalid value '%s' for %s: not a number", s, opt);
    if (r > 0) cmd_usage_error("invalid value '%s' for %s: out of range", s, opt);
    if (!isfinite(d)) cmd_usage_error("invalid value '%s' for %s: not a finite number", s, opt);
    return d;
}

double cmd_parse_positive_double(const char *opt, const char *s)
{
    double d = cmd_parse_double(opt, s);
    if (!(d > 0)) cmd_usage_error("%s must be a positive number, got '%s'", opt, s);
    return d;
}

double cmd_parse_nonneg_double(const char *opt, const char *s)
{
    double d = cmd_parse_double(opt, s);
    if (d < 0) cmd_usage_error("%s must be a non-negative number, got '%s'", opt, s);
    return d == 0 ? 0 : d; /* -0 -> 0 */
}

static _Noreturn void int_too_small(const char *opt, const char *s, int64_t min)
{
    if (min == 1) cmd_usage_error("%s must be a positive integer, got '%s'", opt, s);
    if (min == 0) cmd_usage_error("%s must be a non-negative integer, got '%s'", opt, s);
    cmd_usage_error("%s must be at least %lld, got '%s'", opt, (long long)min, s);
}

static _Noreturn void int_too_large(const char *opt, const char *s, int64_t max)
{
    cmd_usage_error("%s %s is too large (at most %lld)", opt, s, (long long)max);
}

int64_t cmd_parse_int64(const char *opt, const char *s, int64_t min, int64_t max)
{
    if (*s && !strchr(" \t\n\v\f\r", *s)) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end != s && !*end) {
            if (errno == ERANGE) v < 0 ? int_too_small(opt, s, min) : int_too_large(opt, s, max);
            if (v < min) int_too_small(opt, s, min);
            if (v > max) int_too_large(opt, s, max);
            return v;
        }
    }
    /* Not a plain decimal integer: accept an integral real ("1e5"). */
    double d = 0;
    int r = strict_strtod(s, &d);
    if (r < 0 || isnan(d)) cmd_usage_error("invalid value '%s' for %s: not a number", s, opt);
    if (r > 0 || isinf(d)) (s[0] == '-') ? int_too_small(opt, s, min) : int_too_large(opt, s, max);
    if (d != floor(d)) cmd_usage_error("invalid value '%s' for %s: not an integer", s, opt);
    if (d < (double)min) int_too_small(opt, s, min);
    if (d >= 9223372036854775807.0 || d > (double)max) int_too_large(opt, s, max);
    return (int64_t)d;
}

uint64_t cmd_parse_uint64(const char *opt, const char *s)
{
    if (!*s || strchr(" \t\n\v\f\r+", *s)) cmd_usage_error("invalid value '%s' for %s: not a number", s, opt);
    if (*s == '-') {
        double d;
        if (strict_strtod(s, &d) == 0 && d != 0) cmd_usage_error("%s must be a non-negative integer, got '%s'", opt, s);
        if (strict_strtod(s, &d) != 0) cmd_usage_error("invalid value '%s' for %s: not a number", s, opt);
    }
    char *end;
    errno = 0;
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    unsigned long long v = strtoull(s, &end, hex ? 16 : 10); /* "010" is ten, not octal */
    if (end == s || *end) {
        double d;
        if (strict_strtod(s, &d) == 0 && isfinite(d) && d == floor(d) && d >= 0 && d < 18446744073709551616.0)
            return (uint64_t)d; /* "1e6" */
        if (strict_strtod(s, &d) == 0 && isfinite(d) && d != floor(d))
            cmd_usage_error("invalid value '%s' for %s: not an integer", s, opt);
        if (strict_strtod(s, &d) >= 0)
            cmd_usage_error("%s %s is too large (at most %llu)", opt, s, (unsigned long long)UINT64_MAX);
        cmd_usage_error("invalid value '%s' for %s: not a number", s, opt);
    }
    if (errno == ERANGE) cmd_usage_error("%s %s is too large (at most %llu)", opt, s, (unsigned long long)UINT64_MAX);
    return v;
}

void cmd_parse_pair(const char *opt, const char *s, double *lo, double *hi)
{
    const char *comma = strchr(s, ',');
    if (!comma || strchr(comma + 1, ',')) cmd_usage_error("invalid value '%s' for %s: expected LO,HI", s, opt);
    size_t n = (size_t)(comma - s);
    char *first = malloc(n + 1);
    if (!first) cmd_fail("out of memory");
    memcpy(first, s, n);
    first[n] = 0;
    double a = 0, b = 0;
    int ra = strict_strtod(first, &a), rb = strict_strtod(comma + 1, &b);
    free(first);
    if (ra != 0 || rb != 0 || !isfinite(a) || !isfinite(b))
        cmd_usage_error("invalid value '%s' for %s: expected LO,HI, two finite numbers", s, opt);
    *lo = a;
    *hi = b;
}

int cmd_parse_shape(const char *opt, const char *s, int64_t *shape)
{
    if (!strcmp(s, "()")) return 0;
    if (!*s) cmd_usage_error("invalid value '' for %s: expected dimensions like 3,4 (or () for a scalar)", opt);
    int ndim = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char buf[32];
        if (n == 0 || n >= sizeof buf)
            cmd_usage_error("invalid value '%s' for %s: expected dimensions like 3,4", s, opt);
        memcpy(buf, p, n);
        buf[n] = 0;
        if (ndim == TT_MAX_DIMS) cmd_usage_error("%s %s has more than %d dimensions", opt, s, TT_MAX_DIMS);
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (end == buf || *end || strchr(" \t\n\v\f\r+", buf[0]))
            cmd_usage_error("invalid value '%s' for %s: dimension '%s' is not an integer", s, opt, buf);
        if (v < 0) cmd_usage_error("invalid value '%s' for %s: dimension %s is negative", s, opt, buf);
        if (errno == ERANGE) cmd_usage_error("%s %s has too many elements", opt, s);
        shape[ndim++] = v;
        if (!comma) break;
        p = comma + 1;
    }
    int64_t numel = tt_shape_numel(ndim, shape);
    if (numel < 0 || numel > INT64_MAX / 8) cmd_usage_error("%s %s has too many elements", opt, s);
    return ndim;
}

int cmd_parse_choice(const char *opt, const char *s, const char *const *choices)
{
    int n = 0;
    for (; choices[n]; n++)
        if (!strcmp(s, choices[n])) return n;
    char list[512] = "";
    for (int i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", sep, choices[i]);
    }
    cmd_usage_error("invalid value '%s' for %s: expected %s", s, opt, list);
}

/* ---- output forms ------------------------------------------------------------ */

const cmd_form cmd_set_forms[] = {CMD_SET_FORMS, {NULL, NULL, TT_FMT_AUTO}};

/* "a, b or c" of the names, or of the extensions with '/' between a form's own. */
static void list_forms(char *buf, size_t size, const cmd_form *forms, bool extensions)
{
    int n = 0, shown = 0;
    for (const cmd_form *f = forms; f->name; f++) n += !extensions || *f->extensions;
    buf[0] = 0;
    for (const cmd_form *f = forms; f->name; f++) {
        if (extensions && !*f->extensions) continue;
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, "%s", shown == 0 ? "" : shown == n - 1 ? " or " : ", ");
        shown++;
        if (!extensions) {
            used = strlen(buf);
            snprintf(buf + used, size - used, "%s", f->name);
            continue;
        }
        for (const char *e = f->extensions; *e;) {
            size_t k = strcspn(e, " ");
            used = strlen(buf);
            snprintf(buf + used, size - used, "%s%.*s", e == f->extensions ? "" : "/", (int)k, e);
            e += k;
            while (*e == ' ') e++;
        }
    }
}

int cmd_form_by_name(const char *opt, const char *name, const cmd_form *forms)
{
    for (int i = 0; forms[i].name; i++)
        if (!strcmp(name, forms[i].name)) return i;
    char list[256];
    list_forms(list, sizeof list, forms, false);
    cmd_usage_error("invalid value '%s' for %s: expected %s", name, opt, list);
}

int cmd_form_by_path(const char *opt, const char *path, const cmd_form *forms, const char *format_opt)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base)
        for (int i = 0; forms[i].name; i++)
            for (const char *e = forms[i].extensions; *e;) {
                size_t k = strcspn(e, " ");
                if (strlen(dot) == k && !strncasecmp(dot, e, k)) return i;
                e += k;
                while (*e == ' ') e++;
            }
    struct stat st;
    char *target = tt_output_target(path);
    bool special = target && stat(target, &st) == 0 && !S_ISREG(st.st_mode);
    free(target);
    if (special) return -1; /* a device, FIFO (/dev/null) or directory: the caller's default or error */
    char exts[256], names[256] = "", what[300];
    list_forms(exts, sizeof exts, forms, true);
    if (format_opt) list_forms(names, sizeof names, forms, false);
    if (dot && dot != base) snprintf(what, sizeof what, "not %s", dot);
    else snprintf(what, sizeof what, "and '%s' has no extension", base);
    if (format_opt)
        cmd_usage_error("%s %s: %s writes %s files, %s (or choose with %s %s)", opt, path, cmd_name, exts, what,
                        format_opt, names);
    cmd_usage_error("%s %s: %s writes %s files, %s", opt, path, cmd_name, exts, what);
}

/* ---- options every command has ------------------------------------------- */

void cmd_common_init(cmd_common *co)
{
    memset(co, 0, sizeof *co);
    co->forms = cmd_set_forms;
    co->form = -1;
    co->format = TT_FMT_AUTO;
    co->dtype = TT_F32;
    co->device = TT_CPU;
    co->out_fmt = TT_FMT_AUTO;
    const char *dev = getenv("TG_DEVICE");
    if (dev && *dev && tt_device_parse(dev, &co->device) != TT_OK)
        cmd_usage_error("invalid value '%s' for TG_DEVICE: expected %s", dev, tt_device_syntax());
    const char *seed = getenv("TG_SEED");
    if (seed && *seed) {
        co->seed = cmd_parse_uint64("TG_SEED", seed);
        co->seed_given = true;
    }
}

/* The option at argv[optind - 1] as written, without any "=VALUE". */
static const char *current_option(char *buf, size_t size)
{
    const char *a = (optind >= 1 && optind <= cmd_argc) ? cmd_argv[optind - 1] : "?";
    size_t n = strcspn(a, "=");
    if (n >= size) n = size - 1;
    memcpy(buf, a, n);
    buf[n] = 0;
    return buf;
}

bool cmd_common_option(cmd_common *co, int opt, const char *arg)
{
    char buf[128];
    switch (opt) {
    case 'h': return false; /* each command prints its own help */
    case CMD_OPT_VERSION: cmd_version();
    case 'o':
        if (!*arg) cmd_usage_error("invalid value '' for -o: expected a file name");
        co->output = strcmp(arg, "-") ? arg : NULL;
        return true;
    case CMD_OPT_FORMAT:
        co->form = cmd_form_by_name("--format", arg, co->forms);
        co->format = co->forms[co->form].fmt != TT_FMT_AUTO ? co->forms[co->form].fmt : TT_FMT_TEXT;
        return true;
    case CMD_OPT_DTYPE: {
        tt_dtype dt;
        if (tt_dtype_parse(arg, &dt) != 0 || !tt_dtype_is_floating(dt))
            cmd_usage_error("invalid value '%s' for --dtype: expected f32 or f64", arg);
        co->dtype = dt;
        return true;
    }
    case CMD_OPT_DEVICE:
        if (tt_device_parse(arg, &co->device) != TT_OK)
            cmd_usage_error("invalid value '%s' for --device: expected %s", arg, tt_device_syntax());
        return true;
    case CMD_OPT_SEED:
        co->seed = cmd_parse_uint64("--seed", arg);
        co->seed_given = true;
        return true;
    case ':': {
        const char *o = current_option(buf, sizeof buf);
        if (o[0] == '-' && o[1] == '-') cmd_usage_error("option '%s' requires an argument", o);
        cmd_usage_error("option requires an argument -- '%c'", optopt);
    }
    case '?': {
        const char *o = current_option(buf, sizeof buf);
        bool is_long = o[0] == '-' && o[1] == '-';
        if (is_long && optopt) cmd_usage_error("option '%s' doesn't allow an argument", o);
        if (is_long && co->longopts) {
            char list[512] = "";
            int matches = 0;
            size_t n = strlen(o + 2);
            for (const struct option *lo = co->longopts; lo->name; lo++)
                if (!strncmp(lo->name, o + 2, n)) {
                    size_t used = strlen(list);
                    snprintf(list + used, sizeof list - used, " '--%s'", lo->name);
                    matches++;
                }
            if (matches > 1) cmd_usage_error("option '%s' is ambiguous; possibilities:%s", o, list);
        }
        if (is_long) cmd_usage_error("unrecognized option '%s'", o);
        if (optopt >= 0x20 && optopt < 0x7f) cmd_usage_error("invalid option -- '%c'", optopt);
        cmd_usage_error("invalid option '%s'", o);
    }
    default: return false;
    }
}

void cmd_common_finish(cmd_common *co)
{
    if (!co->output) {
        co->out_fmt = co->format != TT_FMT_AUTO ? co->format : isatty(STDOUT_FILENO) ? TT_FMT_TEXT : TT_FMT_H5;
        if (co->out_fmt == TT_FMT_H5 && isatty(STDOUT_FILENO))
            cmd_usage_error(
                "refusing to write binary HDF5 to a terminal; "
                "use -o FILE, a pipe, or --format text");
        return;
    }
    if (co->form < 0) co->form = cmd_form_by_path("-o", co->output, co->forms, "--format");
    if (co->format == TT_FMT_AUTO && co->form >= 0)
        co->format = co->forms[co->form].fmt != TT_FMT_AUTO ? co->forms[co->form].fmt : TT_FMT_TEXT;
    co->out_fmt = co->format != TT_FMT_AUTO ? co->format : TT_FMT_H5; /* a device or FIFO: as a pipe */
    cmd_check_output_path(co->output);
}

void cmd_check_output_path(const char *path)
{
    /* Fail before the work if the file cannot be created where asked: in the
     * directory of the file a symbolic link names, where it will be written. */
    char *target = tt_output_target(path);
    if (!target) cmd_fail_lib(NULL);
    struct stat st;
    if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
        free(target);
        cmd_fail("cannot write '%s': %s", path, strerror(EISDIR));
    }
    const char *slash = strrchr(target, '/');
    char *dir = slash ? strndup(target, slash == target ? 1 : (size_t)(slash - target)) : strdup(".");
    free(target);
    if (!dir) cmd_fail("out of memory");
    int err = 0;
    if (stat(dir, &st) != 0) err = errno;
    else if (!S_ISDIR(st.st_mode)) err = ENOTDIR;
    else if (access(dir, W_OK | X_OK) != 0) err = errno;
    free(dir);
    if (err) cmd_fail("cannot write '%s': %s", path, strerror(err));
}

tt_generator cmd_generator(const cmd_common *co)
{
    tt_generator g = {co->seed, 0};
    return g;
}

/* ---- output -------------------------------------------------------------- */

void cmd_attr_str(tt_tensor_set *set, const char *name, const char *value)
{
    cmd_check_status(tt_set_attr_str(set, name, value), name);
}

void cmd_attr_num(tt_tensor_set *set, const char *name, double value)
{
    cmd_check_status(tt_set_attr_num(set, name, value), name);
}

void cmd_attr_int(tt_tensor_set *set, const char *name, int64_t value)
{
    cmd_check_status(tt_set_attr_int(set, name, value), name);
}

void cmd_put(tt_tensor_set *set, const char *name, tt_tensor *t) { cmd_check_status(tt_set_put(set, name, t), name); }

void cmd_provenance(tt_tensor_set *set)
{
    cmd_attr_str(set, "command", cmd_command_line());
    cmd_attr_str(set, "tg_version", TG_VERSION);
}

void cmd_attr_seed(tt_tensor_set *set, uint64_t seed) { cmd_check_status(tt_set_attr_uint(set, "seed", seed), "seed"); }

static void write_all_stdout(const void *buf, size_t len)
{
    const char *p = buf;
    fflush(stdout);
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (errno == EPIPE) exit(failure_status); /* the reader has gone: nothing to say */
            cmd_fail("standard output: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
}

void cmd_write_set(const char *path, tt_file_format fmt, const tt_tensor_set *set)
{
    if (path && fmt == TT_FMT_H5) {
        cmd_output *o = cmd_output_open(path);
        if (!o) cmd_fail_lib(NULL);
        if (tt_output_write_set(cmd_output_lib(o), set, fmt) != TT_OK) {
            cmd_output_abort(o);
            cmd_fail_lib(NULL);
        }
        if (cmd_output_commit(o) != TT_OK) cmd_fail_lib(NULL);
        return;
    }
    if (fmt == TT_FMT_H5) {
        void *buf = NULL;
        size_t len = 0;
        if (tt_h5_image(set, &buf, &len) != TT_OK) cmd_fail_lib(NULL);
        write_all_stdout(buf, len);
        free(buf);
        return;
    }
    cmd_text *t = cmd_text_open(path, fmt);
    cmd_text_put(t, set);
    cmd_text_close(t);
}

void cmd_write(const cmd_common *co, const tt_tensor_set *set)
{
    tt_file_format fmt = co->out_fmt;
    if (fmt == TT_FMT_AUTO) /* cmd_common_finish not called */
        fmt = co->format != TT_FMT_AUTO ? co->format
              : co->output              ? tt_format_from_path(co->output)
              : isatty(STDOUT_FILENO)   ? TT_FMT_TEXT
                                        : TT_FMT_H5;
    if (fmt == TT_FMT_AUTO) fmt = TT_FMT_H5;
    cmd_write_set(co->output, fmt, set);
}

/* ---- HDF5 slice by slice ------------------------------------------------------ */

struct cmd_h5_out {
    const char *path;  /* -o FILE, NULL: standard output */
    cmd_output *out;   /* -o FILE: where the bytes go (its temporary file, or a device written in place) */
    cmd_output *spill; /* a temporary file in $TMPDIR, copied out at the end; NULL in memory or in place */
    tt_h5_writer *w;
};

cmd_h5_out *cmd_h5_open(const char *path, uint64_t bytes)
{
    cmd_h5_out *o = cmd_xcalloc(1, sizeof *o);
    o->path = path;
    const char *label = path ? path : "standard output";
    if (path && !(o->out = cmd_output_open(path))) cmd_fail_lib(NULL);
    const char *file = o->out ? tt_output_temp(cmd_output_lib(o->out)) : NULL;
    if (!file && bytes > CMD_H5_IN_MEMORY) {
        const char *dir = getenv("TMPDIR");
        char *spill = cmd_xprintf("%s/%s.h5", dir && *dir ? dir : "/tmp", cmd_name);
        o->spill = cmd_output_open(spill);
        if (!o->spill) cmd_fail("%s needs a temporary file: %s", label, cmd_lib_error());
        free(spill);
        file = tt_output_temp(cmd_output_lib(o->spill));
    }
    if (!(o->w = tt_h5_writer_create(file, label, bytes))) cmd_fail_lib(NULL); /* NULL file: in memory */
    return o;
}

tt_h5_writer *cmd_h5_writer(const cmd_h5_out *o) { return o->w; }

/* Bytes to where they go: standard output or the device -o names. */
static void h5_deliver(cmd_h5_out *o, const void *buf, size_t len)
{
    if (!o->out) write_all_stdout(buf, len);
    else if (tt_output_write(cmd_output_lib(o->out), buf, len) != TT_OK) cmd_fail_lib(NULL);
}

void cmd_h5_close(cmd_h5_out *o)
{
    void *img = NULL;
    size_t len = 0;
    tt_h5_writer *w = o->w;
    o->w = NULL;
    if (tt_h5_writer_finish(w, &img, &len) != TT_OK) cmd_fail_lib(NULL); /* exit removes the temporary files */
    if (img) {
        h5_deliver(o, img, len);
        free(img);
    } else if (o->spill) {
        const char *file = tt_output_temp(cmd_output_lib(o->spill));
        FILE *in = fopen(file, "rb");
        if (!in) cmd_fail("%s: cannot read it back: %s", file, strerror(errno));
        enum { BLOCK = 1 << 20 };
        char *buf = cmd_xcalloc(1, BLOCK);
        size_t n;
        while ((n = fread(buf, 1, BLOCK, in)) > 0) h5_deliver(o, buf, n);
        if (ferror(in)) cmd_fail("%s: cannot read it back: %s", file, strerror(errno));
        fclose(in);
        free(buf);
        cmd_output_abort(o->spill);
    }
    if (o->out && cmd_output_commit(o->out) != TT_OK) cmd_fail_lib(NULL);
    free(o);
}

/* ---- text in pieces ------------------------------------------------------------ */

struct cmd_text {
    cmd_output *out; /* NULL: standard output */
    tt_text_writer *w;
};

static _Noreturn void text_failed(const cmd_text *t)
{
    if (t->out || tt_last_status() != TT_EIO) cmd_fail_lib(NULL); /* exit removes the temporary file */
    if (errno == EPIPE) exit(CMD_EXIT_FAILURE);                   /* the reader has gone: nothing to say */
    cmd_fail("standard output: %s", strerror(errno));             /* as write_all_stdout says it */
}

cmd_text *cmd_text_open(const char *path, tt_file_format fmt)
{
    cmd_text *t = cmd_xcalloc(1, sizeof *t);
    if (path && !(t->out = cmd_output_open(path))) cmd_fail_lib(NULL);
    if (!path) fflush(stdout);
    t->w = tt_text_writer_new(path ? cmd_output_file(t->out) : stdout, fmt, path ? path : "standard output");
    if (!t->w) cmd_fail_lib(NULL);
    return t;
}

void cmd_text_put(cmd_text *t, const tt_tensor_set *piece)
{
    if (tt_text_writer_put(t->w, piece) != TT_OK) text_failed(t);
}

void cmd_text_close(cmd_text *t)
{
    tt_status st = tt_text_writer_finish(t->w);
    t->w = NULL;
    if (st != TT_OK) text_failed(t);
    if (t->out && cmd_output_commit(t->out) != TT_OK) cmd_fail_lib(NULL);
    free(t);
}

tt_tensor *cmd_read_source(const char *spec)
{
    tt_tensor *t = tt_read_source(spec);
    if (!t) {
        const char *err = tt_last_error();
        cmd_fail_lib(err && strstr(err, spec) ? NULL : spec);
    }
    return t;
}

/* ---- raw bytes (DOT, SVG, PNG) ------------------------------------------- */

void cmd_write_bytes(const char *path, const void *buf, size_t len)
{
    if (!path) {
        write_all_stdout(buf, len);
        return;
    }
    if (cmd_write_bytes_to(path, buf, len) != TT_OK) cmd_fail_lib(NULL);
}

tt_status cmd_write_bytes_to(const char *path, const void *buf, size_t len)
{
    cmd_output *o = cmd_output_open(path);
    if (!o) return tt_last_status();
    tt_status st = tt_output_write(cmd_output_lib(o), buf, len);
    if (st != TT_OK) {
        cmd_output_abort(o);
        return st;
    }
    return cmd_output_commit(o);
}

/* ---- memory ---------------------------------------------------------------- */
void *cmd_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) cmd_fail("out of memory");
    return p;
}

char *cmd_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) cmd_fail("out of memory");
    return d;
}

char *cmd_xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s) cmd_fail("out of memory");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- expressions and bindings ------------------------------------------------ */
bool cmd_is_identifier(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return false;
    return true;
}

void cmd_names_add(cmd_names *list, const char *opt, const char *arg)
{
    for (const char *p = arg;; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0) cmd_usage_error("invalid value '%s' for %s: empty name", arg, opt);
        if (!cmd_is_identifier(p, n))
            cmd_usage_error("invalid value '%s' for %s: '%.*s' is not a name", arg, opt, (int)n, p);
        for (int i = 0; i < list->n; i++)
            if (strlen(list->names[i]) == n && !strncmp(list->names[i], p, n))
                cmd_usage_error("%s names '%.*s' twice", opt, (int)n, p);
        cmd_names_append(list, p, n);
        p += n;
        if (!*p) break;
    }
}

void cmd_names_append(cmd_names *list, const char *s, size_t n)
{
    char **grown = realloc(list->names, (size_t)(list->n + 1) * sizeof *grown);
    if (!grown || !(grown[list->n] = strndup(s, n))) cmd_fail("out of memory");
    list->names = grown;
    list->n++;
}

int cmd_names_find(const cmd_names *list, const char *s)
{
    for (int i = 0; i < list->n; i++)
        if (!strcmp(list->names[i], s)) return i;
    return -1;
}

void cmd_names_free(cmd_names *list)
{
    for (int i = 0; i < list->n; i++) free(list->names[i]);
    free(list->names);
    list->names = NULL;
    list->n = 0;
}

char *cmd_env_names(const tg_env *env)
{
    size_t len = 5;
    for (int i = 0; i < tg_env_count(env); i++) len += strlen(tg_env_name(env, i)) + 2;
    char *s = cmd_xcalloc(len, 1);
    if (tg_env_count(env) == 0) strcpy(s, "none");
    for (int i = 0; i < tg_env_count(env); i++) {
        if (i) strcat(s, ", ");
        strcat(s, tg_env_name(env, i));
    }
    return s;
}

_Noreturn void cmd_expr_fail(const char *context)
{
    const char *err = cmd_lib_error();
    if (context && strstr(err, context)) context = NULL;
    if (tt_last_status() == TT_ESYNTAX || tt_last_status() == TT_EUSAGE) {
        if (context) cmd_usage_error("%s: %s", context, err);
        cmd_usage_error("%s", err);
    }
    cmd_fail_lib(context);
}

void cmd_bind_all(tg_env *env, int n, char *const *words)
{
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(words[i], '=');
        if (!eq) cmd_usage_error("unexpected argument '%s': bindings are NAME=VALUE", words[i]);
        if (tg_env_bind(env, words[i]) != TT_OK) cmd_expr_fail(words[i]);
    }
}
