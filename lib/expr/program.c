/* Programs parsed once and evaluated many times (tg/expr.h): a fit evaluates
 * its model and loss on every block of points, so the parse, the list of
 * free names and the checks of how the value depends on the points are done
 * once, here, on the tree the evaluator walks. */
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

struct tg_program {
    char *src; /* the tree points into this copy */
    ex_program prog;
    char **names; /* read and never assigned, in order of first use */
    int nnames;
};

/* ---- free names ---------------------------------------------------------------- */
static bool assigned(const ex_program *prog, const char *name, int len)
{
    for (int i = 0; i < prog->root->nitems; i++) {
        const ex_item *st = &prog->root->items[i];
        if (st->name && st->namelen == len && !strncmp(st->name, name, (size_t)len)) return true;
    }
    return false;
}

static int add_names(tg_program *p, const ex_node *n)
{
    if (n->kind == N_NAME && !assigned(&p->prog, n->name, n->namelen)) {
        for (int i = 0; i < p->nnames; i++)
            if ((int)strlen(p->names[i]) == n->namelen && !strncmp(p->names[i], n->name, (size_t)n->namelen)) return 0;
        char **names = realloc(p->names, (size_t)(p->nnames + 1) * sizeof *names);
        if (!names) return tt_set_error(TT_ENOMEM, "out of memory"), -1;
        p->names = names;
        if (!(names[p->nnames] = strndup(n->name, (size_t)n->namelen)))
            return tt_set_error(TT_ENOMEM, "out of memory"), -1;
        p->nnames++;
        return 0;
    }
    for (int i = 0; i < n->nitems; i++)
        if (add_names(p, n->items[i].node)) return -1;
    return 0;
}

tg_program *tg_program_parse(const char *src)
{
    if (!src) return tt_set_error(TT_EINVAL, "tg_program_parse: NULL program"), NULL;
    tg_program *p = calloc(1, sizeof *p);
    if (!p || !(p->src = strdup(src))) {
        free(p);
        return tt_set_error(TT_ENOMEM, "out of memory"), NULL;
    }
    if (ex_parse(p->src, &p->prog) || add_names(p, p->prog.root)) {
        tg_program_free(p);
        return NULL;
    }
    return p;
}

void tg_program_free(tg_program *p)
{
    if (!p) return;
    ex_free(&p->prog);
    for (int i = 0; i < p->nnames; i++) free(p->names[i]);
    free(p->names);
    free(p->src);
    free(p);
}

const char *tg_program_text(const tg_program *p) { return p->src; }
int tg_program_nnames(const tg_program *p) { return p->nnames; }
const char *tg_program_name(const tg_program *p, int i) { return i >= 0 && i < p->nnames ? p->names[i] : NULL; }

tt_tensor *tg_program_eval(tg_env *env, const tg_program *p)
{
    if (!env || !p) return tt_set_error(TT_EINVAL, "tg_program_eval: NULL environment or program"), NULL;
    ex_eval E = {.env = env};
    ex_val v = {0};
    for (int i = 0; i < p->prog.root->nitems; i++) {
        const ex_item *st = &p->prog.root->items[i];
        tt_release(v.t);
        if (ex_eval_node(&E, st->node, &v)) return NULL;
        if (!v.t && !(v.t = ex_number_tensor(env, v.num))) return NULL;
        if (st->name) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", st->namelen, st->name);
            if (tg_env_set(env, name, v.t)) {
                tt_release(v.t);
                return NULL;
            }
        }
    }
    return v.t;
}

void tg_env_set_mean_divisor(tg_env *env, double count) { env->mean_divisor = count > 0 ? count : 0; }

/* ---- how a value depends on the points -------------------------------------------- *
 * Each node is free of the data, elementwise in it (element i depends on
 * point i only), or neither. Names bound by earlier statements take the class
 * (and additivity) of their definition. */
typedef enum { DEP_FREE, DEP_POINT, DEP_OTHER } dep;

typedef struct {
    const ex_program *prog;
    int ndata;
    const char *const *data;
    int upto;      /* statements before this one are bound */
    dep cls[256];  /* per statement */
    bool lin[256]; /* per statement: additive */
} analysis;

static const ex_item *bound(const analysis *A, const ex_node *n, int *at)
{
    for (int i = A->upto - 1; i >= 0; i--) {
        const ex_item *st = &A->prog->root->items[i];
        if (st->name && st->namelen == n->namelen && !strncmp(st->name, n->name, (size_t)n->namelen)) {
            *at = i;
            return st;
        }
    }
    return NULL;
}

static dep worst(dep a, dep b) { return a > b ? a : b; }

static dep classify(const analysis *A, const ex_node *n)
{
    dep d = DEP_FREE;
    switch (n->kind) {
    case N_NUM: return DEP_FREE;
    case N_NAME: {
        int at;
        if (bound(A, n, &at)) return A->cls[at];
        for (int i = 0; i < A->ndata; i++)
            if ((int)strlen(A->data[i]) == n->namelen && !strncmp(A->data[i], n->name, (size_t)n->namelen))
                return DEP_POINT;
        return DEP_FREE; /* a parameter */
    }
    case N_CHAIN:
        for (int i = 0; i < n->nitems; i++) {
            dep c = classify(A, n->items[i].node);
            if (i && n->items[i].op == T_AT && c != DEP_FREE) c = DEP_OTHER;
            d = worst(d, c);
        }
        if (d == DEP_POINT)
            for (int i = 1; i < n->nitems; i++)
                if (n->items[i].op == T_AT) d = DEP_OTHER;
        return d;
    case N_NEG: return classify(A, n->items[0].node);
    case N_CALL:
    case N_LIST:
        for (int i = 0; i < n->nitems; i++) d = worst(d, classify(A, n->items[i].node));
        if (d != DEP_FREE && !(n->kind == N_CALL && ex_call_elementwise(n))) d = DEP_OTHER;
        return d;
    case N_STR:
    case N_EMPTY: return DEP_FREE;
    case N_INDEX: /* x[i] on the data picks other points: not elementwise */
    case N_SLICE:
        for (int i = 0; i < n->nitems; i++) d = worst(d, classify(A, n->items[i].node));
        return d == DEP_FREE ? DEP_FREE : DEP_OTHER;
    case N_PROGRAM: break;
    }
    return DEP_OTHER;
}

static bool is_call(const ex_node *n, const char *name)
{
    return n->kind == N_CALL && n->namelen == (int)strlen(name) && !strncmp(n->name, name, (size_t)n->namelen);
}

/* A linear combination of sum()/mean() over all elements of data-dependent
 * elementwise terms, with coefficients free of the data. */
static bool additive(const analysis *A, const ex_node *n)
{
    switch (n->kind) {
    case N_NAME: {
        int at;
        return bound(A, n, &at) && A->lin[at];
    }
    case N_NEG: return additive(A, n->items[0].node);
    case N_CALL:
        return (is_call(n, "sum") || is_call(n, "mean")) && n->nitems == 1 && !n->items[0].name &&
               classify(A, n->items[0].node) == DEP_POINT;
    case N_CHAIN: {
        if (n->nitems < 2) return false;
        ex_tok op = n->items[1].op;
        if (op == T_PLUS || op == T_MINUS) {
            for (int i = 0; i < n->nitems; i++)
                if ((i && n->items[i].op != T_PLUS && n->items[i].op != T_MINUS) || !additive(A, n->items[i].node))
                    return false;
            return true;
        }
        if (op != T_STAR && op != T_SLASH) return false;
        int nlin = 0;
        for (int i = 0; i < n->nitems; i++) {
            if (i && n->items[i].op != T_STAR && n->items[i].op != T_SLASH) return false;
            if (classify(A, n->items[i].node) == DEP_FREE) continue;
            if ((i && n->items[i].op == T_SLASH) || !additive(A, n->items[i].node)) return false;
            nlin++;
        }
        return nlin == 1;
    }
    default: return false;
    }
}

static bool analyse(const tg_program *p, int ndata, const char *const *data, bool want_additive)
{
    const ex_node *root = p->prog.root;
    if (root->nitems > 256) return false;
    analysis A = {.prog = &p->prog, .ndata = ndata, .data = data};
    for (A.upto = 0; A.upto < root->nitems; A.upto++) {
        const ex_node *st = root->items[A.upto].node;
        A.cls[A.upto] = classify(&A, st);
        A.lin[A.upto] = additive(&A, st);
    }
    int last = root->nitems - 1;
    return want_additive ? A.lin[last] : A.cls[last] != DEP_OTHER;
}

bool tg_program_is_elementwise(const tg_program *p, int ndata, const char *const *data)
{
    return analyse(p, ndata, data, false);
}

bool tg_program_is_additive(const tg_program *p, int ndata, const char *const *data)
{
    return analyse(p, ndata, data, true);
}
