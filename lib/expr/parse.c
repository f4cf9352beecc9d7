/* Lexer and recursive-descent parser for the expression language (grammar in
 * include/tg/expr.h). The whole program is tokenized up front (so a statement
 * or keyword argument is told apart by looking one token ahead: NAME '=')
 * and parsed into a tree before anything runs. Each grammar rule is one
 * function; the recursion depth is bounded by EX_MAX_DEPTH. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

typedef struct {
    ex_tok kind;
    int pos, len; /* byte offset and length in the program */
    double num;
    bool is_int;
} token;

typedef struct {
    const char *src;
    token *toks;
    int ntok, cap, i;
    int depth;
    ex_program *prog;
} parser;

static const char *const tok_text[] = {
    [T_END] = "end of input",
    [T_NUM] = "number",
    [T_NAME] = "name",
    [T_STR] = "string",
    [T_PLUS] = "+",
    [T_MINUS] = "-",
    [T_STAR] = "*",
    [T_SLASH] = "/",
    [T_CARET] = "^",
    [T_POW] = "**",
    [T_AT] = "@",
    [T_LPAREN] = "(",
    [T_RPAREN] = ")",
    [T_LBRACKET] = "[",
    [T_RBRACKET] = "]",
    [T_COMMA] = ",",
    [T_COLON] = ":",
    [T_SEMI] = ";",
    [T_ASSIGN] = "=",
    [T_EQ] = "==",
    [T_NE] = "!=",
    [T_LT] = "<",
    [T_LE] = "<=",
    [T_GT] = ">",
    [T_GE] = ">=",
};

const char *ex_tok_text(ex_tok t) { return tok_text[t]; }

tt_status ex_caret_error(tt_status status, const char *src, int col, const char *msg)
{
    char shown[256];
    int len = (int)strlen(src), from = 0, to = len, caret;
    if (len > 160) {
        from = col - 1 - 80 < 0 ? 0 : col - 1 - 80;
        to = from + 160 < len ? from + 160 : len;
    }
    snprintf(shown, sizeof shown, "%s%.*s%s", from ? "..." : "", to - from, src + from, to < len ? "..." : "");
    for (char *c = shown; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    caret = (from ? 3 : 0) + col - 1 - from;
    return tt_set_error(status, "%s\n  %s\n  %*s^", msg, shown, caret, "");
}

/* "syntax error at column C: MESSAGE", then the program on one line and a
 * caret under column C. */
static tt_status syntax_error(const char *src, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static tt_status syntax_error(const char *src, int col, const char *fmt, ...)
{
    char msg[256], full[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "syntax error at column %d: %s", col, msg);
    return ex_caret_error(TT_ESYNTAX, src, col, full);
}

/* ---- lexer ----------------------------------------------------------------- */
static int push_token(parser *P, token t)
{
    if (P->ntok == P->cap) {
        int cap = P->cap ? 2 * P->cap : 32;
        token *toks = realloc(P->toks, (size_t)cap * sizeof *toks);
        if (!toks) return tt_set_error(TT_ENOMEM, "out of memory parsing an expression"), -1;
        P->toks = toks, P->cap = cap;
    }
    P->toks[P->ntok++] = t;
    return 0;
}

/* Numbers as Python writes them: 1, 2.5, 1e-3, .5, 3. (no signs, no hex). */
static int lex_number(const char *s, int i, token *t)
{
    int j = i;
    t->is_int = true;
    while (isdigit((unsigned char)s[j])) j++;
    if (s[j] == '.') {
        t->is_int = false;
        j++;
        while (isdigit((unsigned char)s[j])) j++;
    }
    if (s[j] == 'e' || s[j] == 'E') {
        int k = j + 1;
        if (s[k] == '+' || s[k] == '-') k++;
        if (!isdigit((unsigned char)s[k]))
            return syntax_error(s, k + 1, "malformed number '%.*s': expected digits after the exponent", k - i, s + i),
                   -1;
        while (isdigit((unsigned char)s[k])) k++;
        t->is_int = false;
        j = k;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", j - i, s + i);
    t->num = strtod(buf, NULL);
    t->len = j - i;
    return 0;
}

static int lex(parser *P)
{
    const char *s = P->src;
    static const struct {
        const char *text;
        ex_tok kind;
    } ops[] = {
        {"**", T_POW},   {"==", T_EQ},      {"!=", T_NE},      {"<=", T_LE},   {">=", T_GE},  {"+", T_PLUS},
        {"-", T_MINUS},  {"*", T_STAR},     {"/", T_SLASH},    {"^", T_CARET}, {"@", T_AT},   {"(", T_LPAREN},
        {")", T_RPAREN}, {"[", T_LBRACKET}, {"]", T_RBRACKET}, {",", T_COMMA}, {";", T_SEMI}, {"=", T_ASSIGN},
        {"<", T_LT},     {">", T_GT},       {":", T_COLON},
    };
    for (int i = 0;;) {
        while (isspace((unsigned char)s[i])) i++;
        token t = {.kind = T_END, .pos = i};
        unsigned char c = (unsigned char)s[i];
        if (!c) return push_token(P, t);
        if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[i + 1]))) {
            t.kind = T_NUM;
            if (lex_number(s, i, &t)) return -1;
        } else if (isalpha(c) || c == '_') {
            t.kind = T_NAME;
            while (isalnum((unsigned char)s[i + t.len]) || s[i + t.len] == '_') t.len++;
        } else if (c == '\'' || c == '"') { /* a string, to its closing quote; no escapes */
            t.kind = T_STR;
            const char *end = strchr(s + i + 1, c);
            if (!end) return syntax_error(s, i + 1, "unterminated string: no closing %c", c), -1;
            t.len = (int)(end - (s + i)) + 1;
        } else {
            for (size_t k = 0; k < sizeof ops / sizeof ops[0] && !t.len; k++)
                if (!strncmp(s + i, ops[k].text, strlen(ops[k].text)))
                    t.kind = ops[k].kind, t.len = (int)strlen(ops[k].text);
            if (!t.len) {
                if (isprint(c)) return syntax_error(s, i + 1, "unexpected character '%c'", c), -1;
                return syntax_error(s, i + 1, "unexpected byte 0x%02x", c), -1;
            }
        }
        if (push_token(P, t)) return -1;
        i += t.len;
    }
}

/* ---- tree ------------------------------------------------------------------ */
static ex_node *new_node(parser *P, ex_kind kind, int col)
{
    ex_program *g = P->prog;
    if (g->nall == g->capall) {
        int cap = g->capall ? 2 * g->capall : 32;
        ex_node **all = realloc(g->all, (size_t)cap * sizeof *all);
        if (!all) return tt_set_error(TT_ENOMEM, "out of memory parsing an expression"), NULL;
        g->all = all, g->capall = cap;
    }
    ex_node *n = calloc(1, sizeof *n);
    if (!n) return tt_set_error(TT_ENOMEM, "out of memory parsing an expression"), NULL;
    n->kind = kind, n->col = col;
    return g->all[g->nall++] = n;
}

static int add_item(ex_node *n, ex_item it)
{
    if (!it.node) return -1; /* the operand failed to parse: its error is set */
    if (n->nitems == n->cap) {
        int cap = n->cap ? 2 * n->cap : 4;
        ex_item *items = realloc(n->items, (size_t)cap * sizeof *items);
        if (!items) return tt_set_error(TT_ENOMEM, "out of memory parsing an expression"), -1;
        n->items = items, n->cap = cap;
    }
    n->items[n->nitems++] = it;
    return 0;
}

void ex_free(ex_program *prog)
{
    for (int i = 0; i < prog->nall; i++) {
        free(prog->all[i]->items);
        free(prog->all[i]);
    }
    free(prog->all);
    memset(prog, 0, sizeof *prog);
}

/* ---- grammar ---------------------------------------------------------------- */
static const token *peek(const parser *P) { return &P->toks[P->i]; }
static int col_of(const token *t) { return t->pos + 1; }
static bool at(const parser *P, ex_tok k) { return peek(P)->kind == k; }
static bool at_assign(const parser *P) /* NAME '=' */ { return at(P, T_NAME) && P->toks[P->i + 1].kind == T_ASSIGN; }

/* "found '*'" / "found end of input" */
static ex_node *expected(parser *P, const char *what)
{
    const token *t = peek(P);
    if (t->kind == T_END) syntax_error(P->src, col_of(t), "expected %s, found end of input", what);
    else syntax_error(P->src, col_of(t), "expected %s, found '%.*s'", what, t->len > 20 ? 20 : t->len, P->src + t->pos);
    return NULL;
}

/* The closing bracket of the one opened at `open`. */
static int expect_close(parser *P, ex_tok close, const token *open, bool comma_ok)
{
    if (at(P, close)) {
        P->i++;
        return 0;
    }
    char what[96];
    snprintf(what, sizeof what, "%s'%s' to close '%s' at column %d", comma_ok ? "',' or " : "", tok_text[close],
             tok_text[open->kind], col_of(open));
    expected(P, what);
    return -1;
}

static ex_node *parse_expr(parser *P);
static ex_node *parse_unary(parser *P);

/* items of a call or list: a comma-separated list up to `close`; calls take
 * keyword arguments NAME = expr. */
static ex_node *parse_items(parser *P, ex_node *n, const token *open, ex_tok close, bool keywords)
{
    if (!n) return NULL;
    while (!at(P, close)) {
        ex_item it = {0};
        if (keywords && at_assign(P)) {
            it.name = P->src + peek(P)->pos, it.namelen = peek(P)->len, it.col = col_of(peek(P));
            P->i += 2;
        }
        it.node = parse_expr(P);
        if (add_item(n, it)) return NULL;
        if (!at(P, T_COMMA)) break;
        P->i++;
    }
    return expect_close(P, close, open, true) ? NULL : n;
}

/* primary := NUMBER | STRING | NAME | NAME '(' args ')' | '(' expr ')' | '[' items ']' */
static ex_node *parse_primary(parser *P)
{
    const token *t = peek(P);
    ex_node *n;
    switch (t->kind) {
    case T_NUM:
        P->i++;
        if (!(n = new_node(P, N_NUM, col_of(t)))) return NULL;
        n->num = t->num, n->is_int = t->is_int;
        return n;
    case T_STR:
        P->i++;
        if (!(n = new_node(P, N_STR, col_of(t)))) return NULL;
        n->name = P->src + t->pos + 1, n->namelen = t->len - 2;
        return n;
    case T_NAME:
        P->i++;
        if (t->len == 4 && !strncmp(P->src + t->pos, "true", 4)) { /* literals, for keepdim=true */
            if ((n = new_node(P, N_NUM, col_of(t)))) n->num = 1;
            return n;
        }
        if (t->len == 5 && !strncmp(P->src + t->pos, "false", 5)) return new_node(P, N_NUM, col_of(t));
        if (!(n = new_node(P, at(P, T_LPAREN) ? N_CALL : N_NAME, col_of(t)))) return NULL;
        n->name = P->src + t->pos, n->namelen = t->len;
        if (n->kind == N_NAME) return n;
        const token *open = peek(P);
        P->i++;
        return parse_items(P, n, open, T_RPAREN, true);
    case T_LPAREN:
        P->i++;
        n = parse_expr(P);
        return n && !expect_close(P, T_RPAREN, t, false) ? n : NULL;
    case T_LBRACKET: P->i++; return parse_items(P, new_node(P, N_LIST, col_of(t)), t, T_RBRACKET, false);
    default: return expected(P, "an expression");
    }
}

/* One subscript: expr, or a slice [expr] ':' [expr] [':' [expr]]. */
static ex_node *parse_subscript(parser *P)
{
    const token *t = peek(P);
    ex_node *first = at(P, T_COLON) ? new_node(P, N_EMPTY, col_of(t)) : parse_expr(P);
    if (!first || !at(P, T_COLON)) return first;
    ex_node *s = new_node(P, N_SLICE, first->col);
    if (!s || add_item(s, (ex_item){.node = first})) return NULL;
    for (int part = 1; part < 3; part++) {
        const token *c = peek(P);
        if (part == 2 && !at(P, T_COLON)) {
            if (add_item(s, (ex_item){.node = new_node(P, N_EMPTY, col_of(c))})) return NULL;
            break;
        }
        P->i++; /* the ':' */
        bool empty = at(P, T_COLON) || at(P, T_COMMA) || at(P, T_RBRACKET);
        if (add_item(s, (ex_item){.node = empty ? new_node(P, N_EMPTY, col_of(peek(P))) : parse_expr(P)})) return NULL;
    }
    return s;
}

/* postfix := primary ('[' subscript (',' subscript)* ']')*: x[0], x[1:3], x[:, idx] */
static ex_node *parse_postfix(parser *P)
{
    ex_node *n = parse_primary(P);
    while (n && at(P, T_LBRACKET)) {
        const token *open = peek(P);
        P->i++;
        ex_node *ix = new_node(P, N_INDEX, n->col);
        if (!ix || add_item(ix, (ex_item){.node = n})) return NULL;
        if (at(P, T_RBRACKET)) return expected(P, "an index");
        for (;;) {
            if (add_item(ix, (ex_item){.node = parse_subscript(P)})) return NULL;
            if (!at(P, T_COMMA)) break;
            P->i++;
        }
        if (expect_close(P, T_RBRACKET, open, true)) return NULL;
        n = ix;
    }
    return n;
}

/* power := postfix (('^' | '**') unary)?   right-associative through unary,
 * so 2^3^2 = 2^9 and 2^-1 work, and binds tighter than a leading minus. */
static ex_node *parse_power(parser *P)
{
    ex_node *base = parse_postfix(P);
    if (!base || !(at(P, T_CARET) || at(P, T_POW))) return base;
    const token *op = peek(P);
    P->i++;
    ex_node *n = new_node(P, N_CHAIN, base->col);
    if (!n || add_item(n, (ex_item){.node = base}) ||
        add_item(n, (ex_item){.node = parse_unary(P), .op = op->kind, .col = col_of(op)}))
        return NULL;
    return n;
}

/* unary := ('-' | '+') unary | power. Every recursion of the parser passes
 * through here, so this is where depth is counted. */
static ex_node *parse_unary(parser *P)
{
    const token *t = peek(P);
    if (++P->depth > EX_MAX_DEPTH) {
        syntax_error(P->src, col_of(t), "expression nested more than %d levels deep", EX_MAX_DEPTH);
        return NULL;
    }
    ex_node *n;
    if (t->kind == T_MINUS || t->kind == T_PLUS) {
        P->i++;
        ex_node *operand = parse_unary(P);
        n = NULL;
        if (operand && t->kind == T_PLUS) n = operand;
        else if (operand && (n = new_node(P, N_NEG, col_of(t))) && add_item(n, (ex_item){.node = operand})) n = NULL;
    } else {
        n = parse_power(P);
    }
    P->depth--;
    return n;
}

/* A left-associative chain of `next` joined by the operators in ops. */
static ex_node *parse_chain(parser *P, ex_node *(*next)(parser *), const ex_tok *ops, int nops)
{
    ex_node *first = next(P), *n = NULL;
    for (;;) {
        if (!first) return NULL;
        const token *t = peek(P);
        int k = 0;
        while (k < nops && ops[k] != t->kind) k++;
        if (k == nops) return n ? n : first;
        P->i++;
        if (!n && (!(n = new_node(P, N_CHAIN, first->col)) || add_item(n, (ex_item){.node = first}))) return NULL;
        if (add_item(n, (ex_item){.node = next(P), .op = t->kind, .col = col_of(t)})) return NULL;
    }
}

/* term := unary (('*' | '/' | '@') unary)* */
static ex_node *parse_term(parser *P)
{
    static const ex_tok ops[] = {T_STAR, T_SLASH, T_AT};
    return parse_chain(P, parse_unary, ops, 3);
}

/* sum := term (('+' | '-') term)* */
static ex_node *parse_sum(parser *P)
{
    static const ex_tok ops[] = {T_PLUS, T_MINUS};
    return parse_chain(P, parse_term, ops, 2);
}

/* expr := sum (comparison sum)?  Comparisons bind loosest and do not chain:
 * Python reads a < b < c one way and C another, so it is refused. */
static ex_node *parse_expr(parser *P)
{
    static const ex_tok ops[] = {T_LT, T_LE, T_GT, T_GE, T_EQ, T_NE};
    ex_node *n = parse_chain(P, parse_sum, ops, 6);
    if (n && n->kind == N_CHAIN && n->nitems > 2 && n->items[1].op >= T_EQ) {
        syntax_error(P->src, n->items[2].col, "comparisons do not chain: add parentheses");
        return NULL;
    }
    return n;
}

/* program := statement (';' statement)* [';'],  statement := NAME '=' expr | expr */
tt_status ex_parse(const char *src, ex_program *prog)
{
    memset(prog, 0, sizeof *prog);
    prog->src = src;
    parser P = {.src = src, .prog = prog};
    tt_status st = TT_OK;
    if (lex(&P) || !(prog->root = new_node(&P, N_PROGRAM, 1))) goto fail;
    do {
        ex_item it = {0};
        if (at_assign(&P)) {
            it.name = src + peek(&P)->pos, it.namelen = peek(&P)->len;
            P.i += 2;
        }
        it.node = parse_expr(&P);
        if (add_item(prog->root, it)) goto fail;
        if (at(&P, T_SEMI)) P.i++;
        else if (!at(&P, T_END)) {
            expected(&P, "an operator, ';' or end of input");
            goto fail;
        }
    } while (!at(&P, T_END));
    free(P.toks);
    return TT_OK;
fail:
    st = tt_last_status();
    free(P.toks);
    return st;
}
