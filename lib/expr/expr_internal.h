/* Expressions, inside: the program is lexed and parsed into a small tree
 * first (parse.c), so a syntax error anywhere is reported before anything is
 * evaluated or bound; then the tree is walked eagerly (eval.c), each node
 * calling its tg_ op at once, with the functions in a table (functions.c)
 * and the environment in env.c. */
#ifndef TG_EXPR_INTERNAL_H
#define TG_EXPR_INTERNAL_H

#include "tg/expr.h"
#include "tg/io.h"

/* Nesting deeper than this is an error rather than a risk to the C stack. */
#define EX_MAX_DEPTH 200
/* Arguments a call can have: a tensor plus TT_MAX_DIMS sizes. */
#define EX_MAX_ARGS (TT_MAX_DIMS + 1)

struct tg_env {
    int count, cap;
    char **names;
    tt_tensor **tensors; /* owned references, parallel to names */
    tt_dtype dtype;
    tt_device device;
    tt_generator gen;
    tt_source *stdin_src; /* standard input, read once by the first "-" source */
    double mean_divisor;  /* > 0: mean(x) over all elements is sum(x) / mean_divisor */
};

typedef enum {
    T_END,
    T_NUM,
    T_NAME,
    T_STR, /* 'text' or "text": an argument's value (reduction='sum') */
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_CARET,
    T_POW,
    T_AT,
    T_LPAREN,
    T_RPAREN,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_COLON,
    T_SEMI,
    T_ASSIGN,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE
} ex_tok;

typedef enum {
    N_NUM,    /* num (is_int: written with digits only, e.g. the dim of max(x, 1)) */
    N_NAME,   /* name */
    N_STR,    /* name, namelen: the text between the quotes */
    N_CALL,   /* name(items): items carry keyword names */
    N_LIST,   /* [items] */
    N_NEG,    /* -items[0] */
    N_CHAIN,  /* items[0] op1 items[1] op2 ...: left to right (one op for ^ and comparisons) */
    N_INDEX,  /* items[0][items[1], items[2], ...]: each an expression or an N_SLICE */
    N_SLICE,  /* start:stop:step, items[0..2], N_EMPTY where left out */
    N_EMPTY,  /* a part of a slice left out */
    N_PROGRAM /* statements: items carry the bound name, if any */
} ex_kind;

typedef struct ex_node ex_node;
typedef struct {
    ex_node *node;
    ex_tok op;        /* N_CHAIN: the operator before node */
    int col;          /* N_CHAIN: the operator's column; N_CALL: the keyword's */
    const char *name; /* N_CALL: keyword; N_PROGRAM: assigned name; NULL when none */
    int namelen;
} ex_item;

struct ex_node {
    ex_kind kind;
    int col; /* 1-based byte column of the node's first token */
    double num;
    bool is_int;
    const char *name; /* N_NAME, N_CALL, N_STR: points into the program text */
    int namelen;
    ex_item *items;
    int nitems, cap;
};

/* A parsed program; every node is owned by `all` (freed together). */
typedef struct {
    const char *src;
    ex_node *root; /* N_PROGRAM */
    ex_node **all;
    int nall, capall;
} ex_program;

/* Parses src; on a syntax error returns an error status with the message
 * (and the caret line) in tt_last_error(). ex_free is safe either way. */
tt_status ex_parse(const char *src, ex_program *prog);
/* Sets status with "MSG", then src on one line and a caret under column col
 * (a window around it when src is long). */
tt_status ex_caret_error(tt_status status, const char *src, int col, const char *msg);
void ex_free(ex_program *prog);
const char *ex_tok_text(ex_tok t); /* "+", "**", ... */

/* A value during evaluation: a tensor (owned reference), or when t is NULL a
 * Python-style number that stays a double until it meets a tensor. */
typedef struct {
    tt_tensor *t;
    double num;
} ex_val;

typedef struct {
    tg_env *env;
} ex_eval;

int ex_eval_node(ex_eval *E, const ex_node *n, ex_val *out); /* 0 ok, -1 error set */
/* a OP b for a tt_binary_op or EX_MATMUL; consumes a and b. `label` names the
 * operation in errors ("'*'", "pow"). */
#define EX_MATMUL TT_NUM_BINARY
int ex_binop(int op, const char *label, int col, ex_val a, ex_val b, ex_val *out);
tt_tensor *ex_number_tensor(const tg_env *env, double v); /* 0-d, env dtype and device */
/* f(a) (a tt_unary_op) or a OP b (a tt_binary_op) of numbers, as the op
 * computes it on a float64 tensor; 0 ok, -1 with the error set. */
int ex_fold(int op, bool binary, double a, double b, double *out);
/* Replaces the current error with "in LABEL at column COL: <it>". */
void ex_op_error(const char *label, int col);

/* functions.c */
int ex_call(ex_eval *E, const ex_node *call, ex_val *out);
/* Whether a call is elementwise in its tensor arguments (exp, pow, where,
 * max(a, b), ...; not sum, max(x), matmul, reshape, the constructors). */
bool ex_call_elementwise(const ex_node *call);
/* "unknown name 'y' at column 5 (known: x, w)" and friends. */
void ex_unknown_name(const tg_env *env, const ex_node *n, bool is_call);

#endif
