/* Expressions: a small language evaluated eagerly into libgrad calls, so the
 * graph it builds is the one a C program would build (SPEC §5).
 *
 *   program    := statement (';' statement)* [';']
 *   statement  := NAME '=' expr | expr           the last statement's value is the result
 *   expr       := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
 *                                               bool tensors; loosest; a < b < c is refused
 *   sum        := term (('+' | '-') term)*
 *   term       := unary (('*' | '/' | '@') unary)*
 *   unary      := ('-' | '+') unary | power
 *   power      := primary (('^' | '**') unary)?  right-associative, binds tighter
 *                                               than unary minus: -x^2 = -(x^2)
 *   primary    := NUMBER | NAME | NAME '(' args ')' | '(' expr ')' | '[' items ']'
 *   args       := arg (',' arg)*,  arg := expr | NAME '=' expr  (dim=, keepdim=, min=, max=)
 *
 * Numbers: 1, 2.5, 1e-3, .5; true and false are 1 and 0. They are
 * Python-style scalars: number OP number folds, and x*2 is tg_binary_scalar
 * (MulBackward0 with a None edge, as in PyTorch; 2-x is RsubBackward1, x^2
 * PowBackward0, x^y PowBackward1, -x NegBackward0). Array literals [1,2,3],
 * [[1,2],[3,4]] are tensors of the environment's dtype (elements may be
 * expressions giving one element). Nesting deeper than 200 levels is an error.
 *
 * Functions (arguments in brackets optional; dims may be negative):
 *   exp log sqrt sin cos tanh sigmoid relu abs sign (x)
 *   pow(x, y)  matmul(a, b)  where(cond, a, b)      a number a/b takes the other's dtype
 *   sum/mean(x[, dim[, keepdim]])                   dim an integer or a list [0, 1]
 *   prod(x[, dim[, keepdim]])
 *   max/min(x)                                      over all elements
 *   max/min(x, dim[, keepdim]), max/min(x, dim=D)   values along a dim: dim an integer literal
 *   max/min(a, b)                                   elementwise (b a tensor or another number)
 *   transpose(x) (2-D), transpose(x, d0, d1)
 *   reshape(x, 3, 4) / reshape(x, [3, -1]), expand(x, 3, 4) / expand(x, [3, -1])
 *   clamp(x, lo, hi), clamp(x, min=lo), clamp(x, max=hi)
 *   softmax(x[, dim]), log_softmax(x[, dim])         dim defaults to the last
 *   ones zeros rand randn (3, 4) or ([3, 4])         the env's dtype, device, generator
 *   arange(end), arange(start, end[, step]), linspace(start, end, steps)
 * A number where a tensor is needed becomes a 0-d tensor of the env's dtype.
 *
 * Errors (NULL or a status, never an exit; the text in tt_last_error()):
 *   syntax error at column 7: expected an expression, found '*'
 *     x + ( * 2)
 *           ^                          (1-based byte columns; the program on one line)
 *   unknown function 'sine' at column 1 (did you mean sin, sign?)
 *   unknown name 'y' at column 5 (known: x, w)
 *   sum() takes 1 to 3 arguments, got 4 (at column 1)
 *   sum(): dim must be an integer, got 1.5 (at column 8)
 *   in matmul at column 3: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)
 *   in '*' at column 5: The size of tensor a (3) must match the size of tensor b (2) ...
 * The language's own errors are TT_EINVAL; a failing op keeps the op's status.
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
tt_device tg_env_device(const tg_env *env);
/* Binds name to t (the env takes a new reference; an old binding is replaced). */
tt_status tg_env_set(tg_env *env, const char *name, tt_tensor *t);
tt_tensor *tg_env_get(const tg_env *env, const char *name); /* borrowed, NULL if unbound */
int tg_env_count(const tg_env *env);
const char *tg_env_name(const tg_env *env, int i); /* in binding order */

/* A command-line binding "NAME=VALUE": a VALUE that names an existing file
 * (or FILE:DATASET with FILE existing, or "-" / "-:DATASET") is read with
 * tt_read_source, floating data cast to the env's dtype; anything else is
 * evaluated as an expression in env, so later bindings can use earlier ones
 * (x=5, x='[1,2,3]', x='randn(3,4)', y='2*x'). A number binds as a 0-d
 * tensor. Errors start with the binding ("x=[1,2: syntax error at ..."); an
 * invalid name is "invalid binding 'x y=3': 'x y' is not a name ..."; a value
 * that looks like a path but names no file says so ("no file 'd.h5', and as
 * an expression: ..."). */
tt_status tg_env_bind(tg_env *env, const char *assignment);
/* Reads a tensor source as a binding would (cast to the env's dtype when
 * floating, moved to its device). Standard input is read once per
 * environment: several "-:DATASET" sources select from the same read. */
tt_tensor *tg_env_read_source(tg_env *env, const char *source);
/* The value half of a binding: a source when it names one, else an
 * expression evaluated in env. Messages start with `context` (the value
 * itself when NULL). A new reference, or NULL. */
tt_tensor *tg_env_value(tg_env *env, const char *value, const char *context);

/* Evaluates a program; NAME = EXPR statements bind into env (as they run:
 * the whole program is parsed first, so a syntax error binds nothing). Returns
 * the value of the last statement (a new reference, possibly to a tensor the
 * env holds, e.g. for "x"; a number becomes a 0-d tensor of the env's dtype),
 * or NULL with the error in tt_last_error() (see the list above). Runs under
 * the caller's grad mode. */
tt_tensor *tg_eval(tg_env *env, const char *program);

/* Reads a program without evaluating it, for checking user input early: a
 * syntax error, or a call of a function the language lacks ("unknown function
 * 'foo' at column 3 (did you mean ...?)"), is TT_ESYNTAX with the program and
 * a caret under the column. Names are not looked up (they bind later). */
tt_status tg_expr_check(const char *program);

/* A program parsed once, to be evaluated many times (a fit evaluates its
 * model on every block of points). */
typedef struct tg_program tg_program;
/* Parses (a copy of) src: NULL with the syntax error in tt_last_error(). */
tg_program *tg_program_parse(const char *src);
void tg_program_free(tg_program *p);
const char *tg_program_text(const tg_program *p);
/* tg_eval of the parsed program. */
tt_tensor *tg_program_eval(tg_env *env, const tg_program *p);
/* The names the program reads and never assigns (data and parameters), in
 * order of first use; function and keyword-argument names are not names. */
int tg_program_nnames(const tg_program *p);
const char *tg_program_name(const tg_program *p, int i);
/* How the value depends on the points, the elements of the `data` names
 * (other free names being parameters): elementwise when element i of the
 * value depends on point i only (or on no point), so that evaluating on a
 * block of points gives that block's values; additive when the value is a
 * linear combination, with coefficients free of the data, of sum() or mean()
 * over all elements of elementwise terms that depend on the data, so that
 * it is the sum of its values on the blocks (with tg_env_set_mean_divisor). */
/* The value of a named constant (pi, e, inf, nan, as Python's math names
 * them); false for any other name. A name the environment binds wins. */
bool tg_expr_constant(const char *name, double *value);
bool tg_program_is_elementwise(const tg_program *p, int ndata, const char *const *data);
bool tg_program_is_additive(const tg_program *p, int ndata, const char *const *data);
/* While count > 0, mean(x) over all elements evaluates as sum(x) / count: a
 * block's share of a mean over count points. 0 restores mean(). */
void tg_env_set_mean_divisor(tg_env *env, double count);

/* Names the language knows (functions and constructors), NULL-terminated. */
const char *const *tg_expr_functions(void);

#ifdef __cplusplus
}
#endif
#endif
