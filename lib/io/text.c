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
    bool quoted; /* "..." in CSV/TSV: p, n the inside, where "" stands for " */
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
    l->v[l->n++] = (field){p, n, false};
    return true;
}

/* The end of a quoted field that starts at p[0] == '"' (RFC 4180: "" is a
 * quote inside it): the index of its closing quote, or n when it has none. */
static size_t closing_quote(const char *p, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (p[i] == '"') {
            if (i + 1 < n && p[i + 1] == '"') i++;
            else return i;
        }
    return n;
}

/* The line's length without a '#' comment; a '#' inside quotes is text. */
static size_t without_comment(const char *p, size_t n)
{
    bool quoted = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"') quoted = !quoted;
        else if (p[i] == '#' && !quoted) return i;
    }
    return n;
}

/* Splits a trimmed, non-empty line: at commas if it has one outside quotes,
 * else at tabs if it has one, else at runs of whitespace. Comma- and
 * tab-separated fields may be quoted as RFC 4180 has it ("time (s)",
 * "a, b", "say ""hi"""). A quote left open: *open_quote set, false returned. */
static bool split_line(const char *p, size_t n, field_list *out, bool *open_quote)
{
    out->n = 0;
    *open_quote = false;
    char sep = 0;
    for (size_t i = 0; i < n && !sep; i++) {
        if (p[i] == '"') i += closing_quote(p + i, n - i);
        else if (p[i] == ',') sep = ',';
    }
    if (!sep && memchr(p, '\t', n)) sep = '\t';
    if (sep) {
        for (;;) {
            size_t k = 0, fn;
            const char *fp = p;
            while (k < n && p[k] != sep && is_space(p[k])) k++;
            bool quoted = k < n && p[k] == '"';
            if (quoted) {
                size_t q = closing_quote(p + k, n - k);
                if (q == n - k) {
                    *open_quote = true;
                    return false;
                }
                fp = p + k + 1, fn = q - 1;
                k += q + 1;
            }
            const char *e = memchr(p + k, sep, n - k);
            k = e ? (size_t)(e - p) : n;
            if (!quoted) {
                fp = p, fn = k;
                trim(&fp, &fn);
            }
            if (!push_field(out, fp, fn)) return false;
            out->v[out->n - 1].quoted = quoted;
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

/* buf with room for need elements of size bytes, doubling; NULL when out of
 * memory (buf is kept). */
static void *grown(void *buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return buf;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *p = realloc(buf, c * size);
    if (p) *cap = c;
    return p;
}

/* ---- the parser: text fed in pieces as it arrives ------------------------ */

struct tt_text_parser {
    char *label;
    tt_text_table *t;
    char *carry; /* the start of a line cut by the end of a piece */
    size_t ncarry, capcarry;
    uint64_t offset; /* bytes before the carried ones, for messages */
    long line;
    bool started; /* past the byte order mark */
    bool failed;
    field_list fields;
    scratch sc;
    tt_name_hash header_names;
};

void tt_text_table_free(tt_text_table *t)
{
    if (!t) return;
    for (int j = 0; j < t->ncols; j++) {
        if (t->names) free(t->names[j]);
        if (t->cols) free(t->cols[j]);
    }
    free(t->names);
    free(t->cols);
    tt_name_hash_free(&t->hash);
    free(t->run_row);
    free(t->run_line);
    free(t);
}

int tt_text_table_find(const tt_text_table *t, const char *name)
{
    return tt_name_hash_find(&t->hash, t->names, name, strlen(name));
}

int64_t tt_text_table_line(const tt_text_table *t, int64_t row)
{
    size_t lo = 0, hi = t->nruns; /* the last run starting at or before row */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (t->run_row[mid] <= row) lo = mid;
        else hi = mid;
    }
    return t->nruns ? t->run_line[lo] + (row - t->run_row[lo]) : row + 1;
}

tt_text_parser *tt_text_parser_new(const char *label)
{
    tt_text_parser *p = calloc(1, sizeof *p);
    if (p && (!(p->label = tt_io_strdup(label)) || !(p->t = calloc(1, sizeof *p->t)))) {
        free(p->label);
        free(p);
        p = NULL;
    }
    if (!p) tt_set_error(TT_ENOMEM, "%s: out of memory", label);
    else p->t->ncols = -1;
    return p;
}

void tt_text_parser_free(tt_text_parser *p)
{
    if (!p) return;
    if (p->t && p->t->ncols < 0) p->t->ncols = 0;
    tt_text_table_free(p->t);
    free(p->carry);
    free(p->fields.v);
    free(p->sc.p);
    tt_name_hash_free(&p->header_names);
    free(p->label);
    free(p);
}

static tt_status parser_oom(tt_text_parser *p) { return tt_set_error(TT_ENOMEM, "%s: out of memory", p->label); }

/* The header's names (or, without one, "1", "2", ...) and the columns' arrays. */
static tt_status start_columns(tt_text_parser *p, bool header)
{
    tt_text_table *t = p->t;
    int n = p->fields.n;
    t->names = calloc((size_t)n, sizeof *t->names);
    t->cols = calloc((size_t)n, sizeof *t->cols);
    if (!t->names || !t->cols) return parser_oom(p);
    t->ncols = n;
    for (int j = 0; j < n; j++) {
        char num[16];
        const char *s = header ? p->fields.v[j].p : num;
        size_t k = header ? p->fields.v[j].n : 0;
        if (!k) {
            snprintf(num, sizeof num, "%d", j + 1);
            s = num;
            k = strlen(num);
        }
        if (!(t->names[j] = malloc(k + 1))) return parser_oom(p);
        bool quoted = header && p->fields.v[j].quoted;
        size_t m = 0; /* the name, with "" inside quotes read as " */
        for (size_t i = 0; i < k; i++) {
            t->names[j][m++] = s[i];
            if (quoted && s[i] == '"' && i + 1 < k && s[i + 1] == '"') i++;
        }
        t->names[j][m] = 0;
        k = m;
        if (tt_name_hash_find(&t->hash, t->names, t->names[j], k) >= 0)
            return tt_set_error(TT_EFORMAT, "%s: line %ld: column name '%s' appears twice", p->label, p->line,
                                t->names[j]);
        if (tt_name_hash_add(&t->hash, t->names, j) != TT_OK) return TT_ENOMEM;
    }
    return TT_OK;
}

/* One line (without its newline). */
static tt_status parse_line(tt_text_parser *p, const char *lp, size_t ln)
{
    tt_text_table *t = p->t;
    p->line++;
    ln = without_comment(lp, ln);
    trim(&lp, &ln);
    if (!ln) return TT_OK;
    bool open_quote;
    if (!split_line(lp, ln, &p->fields, &open_quote)) {
        if (open_quote)
            return tt_set_error(TT_EFORMAT, "%s: line %ld: a quoted field has no closing quote", p->label, p->line);
        return parser_oom(p);
    }
    bool oom = false;
    if (t->ncols < 0) {
        /* The first line is a header unless every field is a number. */
        bool numeric = true;
        for (int j = 0; j < p->fields.n && numeric; j++) {
            double v;
            numeric = parse_number(&p->sc, p->fields.v[j].p, p->fields.v[j].n, &v, &oom);
        }
        if (oom) return parser_oom(p);
        tt_status st = start_columns(p, !numeric);
        if (st != TT_OK || !numeric) return st;
    }
    if (p->fields.n != t->ncols)
        return tt_set_error(TT_EFORMAT, "%s: line %ld has %d column%s, expected %d", p->label, p->line, p->fields.n,
                            p->fields.n == 1 ? "" : "s", t->ncols);
    if (t->rows == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 256;
        for (int j = 0; j < t->ncols; j++) {
            double *c = realloc(t->cols[j], (size_t)cap * sizeof *c);
            if (!c) return parser_oom(p);
            t->cols[j] = c;
        }
        t->cap = cap;
    }
    /* Lines are kept as runs of consecutive rows: a row costs only its values. */
    if (!t->nruns || t->run_line[t->nruns - 1] + (t->rows - t->run_row[t->nruns - 1]) != p->line) {
        size_t cap = t->capruns;
        int64_t *r = grown(t->run_row, &cap, t->nruns + 1, sizeof *r);
        if (r) t->run_row = r;
        cap = t->capruns;
        int64_t *l = r ? grown(t->run_line, &cap, t->nruns + 1, sizeof *l) : NULL;
        if (l) t->run_line = l;
        if (!r || !l) return parser_oom(p);
        t->capruns = cap;
        t->run_row[t->nruns] = t->rows;
        t->run_line[t->nruns++] = p->line;
    }
    for (int j = 0; j < t->ncols; j++) {
        double v;
        const field *f = &p->fields.v[j];
        if (!parse_number(&p->sc, f->p, f->n, &v, &oom)) {
            if (oom) return parser_oom(p);
            if (!f->n) return tt_set_error(TT_EFORMAT, "%s: line %ld, column %d is empty", p->label, p->line, j + 1);
            return tt_set_error(TT_EFORMAT, "%s: line %ld, column %d: '%.*s' is not a number", p->label, p->line, j + 1,
                                f->n > 40 ? 40 : (int)f->n, f->p);
        }
        t->cols[j][t->rows] = v;
    }
    t->rows++;
    return TT_OK;
}

/* Whole lines of buf[0..len) (all of it when last); returns the bytes used. */
static tt_status parse_lines(tt_text_parser *p, const char *buf, size_t len, bool last, size_t *used)
{
    const char *s = buf, *end = buf + len;
    const char *upto = last ? end : NULL;
    if (!last)
        for (const char *q = end; q > s; q--)
            if (q[-1] == '\n') {
                upto = q;
                break;
            }
    *used = 0;
    if (!upto) return TT_OK;
    size_t bad = binary_offset((const unsigned char *)s, (size_t)(upto - s));
    if (bad < (size_t)(upto - s))
        return tt_set_error(TT_EFORMAT, "%s: not an HDF5 file and not text: byte 0x%02x at offset %llu", p->label,
                            (unsigned char)s[bad], (unsigned long long)(p->offset + bad));
    while (s < upto) {
        const char *nl = memchr(s, '\n', (size_t)(upto - s));
        const char *le = nl ? nl : upto;
        tt_status st = parse_line(p, s, (size_t)(le - s));
        if (st != TT_OK) return st;
        s = nl ? nl + 1 : upto;
    }
    *used = (size_t)(upto - buf);
    return TT_OK;
}

/* Adds n bytes to the carried start of a line. */
static tt_status carry_append(tt_text_parser *p, const char *buf, size_t n)
{
    size_t cap = p->capcarry;
    char *c = grown(p->carry, &cap, p->ncarry + n, 1);
    if (!c) return parser_oom(p);
    p->carry = c;
    p->capcarry = cap;
    memcpy(p->carry + p->ncarry, buf, n);
    p->ncarry += n;
    return TT_OK;
}

/* The bytes of a UTF-8 byte order mark at the very start of the text (3 or 0),
 * counted as read. */
static size_t skip_bom(tt_text_parser *p, const char *buf, size_t n)
{
    if (p->offset != 0 || n < 3 || memcmp(buf, "\xef\xbb\xbf", 3)) return 0;
    p->offset = 3;
    return 3;
}

/* Parses the carried bytes as whole lines (the last one may lack its newline). */
static tt_status parse_carry(tt_text_parser *p)
{
    size_t skip = skip_bom(p, p->carry, p->ncarry), used;
    tt_status st = parse_lines(p, p->carry + skip, p->ncarry - skip, true, &used);
    p->offset += p->ncarry - skip;
    p->ncarry = 0;
    return st;
}

tt_status tt_text_parser_feed(tt_text_parser *p, const char *buf, size_t len)
{
    if (p->failed) return tt_last_status();
    tt_status st = TT_OK;
    if (!p->started && p->ncarry + len < 3 && len) { /* the byte order mark needs three bytes to be seen */
        st = carry_append(p, buf, len);
        p->failed = st != TT_OK;
        return st;
    }
    p->started = true;
    if (p->ncarry) {
        /* The carried start of a line, with this piece's bytes up to its first newline. */
        const char *nl = memchr(buf, '\n', len);
        size_t take = nl ? (size_t)(nl - buf) + 1 : len;
        st = carry_append(p, buf, take);
        buf += take;
        len -= take;
        if (st == TT_OK && nl) st = parse_carry(p);
    } else {
        size_t skip = skip_bom(p, buf, len);
        buf += skip, len -= skip;
    }
    if (st == TT_OK && !p->ncarry) {
        size_t used;
        st = parse_lines(p, buf, len, false, &used);
        p->offset += used;
        buf += used;
        len -= used;
    }
    if (st == TT_OK && len) st = carry_append(p, buf, len);
    p->failed = st != TT_OK;
    return st;
}

tt_text_table *tt_text_parser_finish(tt_text_parser *p)
{
    tt_text_table *t = NULL;
    if (!p->failed) {
        tt_status st = p->ncarry ? parse_carry(p) : TT_OK;
        if (st == TT_OK && p->t->ncols < 0)
            tt_set_error(TT_EFORMAT, "%s holds no numbers (only blank lines and comments)", p->label);
        else if (st == TT_OK) {
            t = p->t;
            p->t = NULL;
        }
    }
    tt_text_parser_free(p);
    return t;
}

tt_text_table *tt_text_read(const char *buf, size_t len, const char *label)
{
    tt_text_parser *p = tt_text_parser_new(label);
    if (!p) return NULL;
    if (tt_text_parser_feed(p, buf, len) != TT_OK) {
        tt_text_parser_free(p);
        return NULL;
    }
    return tt_text_parser_finish(p);
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
        char num[40];
        switch (a->type) {
        case TT_ATTR_STR:
            for (const char *c = a->str ? a->str : ""; *c; c++) tt_sink_putc(s, (unsigned char)*c < 0x20 ? ' ' : *c);
            break;
        case TT_ATTR_F64:
            format_value(num, sizeof num, TT_F64, &a->num, 0);
            tt_sink_puts(s, num);
            break;
        case TT_ATTR_I64:
            snprintf(num, sizeof num, "%lld", (long long)a->i64);
            tt_sink_puts(s, num);
            break;
        case TT_ATTR_U64:
            snprintf(num, sizeof num, "%llu", (unsigned long long)a->u64);
            tt_sink_puts(s, num);
            break;
        }
        tt_sink_putc(s, '\n');
    }
}

/* ---- the writer: rows in bounded pieces ------------------------------------ *
 * Rows are formatted a block at a time into the sink (64 KiB writes), so text
 * reaches its reader as it is made and a write error (a closed pipe) stops it
 * at the next block. Aligned text pads each column to the widest number seen
 * so far: a block is formatted before it is written, widths only grow. */

/* Cells per block: a bounded amount of formatted text whatever the shape. */
enum { BLOCK_CELLS = 1 << 14, CELL = 32 };

struct tt_text_writer {
    tt_io_sink sink;
    tt_file_format fmt;
    char sep;
    bool aligned, started, matrix;
    int ncols, nnames;
    char **names;    /* the first piece's tensor names, for the next pieces */
    bool header_due; /* aligned: the header goes out with the first block's widths */
    int *widths;
    char *cells; /* one block of formatted cells, CELL bytes each */
    int *lens;
};

tt_text_writer *tt_text_writer_new(FILE *f, tt_file_format fmt, const char *label)
{
    if (fmt != TT_FMT_CSV && fmt != TT_FMT_TSV && fmt != TT_FMT_TEXT)
        return tt_set_error(TT_EINVAL, "%s: not a text format", label), NULL;
    tt_text_writer *w = calloc(1, sizeof *w);
    if (!w) return tt_set_error(TT_ENOMEM, "out of memory"), NULL;
    tt_sink_init(&w->sink, f, label);
    w->fmt = fmt;
    w->sep = fmt == TT_FMT_CSV ? ',' : fmt == TT_FMT_TSV ? '\t' : ' ';
    w->aligned = fmt == TT_FMT_TEXT;
    return w;
}

static void writer_free(tt_text_writer *w)
{
    for (int j = 0; w->names && j < w->nnames; j++) free(w->names[j]);
    free(w->names);
    free(w->widths);
    free(w->cells);
    free(w->lens);
    free(w->sink.buf);
    free(w);
}

/* The piece's shape: 1-D columns of one length, or a single 2-D tensor. */
static tt_status piece_shape(const tt_tensor_set *set, bool *matrix, int64_t *rows, int *ncols)
{
    int count = set->count;
    char shp[96];
    *matrix = count == 1 && set->tensors[0]->ndim == 2;
    *rows = 0;
    if (*matrix) {
        if (set->tensors[0]->shape[1] > INT32_MAX)
            return tt_set_error(TT_EINVAL, "cannot write '%s' as text: too many columns", set->names[0]);
        *rows = set->tensors[0]->shape[0];
        *ncols = (int)set->tensors[0]->shape[1];
        return TT_OK;
    }
    *ncols = count;
    for (int i = 0; i < count; i++) {
        const tt_tensor *t = set->tensors[i];
        if (t->ndim > 1) {
            shape_str(t, shp, sizeof shp);
            return tt_set_error(TT_EINVAL,
                                "cannot write '%s' (shape %s) as text: text holds 1-D columns of one length "
                                "or a single 2-D tensor; use HDF5",
                                set->names[i], shp);
        }
        if (i && tt_numel(t) != *rows)
            return tt_set_error(TT_EINVAL,
                                "cannot write '%s' and '%s' as text columns: they have %lld and %lld elements",
                                set->names[0], set->names[i], (long long)*rows, (long long)tt_numel(t));
        *rows = tt_numel(t);
    }
    return TT_OK;
}

/* The first piece: TEXT's attribute comments and the header; the layout kept. */
static tt_status writer_start(tt_text_writer *w, const tt_tensor_set *set, bool matrix, int ncols)
{
    w->started = true;
    w->matrix = matrix;
    w->ncols = ncols;
    w->widths = calloc((size_t)(ncols ? ncols : 1), sizeof *w->widths);
    w->names = calloc((size_t)(set->count ? set->count : 1), sizeof *w->names);
    if (!w->widths || !w->names) return tt_set_error(TT_ENOMEM, "out of memory");
    for (int j = 0; j < set->count; j++, w->nnames++)
        if (!(w->names[j] = tt_io_strdup(set->names[j]))) return TT_ENOMEM;
    /* A header names the columns, unless the names read as numbers (a header
     * of numbers would read back as a row). */
    bool header = !matrix && set->count > 0;
    for (int i = 0; i < set->count && header; i++)
        if (looks_numeric(set->names[i])) header = false;
    if (w->aligned) write_attr_comments(&w->sink, set);
    if (!header) return TT_OK;
    for (int j = 0; w->aligned && j < ncols; j++) w->widths[j] = (int)strlen(set->names[j]);
    w->header_due = true;
    return TT_OK;
}

static void write_header(tt_text_writer *w)
{
    w->header_due = false;
    for (int j = 0; j < w->ncols; j++) {
        if (j) {
            tt_sink_putc(&w->sink, w->sep);
            if (w->aligned) tt_sink_putc(&w->sink, ' ');
        }
        for (int pad = (int)strlen(w->names[j]); w->aligned && pad < w->widths[j]; pad++) tt_sink_putc(&w->sink, ' ');
        tt_sink_puts(&w->sink, w->names[j]);
    }
    tt_sink_putc(&w->sink, '\n');
}

tt_status tt_text_writer_put(tt_text_writer *w, const tt_tensor_set *set)
{
    bool matrix;
    int64_t rows;
    int ncols;
    tt_status st = piece_shape(set, &matrix, &rows, &ncols);
    if (st != TT_OK) return st;
    if (!w->started) {
        if ((st = writer_start(w, set, matrix, ncols)) != TT_OK) return st;
    } else if (matrix != w->matrix || ncols != w->ncols) {
        return tt_set_error(TT_EINVAL, "%s: a piece of text output of another shape", w->sink.label);
    } else {
        for (int j = 0; !matrix && j < ncols; j++)
            if (strcmp(set->names[j], w->names[j]))
                return tt_set_error(TT_EINVAL, "%s: a piece of text output with the column '%s' for '%s'",
                                    w->sink.label, set->names[j], w->names[j]);
    }
    if (w->header_due && (rows == 0 || !w->aligned)) write_header(w);
    if (w->sink.err || rows == 0 || ncols == 0) return TT_OK;

    /* Every column of the piece on the host in its own dtype. */
    int nbufs = matrix ? 1 : set->count;
    void **data = calloc((size_t)nbufs, sizeof *data);
    int64_t block = BLOCK_CELLS / ncols > 0 ? BLOCK_CELLS / ncols : 1;
    if (!w->cells || !w->lens) {
        free(w->cells);
        free(w->lens);
        w->cells = malloc(w->aligned ? (size_t)BLOCK_CELLS * CELL + (size_t)ncols * CELL : CELL);
        w->lens = malloc(w->aligned ? ((size_t)BLOCK_CELLS + (size_t)ncols) * sizeof *w->lens : sizeof *w->lens);
    }
    if (!data || !w->cells || !w->lens) {
        free(data);
        return tt_set_error(TT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nbufs && st == TT_OK; i++) {
        const tt_tensor *t = set->tensors[i];
        int64_t n = tt_numel(t);
        data[i] = malloc(n ? (size_t)n * tt_dtype_size(t->dtype) : 1);
        if (!data[i]) st = tt_set_error(TT_ENOMEM, "out of memory writing '%s'", set->names[i]);
        else if (n) st = tt_to_host(t, t->dtype, data[i]);
    }
    for (int64_t r0 = 0; st == TT_OK && r0 < rows && !w->sink.err; r0 += block) {
        int64_t r1 = r0 + block < rows ? r0 + block : rows;
        if (w->aligned) { /* the block's cells first: the widths they need */
            for (int64_t r = r0; r < r1; r++)
                for (int j = 0; j < ncols; j++) {
                    size_t k = (size_t)(r - r0) * (size_t)ncols + (size_t)j;
                    tt_dtype dt = set->tensors[matrix ? 0 : j]->dtype;
                    int len =
                        format_value(w->cells + k * CELL, CELL, dt, data[matrix ? 0 : j], matrix ? r * ncols + j : r);
                    w->lens[k] = len;
                    if (len > w->widths[j]) w->widths[j] = len;
                }
            if (w->header_due) write_header(w);
        }
        for (int64_t r = r0; r < r1; r++) {
            for (int j = 0; j < ncols; j++) {
                size_t k = (size_t)(r - r0) * (size_t)ncols + (size_t)j;
                if (j) {
                    tt_sink_putc(&w->sink, w->sep);
                    if (w->aligned) tt_sink_putc(&w->sink, ' ');
                }
                if (!w->aligned) {
                    tt_dtype dt = set->tensors[matrix ? 0 : j]->dtype;
                    int len = format_value(w->cells, CELL, dt, data[matrix ? 0 : j], matrix ? r * ncols + j : r);
                    tt_sink_write(&w->sink, w->cells, (size_t)len);
                    continue;
                }
                for (int pad = w->lens[k]; pad < w->widths[j]; pad++) tt_sink_putc(&w->sink, ' ');
                tt_sink_write(&w->sink, w->cells + k * CELL, (size_t)w->lens[k]);
            }
            tt_sink_putc(&w->sink, '\n');
        }
    }
    for (int i = 0; i < nbufs; i++) free(data[i]);
    free(data);
    if (st == TT_OK && w->sink.err) { /* stop the caller at once: a closed pipe, a full disk */
        int e = w->sink.err;
        st = tt_set_error(TT_EIO, "%s: cannot write: %s", w->sink.label, strerror(e));
        errno = e;
    }
    return st;
}

tt_status tt_text_writer_finish(tt_text_writer *w)
{
    if (!w) return TT_OK;
    if (w->header_due) write_header(w);
    tt_status st = tt_sink_finish(&w->sink);
    int e = errno;
    writer_free(w);
    errno = e;
    return st;
}

void tt_text_writer_abort(tt_text_writer *w)
{
    if (w) writer_free(w);
}

tt_status tt_text_write(const tt_tensor_set *set, tt_file_format fmt, FILE *f, const char *label)
{
    bool matrix;
    int64_t rows;
    int ncols;
    tt_status st = piece_shape(set, &matrix, &rows, &ncols); /* refused before anything is written */
    if (st != TT_OK) return st;
    tt_text_writer *w = tt_text_writer_new(f, fmt, label);
    if (!w) return tt_last_status();
    if ((st = tt_text_writer_put(w, set)) != TT_OK) {
        tt_text_writer_abort(w);
        return st;
    }
    return tt_text_writer_finish(w);
}
