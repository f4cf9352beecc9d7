/* Graph export to Graphviz DOT in torchviz's conventions (see tg/dot.h).
 *
 * This follows torchviz's make_dot (pytorchviz, torchviz/dot.py) step for
 * step, and writes each statement as the graphviz package does:
 *
 *   digraph {
 *   \tgraph [size="12,12"]
 *   \tnode [align=left fontname=monospace ... style=filled]    (keys sorted)
 *   \tID [label=LABEL fillcolor=COLOR]                          (label first, then sorted keys)
 *   \tID -> ID [dir=none]
 *   }
 *
 * with values bare when they are DOT IDs and quoted otherwise. The graph size
 * is torchviz's resize_graph: max(12, 0.15 * statements), printed as Python
 * prints it ("12" or "12.15"), so the body is built first and the head after.
 *
 * make_dot's recursion (add_nodes) is replayed with an explicit stack; the
 * order of the statements is that of the recursion. Ids come from one map,
 * object address -> (id, seen): the address is only a key, never printed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grad/internal.h"
#include "tg/dot.h"

/* ---- a growing text buffer ------------------------------------------------ */
typedef struct {
    char *s;
    size_t len, cap;
    bool nomem;
} sbuf;

static void sb_grow(sbuf *b, size_t extra)
{
    if (b->nomem || b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->nomem = true;
        return;
    }
    b->s = s;
    b->cap = cap;
}

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    sb_grow(b, n);
    if (b->nomem) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_putu(sbuf *b, uint64_t v)
{
    char digits[24];
    int n = (int)sizeof digits;
    do digits[--n] = (char)('0' + v % 10);
    while (v /= 10);
    sb_putn(b, digits + n, sizeof digits - (size_t)n);
}

/* ---- a map from addresses to values ------------------------------------------ */
typedef struct {
    const void *key;
    uint64_t value;
} slot;

typedef struct {
    slot *slots;
    size_t cap, count; /* cap: a power of two */
} ptrmap;

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p; /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t)x;
}

static slot *map_find(const ptrmap *m, const void *key)
{
    if (!m->cap) return NULL;
    for (size_t i = hash_ptr(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].key == key) return &m->slots[i];
        if (!m->slots[i].key) return NULL;
    }
}

/* The slot of key, added with value `fresh` (and *added set) when absent;
 * NULL when out of memory. */
static slot *map_get(ptrmap *m, const void *key, uint64_t fresh, bool *added)
{
    slot *s = map_find(m, key);
    *added = !s;
    if (s) return s;
    if (2 * (m->count + 1) > m->cap) { /* keep the load under 1/2 */
        size_t cap = m->cap ? 2 * m->cap : 64;
        slot *slots = calloc(cap, sizeof *slots);
        if (!slots) return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->slots[i].key) continue;
            size_t j = hash_ptr(m->slots[i].key) & (cap - 1);
            while (slots[j].key) j = (j + 1) & (cap - 1);
            slots[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t i = hash_ptr(key) & (m->cap - 1);
    while (m->slots[i].key) i = (i + 1) & (m->cap - 1);
    m->slots[i] = (slot){key, fresh};
    m->count++;
    return &m->slots[i];
}

/* ---- the export ------------------------------------------------------------- */
#define SEEN (1ULL << 63) /* in an object's value: torchviz's `seen` set; the rest is its id */

typedef struct {
    tg_node *fn;
    int next; /* the next of fn's next_functions to follow */
} frame;

typedef struct {
    sbuf body;
    uint64_t rows; /* statements in the body: len(dot.body) */
    ptrmap objs;   /* node or tensor -> id | SEEN */
    uint64_t next_id;
    ptrmap names; /* param tensor -> index into param_names */
    const tg_dot_options *opts;
    frame *stack;
    size_t depth, stack_cap;
    tt_tensor **held; /* saved tensors fetched (new references), kept so no address is reused */
    size_t nheld, held_cap;
    tt_status status;
} exporter;

static bool fail(exporter *e, tt_status status)
{
    if (!e->status) e->status = status;
    return false;
}

static bool oom(exporter *e) { return fail(e, tt_set_error(TT_ENOMEM, "out of memory writing the graph")); }

/* p's slot in the id map; p gets the next id when first mentioned. */
static slot *obj(exporter *e, const void *p)
{
    bool added;
    slot *s = map_get(&e->objs, p, e->next_id, &added);
    if (!s) {
        oom(e);
        return NULL;
    }
    if (added) e->next_id++; /* ids in order of first mention */
    return s;
}

/* Marks p seen; false when it already was (or on error). */
static bool mark_seen(exporter *e, const void *p)
{
    slot *s = obj(e, p);
    if (!s || (s->value & SEEN)) return false;
    s->value |= SEEN;
    return true;
}

static void put_id(exporter *e, const void *p)
{
    slot *s = obj(e, p);
    if (s) sb_putu(&e->body, s->value & ~SEEN);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
    int n;
    unsigned min;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) n = 2, min = 0x80;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) n = 3, min = 0x800;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) n = 4, min = 0x10000;
    else return 0;
    unsigned cp = s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

static bool is_dot_id(const char *s)
{
    static const char *const keywords[] = {"node", "edge", "graph", "digraph", "subgraph", "strict"};
    for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
        if (!strcasecmp(s, keywords[i])) return false;
    const char *p = s;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_') {
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_') p++;
        return !*p;
    }
    /* a numeral: -?(.[0-9]+|[0-9]+(.[0-9]*)?) */
    if (*p == '-') p++;
    size_t before = strspn(p, "0123456789");
    p += before;
    if (*p == '.') {
        p++;
        size_t after = strspn(p, "0123456789");
        if (!before && !after) return false;
        p += after;
    } else if (!before) {
        return false;
    }
    return !*p;
}

/* A DOT value: bare when it is an ID (as the graphviz package writes it),
 * else quoted with '"' and '\' escaped, '&' written as "&amp;" (Graphviz
 * reads entities in labels) and bytes that are not UTF-8 as U+FFFD. */
static void put_value(sbuf *b, const char *s)
{
    if (is_dot_id(s)) {
        sb_puts(b, s);
        return;
    }
    sb_putn(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_len(p);
        if (*p == '"') sb_puts(b, "\\\"");
        else if (*p == '\\') sb_puts(b, "\\\\");
        else if (*p == '&') sb_puts(b, "&amp;");
        else if (n) sb_putn(b, (const char *)p, (size_t)n);
        else sb_puts(b, "\xef\xbf\xbd");
        p += n ? n : 1;
    }
    sb_putn(b, "\"", 1);
}

/* torchviz's get_var_name: "NAME\n (3, 4)". */
static void put_var_label(sbuf *b, const tt_tensor *t, const char *name)
{
    sbuf label = {0};
    sb_puts(&label, name);
    sb_puts(&label, "\n (");
    for (int d = 0; d < t->ndim; d++) {
        if (d) sb_puts(&label, ", ");
        char dim[24];
        snprintf(dim, sizeof dim, "%lld", (long long)t->shape[d]);
        sb_puts(&label, dim);
    }
    sb_puts(&label, ")");
    if (label.nomem) b->nomem = true;
    else put_value(b, label.s);
    free(label.s);
}

/* The name torchviz gives a tensor drawn without one of its own: its params
 * name (here also an output's given name before that), then tg_name(). */
static const char *var_name(const exporter *e, const tt_tensor *t, const char *own)
{
    if (own && *own) return own;
    const slot *s = map_find(&e->names, t);
    if (s) return e->opts->param_names[s->value];
    const char *name = tg_name(t);
    return name ? name : "";
}

/* dot.node(id(t), get_var_name(t, name), fillcolor=color) */
static void var_node(exporter *e, const tt_tensor *t, const char *name, const char *color)
{
    sb_putn(&e->body, "\t", 1);
    put_id(e, t);
    sb_puts(&e->body, " [label=");
    put_var_label(&e->body, t, name);
    sb_puts(&e->body, " fillcolor=");
    sb_puts(&e->body, color);
    sb_puts(&e->body, "]\n");
    e->rows++;
}

/* dot.edge(id(from), id(to)) with dir=none when undirected */
static void edge(exporter *e, const void *from, const void *to, bool undirected)
{
    sb_putn(&e->body, "\t", 1);
    put_id(e, from);
    sb_puts(&e->body, " -> ");
    put_id(e, to);
    sb_puts(&e->body, undirected ? " [dir=none]\n" : "\n");
    e->rows++;
}

static bool hold(exporter *e, tt_tensor *t)
{
    if (e->nheld == e->held_cap) {
        size_t cap = e->held_cap ? 2 * e->held_cap : 16;
        tt_tensor **held = realloc(e->held, cap * sizeof *held);
        if (!held) {
            tt_release(t);
            return oom(e);
        }
        e->held = held;
        e->held_cap = cap;
    }
    e->held[e->nheld++] = t;
    return true;
}

/* The first half of add_nodes(fn): all before the recursion into
 * next_functions. Pushes fn's frame; false when fn was seen or on error. */
static bool enter(exporter *e, tg_node *fn)
{
    if (!mark_seen(e, fn)) return false;
    /* A custom function (its payload is the ctx) has no _saved_ attributes:
     * its saved_tensors come after the recursion. */
    if (e->opts->show_saved && !fn->payload) {
        /* dir(fn) lists the _saved_* attributes sorted by name */
        int n = fn->nsaved, order[TG_MAX_SAVED];
        for (int i = 0; i < n; i++) {
            int j = i;
            for (; j > 0 && strcmp(fn->saved[order[j - 1]].name, fn->saved[i].name) > 0; j--) order[j] = order[j - 1];
            order[j] = i;
        }
        for (int k = 0; k < n; k++) {
            const char *name;
            tt_tensor *val = tg_node_saved(fn, order[k], &name); /* PyTorch's error when freed */
            if (!val) return fail(e, tt_last_status());
            if (!hold(e, val)) return false;
            mark_seen(e, val);
            edge(e, fn, val, true);
            var_node(e, val, name, "orange");
        }
    }
    tt_tensor *var = tg_node_variable(fn);
    if (var) { /* AccumulateGrad: its leaf */
        mark_seen(e, var);
        var_node(e, var, var_name(e, var, NULL), "lightblue");
        edge(e, var, fn, false);
    }
    sb_putn(&e->body, "\t", 1);
    put_id(e, fn);
    sb_puts(&e->body, " [label=");
    put_value(&e->body, tg_node_name(fn));
    sb_puts(&e->body, "]\n");
    e->rows++;
    if (e->depth == e->stack_cap) {
        size_t cap = e->stack_cap ? 2 * e->stack_cap : 64;
        frame *stack = realloc(e->stack, cap * sizeof *stack);
        if (!stack) return oom(e);
        e->stack = stack;
        e->stack_cap = cap;
    }
    e->stack[e->depth++] = (frame){fn, 0};
    return true;
}

/* The last step of add_nodes(fn): a custom function's saved_tensors, drawn
 * whether or not show_saved is set, unnamed, with edges tensor -> node. */
static void custom_saved(exporter *e, tg_node *fn)
{
    for (int i = 0; i < tg_node_num_saved(fn) && !e->status; i++) {
        tt_tensor *t = tg_node_saved(fn, i, NULL); /* PyTorch's error when freed */
        if (!t) {
            fail(e, tt_last_status());
            return;
        }
        if (!hold(e, t)) return;
        mark_seen(e, t);
        edge(e, t, fn, true);
        var_node(e, t, var_name(e, t, NULL), "orange");
    }
}

/* add_nodes(fn), the recursion unrolled: for each of next_functions, the
 * edge to fn and then that node's own add_nodes, depth first. */
static void add_nodes(exporter *e, tg_node *root)
{
    enter(e, root);
    while (e->depth && !e->status) {
        frame *f = &e->stack[e->depth - 1];
        if (f->next == tg_node_num_next(f->fn)) {
            e->depth--;
            if (f->fn->payload) custom_saved(e, f->fn);
            continue;
        }
        tg_node *fn = f->fn, *u = tg_node_next(fn, f->next++, NULL);
        if (!u) continue;
        edge(e, u, fn, false);
        enter(e, u); /* f may move: the stack can grow */
    }
}

/* add_base_tensor(var) for an output */
static void add_output(exporter *e, tt_tensor *var, const char *name)
{
    if (!mark_seen(e, var)) return;
    var_node(e, var, var_name(e, var, name), "darkolivegreen1");
    tg_node *fn = tg_grad_fn(var);
    if (fn) {
        add_nodes(e, fn);
        edge(e, fn, var, false);
    }
}

/* Python's str() of the float torchviz's resize_graph computes: the
 * shortest digits that read back as the same double, in fixed notation
 * with at least one decimal (the size stays far below Python's 1e16
 * switch to exponents). */
static void put_py_float(sbuf *b, double x)
{
    char sci[40];
    int p = 0;
    for (; p < 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p, x);
        if (strtod(sci, NULL) == x) break;
    }
    char digits[24];
    int nd = 0;
    const char *c = sci;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9') digits[nd++] = *c;
    int exp10 = atoi(c + 1); /* x = d.ddd * 10^exp10, x >= 12 */
    int point = exp10 + 1;   /* digits before the decimal point */
    for (int i = 0; i < point; i++) sb_putn(b, i < nd ? &digits[i] : "0", 1);
    sb_putn(b, ".", 1);
    if (point >= nd) sb_putn(b, "0", 1);
    else sb_putn(b, digits + point, (size_t)(nd - point));
}

/* Builds the text: the head (which needs the statement count) in head, the
 * statements and the closing brace in body. */
static tt_status export(int noutputs, tt_tensor *const *outputs, const tg_dot_options *opts, sbuf *head, sbuf *body)
{
    static const tg_dot_options none = {0};
    if (!opts) opts = &none;
    if (noutputs < 1 || !outputs) return tt_set_error(TT_EINVAL, "graph export needs at least one output tensor");
    for (int i = 0; i < noutputs; i++)
        if (!outputs[i]) return tt_set_error(TT_EINVAL, "graph export: output %d is NULL", i);
    if (opts->nparams < 0 || (opts->nparams && (!opts->params || !opts->param_names)))
        return tt_set_error(TT_EINVAL, "graph export: bad params");
    for (int i = 0; i < opts->nparams; i++)
        if (!opts->params[i] || !opts->param_names[i])
            return tt_set_error(TT_EINVAL, "graph export: param %d or its name is NULL", i);

    exporter e = {.opts = opts};
    for (int i = 0; i < opts->nparams && !e.status; i++) {
        bool added;
        slot *s = map_get(&e.names, opts->params[i], (uint64_t)i, &added);
        if (!s) oom(&e);
        else s->value = (uint64_t)i; /* the last name wins, as in a dict */
    }
    for (int i = 0; i < noutputs && !e.status; i++)
        add_output(&e, outputs[i], opts->output_names ? opts->output_names[i] : NULL);
    sb_puts(&e.body, "}\n");

    sb_puts(head, "digraph {\n\tgraph [size=\"");
    double content = (double)e.rows * 0.15; /* resize_graph: max(12, rows * 0.15) */
    for (int k = 0; k < 2; k++) {
        if (k) sb_putn(head, ",", 1);
        if (content > 12) put_py_float(head, content);
        else sb_puts(head, "12");
    }
    sb_puts(head,
            "\"]\n\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box "
            "style=filled]\n");
    if (!e.status && (e.body.nomem || head->nomem)) oom(&e);

    for (size_t i = 0; i < e.nheld; i++) tt_release(e.held[i]);
    free(e.held);
    free(e.stack);
    free(e.objs.slots);
    free(e.names.slots);
    *body = e.body;
    return e.status;
}

char *tg_dot_string(int noutputs, tt_tensor *const *outputs, const tg_dot_options *opts)
{
    sbuf head = {0}, body = {0};
    tt_status st = export(noutputs, outputs, opts, &head, &body);
    if (!st) { /* the head goes in front of the body, in the body's buffer */
        sb_grow(&body, head.len);
        if (body.nomem) st = tt_set_error(TT_ENOMEM, "out of memory writing the graph");
    }
    if (st) {
        free(head.s);
        free(body.s);
        return NULL;
    }
    memmove(body.s + head.len, body.s, body.len + 1);
    memcpy(body.s, head.s, head.len);
    free(head.s);
    return body.s;
}

tt_status tg_dot_write(FILE *f, int noutputs, tt_tensor *const *outputs, const tg_dot_options *opts)
{
    if (!f) return tt_set_error(TT_EINVAL, "graph export: no file to write to");
    sbuf head = {0}, body = {0};
    tt_status st = export(noutputs, outputs, opts, &head, &body);
    if (!st && (fwrite(head.s, 1, head.len, f) != head.len || fwrite(body.s, 1, body.len, f) != body.len || fflush(f)))
        st = tt_set_error(TT_EIO, "cannot write the graph");
    free(head.s);
    free(body.s);
    return st;
}
