/* The expression language (include/tg/expr.h).
 *
 * Values: every case of tests/fixtures/expr_cases.h (made by
 * tests/fixtures/make_expr_fixtures.py from PyTorch 1.13) is evaluated in a
 * float64 environment, with its value and the gradient of sum(out * W) with
 * respect to x compared to 1e-12, then again in float32 (values to 1e-5):
 * one TAP line per case and dtype. Then the graphs that eval builds (node
 * names as PyTorch's), the seeds' gradients, statements, constructors and
 * the seed, every error message (exact text, caret line included), and
 * bindings from numbers, expressions and files.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "tg/expr.h"
#include "tg/io.h"
#include "../fixtures/expr_cases.h"

#define NCASES ((int)(sizeof ec_cases / sizeof ec_cases[0]))

static tg_env *env_with_inputs(tt_dtype dt)
{
    tg_env *env = tg_env_new();
    tg_env_set_dtype(env, dt);
    for (size_t i = 0; i < sizeof ec_inputs / sizeof ec_inputs[0]; i++)
        if (tg_env_bind(env, ec_inputs[i])) FAILF("binding %s: %s", ec_inputs[i], tt_last_error());
    return env;
}

/* W[i] = 1 + i/10 in out's shape. */
static tt_tensor *weights(const tt_tensor *out)
{
    int64_t n = tt_numel(out);
    double *w = malloc((size_t)(n ? n : 1) * sizeof *w);
    for (int64_t i = 0; i < n; i++) w[i] = 1 + (double)i / 10;
    tt_tensor *t = tt_from_data(out->ndim, out->shape, TT_F64, w, TT_CPU);
    free(w);
    return t;
}

static void run_case(const ec_case *c, tt_dtype dt)
{
    tg_env *env = env_with_inputs(dt);
    tt_tensor *x = tg_env_get(env, "x");
    if (dt == TT_F64) CHECK(tg_set_requires_grad(x, true) == TT_OK);
    tt_tensor *out = tg_eval(env, c->program);
    if (!out) {
        FAILF("%s: %s", c->program, tt_last_error());
        tg_env_free(env);
        return;
    }
    if (out->ndim != c->ndim) FAILF("%s: %d dims, expected %d", c->program, out->ndim, c->ndim);
    for (int d = 0; d < out->ndim && d < c->ndim; d++)
        if (out->shape[d] != c->shape[d])
            FAILF("%s: dim %d is %lld, expected %lld", c->program, d, (long long)out->shape[d], (long long)c->shape[d]);
    if (!check_values(out, c->value, c->n, dt == TT_F64 ? 1e-12 : 1e-5, c->program, __FILE__, __LINE__))
        check_failed_here = 1;
    bool is_bool = out->dtype == TT_BOOL;
    if (!is_bool && out->dtype != dt)
        FAILF("%s: dtype %s, expected %s", c->program, tt_dtype_name(out->dtype), tt_dtype_name(dt));
    if (dt == TT_F64) {
        if (tg_requires_grad(out) != (c->has_grad != 0))
            FAILF("%s: requires_grad %d, expected %d", c->program, tg_requires_grad(out), c->has_grad);
        if (c->has_grad && tg_requires_grad(out)) {
            tt_tensor *w = weights(out), *ow = tg_mul(out, w), *s = tg_sum(ow), *g = NULL;
            CHECK(tg_autograd_grad(1, &s, NULL, 1, &x, false, false, true, &g) == TT_OK);
            if (g) {
                if (!check_values(g, c->grad, 6, 1e-12, "grad", __FILE__, __LINE__)) {
                    FAILF("gradient of %s", c->program);
                }
            } else {
                for (int i = 0; i < 6; i++)
                    if (c->grad[i] != 0) FAILF("%s: x unused, but PyTorch's gradient is not zero", c->program);
            }
            tt_release(g);
            tt_release(s);
            tt_release(ow);
            tt_release(w);
        }
    }
    tt_release(out);
    tg_env_free(env);
}

/* ---- helpers ---------------------------------------------------------------- */
static double eval_num(tg_env *env, const char *program)
{
    tt_tensor *t = tg_eval(env, program);
    double v = NAN;
    if (!t || tt_item(t, &v)) FAILF("%s: %s", program, tt_last_error());
    tt_release(t);
    return v;
}

#define CHECK_PREFIX(s, prefix)                                                              \
    do {                                                                                     \
        const char *s_ = (s), *p_ = (prefix);                                                \
        if (strncmp(s_, p_, strlen(p_))) FAILF("\"%s\" does not start with \"%s\"", s_, p_); \
    } while (0)

#define CHECK_EVAL_ERR(env, program, want)                                        \
    do {                                                                          \
        tt_tensor *r_ = tg_eval((env), (program));                                \
        if (r_) {                                                                 \
            FAILF("%s: evaluated, expected the error \"%s\"", (program), (want)); \
            tt_release(r_);                                                       \
        } else CHECK_STR(tt_last_error(), (want));                                \
    } while (0)

static const char *node_next_name(tg_node *n, int i)
{
    tg_node *next = tg_node_next(n, i, NULL);
    return next ? tg_node_name(next) : "None";
}

/* ---- grammar ------------------------------------------------------------------ */
TEST(precedence_and_associativity)
{
    tg_env *env = tg_env_new();
    CHECK_NEAR(eval_num(env, "2^3^2"), 512, 0);
    CHECK_NEAR(eval_num(env, "(2^3)^2"), 64, 0);
    CHECK_NEAR(eval_num(env, "-2^2"), -4, 0);
    CHECK_NEAR(eval_num(env, "(-2)^2"), 4, 0);
    CHECK_NEAR(eval_num(env, "1-2-3"), -4, 0);
    CHECK_NEAR(eval_num(env, "2*3+4"), 10, 0);
    CHECK_NEAR(eval_num(env, "2+3*4"), 14, 0);
    CHECK_NEAR(eval_num(env, "12/3/2"), 2, 0);
    CHECK_NEAR(eval_num(env, "2*3^2"), 18, 0);
    CHECK_NEAR(eval_num(env, "1 + 2 == 3"), 1, 0); /* comparisons bind loosest */
    CHECK_NEAR(eval_num(env, "1 + 2 > 2 * 2"), 0, 0);
    CHECK_NEAR(eval_num(env, "(1 < 2) + (3 <= 3) + (2 != 2)"), 2, 0);
    CHECK_NEAR(eval_num(env, " \t1\n+\n2 "), 3, 0);
    /* A number result is a 0-d tensor of the env's dtype. */
    tt_tensor *t = tg_eval(env, "1.5");
    CHECK(t && t->ndim == 0 && t->dtype == TT_F32);
    tt_release(t);
    tg_env_free(env);
}

TEST(numbers_meet_tensors_as_pytorch_scalars)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "x=[1, 2, 3]") == TT_OK);
    tt_tensor *x = tg_env_get(env, "x");
    CHECK(tg_set_requires_grad(x, true) == TT_OK);
    static const struct {
        const char *program, *node, *next0, *next1;
    } cases[] = {
        {"x * 2", "MulBackward0", "AccumulateGrad", "None"},
        {"2 * x", "MulBackward0", "AccumulateGrad", "None"},
        {"x + 1", "AddBackward0", "AccumulateGrad", "None"},
        {"2 - x", "RsubBackward1", "AccumulateGrad", NULL},
        {"x - 2", "SubBackward0", "AccumulateGrad", "None"},
        {"x / 2", "DivBackward0", "AccumulateGrad", "None"},
        {"2 / x", "MulBackward0", "ReciprocalBackward0", "None"},
        {"x ^ 2", "PowBackward0", "AccumulateGrad", NULL},
        {"x ** 2", "PowBackward0", "AccumulateGrad", NULL},
        {"x ^ x", "PowBackward1", "AccumulateGrad", "AccumulateGrad"},
        {"-x", "NegBackward0", "AccumulateGrad", NULL},
        {"x * x", "MulBackward0", "AccumulateGrad", "AccumulateGrad"},
        {"max(x, 2.5)", "MaximumBackward0", "AccumulateGrad", "None"},
        {"sum(x)", "SumBackward0", "AccumulateGrad", NULL},
        {"sum(x, 0)", "SumBackward1", "AccumulateGrad", NULL},
        {"transpose(x)", "TBackward0", "AccumulateGrad", NULL},
        {"where(x > 1, x, 0)", "WhereBackward0", "AccumulateGrad", "None"},
        {"clamp(x, min=0)", "ClampBackward1", "AccumulateGrad", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tt_tensor *r = tg_eval(env, cases[i].program);
        tg_node *n = r ? tg_grad_fn(r) : NULL;
        if (!n) {
            FAILF("%s: no grad_fn (%s)", cases[i].program, tt_last_error());
        } else {
            CHECK_STR(tg_node_name(n), cases[i].node);
            CHECK(tg_node_num_next(n) == (cases[i].next1 ? 2 : 1));
            CHECK_STR(node_next_name(n, 0), cases[i].next0);
            if (cases[i].next1) CHECK_STR(node_next_name(n, 1), cases[i].next1);
        }
        tt_release(r);
    }
    /* Number OP number folds; comparisons give plain bool tensors. */
    tt_tensor *r = tg_eval(env, "x > 1");
    CHECK(r && r->dtype == TT_BOOL && !tg_requires_grad(r));
    tt_release(r);
    r = tg_eval(env, "2 * 3 + x");
    CHECK(r && !strcmp(tg_node_name(tg_grad_fn(r)), "AddBackward0"));
    CHECK(r && tg_node_next(tg_grad_fn(r), 0, NULL) && !strcmp(node_next_name(tg_grad_fn(r), 1), "None"));
    tt_release(r);
    tg_env_free(env);
}

TEST(graph_of_w_x_plus_b)
{
    /* Seed 000: z = w*x + b with w, b requiring grad, x not. */
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "x=[1, 2]") == TT_OK);
    CHECK(tg_env_bind(env, "w=[0.5, -1]") == TT_OK);
    CHECK(tg_env_bind(env, "b=[3, 4]") == TT_OK);
    CHECK(tg_set_requires_grad(tg_env_get(env, "w"), true) == TT_OK);
    CHECK(tg_set_requires_grad(tg_env_get(env, "b"), true) == TT_OK);
    tt_tensor *z = tg_eval(env, "w*x + b");
    tg_node *add = z ? tg_grad_fn(z) : NULL;
    CHECK(add && !strcmp(tg_node_name(add), "AddBackward0"));
    if (add) {
        CHECK_STR(node_next_name(add, 0), "MulBackward0");
        CHECK_STR(node_next_name(add, 1), "AccumulateGrad");
        CHECK(tg_node_variable(tg_node_next(add, 1, NULL)) == tg_env_get(env, "b"));
        tg_node *mul = tg_node_next(add, 0, NULL);
        CHECK_STR(node_next_name(mul, 0), "AccumulateGrad");
        CHECK_STR(node_next_name(mul, 1), "None");
    }
    /* backward(ones, retain_graph) twice: w.grad = x, then 2x */
    tt_tensor *ones = tt_ones(1, (int64_t[]){2}, TT_F32, TT_CPU);
    CHECK(tg_backward(z, ones, true, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(tg_env_get(env, "w")), ((double[]){1, 2}), 2, 0);
    CHECK(tg_backward(z, ones, true, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(tg_env_get(env, "w")), ((double[]){2, 4}), 2, 0);
    CHECK_VALUES(tg_get_grad(tg_env_get(env, "b")), ((double[]){2, 2}), 2, 0);
    tt_release(ones);
    tt_release(z);
    tg_env_free(env);
}

TEST(seed_gradients)
{
    tg_env *env = tg_env_new();
    /* y = x^2 e^x on randn(3,4): backward(ones) = (2x + x^2) e^x */
    tg_env_set_seed(env, 3);
    CHECK(tg_env_bind(env, "x=randn(3, 4)") == TT_OK);
    tt_tensor *x = tg_env_get(env, "x");
    CHECK(tg_set_requires_grad(x, true) == TT_OK);
    tt_tensor *y = tg_eval(env, "x^2*exp(x)"), *ones = tt_ones(2, (int64_t[]){3, 4}, TT_F32, TT_CPU);
    CHECK(tg_backward(y, ones, false, false) == TT_OK);
    double xs[12], want[12];
    CHECK(tt_to_host(x, TT_F64, xs) == TT_OK);
    for (int i = 0; i < 12; i++) want[i] = (2 * xs[i] + xs[i] * xs[i]) * exp(xs[i]);
    CHECK_VALUES(tg_get_grad(x), want, 12, 1e-5);
    tt_release(y);
    tt_release(ones);

    /* x = arange(0, 3), z = sum(x^2 + 2x): x.grad = [2, 4, 6] */
    CHECK(tg_env_bind(env, "x=arange(0, 3)") == TT_OK);
    x = tg_env_get(env, "x");
    CHECK(tg_set_requires_grad(x, true) == TT_OK);
    tt_tensor *z = tg_eval(env, "sum(x^2 + 2*x)");
    CHECK(tg_backward(z, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), ((double[]){2, 4, 6}), 3, 0);
    tt_release(z);

    /* The product of the positive elements of arange(-2, 4): a graph the data decides. */
    CHECK(tg_env_bind(env, "x=arange(-2, 4)") == TT_OK);
    x = tg_env_get(env, "x");
    CHECK(tg_set_requires_grad(x, true) == TT_OK);
    tt_tensor *f = tg_eval(env, "prod(where(x > 0, x, 1))");
    double v;
    CHECK(f && tt_item(f, &v) == TT_OK && v == 6);
    CHECK(f && !strcmp(tg_node_name(tg_grad_fn(f)), "ProdBackward0"));
    CHECK(tg_backward(f, NULL, false, false) == TT_OK);
    CHECK_VALUES(tg_get_grad(x), ((double[]){0, 0, 0, 6, 3, 2}), 6, 0);
    tt_release(f);
    tg_env_free(env);
}

TEST(statements_bind_into_the_env)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "x=[1, 2, 3]") == TT_OK);
    CHECK_NEAR(eval_num(env, "y = x^2; sum(y)"), 14, 0);
    tt_tensor *y = tg_env_get(env, "y");
    CHECK_VALUES(y, ((double[]){1, 4, 9}), 3, 0);
    CHECK(tg_env_count(env) == 2);
    CHECK_STR(tg_env_name(env, 0), "x");
    CHECK_STR(tg_env_name(env, 1), "y");
    CHECK(tg_env_name(env, 2) == NULL);
    /* The last statement may be an assignment (its value is the result); a trailing ';' is fine. */
    tt_tensor *r = tg_eval(env, "y = y + 1; z = 2 * y;");
    CHECK_VALUES(r, ((double[]){4, 10, 20}), 3, 0);
    CHECK(r == tg_env_get(env, "z"));
    CHECK_VALUES(tg_env_get(env, "y"), ((double[]){2, 5, 10}), 3, 0);
    tt_release(r);
    /* a number bound by a statement is a 0-d tensor */
    CHECK_NEAR(eval_num(env, "a = 4; a"), 4, 0);
    CHECK(tg_env_get(env, "a") && tg_env_get(env, "a")->ndim == 0);
    /* rebinding replaces */
    CHECK(tg_env_bind(env, "a=5") == TT_OK);
    CHECK_NEAR(eval_num(env, "a"), 5, 0);
    CHECK(tg_env_count(env) == 4);
    tg_env_free(env);
}

TEST(array_literals)
{
    tg_env *env = tg_env_new();
    tt_tensor *t = tg_eval(env, "[[1, 2, 3], [4, 5, 6]]");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->dtype == TT_F32);
    CHECK_VALUES(t, ((double[]){1, 2, 3, 4, 5, 6}), 6, 0);
    tt_release(t);
    tg_env_set_dtype(env, TT_F64);
    t = tg_eval(env, "[0.1, -2e-3]");
    CHECK(t && t->dtype == TT_F64);
    CHECK_VALUES(t, ((double[]){0.1, -2e-3}), 2, 0);
    tt_release(t);
    /* a one-element tensor may be an element */
    CHECK(tg_env_bind(env, "a=7") == TT_OK);
    t = tg_eval(env, "[a, a + 1, sum([1, 2])]");
    CHECK_VALUES(t, ((double[]){7, 8, 3}), 3, 0);
    tt_release(t);
    CHECK_EVAL_ERR(env, "[[1, 2], [3]]",
                   "ragged array literal at column 1: the list at column 10 has 1 element, expected 2");
    CHECK_EVAL_ERR(env, "[[1, 2], [3, 4, 5]]",
                   "ragged array literal at column 1: the list at column 10 has 3 elements, expected 2");
    CHECK_EVAL_ERR(env, "[[1, 2], 3]",
                   "ragged array literal at column 1: expected a list at column 10, found a number");
    CHECK_EVAL_ERR(env, "[1, [2]]", "ragged array literal at column 1: expected a number at column 5, found a list");
    CHECK_EVAL_ERR(env, "[1, [1, 2] + 1]",
                   "array literal at column 1: the element at column 5 is a tensor of more than one element");
    CHECK_EVAL_ERR(env, "[[[[[[[[[1]]]]]]]]]", "array literal at column 1 has more than 8 dimensions");
    tg_env_free(env);
}

TEST(constructors_draw_from_the_env_generator)
{
    tg_env *env = tg_env_new();
    tg_env_set_seed(env, 7);
    tt_tensor *a = tg_eval(env, "randn(3, 4)"), *b = tg_eval(env, "rand(5)");
    tt_generator gen = {7, 0};
    tt_tensor *wa = tt_randn(2, (int64_t[]){3, 4}, TT_F32, TT_CPU, &gen);
    tt_tensor *wb = tt_rand(1, (int64_t[]){5}, TT_F32, TT_CPU, &gen);
    double want[12];
    CHECK(tt_to_host(wa, TT_F64, want) == TT_OK);
    CHECK_VALUES(a, want, 12, 0);
    CHECK(tt_to_host(wb, TT_F64, want) == TT_OK);
    CHECK_VALUES(b, want, 5, 0);
    /* Same seed, same numbers; the default generator is not touched. */
    tg_env *env2 = tg_env_new();
    tg_env_set_seed(env2, 7);
    tt_tensor *a2 = tg_eval(env2, "randn([3, 4])");
    CHECK(tt_to_host(wa, TT_F64, want) == TT_OK);
    CHECK_VALUES(a2, want, 12, 0);
    CHECK(tt_default_generator()->offset == 0);
    /* The env's dtype. */
    tg_env_set_dtype(env2, TT_F64);
    tt_tensor *c = tg_eval(env2, "ones(2) + zeros(2) + arange(2) + linspace(0, 1, 2) + randn(2)");
    CHECK(c && c->dtype == TT_F64);
    tt_release(c);
    tt_release(a2);
    tg_env_free(env2);
    tt_release(a);
    tt_release(b);
    tt_release(wa);
    tt_release(wb);
    tg_env_free(env);
}

TEST(functions_list)
{
    const char *const *f = tg_expr_functions();
    static const char *want[] = {"exp",       "log",      "sqrt",           "sin",        "cos",
                                 "tanh",      "sigmoid",  "relu",           "abs",        "sign",
                                 "erf",       "log1p",    "expm1",          "softplus",   "atan",
                                 "asin",      "acos",     "sinh",           "cosh",       "atan2",
                                 "pow",       "sum",      "mean",           "max",        "min",
                                 "prod",      "square",   "matmul",         "transpose",  "reshape",
                                 "expand",    "where",    "clamp",          "softmax",    "log_softmax",
                                 "ones",      "zeros",    "rand",           "randn",      "arange",
                                 "linspace",  "mse_loss", "smooth_l1_loss", "huber_loss", "l1_loss",
                                 "logsumexp", "cumsum"};
    int n = 0;
    while (f[n]) n++;
    CHECK(n == (int)(sizeof want / sizeof want[0]));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        bool found = false;
        for (int k = 0; k < n; k++) found |= !strcmp(f[k], want[i]);
        if (!found) FAILF("%s missing", want[i]);
    }
}

/* ---- errors -------------------------------------------------------------------- */
TEST(syntax_errors)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "x=[1, 2, 3]") == TT_OK);
    CHECK_EVAL_ERR(env, "x + ( * 2)",
                   "syntax error at column 7: expected an expression, found '*'\n  x + ( * 2)\n        ^");
    CHECK_EVAL_ERR(env, "x + 2 *",
                   "syntax error at column 8: expected an expression, found end of input\n"
                   "  x + 2 *\n         ^");
    CHECK_EVAL_ERR(env, "2*(x + 1",
                   "syntax error at column 9: expected ')' to close '(' at column 3, found end of "
                   "input\n  2*(x + 1\n          ^");
    CHECK_EVAL_ERR(env, "sum(x, 1",
                   "syntax error at column 9: expected ',' or ')' to close '(' at column 4, found "
                   "end of input\n  sum(x, 1\n          ^");
    CHECK_EVAL_ERR(env, "[1, 2",
                   "syntax error at column 6: expected ',' or ']' to close '[' at column 1, found end "
                   "of input\n  [1, 2\n       ^");
    CHECK_EVAL_ERR(env, "x y",
                   "syntax error at column 3: expected an operator, ';' or end of input, found 'y'\n"
                   "  x y\n    ^");
    CHECK_EVAL_ERR(env, "", "syntax error at column 1: expected an expression, found end of input\n  \n  ^");
    CHECK_EVAL_ERR(env, "x;;", "syntax error at column 3: expected an expression, found ';'\n  x;;\n    ^");
    CHECK_EVAL_ERR(env, "x $ 2", "syntax error at column 3: unexpected character '$'\n  x $ 2\n    ^");
    CHECK_EVAL_ERR(env, "1e+",
                   "syntax error at column 4: malformed number '1e+': expected digits after the "
                   "exponent\n  1e+\n     ^");
    CHECK_EVAL_ERR(env, "x < 1 < 2",
                   "syntax error at column 7: comparisons do not chain: add parentheses\n"
                   "  x < 1 < 2\n        ^");
    /* a program on several lines is shown on one; columns count bytes from its start */
    CHECK_EVAL_ERR(env, "y = x;\nz = )",
                   "syntax error at column 12: expected an expression, found ')'\n"
                   "  y = x; z = )\n             ^");
    CHECK(tt_last_status() == TT_ESYNTAX);
    /* Nothing is evaluated or bound before a syntax error is found. */
    CHECK(tg_eval(env, "q = 1; q +") == NULL);
    CHECK(tg_env_get(env, "q") == NULL);
    tg_env_free(env);
}

TEST(nesting_depth_is_limited)
{
    tg_env *env = tg_env_new();
    char deep[1200], ok[500];
    int n = 0;
    for (int i = 0; i < 150; i++) ok[n++] = '(';
    ok[n++] = '1';
    for (int i = 0; i < 150; i++) ok[n++] = ')';
    ok[n] = 0;
    CHECK_NEAR(eval_num(env, ok), 1, 0);
    n = 0;
    for (int i = 0; i < 500; i++) deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 500; i++) deep[n++] = ')';
    deep[n] = 0;
    CHECK(tg_eval(env, deep) == NULL);
    CHECK_PREFIX(tt_last_error(), "syntax error at column 201: expression nested more than 200 levels deep\n  ...(((");
    for (n = 0; n < 1000; n++) deep[n] = '-';
    strcpy(deep + n, "1");
    CHECK(tg_eval(env, deep) == NULL);
    CHECK(strstr(tt_last_error(), "nested more than 200 levels deep") != NULL);
    n = 0;
    for (int i = 0; i < 300; i++) deep[n++] = '2', deep[n++] = '^';
    strcpy(deep + n, "1");
    CHECK(tg_eval(env, deep) == NULL);
    CHECK(strstr(tt_last_error(), "nested more than 200 levels deep") != NULL);
    /* long flat chains are not nesting */
    char *flat = malloc(20001);
    for (n = 0; n < 10000; n++) flat[2 * n] = '1', flat[2 * n + 1] = '+';
    flat[19999] = 0;
    CHECK_NEAR(eval_num(env, flat), 10000, 0);
    free(flat);
    tg_env_free(env);
}

TEST(constants)
{
    tg_env *env = tg_env_new();
    CHECK_NEAR(eval_num(env, "pi"), 3.14159265358979323846, 1e-7);
    CHECK_NEAR(eval_num(env, "e"), 2.71828182845904523536, 1e-7);
    CHECK_NEAR(eval_num(env, "2*pi"), 6.28318530717958647692, 1e-6);
    CHECK(isinf(eval_num(env, "inf")) && eval_num(env, "-inf") < 0);
    CHECK(isnan(eval_num(env, "nan")));
    /* in an array literal: x=[1,nan,3] */
    CHECK(tg_env_bind(env, "x=[1,nan,inf]") == TT_OK);
    double v[3] = {0};
    CHECK(tt_to_host(tg_env_get(env, "x"), TT_F64, v) == TT_OK);
    CHECK(v[0] == 1 && isnan(v[1]) && isinf(v[2]) && v[2] > 0);
    /* a bound name wins over a constant */
    CHECK(tg_env_bind(env, "e=5") == TT_OK);
    CHECK_NEAR(eval_num(env, "e + 1"), 6, 0);
    CHECK_EVAL_ERR(env, "pie", "unknown name 'pie' at column 1 (did you mean pi?)");
    tg_env_free(env);
}

TEST(strings_and_reductions)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "x=[1, 2, 4]") == TT_OK);
    CHECK(tg_env_bind(env, "t=[0, 2, 2]") == TT_OK);
    CHECK_NEAR(eval_num(env, "mse_loss(x, t)"), 5.0 / 3, 1e-6);
    CHECK_NEAR(eval_num(env, "mse_loss(x, t, reduction='sum')"), 5, 0);
    CHECK_NEAR(eval_num(env, "sum(l1_loss(x, t, \"none\"))"), 3, 0);
    CHECK_NEAR(eval_num(env, "huber_loss(x, t, 'sum', delta=0.5)"), 0.375 + 0.875, 1e-6);
    CHECK_EVAL_ERR(env, "mse_loss(x, t, reduction=sum)",
                   "mse_loss(): reduction must be 'mean', 'sum' or 'none' (at column 26)");
    CHECK_EVAL_ERR(env, "mse_loss(x, t, 'avg')", "in mse_loss at column 16: avg is not a valid value for reduction");
    CHECK_EVAL_ERR(env, "x + 'a'", "a string is a function's argument, as in reduction='sum' (at column 5)");
    CHECK(!tg_eval(env, "mse_loss(x, t, 'sum)") && tt_last_status() == TT_ESYNTAX);
    CHECK_PREFIX(tt_last_error(), "syntax error at column 16: unterminated string: no closing '");
    tg_env_free(env);
}

TEST(unknown_names)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "x=[1, 2, 3]") == TT_OK);
    CHECK(tg_env_bind(env, "w=2") == TT_OK);
    CHECK_EVAL_ERR(env, "sine(x)", "unknown function 'sine' at column 1 (did you mean sin, sign, asin, sinh?)");
    CHECK_EVAL_ERR(env, "x + y", "unknown name 'y' at column 5 (known: x, w)");
    CHECK_EVAL_ERR(env, "mena(x)", "unknown function 'mena' at column 1 (did you mean mean?)");
    CHECK_EVAL_ERR(env, "2 * xx", "unknown name 'xx' at column 5 (did you mean x?)");
    CHECK_EVAL_ERR(env, "exp + 1", "unknown name 'exp' at column 1 (exp is a function: call it as exp(...))");
    tt_tensor *r = tg_eval(env, "foo(x)");
    CHECK(!r);
    CHECK_PREFIX(tt_last_error(), "unknown function 'foo' at column 1 (functions: exp, log, ");
    tg_env *empty = tg_env_new();
    CHECK_EVAL_ERR(empty, "y", "unknown name 'y' at column 1 (no names are bound)");
    tg_env_free(empty);
    tg_env_free(env);
}

TEST(argument_errors)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "x=[[1, 2, 3], [4, 5, 6]]") == TT_OK);
    CHECK_EVAL_ERR(env, "sum(x, 1, true, 4)", "sum() takes 1 to 3 arguments, got 4 (at column 1)");
    CHECK_EVAL_ERR(env, "exp(x, 2)", "exp() takes 1 argument, got 2 (at column 1)");
    CHECK_EVAL_ERR(env, "1 + where(x)", "where() takes 3 arguments, got 1 (at column 5)");
    CHECK_EVAL_ERR(env, "ones()", "ones() takes 1 to 8 arguments, got 0 (at column 1)");
    CHECK_EVAL_ERR(env, "transpose(x, 1)", "transpose() takes 1 or 3 arguments, got 2 (at column 1)");
    CHECK_EVAL_ERR(env, "sum(x, 1.5)", "sum(): dim must be an integer, got 1.5 (at column 8)");
    CHECK_EVAL_ERR(env, "sum(x, x)", "sum(): dim must be an integer, got a tensor (at column 8)");
    CHECK_EVAL_ERR(env, "sum(x, 1, 2)", "sum(): keepdim must be true or false, got 2 (at column 11)");
    CHECK_EVAL_ERR(env, "sum(x, dims=1)", "sum() got an unexpected keyword argument 'dims' (at column 8)");
    CHECK_EVAL_ERR(env, "sum(x, 1, dim=0)", "sum() got multiple values for argument 'dim' (at column 15)");
    CHECK_EVAL_ERR(env, "sum(x, dim=0, 1)", "sum(): positional argument after a keyword argument (at column 15)");
    CHECK_EVAL_ERR(env, "sum(dim=0)", "sum() is missing its first argument 'x' (at column 1)");
    CHECK_EVAL_ERR(env, "clamp(x, min=x)", "clamp(): min must be a number, got a tensor (at column 14)");
    CHECK_EVAL_ERR(env, "clamp(x)", "clamp(): give min, max or both (at column 1)");
    CHECK_EVAL_ERR(env, "reshape(x, 2.5)", "reshape(): sizes must be an integer, got 2.5 (at column 12)");
    CHECK_EVAL_ERR(env, "ones(1,1,1,1,1,1,1,1,1)", "ones() takes 1 to 8 arguments, got 9 (at column 1)");
    CHECK_EVAL_ERR(env, "ones([1,1,1,1,1,1,1,1,1])", "ones(): at most 8 sizes, got 9 (at column 1)");
    CHECK_EVAL_ERR(env, "arange(0, step=2)", "arange(): end is missing (at column 1)");
    CHECK_EVAL_ERR(env, "linspace(0, 1, 2.5)", "linspace(): steps must be an integer, got 2.5 (at column 16)");
    tg_env_free(env);
}

TEST(failing_ops_name_the_call)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "a=ones(2, 3)") == TT_OK);
    CHECK(tg_env_bind(env, "xyz=[1, 2, 3]") == TT_OK);
    CHECK(tg_env_bind(env, "w=[1, 2]") == TT_OK);
    CHECK_EVAL_ERR(env, "2*matmul(a, a)",
                   "in matmul at column 3: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)");
    CHECK_EVAL_ERR(env, "xyz * w",
                   "in '*' at column 5: The size of tensor a (3) must match the size of tensor b "
                   "(2) at non-singleton dimension 0");
    CHECK_EVAL_ERR(env, "a @ a", "in '@' at column 3: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)");
    CHECK_EVAL_ERR(env, "a @ 2", "in '@' at column 3: matmul needs two tensors, got a number");
    tt_tensor *r = tg_eval(env, "sum(a, 5)");
    CHECK(!r);
    CHECK_PREFIX(tt_last_error(), "in sum at column 1: ");
    r = tg_eval(env, "reshape(a, 4, 2)");
    CHECK(!r);
    CHECK_PREFIX(tt_last_error(), "in reshape at column 1: ");
    r = tg_eval(env, "transpose(reshape(a, 1, 2, 3))");
    CHECK(!r && !strcmp(tt_last_error(),
                        "in transpose at column 1: a 3-D tensor needs the two dims to swap: "
                        "transpose(x, d0, d1)"));
    tg_env_free(env);
}

/* ---- bindings ------------------------------------------------------------------- */
static char tmpdir[64];

static char *tmp_path(const char *name)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

TEST(bindings)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_bind(env, "n=5") == TT_OK);
    tt_tensor *n = tg_env_get(env, "n");
    CHECK(n && n->ndim == 0 && n->dtype == TT_F32);
    CHECK(tg_env_bind(env, "l=[1,2,3]") == TT_OK);
    CHECK(tg_env_bind(env, "m=l * n + 1") == TT_OK); /* uses earlier bindings */
    CHECK_VALUES(tg_env_get(env, "m"), ((double[]){6, 11, 16}), 3, 0);
    CHECK(tg_env_bind(env, "_x2=-0.5") == TT_OK);
    CHECK(tg_env_bind(env, "x y=3") != TT_OK);
    CHECK_STR(tt_last_error(),
              "invalid binding 'x y=3': 'x y' is not a name (letters, digits and '_', not "
              "starting with a digit)");
    CHECK(tg_env_bind(env, "2x=3") != TT_OK);
    CHECK(tg_env_bind(env, "x") != TT_OK);
    CHECK_STR(tt_last_error(), "invalid binding 'x': expected NAME=VALUE");
    CHECK(tg_env_bind(env, "x=") != TT_OK);
    CHECK_STR(tt_last_error(), "invalid binding 'x=': the value is empty");
    CHECK(tg_env_bind(env, "true=1") != TT_OK);
    CHECK(tg_env_bind(env, "x=[1,2") != TT_OK);
    CHECK_STR(tt_last_error(),
              "x=[1,2: syntax error at column 5: expected ',' or ']' to close '[' at column 1, "
              "found end of input\n  [1,2\n      ^");
    CHECK(tg_env_bind(env, "x=q+1") != TT_OK);
    CHECK_STR(tt_last_error(), "x=q+1: unknown name 'q' at column 1 (known: n, l, m, _x2)");
    CHECK(tg_env_get(env, "x") == NULL);

    /* Files: one dataset, FILE:DATASET, floating data cast to the env's dtype, integers kept. */
    tt_tensor_set *one = tt_set_new(), *two = tt_set_new();
    tt_tensor *d = tt_from_data(1, (int64_t[]){3}, TT_F64, (double[]){0.5, 1.5, 2.5}, TT_CPU);
    tt_tensor *i = tt_from_data(2, (int64_t[]){1, 2}, TT_I64, (int64_t[]){7, 8}, TT_CPU);
    CHECK(tt_set_put(one, "x", d) == TT_OK);
    CHECK(tt_set_put(two, "w", d) == TT_OK);
    CHECK(tt_set_put(two, "k", i) == TT_OK);
    char one_path[128], two_path[128], spec[160];
    snprintf(one_path, sizeof one_path, "%s", tmp_path("one.h5"));
    snprintf(two_path, sizeof two_path, "%s", tmp_path("two.h5"));
    CHECK(tt_write_path(one, TT_FMT_H5, one_path) == TT_OK);
    CHECK(tt_write_path(two, TT_FMT_H5, two_path) == TT_OK);
    snprintf(spec, sizeof spec, "f=%s", one_path);
    CHECK(tg_env_bind(env, spec) == TT_OK);
    tt_tensor *f = tg_env_get(env, "f");
    CHECK(f && f->dtype == TT_F32);
    CHECK_VALUES(f, ((double[]){0.5, 1.5, 2.5}), 3, 0);
    snprintf(spec, sizeof spec, "g=%s:w", two_path);
    CHECK(tg_env_bind(env, spec) == TT_OK);
    CHECK_VALUES(tg_env_get(env, "g"), ((double[]){0.5, 1.5, 2.5}), 3, 0);
    snprintf(spec, sizeof spec, "k=%s:/k", two_path);
    CHECK(tg_env_bind(env, spec) == TT_OK);
    CHECK(tg_env_get(env, "k") && tg_env_get(env, "k")->dtype == TT_I64);
    CHECK_VALUES(tg_env_get(env, "k"), ((double[]){7, 8}), 2, 0);
    CHECK_NEAR(eval_num(env, "sum(f * g)"), 0.25 + 2.25 + 6.25, 1e-6);
    /* errors from the file name the binding and the file */
    snprintf(spec, sizeof spec, "h=%s:nope", two_path);
    CHECK(tg_env_bind(env, spec) != TT_OK);
    char want[512];
    snprintf(want, sizeof want, "h=%s:nope: %s: no dataset 'nope' (datasets: w, k)", two_path, two_path);
    CHECK_STR(tt_last_error(), want);
    snprintf(spec, sizeof spec, "h=%s", two_path);
    CHECK(tg_env_bind(env, spec) != TT_OK);
    CHECK_PREFIX(tt_last_error(), spec);
    /* a missing file is an expression, and the error says there is no such file */
    CHECK(tg_env_bind(env, "h=missing.h5") != TT_OK);
    CHECK_STR(tt_last_error(),
              "h=missing.h5: no file 'missing.h5', and as an expression: syntax error at column 8: "
              "unexpected character '.'\n  missing.h5\n         ^");
    CHECK(tg_env_bind(env, "h=missing.h5:x") != TT_OK);
    CHECK_PREFIX(tt_last_error(), "h=missing.h5:x: no file 'missing.h5', and as an expression: ");
    CHECK(tg_env_bind(env, "h=/no/such/dir/d.h5") != TT_OK);
    CHECK_PREFIX(tt_last_error(), "h=/no/such/dir/d.h5: no file '/no/such/dir/d.h5', and as an expression: ");
    tt_release(d);
    tt_release(i);
    tt_set_free(one);
    tt_set_free(two);
    unlink(one_path);
    unlink(two_path);
    tg_env_free(env);
}

TEST(env_basics)
{
    tg_env *env = tg_env_new();
    CHECK(tg_env_dtype(env) == TT_F32);
    tg_env_set_dtype(env, TT_F64);
    CHECK(tg_env_dtype(env) == TT_F64);
    tt_tensor *t = tt_scalar(1, TT_F64, TT_CPU);
    CHECK(tg_env_set(env, "t", t) == TT_OK);
    CHECK(t->refcount == 2);
    CHECK(tg_env_set(env, "t", t) == TT_OK); /* the same tensor again */
    CHECK(t->refcount == 2);
    CHECK(tg_env_get(env, "t") == t && tg_env_get(env, "u") == NULL);
    tg_env_free(env);
    CHECK(t->refcount == 1);
    tt_release(t);
    tg_env_free(NULL);
}

/* Checking a program without evaluating it: syntax and unknown functions,
 * each with the caret line; names are not looked up. */
TEST(check_without_evaluating)
{
    CHECK(tg_expr_check("a*exp(k*x) + unbound") == TT_OK);
    CHECK(tg_expr_check("a*x +") == TT_ESYNTAX);
    CHECK_STR(tt_last_error(),
              "syntax error at column 6: expected an expression, found end of input\n  a*x +\n       ^");
    CHECK(tg_expr_check("a*foo(x) + bar(x)") == TT_ESYNTAX);
    CHECK(strstr(tt_last_error(), "unknown function 'foo' at column 3 (functions: exp, log,"));
    CHECK(strstr(tt_last_error(), ")\n  a*foo(x) + bar(x)\n    ^"));
    CHECK(tg_expr_check("y = sine(x); y") == TT_ESYNTAX);
    CHECK(strstr(tt_last_error(), "unknown function 'sine' at column 5 (did you mean sin, sign, asin, sinh?)\n"));
}

int main(void)
{
    for (int dt = 0; dt < 2; dt++)
        for (int i = 0; i < NCASES; i++) {
            check_failed_here = 0;
            run_case(&ec_cases[i], dt ? TT_F32 : TT_F64);
            check_count++;
            if (check_failed_here) check_failed_total++;
            printf("%s %d - %s [%s]\n", check_failed_here ? "not ok" : "ok", check_count, ec_cases[i].program,
                   dt ? "f32" : "f64");
            fflush(stdout);
        }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_expr.XXXXXX");
    if (!mkdtemp(tmpdir)) return perror("mkdtemp"), 1;
    RUN(precedence_and_associativity);
    RUN(numbers_meet_tensors_as_pytorch_scalars);
    RUN(graph_of_w_x_plus_b);
    RUN(seed_gradients);
    RUN(statements_bind_into_the_env);
    RUN(array_literals);
    RUN(constructors_draw_from_the_env_generator);
    RUN(functions_list);
    RUN(syntax_errors);
    RUN(nesting_depth_is_limited);
    RUN(constants);
    RUN(strings_and_reductions);
    RUN(unknown_names);
    RUN(argument_errors);
    RUN(failing_ops_name_the_call);
    RUN(bindings);
    RUN(env_basics);
    RUN(check_without_evaluating);
    rmdir(tmpdir);
    return DONE();
}
