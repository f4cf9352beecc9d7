/* Text columns: reading whitespace-, comma- or tab-separated numbers with
 * '#' comments and an optional header; writing CSV, TSV and aligned text. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

/* ---- reading ------------------------------------------------------------ */

typedef struct {
    const char *p;
    size_t n;
} field;

typedef struct {
    field *v;
    int n, cap;
} field_list;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

static void trim(const char **p, size_t *n)
{
    while (*n && is_space((*p)[0])) (*p)++, (*n)--;
    while (*n && is_space((*p)[*n - 1])) (*n)--;
}

static bool push_field(field_list *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        field *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (field){p, n};
    return true;
}

/* Splits a trimmed, non-empty line: at commas if it has one, else at tabs
 * if it has one, else at runs of whitespace. */
static bool split_line(const char *p, size_t n, field_list *out)
{
    out->n = 0;
    char sep = memchr(p, ',', n) ? ',' : memchr(p, '\t', n) ? '\t' : 0;
    if (sep) {
        for (;;) {
            const char *e = memchr(p, sep, n);
            size_t k = e ? (size_t)(e - p) : n;
            const char *fp = p;
            size_t fn = k;
            trim(&fp, &fn);
            if (!push_field(out, fp, fn)) return false;
            if (!e) break;
            p += k + 1;
            n -= k + 1;
        }
    } else {
        size_t i = 0;
        while (i < n) {
            while (i < n && is_space(p[i])) i++;
            size_t s = i;
            while (i < n && !is_space(p[i])) i++;
            if (i > s && !push_field(out, p + s, i - s)) return false;
        }
    }
    return true;
}

typedef struct {
    char *p;
    size_t cap;
} scratch;

/* Parses a whole field as a number (strtod's syntax: also nan, inf, hex). */
static bool parse_number(scratch *s, const char *p, size_t n, double *out, bool *oom)
{
    if (n == 0) return false;
    if (n + 1 > s->cap) {
        size_t cap = n + 64;
        char *q = realloc(s->p, cap);
        if (!q) {
            *oom = true;
            return false;
        }
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p, p, n);
    s->p[n] = 0;
    char *end;
    errno = 0;
    double v = strtod(s->p, &end);
    if (end != s->p + n) return false;
    *out = v; /* ERANGE: inf or a denormal/zero, as strtod rounds it */
    return true;
}

/* First byte that no text file holds: NUL, other control characters, or
 * invalid UTF-8. Returns its offset, or len. */
static size_t binary_offset(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') || c == 0x7f) return i;
            i++;
            continue;
        }
        int k = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
        if (k < 0) return i;
        for (int j = 1; j <= k; j++)
            if (i + (size_t)j >= len || (p[i + (size_t)j] & 0xc0) != 0x80) return i;
        i += (size_t)k + 1;
    }
    return len;
}

tt_tensor_set *tt_text_read(const char *buf, size_t len, const char *label)
{
    size_t bad = binary_offset((const unsigned char *)buf, len);
    if (bad < len) {
        tt_set_error(TT_EFORMAT, "%s: not an HDF5 file and not text: byte 0x%02x at offset %zu", label,
                     (unsigned char)buf[bad], bad);
        return NULL;
    }
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) buf += 3, len -= 3; /* UTF-8 byte order mark */

    tt_tensor_set *set = NULL, *result = NULL;
    field_list fields = {0};
    scratch sc = {0};
    char **header = NULL;
    tt_name_hash header_names = {0};
    double *vals = NULL, *col = NULL;
    size_t nvals = 0, capvals = 0, caplines = 0;
    int64_t *lines = NULL; /* the file line of each row */
    int ncols = -1;
    int64_t rows = 0;
    bool oom = false;
    long line = 0;
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *lp = p;
        size_t ln = (size_t)(le - p);
        p = nl ? nl + 1 : end;
        const char *hash = memchr(lp, '#', ln);
        if (hash) ln = (size_t)(hash - lp);
        trim(&lp, &ln);
        if (!ln) continue;
        if (!split_line(lp, ln, &fields)) {
            oom = true;
            goto done;
        }
        if (ncols < 0) {
            ncols = fields.n;
            /* The first line is a header unless every field is a number. */
            bool numeric = true;
            for (int j = 0; j < fields.n && numeric; j++) {
                double v;
                numeric = parse_number(&sc, fields.v[j].p, fields.v[j].n, &v, &oom);
            }
            if (oom) goto done;
            if (!numeric) {
                header = calloc((size_t)ncols, sizeof *header);
                if (!header) {
                    oom = true;
                    goto done;
                }
                for (int j = 0; j < ncols; j++) {
                    char num[16];
                    const char *s = fields.v[j].p;
                    size_t n = fields.v[j].n;
                    if (!n) {
                        snprintf(num, sizeof num, "%d", j + 1);
                        s = num;
                        n = strlen(num);
                    }
                    header[j] = malloc(n + 1);
                    if (!header[j]) {
                        oom = true;
                        goto done;
                    }
                    memcpy(header[j], s, n);
                    header[j][n] = 0;
                    if (tt_name_hash_find(&header_names, header, header[j], n) >= 0) {
                        tt_set_error(TT_EFORMAT, "%s: line %ld: column name '%s' appears twice", label, line,
                                     header[j]);
                        goto done;
                    }
                    if (tt_name_hash_add(&header_names, header, j) != TT_OK) goto done;
                }
                continue;
            }
        }
        if (fields.n != ncols) {
            tt_set_error(TT_EFORMAT, "%s: line %ld has %d column%s, expected %d", label, line, fields.n,
                         fields.n == 1 ? "" : "s", ncols);
            goto done;
        }
        if (nvals + (size_t)ncols > capvals) {
            size_t cap = capvals ? 2 * capvals : 1024;
            while (cap < nvals + (size_t)ncols) cap *= 2;
            double *v = realloc(vals, cap * sizeof *v);
            if (!v) {
                oom = true;
                goto done;
            }
            vals = v;
            capvals = cap;
        }
        if ((size_t)rows == caplines) {
            size_t cap = caplines ? 2 * caplines : 256;
            int64_t *l = realloc(lines, cap * sizeof *l);
            if (!l) {
                oom = true;
                goto done;
            }
            lines = l;
            caplines = cap;
        }
        lines[rows] = line;
        for (int j = 0; j < ncols; j++) {
            double v;
            if (!parse_number(&sc, fields.v[j].p, fields.v[j].n, &v, &oom)) {
                if (oom) goto done;
                if (!fields.v[j].n) tt_set_error(TT_EFORMAT, "%s: line %ld, column %d is empty", label, line, j + 1);
                else
                    tt_set_error(TT_EFORMAT, "%s: line %ld, column %d: '%.*s' is not a number", label, line, j + 1,
                                 fields.v[j].n > 40 ? 40 : (int)fields.v[j].n, fields.v[j].p);
                goto done;
            }
            vals[nvals++] = v;
        }
        rows++;
    }
    if (ncols < 0) {
        tt_set_error(TT_EFORMAT, "%s holds no numbers (only blank lines and comments)", label);
        goto done;
    }
    set = tt_set_new();
    if (!set) goto done;
    col = malloc(rows ? (size_t)rows * sizeof *col : 1);
    if (!col) {
        oom = true;
        goto done;
    }
    for (int j = 0; j < ncols; j++) {
        for (int64_t i = 0; i < rows; i++) col[i] = vals[(size_t)i * (size_t)ncols + (size_t)j];
        int64_t shape[1] = {rows};
        tt_tensor *t = tt_from_data(1, shape, TT_F64, col, TT_CPU);
        if (!t) goto done;
        char num[16];
        snprintf(num, sizeof num, "%d", j + 1);
        tt_status st = tt_set_put(set, header ? header[j] : num, t);
        tt_release(t);
        if (st != TT_OK) goto done;
    }
    set->text_lines = lines;
    lines = NULL;
    result = set;
    set = NULL;
done:
    if (oom) tt_set_error(TT_ENOMEM, "%s: out of memory", label);
    tt_set_free(set);
    free(fields.v);
    free(sc.p);
    if (header)
        for (int j = 0; j < ncols; j++) free(header[j]);
    free(header);
    tt_name_hash_free(&header_names);
    free(vals);
    free(lines);
    free(col);
    return result;
}

/* ---- writing ------------------------------------------------------------ */

/* The shortest of %.Ng that reads back as the same value. */
static int format_value(char *out, size_t cap, tt_dtype dt, const void *data, int64_t i)
{
    switch (dt) {
    case TT_F32: {
        float v = ((const float *)data)[i];
        if (isnan(v)) return snprintf(out, cap, "nan");
        if (isinf(v)) return snprintf(out, cap, v < 0 ? "-inf" : "inf");
        int n = 0;
        for (int prec = 6; prec <= 9; prec++) {
            n = snprintf(out, cap, "%.*g", prec, (double)v);
            if (strtof(out, NULL) == v) break;
        }
        return n;
    }
    case TT_F64: {
        double v = ((const double *)data)[i];
        if (isnan(v)) return snprintf(out, cap, "nan");
        if (isinf(v)) return snprintf(out, cap, v < 0 ? "-inf" : "inf");
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(out, cap, "%.*g", prec, v);
            if (strtod(out, NULL) == v) break;
        }
        return n;
    }
    case TT_I64: return snprintf(out, cap, "%lld", (long long)((const int64_t *)data)[i]);
    case TT_BOOL: return snprintf(out, cap, "%d", ((const unsigned char *)data)[i] != 0);
    }
    return snprintf(out, cap, "?");
}

static bool looks_numeric(const char *s)
{
    char *end;
    if (!*s) return false;
    strtod(s, &end);
    return *end == 0;
}

static void shape_str(const tt_tensor *t, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

static void write_attr_comments(tt_io_sink *s, const tt_tensor_set *set)
{
    for (int i = 0; i < set->nattrs; i++) {
        const tt_attr *a = &set->attrs[i];
        tt_sink_puts(s, "# ");
        tt_sink_puts(s, a->name);
        tt_sink_puts(s, ": ");
        if (a->is_string) {
            for (const char *c = a->str ? a->str : ""; *c; c++) tt_sink_putc(s, (unsigned char)*c < 0x20 ? ' ' : *c);
        } else {
            char num[40];
            format_value(num, sizeof num, TT_F64, &a->num, 0);
            tt_sink_puts(s, num);
        }
        tt_sink_putc(s, '\n');
    }
}

tt_status tt_text_write(const tt_tensor_set *set, tt_file_format fmt, FILE *f, const char *label)
{
    int count = set->count;
    bool matrix = count == 1 && set->tensors[0]->ndim == 2;
    int64_t rows = 0;
    int ncols = 0;
    char shp[96];
    if (matrix) {
        rows = set->tensors[0]->shape[0];
        ncols = (int)set->tensors[0]->shape[1];
        if (set->tensors[0]->shape[1] > INT32_MAX)
            return tt_set_error(TT_EINVAL, "cannot write '%s' as text: too many columns", set->names[0]);
    } else {
        ncols = count;
        for (int i = 0; i < count; i++) {
            const tt_tensor *t = set->tensors[i];
            if (t->ndim > 1) {
                shape_str(t, shp, sizeof shp);
                return tt_set_error(TT_EINVAL,
                                    "cannot write '%s' (shape %s) as text: text holds 1-D columns of one length "
                                    "or a single 2-D tensor; use HDF5",
                                    set->names[i], shp);
            }
            if (i && tt_numel(t) != rows)
                return tt_set_error(TT_EINVAL,
                                    "cannot write '%s' and '%s' as text columns: they have %lld and %lld elements",
                                    set->names[0], set->names[i], (long long)rows, (long long)tt_numel(t));
            rows = tt_numel(t);
        }
    }
    char sep = fmt == TT_FMT_CSV ? ',' : fmt == TT_FMT_TSV ? '\t' : ' ';
    bool aligned = fmt == TT_FMT_TEXT;

    /* Every column on the host in its own dtype. */
    int nbufs = matrix ? 1 : count;
    void **data = calloc((size_t)(nbufs ? nbufs : 1), sizeof *data);
    int *widths = calloc((size_t)(ncols ? ncols : 1), sizeof *widths);
    tt_status st = TT_OK;
    if (!data || !widths) {
        st = tt_set_error(TT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nbufs; i++) {
        const tt_tensor *t = set->tensors[i];
        int64_t n = tt_numel(t);
        data[i] = malloc(n ? (size_t)n * tt_dtype_size(t->dtype) : 1);
        if (!data[i]) {
            st = tt_set_error(TT_ENOMEM, "out of memory writing '%s'", set->names[i]);
            goto done;
        }
        if (n && (st = tt_to_host(t, t->dtype, data[i])) != TT_OK) goto done;
    }

    /* A header names the columns, unless the names read as numbers (a header
     * of numbers would read back as a row). */
    bool header = !matrix && count > 0;
    for (int i = 0; i < count && header; i++)
        if (looks_numeric(set->names[i])) header = false;

    char cell[64];
    if (aligned) {
        for (int j = 0; j < ncols; j++) {
            if (header) widths[j] = (int)strlen(set->names[j]);
            tt_dtype dt = set->tensors[matrix ? 0 : j]->dtype;
            const void *d = data[matrix ? 0 : j];
            for (int64_t r = 0; r < rows; r++) {
                int w = format_value(cell, sizeof cell, dt, d, matrix ? r * ncols + j : r);
                if (w > widths[j]) widths[j] = w;
            }
        }
    }

    tt_io_sink s;
    tt_sink_init(&s, f, label);
    if (aligned) write_attr_comments(&s, set);
    if (header) {
        for (int j = 0; j < ncols; j++) {
            if (j) {
                tt_sink_putc(&s, sep);
                if (aligned) tt_sink_putc(&s, ' ');
            }
            for (int k = (int)strlen(set->names[j]); aligned && k < widths[j]; k++) tt_sink_putc(&s, ' ');
            tt_sink_puts(&s, set->names[j]);
        }
        tt_sink_putc(&s, '\n');
    }
    for (int64_t r = 0; r < rows && !s.err; r++) {
        for (int j = 0; j < ncols; j++) {
            tt_dtype dt = set->tensors[matrix ? 0 : j]->dtype;
            int w = format_value(cell, sizeof cell, dt, data[matrix ? 0 : j], matrix ? r * ncols + j : r);
            if (j) {
                tt_sink_putc(&s, sep);
                if (aligned) tt_sink_putc(&s, ' ');
            }
            for (int k = w; aligned && k < widths[j]; k++) tt_sink_putc(&s, ' ');
            tt_sink_write(&s, cell, (size_t)w);
        }
        tt_sink_putc(&s, '\n');
    }
    st = tt_sink_finish(&s);
done:
    if (data)
        for (int i = 0; i < nbufs; i++) free(data[i]);
    free(data);
    free(widths);
    return st;
}
