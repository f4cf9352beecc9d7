/* Reading sources (files, standard input, "FILE:DATASET") and writing sets
 * to streams and, atomically, to paths. */
#include <errno.h>
#include <signal.h>
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
    tt_text_table *text;
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
    tt_text_table_free(src->text);
    free(src->owned);
    free(src->label);
    free(src);
}

/* A source that failed to open: NULL, the message kept. */
static tt_source *source_fail(tt_source *src)
{
    tt_source_close(src);
    return NULL;
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
    return src->h5 || src->text ? src : source_fail(src);
}

tt_source *tt_source_open_bytes(const void *buf, size_t len, const char *label)
{
    return open_bytes(buf, len, label ? label : "input", NULL);
}

/* Reads from f until buf[0..cap) is full or f ends; *len the bytes in buf. */
static tt_status fill(FILE *f, const char *label, char *buf, size_t cap, size_t *len)
{
    while (*len < cap) {
        errno = 0;
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                clearerr(f);
                return tt_set_error(TT_EIO, "%s: cannot read: %s", label, strerror(e));
            }
            break;
        }
    }
    return TT_OK;
}

/* Text is parsed in pieces of this many bytes as it is read. */
enum { TEXT_PIECE = 1 << 20 };

/* Text from f, parsed piece by piece; the first piece (len bytes) already in buf. */
static tt_source *open_text_stream(tt_source *src, FILE *f, char *buf, size_t len)
{
    tt_text_parser *p = tt_text_parser_new(src->label);
    tt_status st = p ? TT_OK : TT_ENOMEM;
    for (bool more = len == TEXT_PIECE; st == TT_OK;) {
        st = tt_text_parser_feed(p, buf, len);
        if (st != TT_OK || !more) break;
        len = 0;
        st = fill(f, src->label, buf, TEXT_PIECE, &len);
        more = len == TEXT_PIECE;
    }
    free(buf);
    if (st != TT_OK) {
        tt_text_parser_free(p);
        return source_fail(src);
    }
    src->text = tt_text_parser_finish(p);
    return src->text ? src : source_fail(src);
}

/* ---- an HDF5 image on a pipe ------------------------------------------------ *
 * HDF5 needs random access: an image that arrives on a pipe is held whole.
 * Up to TT_SPILL_BYTES it stays in memory; a larger one is written to a
 * temporary file (in $TMPDIR, else /tmp) that is opened in place and removed
 * at once (the open file lives on until it is closed). While the file is
 * being written, tt_io_remove_temporaries removes it (a fatal signal). */
static char spill_path[4096];
static volatile sig_atomic_t spill_live;

void tt_io_remove_temporaries(void)
{
    if (spill_live) unlink(spill_path); /* async-signal-safe */
}

static tt_source *open_spilled(tt_source *src, FILE *f, char *buf, size_t len)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int fd = -1;
    tt_status st = TT_OK;
    if ((size_t)snprintf(spill_path, sizeof spill_path, "%s/tg-spill-XXXXXX", dir) >= sizeof spill_path)
        st = tt_set_error(TT_EIO, "%s: the temporary directory's name is too long: %s", src->label, dir);
    else if ((fd = mkstemp(spill_path)) < 0)
        st = tt_set_error(TT_EIO, "%s: cannot create a temporary file in %s for the HDF5 image: %s", src->label, dir,
                          strerror(errno));
    else spill_live = 1;
    uint64_t size = 0;
    while (st == TT_OK && len) {
        for (size_t off = 0; off < len && st == TT_OK;) {
            ssize_t w = write(fd, buf + off, len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0)
                st = tt_set_error(TT_EIO, "%s: cannot write the HDF5 image to %s: %s", src->label, spill_path,
                                  strerror(w < 0 ? errno : ENOSPC));
            else off += (size_t)w;
        }
        size += len;
        len = 0;
        if (st == TT_OK) st = fill(f, src->label, buf, TEXT_PIECE, &len);
    }
    free(buf);
    if (st == TT_OK) src->h5 = tt_h5_open_file(spill_path, fd, size, src->label);
    if (spill_live) {
        unlink(spill_path);
        spill_live = 0;
    }
    if (fd >= 0) close(fd);
    return src->h5 ? src : source_fail(src);
}

tt_source *tt_source_open_stream(FILE *f, const char *label)
{
    if (!label) label = "input";
    if (!f) return tt_set_error(TT_EINVAL, "%s: no stream", label), NULL;
    tt_source *src = source_new(label);
    char *buf = src ? malloc(TEXT_PIECE) : NULL;
    if (!buf) {
        tt_source_close(src);
        return tt_set_error(TT_ENOMEM, "%s: out of memory", label), NULL;
    }
    size_t len = 0;
    if (fill(f, label, buf, TEXT_PIECE, &len) != TT_OK) {
        free(buf);
        return source_fail(src);
    }
    if (len == 0) {
        free(buf);
        tt_set_error(TT_EFORMAT, "%s is empty", label);
        return source_fail(src);
    }
    if (!tt_h5_signature_at(buf, len, NULL)) return open_text_stream(src, f, buf, len);
    /* An image: in memory while it is small, else spilled to a file. */
    size_t cap = len;
    while (len == cap && cap < TT_SPILL_BYTES) {
        size_t ncap = cap * 2 < TT_SPILL_BYTES ? cap * 2 : TT_SPILL_BYTES;
        char *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            tt_set_error(TT_ENOMEM, "%s: out of memory (read %zu bytes)", label, len);
            return source_fail(src);
        }
        buf = nb;
        cap = ncap;
        if (fill(f, label, buf, cap, &len) != TT_OK) {
            free(buf);
            return source_fail(src);
        }
    }
    if (len == cap) {
        /* Full: more may follow. One more byte tells. */
        int c = getc(f);
        if (c != EOF) {
            ungetc(c, f);
            return open_spilled(src, f, buf, len);
        }
    }
    tt_source_close(src);
    return open_bytes(buf, len, label, buf);
}

/* A regular file: HDF5 opened in place, text parsed in pieces. */
static tt_source *open_regular(FILE *f, const char *path, const char *label, uint64_t size)
{
    uint64_t sig;
    if (!tt_h5_signature_in_file(fileno(f), size, &sig)) return tt_source_open_stream(f, label);
    tt_source *src = source_new(label);
    if (!src) return NULL;
    src->h5 = tt_h5_open_file(path, fileno(f), size, label);
    return src->h5 ? src : source_fail(src);
}

tt_source *tt_source_open(const char *path)
{
    if (!path || !path[0]) return tt_set_error(TT_EINVAL, "empty file name"), NULL;
    struct stat st;
    if (!strcmp(path, "-")) {
        /* Standard input redirected from a file (at its start) is read in place too. */
        if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
            lseek(STDIN_FILENO, 0, SEEK_CUR) == 0)
            return open_regular(stdin, "/dev/stdin", "standard input", (uint64_t)st.st_size);
        return tt_source_open_stream(stdin, "standard input");
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        tt_set_error(e == ENOENT ? TT_ENOTFOUND : TT_EIO, "%s: cannot open: %s", path, strerror(e));
        return NULL;
    }
    tt_source *src;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        src = open_regular(f, path, path, (uint64_t)st.st_size);
    else src = tt_source_open_stream(f, path);
    fclose(f);
    return src;
}

const char *tt_source_label(const tt_source *src) { return src->label; }
bool tt_source_is_text(const tt_source *src) { return src->text != NULL; }
int64_t tt_source_text_line(const tt_source *src, int64_t row)
{
    return src->text ? tt_text_table_line(src->text, row) : 0;
}

tt_status tt_source_names(tt_source *src, char *const **names, int *n)
{
    if (src->text) {
        *names = src->text->names;
        *n = src->text->ncols;
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

/* The selection error of a source, with its names listed. */
static tt_status select_error(tt_source *src, const char *dataset)
{
    char *const *names;
    int n;
    tt_status st = tt_source_names(src, &names, &n);
    return st == TT_OK ? tt_io_select_error(src->label, src->text != NULL, dataset, names, n) : st;
}

/* A text column by its position (1, 2, ... as gnuplot's "using 1:3"), when
 * no column has that name: -1 when the name is not such a number. */
static int column_position(const char *name, int ncols)
{
    if (!*name || strspn(name, "0123456789") != strlen(name) || strlen(name) > 6) return -1;
    int k = atoi(name);
    return k >= 1 && k <= ncols ? k - 1 : -1;
}

/* The column a request names (NULL: the only one), or -1 with the error set. */
static int text_column(tt_source *src, const char *dataset)
{
    int j = dataset ? tt_text_table_find(src->text, dataset) : src->text->ncols == 1 ? 0 : -1;
    if (j < 0 && dataset) j = column_position(dataset, src->text->ncols);
    if (j < 0) select_error(src, dataset);
    return j;
}

/* HDF5: the dataset a request names (NULL: the only one), or NULL with the error set. */
static const char *h5_dataset_name(tt_source *src, const char *dataset)
{
    if (dataset) return dataset;
    char *const *names;
    int n;
    if (tt_h5_names(src->h5, &names, &n) != TT_OK) return NULL;
    if (n == 1) return names[0];
    tt_io_select_error(src->label, false, NULL, names, n);
    return NULL;
}

/* Text columns of one length as a rows x columns float64 tensor. */
static tt_tensor *stack_columns(const tt_text_table *t)
{
    int64_t rows = t->rows;
    int cols = t->ncols;
    size_t total = (size_t)rows * (size_t)cols;
    double *buf = malloc(total ? total * sizeof *buf : 1);
    if (!buf) return tt_set_error(TT_ENOMEM, "out of memory"), NULL;
    for (int j = 0; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) buf[i * cols + j] = t->cols[j][i];
    int64_t shape[2] = {rows, cols};
    tt_tensor *r = tt_from_data(2, shape, TT_F64, buf, TT_CPU);
    free(buf);
    return r;
}

static tt_tensor *text_tensor(const tt_text_table *t, int j)
{
    int64_t shape[1] = {t->rows};
    static const double none = 0;
    return tt_from_data(1, shape, TT_F64, t->rows ? t->cols[j] : &none, TT_CPU);
}

tt_tensor *tt_source_read(tt_source *src, const char *dataset)
{
    if (src->text) {
        if (!dataset && src->text->ncols > 1) return stack_columns(src->text);
        int j = text_column(src, dataset);
        return j < 0 ? NULL : text_tensor(src->text, j);
    }
    const char *name = h5_dataset_name(src, dataset);
    if (!name) return NULL;
    tt_tensor *t = tt_h5_read(src->h5, name);
    if (t || tt_last_status() != TT_ENOTFOUND) return t;
    select_error(src, dataset); /* listing may find the file damaged instead */
    return NULL;
}

tt_status tt_source_info(tt_source *src, const char *dataset, int *ndim, int64_t *shape, tt_dtype *dtype)
{
    if (src->text) {
        int j = dataset || src->text->ncols == 1 ? text_column(src, dataset) : -1;
        if (j < 0 && !dataset) { /* all the columns, as tt_source_read stacks them */
            *ndim = 2;
            shape[0] = src->text->rows;
            shape[1] = src->text->ncols;
        } else if (j < 0) {
            return tt_last_status();
        } else {
            *ndim = 1;
            shape[0] = src->text->rows;
        }
        *dtype = TT_F64;
        return TT_OK;
    }
    const char *name = h5_dataset_name(src, dataset);
    if (!name) return tt_last_status();
    tt_status st = tt_h5_info(src->h5, name, ndim, shape, dtype);
    return st == TT_ENOTFOUND ? select_error(src, dataset) : st;
}

tt_status tt_source_read_rows(tt_source *src, const char *dataset, int64_t start, int64_t count, double *out)
{
    if (src->text) {
        int j = text_column(src, dataset);
        if (j < 0) return tt_last_status();
        if (start < 0 || count < 0 || start > src->text->rows || count > src->text->rows - start)
            return tt_set_error(TT_EINVAL, "%s: rows %lld..%lld of column '%s' (of %lld)", src->label, (long long)start,
                                (long long)(start + count), src->text->names[j], (long long)src->text->rows);
        if (count) memcpy(out, src->text->cols[j] + start, (size_t)count * sizeof *out);
        return TT_OK;
    }
    const char *name = h5_dataset_name(src, dataset);
    if (!name) return tt_last_status();
    tt_status st = tt_h5_read_rows(src->h5, name, start, count, out);
    return st == TT_ENOTFOUND ? select_error(src, dataset) : st;
}

tt_status tt_source_read_attrs(tt_source *src, tt_tensor_set *set)
{
    return src->h5 ? tt_h5_read_attrs(src->h5, set) : TT_OK;
}

/* Every dataset of an open source, then its root attributes. */
static tt_tensor_set *read_all(tt_source *src)
{
    if (!src) return NULL;
    tt_tensor_set *set = tt_set_new();
    tt_status st = set ? TT_OK : tt_set_error(TT_ENOMEM, "out of memory");
    if (src->text) {
        set->from_text = true;
        for (int j = 0; st == TT_OK && j < src->text->ncols; j++) {
            tt_tensor *t = text_tensor(src->text, j);
            st = t ? tt_set_put(set, src->text->names[j], t) : tt_last_status();
            tt_release(t);
            free(src->text->cols[j]); /* each value held once more at most */
            src->text->cols[j] = NULL;
        }
    } else {
        char *const *names;
        int n;
        if (st == TT_OK) st = tt_h5_names(src->h5, &names, &n);
        for (int i = 0; st == TT_OK && i < n; i++) {
            tt_tensor *t = tt_h5_read(src->h5, names[i]);
            st = t ? tt_set_put(set, names[i], t) : tt_last_status();
            tt_release(t);
        }
        if (st == TT_OK) st = tt_h5_read_attrs(src->h5, set);
    }
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

/* A set's columns (from text) of one length as a rows x columns float64 tensor. */
static tt_tensor *stack_set_columns(const tt_tensor_set *set)
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

tt_tensor *tt_set_select(const tt_tensor_set *set, const char *dataset, const char *label)
{
    if (dataset) {
        tt_tensor *t = tt_set_get(set, dataset);
        if (t) return tt_retain(t);
        int k = set->from_text ? column_position(dataset, set->count) : -1;
        if (k >= 0) return tt_retain(set->tensors[k]);
    } else if (set->count == 1) {
        return tt_retain(set->tensors[0]);
    } else if (set->count > 1 && set->from_text) {
        return stack_set_columns(set);
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
