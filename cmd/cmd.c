/* Shared helpers for the tg-* commands; see cmd.h. */
#include "cmd.h"

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
#include <sys/stat.h>
#include <unistd.h>

const char *cmd_name = "tg";

static int cmd_argc;
static char **cmd_argv;
static char *cmd_line;

static void free_cmd_line(void)
{
    free(cmd_line);
    cmd_line = NULL;
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
    cmd_name = name;
    cmd_argc = argc;
    cmd_argv = argv;
    free(cmd_line);
    cmd_line = join_words(argc, argv);
    static bool registered;
    if (!registered) {
        atexit(free_cmd_line);
        registered = true;
    }
    /* A closed pipe becomes EPIPE from write(2), handled in cmd_write. */
    signal(SIGPIPE, SIG_IGN);
}

const char *cmd_command_line(void) { return cmd_line ? cmd_line : cmd_name; }

static void vmessage(const char *fmt, va_list ap)
{
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
    fprintf(stderr, "Try '%s --help' for more information.\n", cmd_name);
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
    printf("%s (tg) %s\n", cmd_name, TG_VERSION);
    exit_flushing_stdout();
}

void cmd_help(const char *text)
{
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

/* ---- options every command has ------------------------------------------- */

void cmd_common_init(cmd_common *co)
{
    memset(co, 0, sizeof *co);
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
        if (tt_format_parse(arg, &co->format) != 0 || co->format == TT_FMT_AUTO)
            cmd_usage_error("invalid value '%s' for --format: expected h5, csv, tsv or text", arg);
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
    co->out_fmt = co->format != TT_FMT_AUTO ? co->format : tt_format_from_path(co->output);
    if (co->out_fmt == TT_FMT_AUTO) co->out_fmt = TT_FMT_H5;

    /* Fail before the work if the file cannot be created where asked. */
    struct stat st;
    if (stat(co->output, &st) == 0 && S_ISDIR(st.st_mode))
        cmd_fail("cannot write '%s': %s", co->output, strerror(EISDIR));
    const char *slash = strrchr(co->output, '/');
    char *dir = slash ? strndup(co->output, slash == co->output ? 1 : (size_t)(slash - co->output)) : strdup(".");
    if (!dir) cmd_fail("out of memory");
    int err = 0;
    if (stat(dir, &st) != 0) err = errno;
    else if (!S_ISDIR(st.st_mode)) err = ENOTDIR;
    else if (access(dir, W_OK | X_OK) != 0) err = errno;
    free(dir);
    if (err) cmd_fail("cannot write '%s': %s", co->output, strerror(err));
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

void cmd_put(tt_tensor_set *set, const char *name, tt_tensor *t) { cmd_check_status(tt_set_put(set, name, t), name); }

void cmd_provenance(tt_tensor_set *set)
{
    cmd_attr_str(set, "command", cmd_command_line());
    cmd_attr_str(set, "tg_version", TG_VERSION);
}

void cmd_attr_seed(tt_tensor_set *set, uint64_t seed)
{
    if (seed <= (UINT64_C(1) << 53)) {
        cmd_attr_num(set, "seed", (double)seed);
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
        cmd_attr_str(set, "seed", buf);
    }
}

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

void cmd_write(const cmd_common *co, const tt_tensor_set *set)
{
    tt_file_format fmt = co->out_fmt;
    if (fmt == TT_FMT_AUTO) /* cmd_common_finish not called */
        fmt = co->format != TT_FMT_AUTO ? co->format
              : co->output              ? tt_format_from_path(co->output)
              : isatty(STDOUT_FILENO)   ? TT_FMT_TEXT
                                        : TT_FMT_H5;
    if (co->output) {
        if (tt_write_path(set, fmt, co->output) != TT_OK) {
            const char *err = tt_last_error();
            cmd_fail_lib(err && strstr(err, co->output) ? NULL : co->output);
        }
        return;
    }
    void *buf = NULL;
    size_t len = 0;
    if (fmt == TT_FMT_H5) {
        if (tt_h5_image(set, &buf, &len) != TT_OK) cmd_fail_lib(NULL);
    } else {
        FILE *mem = open_memstream((char **)&buf, &len);
        if (!mem) cmd_fail("out of memory");
        tt_status st = tt_write_stream(set, fmt, mem);
        if (fclose(mem) != 0 && st == TT_OK) cmd_fail("out of memory");
        if (st != TT_OK) {
            free(buf);
            cmd_fail_lib(NULL);
        }
    }
    write_all_stdout(buf, len);
    free(buf);
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
    if (tt_write_bytes(path, buf, len) != TT_OK) cmd_fail_lib(NULL);
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
