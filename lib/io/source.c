/* Reading sources (files, standard input, "FILE:DATASET") and writing sets
 * to streams and, atomically, to paths. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

/* ---- checked output -------------------------------------------------------- */

enum { SINK_CAP = 1 << 16 };

void tt_sink_init(tt_io_sink *s, FILE *f, const char *label)
{
    memset(s, 0, sizeof *s);
    s->f = f;
    s->label = label;
}

static void sink_raw(tt_io_sink *s, const void *data, size_t n)
{
    if (s->err || !n) return;
    errno = 0;
    if (fwrite(data, 1, n, s->f) != n) s->err = errno ? errno : EIO;
}

static void sink_flush(tt_io_sink *s)
{
    sink_raw(s, s->buf, s->len);
    s->len = 0;
}

void tt_sink_write(tt_io_sink *s, const void *data, size_t n)
{
    if (s->err) return;
    if (!s->buf && n < SINK_CAP) {
        s->buf = malloc(SINK_CAP);
        s->cap = s->buf ? SINK_CAP : 0;
    }
    if (s->len + n > s->cap) sink_flush(s);
    if (n >= s->cap) {
        sink_raw(s, data, n);
        return;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

void tt_sink_puts(tt_io_sink *s, const char *str) { tt_sink_write(s, str, strlen(str)); }
void tt_sink_putc(tt_io_sink *s, char c)
{
    if (s->len < s->cap) s->buf[s->len++] = c;
    else tt_sink_write(s, &c, 1);
}

tt_status tt_sink_finish(tt_io_sink *s)
{
    sink_flush(s);
    if (!s->err) {
        errno = 0;
        if (fflush(s->f) != 0 || ferror(s->f)) s->err = errno ? errno : EIO;
    }
    free(s->buf);
    s->buf = NULL;
    s->cap = s->len = 0;
    if (s->err) {
        tt_set_error(TT_EIO, "%s: cannot write: %s", s->label, strerror(s->err));
        errno = s->err; /* the cause, for a caller that treats a closed pipe (EPIPE) apart */
        return TT_EIO;
    }
    return TT_OK;
}

/* ---- reading ------------------------------------------------------------ */

struct tt_source {
    char *label;
    char *owned; /* the bytes, when the source read them itself */
    tt_h5_file *h5;
    tt_tensor_set *text; /* a text source, parsed whole */
};

static tt_source *source_new(const char *label)
{
    tt_source *src = calloc(1, sizeof *src);
    if (!src || !(src->label = tt_io_strdup(label))) {
        free(src);
        return tt_set_error(TT_ENOMEM, "%s: out of memory", label), NULL;
    }
    return src;
}

void tt_source_close(tt_source *src)
{
    if (!src) return;
    tt_h5_close(src->h5);
    tt_set_free(src->text);
    free(src->owned);
    free(src->label);
    free(src);
}

static tt_source *open_bytes(const void *buf, size_t len, const char *label, char *owned)
{
    tt_source *src = source_new(label);
    if (!src) {
        free(owned);
        return NULL;
    }
    src->owned = owned;
    if (!buf || len == 0) tt_set_error(TT_EFORMAT, "%s is empty", label);
    else if (tt_h5_signature_at(buf, len, NULL)) src->h5 = tt_h5_open(buf, len, label);
    else src->text = tt_text_read(buf, len, label);
    if (!src->h5 && !src->text) {
        tt_source_close(src);
        return NULL;
    }
    if (src->text) src->text->from_text = true;
    return src;
}

tt_source *tt_source_open_bytes(const void *buf, size_t len, const char *label)
{
    return open_bytes(buf, len, label ? label : "input", NULL);
}

/* Reads all of f into a malloc'd buffer. */
static tt_status slurp(FILE *f, const char *label, char **out, size_t *out_len)
{
    size_t cap = 1 << 16, len = 0;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size + 1; /* one more byte to see the end */
    char *buf = malloc(cap);
    if (!buf) return tt_set_error(TT_ENOMEM, "%s: out of memory", label);
    for (;;) {
        if (len == cap) {
            size_t ncap = cap * 2;
            char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                free(buf);
                return tt_set_error(TT_ENOMEM, "%s: out of memory (read %zu bytes)", label, len);
            }
            buf = nb;
            cap = ncap;
        }
        errno = 0;
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(buf);
                clearerr(f);
                return tt_set_error(TT_EIO, "%s: cannot read: %s", label, strerror(e));
            }
            break;
        }
    }
    *out = buf;
    *out_len = len;
    return TT_OK;
}

tt_source *tt_source_open_stream(FILE *f, const char *label)
{
    if (!label) label = "input";
    if (!f) return tt_set_error(TT_EINVAL, "%s: no stream", label), NULL;
    char *buf = NULL;
    size_t len = 0;
    if (slurp(f, label, &buf, &len) != TT_OK) return NULL;
    return open_bytes(buf, len, label, buf);
}

tt_source *tt_source_open(const char *path)
{
    if (!path || !path[0]) return tt_set_error(TT_EINVAL, "empty file name"), NULL;
    if (!strcmp(path, "-")) return tt_source_open_stream(stdin, "standard input");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        tt_set_error(e == ENOENT ? TT_ENOTFOUND : TT_EIO, "%s: cannot open: %s", path, strerror(e));
        return NULL;
    }
    tt_source *src = tt_source_open_stream(f, path);
    fclose(f);
    return src;
}

const char *tt_source_label(const tt_source *src) { return src->label; }
bool tt_source_is_text(const tt_source *src) { return src->text != NULL; }
const int64_t *tt_source_text_lines(const tt_source *src) { return src->text ? src->text->text_lines : NULL; }

tt_status tt_source_names(tt_source *src, char *const **names, int *n)
{
    if (src->text) {
        *names = src->text->names;
        *n = src->text->count;
        return TT_OK;
    }
    return tt_h5_names(src->h5, names, n);
}

tt_status tt_io_select_error(const char *label, bool text, const char *dataset, char *const *names, int n)
{
    const char *what = text ? "column" : "dataset";
    char *joined = tt_io_names_joined(names, n);
    if (!joined) return TT_ENOMEM;
    tt_status st;
    if (dataset)
        st = tt_set_error(TT_ENOTFOUND, "%s: no %s '%s' (%ss: %s)", label, what, dataset, what, n ? joined : "none");
    else if (n == 0) st = tt_set_error(TT_ENOTFOUND, "%s holds no datasets", label);
    else
        st = tt_set_error(TT_EINVAL, "%s holds %d datasets (%s): name one, as in %s:%s", label, n, joined,
                          strcmp(label, "standard input") ? label : "-", names[0]);
    free(joined);
    return st;
}

tt_tensor *tt_source_read(tt_source *src, const char *dataset)
{
    if (src->text) return tt_set_select(src->text, dataset, src->label);
    char *const *names;
    int n;
    if (dataset) {
        tt_tensor *t = tt_h5_read(src->h5, dataset);
        if (t || tt_last_status() != TT_ENOTFOUND) return t;
        /* The names, for the message; listing may find the file damaged instead. */
    } else {
        if (tt_h5_names(src->h5, &names, &n) != TT_OK) return NULL;
        if (n == 1) return tt_h5_read(src->h5, names[0]);
    }
    if (tt_h5_names(src->h5, &names, &n) != TT_OK) return NULL;
    tt_io_select_error(src->label, false, dataset, names, n);
    return NULL;
}

tt_status tt_source_read_attrs(tt_source *src, tt_tensor_set *set)
{
    return src->h5 ? tt_h5_read_attrs(src->h5, set) : TT_OK;
}

/* Every dataset of an open source, then its root attributes. */
static tt_tensor_set *read_all(tt_source *src)
{
    if (!src) return NULL;
    if (src->text) {
        tt_tensor_set *set = src->text;
        src->text = NULL;
        tt_source_close(src);
        return set;
    }
    tt_tensor_set *set = tt_set_new();
    char *const *names;
    int n;
    tt_status st = set ? tt_h5_names(src->h5, &names, &n) : TT_ENOMEM;
    for (int i = 0; st == TT_OK && i < n; i++) {
        tt_tensor *t = tt_h5_read(src->h5, names[i]);
        st = t ? tt_set_put(set, names[i], t) : tt_last_status();
        tt_release(t);
    }
    if (st == TT_OK) st = tt_h5_read_attrs(src->h5, set);
    tt_source_close(src);
    if (st != TT_OK) {
        tt_set_free(set);
        return NULL;
    }
    return set;
}

tt_tensor_set *tt_read_bytes(const void *buf, size_t len, const char *label)
{
    return read_all(tt_source_open_bytes(buf, len, label));
}

tt_tensor_set *tt_read_stream(FILE *f, const char *label) { return read_all(tt_source_open_stream(f, label)); }

tt_tensor_set *tt_read_path(const char *path) { return read_all(tt_source_open(path)); }

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

int tt_split_source(const char *spec, char **path, char **dataset)
{
    if (path) *path = NULL;
    if (dataset) *dataset = NULL;
    if (!spec || !spec[0] || !path || !dataset) {
        tt_set_error(TT_EINVAL, "empty tensor source");
        return -1;
    }
    size_t n = strlen(spec), cut = n;
    if (strcmp(spec, "-") && !file_exists(spec)) {
        /* The rightmost ':' whose prefix is "-" or an existing file; else the last ':'. */
        size_t last = n;
        char *prefix = dup_n(spec, n);
        if (!prefix) return -1;
        for (size_t i = n; i-- > 0;) {
            if (spec[i] != ':' || i == 0) continue;
            if (last == n) last = i;
            prefix[i] = 0;
            if (!strcmp(prefix, "-") || file_exists(prefix)) {
                cut = i;
                break;
            }
        }
        free(prefix);
        if (cut == n) cut = last;
    }
    *path = dup_n(spec, cut);
    if (!*path) return -1;
    if (cut + 1 < n) {
        *dataset = dup_n(spec + cut + 1, n - cut - 1);
        if (!*dataset) {
            free(*path);
            *path = NULL;
            return -1;
        }
    }
    return 0;
}

/* Text columns of one length as a rows x columns float64 tensor. */
static tt_tensor *stack_columns(const tt_tensor_set *set)
{
    int64_t rows = tt_numel(set->tensors[0]);
    int cols = set->count;
    size_t total = (size_t)rows * (size_t)cols;
    double *buf = malloc(total ? total * sizeof *buf : 1);
    double *col = malloc(rows ? (size_t)rows * sizeof *col : 1);
    tt_tensor *t = NULL;
    if (!buf || !col) {
        tt_set_error(TT_ENOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < cols; j++) {
        if (rows && tt_to_host(set->tensors[j], TT_F64, col) != TT_OK) goto done;
        for (int64_t i = 0; i < rows; i++) buf[i * cols + j] = col[i];
    }
    int64_t shape[2] = {rows, cols};
    t = tt_from_data(2, shape, TT_F64, buf, TT_CPU);
done:
    free(buf);
    free(col);
    return t;
}

/* A text column by its position (1, 2, ... as gnuplot's "using 1:3"), when
 * no column has that name: -1 when the name is not such a number. */
static int column_position(const tt_tensor_set *set, const char *name)
{
    if (!set->from_text || !*name || strspn(name, "0123456789") != strlen(name) || strlen(name) > 6) return -1;
    int k = atoi(name);
    return k >= 1 && k <= set->count ? k - 1 : -1;
}

tt_tensor *tt_set_select(const tt_tensor_set *set, const char *dataset, const char *label)
{
    if (dataset) {
        tt_tensor *t = tt_set_get(set, dataset);
        if (t) return tt_retain(t);
        int k = column_position(set, dataset);
        if (k >= 0) return tt_retain(set->tensors[k]);
    } else if (set->count == 1) {
        return tt_retain(set->tensors[0]);
    } else if (set->count > 1 && set->from_text) {
        return stack_columns(set);
    }
    tt_io_select_error(label, set->from_text, dataset, set->names, set->count);
    return NULL;
}

tt_tensor *tt_read_source(const char *spec)
{
    char *path, *dataset;
    if (tt_split_source(spec, &path, &dataset) != 0) return NULL;
    tt_source *src = tt_source_open(path);
    tt_tensor *t = src ? tt_source_read(src, dataset) : NULL;
    tt_source_close(src);
    free(path);
    free(dataset);
    return t;
}

/* ---- writing ------------------------------------------------------------ */

static tt_status write_stream(const tt_tensor_set *set, tt_file_format fmt, FILE *f, const char *label)
{
    if (!set || !f) return tt_set_error(TT_EINVAL, "%s: nothing to write", label);
    if (fmt == TT_FMT_AUTO) fmt = isatty(fileno(f)) ? TT_FMT_TEXT : TT_FMT_H5;
    if (fmt != TT_FMT_H5) return tt_text_write(set, fmt, f, label);
    void *img = NULL;
    size_t len = 0;
    tt_status st = tt_h5_image(set, &img, &len);
    if (st != TT_OK) return st;
    tt_io_sink s;
    tt_sink_init(&s, f, label);
    tt_sink_write(&s, img, len);
    free(img);
    return tt_sink_finish(&s);
}

tt_status tt_write_stream(const tt_tensor_set *set, tt_file_format fmt, FILE *f)
{
    const char *label = f == stdout ? "standard output" : f == stderr ? "standard error" : "output stream";
    return write_stream(set, fmt, f, label);
}

/* ---- atomic output files -------------------------------------------------- */

struct tt_output {
    char *path;   /* as given, for messages */
    char *target; /* the file replaced: path with its symbolic links followed */
    char *temp;   /* the temporary file next to target; NULL when written in place */
    FILE *f;
    bool keep_mode; /* target exists: the new file takes its mode */
    mode_t mode;
};

/* Symbolic links are followed to the file they name, as open(2) would; more
 * than this many is a loop (ELOOP). */
enum { MAX_LINKS = 40 };

char *tt_output_target(const char *path)
{
    char *cur = tt_io_strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur; /* a missing file is created there */
        if (hops == MAX_LINKS) {
            free(cur);
            tt_set_error(TT_EIO, "%s: cannot write: %s", path, strerror(ELOOP));
            return NULL;
        }
        size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 256;
        char *link = malloc(cap);
        ssize_t n = link ? readlink(cur, link, cap) : -1;
        if (n < 0 || (size_t)n >= cap) { /* changed under us, or out of memory */
            int e = link ? (n < 0 ? errno : EAGAIN) : ENOMEM;
            free(link);
            free(cur);
            tt_set_error(e == ENOMEM ? TT_ENOMEM : TT_EIO, "%s: cannot read the link: %s", path, strerror(e));
            return NULL;
        }
        link[n] = 0;
        const char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash) { /* absolute, or relative to the current directory */
            free(cur);
            cur = link;
            continue;
        }
        size_t dir = (size_t)(slash - cur) + 1; /* relative to the link's directory */
        char *next = malloc(dir + (size_t)n + 1);
        if (next) {
            memcpy(next, cur, dir);
            memcpy(next + dir, link, (size_t)n + 1);
        } else {
            tt_set_error(TT_ENOMEM, "out of memory");
        }
        free(link);
        free(cur);
        cur = next;
    }
    return NULL;
}

static void output_free(tt_output *o)
{
    free(o->path);
    free(o->target);
    free(o->temp);
    free(o);
}

tt_output *tt_output_open(const char *path)
{
    if (!path || !path[0]) return tt_set_error(TT_EINVAL, "empty output file name"), NULL;
    tt_output *o = calloc(1, sizeof *o);
    if (!o || !(o->path = tt_io_strdup(path)) || !(o->target = tt_output_target(path))) {
        if (o && !o->path) tt_set_error(TT_ENOMEM, "out of memory");
        if (o) output_free(o);
        else tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    struct stat old;
    bool exists = stat(o->target, &old) == 0;
    if (exists && S_ISDIR(old.st_mode)) {
        tt_set_error(TT_EIO, "%s: cannot write: Is a directory", path);
        output_free(o);
        return NULL;
    }
    if (exists && !S_ISREG(old.st_mode)) {
        /* A device or FIFO (/dev/null, a named pipe): no temporary file there. */
        if (!(o->f = fopen(o->target, "wb"))) {
            tt_set_error(TT_EIO, "%s: cannot open: %s", path, strerror(errno));
            output_free(o);
            return NULL;
        }
        return o;
    }
    size_t n = strlen(o->target);
    if (!(o->temp = malloc(n + 8))) {
        tt_set_error(TT_ENOMEM, "out of memory");
        output_free(o);
        return NULL;
    }
    memcpy(o->temp, o->target, n);
    memcpy(o->temp + n, ".XXXXXX", 8);
    int fd = mkstemp(o->temp);
    if (fd < 0) {
        tt_set_error(TT_EIO, "%s: cannot create: %s", path, strerror(errno));
        free(o->temp);
        o->temp = NULL;
        output_free(o);
        return NULL;
    }
    if (exists) {
        o->mode = old.st_mode & 07777;
    } else {
        mode_t mask = umask(0);
        umask(mask);
        o->mode = 0666 & ~mask;
    }
    if (fchmod(fd, o->mode) != 0 || !(o->f = fdopen(fd, "wb"))) {
        tt_set_error(TT_EIO, "%s: cannot create: %s", path, strerror(errno));
        close(fd);
        unlink(o->temp);
        output_free(o);
        return NULL;
    }
    return o;
}

FILE *tt_output_file(const tt_output *o) { return o->f; }
const char *tt_output_temp(const tt_output *o) { return o->temp; }

tt_status tt_output_write(tt_output *o, const void *buf, size_t len)
{
    if (len && fwrite(buf, 1, len, o->f) != len)
        return tt_set_error(TT_EIO, "%s: cannot write: %s", o->path, strerror(errno));
    return TT_OK;
}

tt_status tt_output_write_set(tt_output *o, const tt_tensor_set *set, tt_file_format fmt)
{
    if (fmt == TT_FMT_AUTO) fmt = tt_format_from_path(o->path);
    if (fmt == TT_FMT_AUTO) fmt = TT_FMT_H5;
    return write_stream(set, fmt, o->f, o->path);
}

tt_status tt_output_commit(tt_output *o)
{
    tt_status st = TT_OK;
    if (fclose(o->f) != 0) st = tt_set_error(TT_EIO, "%s: cannot write: %s", o->path, strerror(errno));
    if (st == TT_OK && o->temp && rename(o->temp, o->target) != 0)
        st = tt_set_error(TT_EIO, "%s: cannot replace: %s", o->path, strerror(errno));
    if (st != TT_OK && o->temp) unlink(o->temp);
    output_free(o);
    return st;
}

void tt_output_abort(tt_output *o)
{
    if (!o) return;
    fclose(o->f);
    if (o->temp) unlink(o->temp);
    output_free(o);
}

/* Commits o when what was written went well, else removes it; returns the outcome. */
static tt_status commit_if(tt_output *o, tt_status written)
{
    if (written == TT_OK) return tt_output_commit(o);
    tt_output_abort(o);
    return written;
}

tt_status tt_write_path(const tt_tensor_set *set, tt_file_format fmt, const char *path)
{
    if (!path || !path[0]) return tt_set_error(TT_EINVAL, "empty output file name");
    if (!strcmp(path, "-")) return write_stream(set, fmt, stdout, "standard output");
    if (!set) return tt_set_error(TT_EINVAL, "%s: nothing to write", path);
    tt_output *o = tt_output_open(path);
    return o ? commit_if(o, tt_output_write_set(o, set, fmt)) : tt_last_status();
}

tt_status tt_write_bytes(const char *path, const void *buf, size_t len)
{
    if (!path || !path[0]) return tt_set_error(TT_EINVAL, "empty output file name");
    tt_output *o = tt_output_open(path);
    return o ? commit_if(o, tt_output_write(o, buf, len)) : tt_last_status();
}
