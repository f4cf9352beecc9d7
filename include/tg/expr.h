/* Expressions: a small language evaluated eagerly into libgrad calls, so the
 * graph it builds is the one a C program would build (SPEC §5).
 *
 *   program    := statement (';' statement)* [';']
 *   statement  := NAME '=' expr | expr           the last expression is the result
 *   expr       := comparisons of sums: < <= > >= == != give bool tensors
 *   sum        := term (('+' | '-') term)*
 *   term       := unary (('*' | '/' | '@') unary)*
 *   unary      := ('-' | '+') unary | power
 *   power      := primary (('^' | '**') unary)?  right-associative, binds tighter
 *                                               than unary minus: -x^2 = -(x^2)
 *   primary    := NUMBER | NAME | NAME '(' args ')' | '(' expr ')' | '[' items ']'
 *   args       := arg (',' arg)*,  arg := expr | NAME '=' expr  (dim=, keepdim=, min=, max=)
 *
 * Numbers are Python-style scalars (2*x records MulBackward0 with a None
 * edge, as in PyTorch); array literals [1,2,3], [[1,2],[3,4]] are tensors of
 * the environment's dtype. Functions: exp log sqrt sin cos tanh sigmoid relu
 * abs sign pow sum mean max min prod matmul transpose reshape expand where
 * clamp softmax log_softmax, and the constructors ones zeros rand randn
 * arange linspace (random ones draw from the environment's generator).
 */
#ifndef TG_EXPR_H
#define TG_EXPR_H

#include "grad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_env tg_env;

/* An environment: named tensors, plus the dtype, device and random
 * generator that constructors and literals use (f32, cpu, seed 0). */
tg_env *tg_env_new(void);
void tg_env_free(tg_env *env);
void tg_env_set_dtype(tg_env *env, tt_dtype dt);
void tg_env_set_device(tg_env *env, tt_device dev);
void tg_env_set_seed(tg_env *env, uint64_t seed); /* generator {seed, 0} */
tt_dtype tg_env_dtype(const tg_env *env);
/* Binds name to t (the env takes a new reference; an old binding is replaced). */
tt_status tg_env_set(tg_env *env, const char *name, tt_tensor *t);
tt_tensor *tg_env_get(const tg_env *env, const char *name); /* borrowed, NULL if unbound */
int tg_env_count(const tg_env *env);
const char *tg_env_name(const tg_env *env, int i); /* in binding order */

/* A command-line binding "NAME=VALUE": a VALUE that names an existing file
 * (or FILE:DATASET, or "-" / "-:DATASET") is read as a tensor source and cast
 * to the env's dtype when floating; anything else is evaluated as an
 * expression in env (x=5, x='[1,2,3]', x='randn(3,4)'). Errors name the
 * binding. */
tt_status tg_env_bind(tg_env *env, const char *assignment);

/* Evaluates a program; NAME = EXPR statements bind into env. Returns the
 * value of the last expression (a new reference; a number becomes a 0-d
 * tensor of the env's dtype), or NULL with the error in tt_last_error(): a
 * syntax error is "syntax error at column C: expected X, found Y" followed by
 * the program and a caret line; an unknown function or name lists the
 * nearest known ones; a wrong argument count or a failing op names the call
 * and its column. */
tt_tensor *tg_eval(tg_env *env, const char *program);

/* Names the language knows (functions and constructors), NULL-terminated. */
const char *const *tg_expr_functions(void);

#ifdef __cplusplus
}
#endif
#endif
