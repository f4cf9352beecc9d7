/* Graph export to DOT (tg/dot.h) in torchviz's conventions.
 *
 * The expected texts are what torchviz's make_dot (pytorchviz torchviz/dot.py)
 * writes for the same PyTorch 1.13 graph, as the graphviz package prints it,
 * with each id() replaced by its rank of first mention (0, 1, ...). How to
 * read them, for z = w * x + b:
 *   - make_dot(z) starts at add_base_tensor(z): the output node, labelled
 *     get_var_name(z) = NAME + "\n " + size_to_str(z.size()), where NAME is
 *     z's params name or '' (so the label is "\n (2, 3)"), darkolivegreen1;
 *   - then add_nodes(z.grad_fn): node(fn, type(fn).__name__); for each of
 *     next_functions (u, _) that is not None: edge(u -> fn), then add_nodes(u)
 *     depth first; an AccumulateGrad first draws its .variable (lightblue,
 *     "w\n (2, 3)") and the edge variable -> AccumulateGrad;
 *   - finally edge(z.grad_fn -> z);
 *   - with show_saved, add_nodes first draws each _saved_* tensor attribute
 *     of fn in dir() order (sorted): edge(fn -> t, dir=none), then
 *     node(t, "ATTR\n (shape)", orange);
 *   - graph [size] is resize_graph's max(12, 0.15 * statements) ("12");
 *     node [...] is make_dot's node_attr, keys sorted as graphviz writes
 *     them; a label is bare when it is a DOT ID (AddBackward0) and quoted
 *     otherwise (the "\n" in a label is a real newline, as torchviz's is).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tg/dot.h"
#include "tg/function.h"
#include "tg/grad.h"

/* ---- helpers ------------------------------------------------------------- */
static tt_tensor *mk(int ndim, const int64_t *shape, double start)
{
    int64_t n = tt_shape_numel(ndim, shape);
    tt_tensor *a = tt_arange(start, start + (double)n, 1, TT_F32, TT_CPU);
    tt_tensor *t = a ? tt_view(a, ndim, shape) : NULL;
    tt_release(a);
    return t;
}

/* A leaf that requires grad, named (NULL: no name). */
static tt_tensor *leaf(int ndim, const int64_t *shape, const char *name)
{
    tt_tensor *t = mk(ndim, shape, 1);
    if (t && tg_set_requires_grad(t, true) != TT_OK) {
        tt_release(t);
        return NULL;
    }
    if (t && name && tg_set_name(t, name) != TT_OK) {
        tt_release(t);
        return NULL;
    }
    return t;
}

/* Occurrences of needle in s (a scan, not strstr: ASan checks the whole
 * haystack on each strstr call, which is quadratic on a long text). */
static int count(const char *s, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = s; p && *p; p++)
        if (*p == *needle && !strncmp(p, needle, len)) n++;
    return n;
}

#define HEAD                                \
    "digraph {\n\tgraph [size=\"12,12\"]\n" \
    "\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]\n"

static int have_dot;

/* Renders text with `dot -Tsvg`: true when dot exits 0 and prints nothing
 * on stderr (no warning), or when dot is not installed. */
static int renders(const char *text)
{
    if (!have_dot) return 1;
    char path[] = "/tmp/tg-test-dot-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || !text) return 0;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    char cmd[128], err[4096] = "";
    snprintf(cmd, sizeof cmd, "dot -Tsvg %s 2>&1 >/dev/null", path);
    FILE *p = ok ? popen(cmd, "r") : NULL;
    size_t got = p ? fread(err, 1, sizeof err - 1, p) : 0;
    err[got] = '\0';
    int status = p ? pclose(p) : -1;
    unlink(path);
    if (got) printf("#   dot said: %s\n", err);
    return ok && status == 0 && got == 0;
}

/* z = w * x + b: w (2, 3) and b (3) require grad, x (2, 3) does not. */
typedef struct {
    tt_tensor *w, *x, *b, *wx, *z;
} seed;

static seed seed_make(void)
{
    seed s = {0};
    s.w = leaf(2, (int64_t[]){2, 3}, "w");
    s.x = mk(2, (int64_t[]){2, 3}, 10);
    s.b = leaf(1, (int64_t[]){3}, "b");
    s.wx = tg_mul(s.w, s.x);
    s.z = tg_add(s.wx, s.b);
    return s;
}

static void seed_free(seed *s)
{
    tt_release(s->z);
    tt_release(s->wx);
    tt_release(s->b);
    tt_release(s->x);
    tt_release(s->w);
}

static const char seed_dot[] = HEAD
    "\t0 [label=\"\n (2, 3)\" fillcolor=darkolivegreen1]\n" /* z: no name, its shape */
    "\t1 [label=AddBackward0]\n"                            /* z.grad_fn */
    "\t2 -> 1\n"                                            /* next_functions[0]: MulBackward0 */
    "\t2 [label=MulBackward0]\n"
    "\t3 -> 2\n"                                       /* its next_functions[0]: w's AccumulateGrad */
    "\t4 [label=\"w\n (2, 3)\" fillcolor=lightblue]\n" /* ... drawn as its variable w */
    "\t4 -> 3\n"
    "\t3 [label=AccumulateGrad]\n" /* (x needs no grad: next_functions[1] is None) */
    "\t5 -> 1\n"                   /* AddBackward0's next_functions[1]: b's */
    "\t6 [label=\"b\n (3)\" fillcolor=lightblue]\n"
    "\t6 -> 5\n"
    "\t5 [label=AccumulateGrad]\n"
    "\t1 -> 0\n" /* z.grad_fn -> z */
    "}\n";

/* ---- tests ----------------------------------------------------------------- */
TEST(seed_example_exact)
{
    seed s = seed_make();
    char *text = tg_dot_string(1, &s.z, NULL);
    CHECK_STR(text, seed_dot);
    /* the same names through params (torchviz's params dict) instead of tg_name */
    tt_tensor *w2 = leaf(2, (int64_t[]){2, 3}, NULL), *b2 = leaf(1, (int64_t[]){3}, "ignored");
    tt_tensor *wx2 = tg_mul(w2, s.x), *z2 = tg_add(wx2, b2);
    char *named = tg_dot_string(1, &z2,
                                &(tg_dot_options){.nparams = 3,
                                                  .params = (tt_tensor *[]){w2, b2, b2},
                                                  .param_names = (const char *[]){"w", "bb", "b"}});
    CHECK_STR(named, seed_dot); /* params beat tg_name; the last name of a tensor wins, as in a dict */
    free(named);
    free(text);
    tt_release(z2);
    tt_release(wx2);
    tt_release(b2);
    tt_release(w2);
    seed_free(&s);
}

TEST(write_to_file)
{
    seed s = seed_make();
    FILE *f = tmpfile();
    CHECK(f && tg_dot_write(f, 1, &s.z, NULL) == TT_OK);
    char buf[2048] = "";
    if (f) {
        rewind(f);
        buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
        fclose(f);
    }
    CHECK_STR(buf, seed_dot);
    seed_free(&s);
}

TEST(stable_across_graphs)
{
    /* the same graph twice, and a second, separately built copy (other
     * addresses): byte-identical text */
    seed a = seed_make(), b = seed_make();
    char *t1 = tg_dot_string(1, &a.z, &(tg_dot_options){.show_saved = true});
    char *t2 = tg_dot_string(1, &a.z, &(tg_dot_options){.show_saved = true});
    char *t3 = tg_dot_string(1, &b.z, &(tg_dot_options){.show_saved = true});
    CHECK(t1 && t2 && t3);
    CHECK_STR(t2, t1);
    CHECK_STR(t3, t1);
    free(t1);
    free(t2);
    free(t3);
    seed_free(&a);
    seed_free(&b);
}

TEST(show_saved)
{
    /* MulBackward0 for w * x keeps only other (= x; self would only be
     * needed for x's gradient): dir(fn) has _saved_other (a tensor) and
     * _saved_self (None, not drawn). */
    seed s = seed_make();
    char *text = tg_dot_string(1, &s.z, &(tg_dot_options){.show_saved = true});
    CHECK_STR(text, HEAD
              "\t0 [label=\"\n (2, 3)\" fillcolor=darkolivegreen1]\n"
              "\t1 [label=AddBackward0]\n"
              "\t2 -> 1\n"
              "\t2 -> 3 [dir=none]\n" /* MulBackward0 - its saved other */
              "\t3 [label=\"other\n (2, 3)\" fillcolor=orange]\n"
              "\t2 [label=MulBackward0]\n"
              "\t4 -> 2\n"
              "\t5 [label=\"w\n (2, 3)\" fillcolor=lightblue]\n"
              "\t5 -> 4\n"
              "\t4 [label=AccumulateGrad]\n"
              "\t6 -> 1\n"
              "\t7 [label=\"b\n (3)\" fillcolor=lightblue]\n"
              "\t7 -> 6\n"
              "\t6 [label=AccumulateGrad]\n"
              "\t1 -> 0\n"
              "}\n");
    free(text);
    seed_free(&s);
}

TEST(diamond)
{
    /* y = x * x + x.exp(): x's AccumulateGrad is drawn once, with one edge
     * per use (two into MulBackward0, one into ExpBackward0). */
    tt_tensor *x = leaf(1, (int64_t[]){2}, "x");
    tt_tensor *xx = tg_mul(x, x), *ex = tg_exp(x), *y = tg_add(xx, ex);
    char *text = tg_dot_string(1, &y, NULL);
    CHECK_STR(text, HEAD
              "\t0 [label=\"\n (2)\" fillcolor=darkolivegreen1]\n"
              "\t1 [label=AddBackward0]\n"
              "\t2 -> 1\n"
              "\t2 [label=MulBackward0]\n"
              "\t3 -> 2\n"
              "\t4 [label=\"x\n (2)\" fillcolor=lightblue]\n"
              "\t4 -> 3\n"
              "\t3 [label=AccumulateGrad]\n"
              "\t3 -> 2\n" /* the second use: an edge, not a second node */
              "\t5 -> 1\n"
              "\t5 [label=ExpBackward0]\n"
              "\t3 -> 5\n"
              "\t1 -> 0\n"
              "}\n");
    CHECK(count(text, "[label=AccumulateGrad]") == 1);
    free(text);
    /* show_saved: MulBackward0 saved x as other and as self: the same tensor
     * as the leaf, so one id whose last statement (lightblue "x") is what
     * Graphviz draws; ExpBackward0's result is a tensor of its own. */
    text = tg_dot_string(1, &y, &(tg_dot_options){.show_saved = true});
    CHECK_STR(text, HEAD
              "\t0 [label=\"\n (2)\" fillcolor=darkolivegreen1]\n"
              "\t1 [label=AddBackward0]\n"
              "\t2 -> 1\n"
              "\t2 -> 3 [dir=none]\n"
              "\t3 [label=\"other\n (2)\" fillcolor=orange]\n"
              "\t2 -> 3 [dir=none]\n"
              "\t3 [label=\"self\n (2)\" fillcolor=orange]\n"
              "\t2 [label=MulBackward0]\n"
              "\t4 -> 2\n"
              "\t3 [label=\"x\n (2)\" fillcolor=lightblue]\n"
              "\t3 -> 4\n"
              "\t4 [label=AccumulateGrad]\n"
              "\t4 -> 2\n"
              "\t5 -> 1\n"
              "\t5 -> 6 [dir=none]\n"
              "\t6 [label=\"result\n (2)\" fillcolor=orange]\n"
              "\t5 [label=ExpBackward0]\n"
              "\t4 -> 5\n"
              "\t1 -> 0\n"
              "}\n");
    CHECK(renders(text));
    free(text);
    tt_release(y);
    tt_release(ex);
    tt_release(xx);
    tt_release(x);
}

TEST(zero_dim_output)
{
    /* (w * w).sum(): a 0-d output is labelled "\n ()" */
    tt_tensor *w = leaf(1, (int64_t[]){3}, "w");
    tt_tensor *ww = tg_mul(w, w), *s = tg_sum(ww);
    char *text = tg_dot_string(1, &s, NULL);
    CHECK_STR(text, HEAD
              "\t0 [label=\"\n ()\" fillcolor=darkolivegreen1]\n"
              "\t1 [label=SumBackward0]\n"
              "\t2 -> 1\n"
              "\t2 [label=MulBackward0]\n"
              "\t3 -> 2\n"
              "\t4 [label=\"w\n (3)\" fillcolor=lightblue]\n"
              "\t4 -> 3\n"
              "\t3 [label=AccumulateGrad]\n"
              "\t3 -> 2\n"
              "\t1 -> 0\n"
              "}\n");
    free(text);
    tt_release(s);
    tt_release(ww);
    tt_release(w);
}

TEST(create_graph_gradient)
{
    /* x = tensor(5., requires_grad=True); g, = grad(x ** 2, x, create_graph=True)
     * g = grad * (2 * x.pow(1)): MulBackward0(None, MulBackward1(PowBackward0(x)))
     * in PyTorch, whose pow_backward multiplies by a C++ Scalar (mul.Scalar:
     * MulBackward1). libgrad's formula multiplies by a wrapped number, as
     * Python's `2 * t` does, so the middle node's name is read from the graph. */
    tt_tensor *x = tt_scalar(5, TT_F32, TT_CPU);
    CHECK(tg_set_requires_grad(x, true) == TT_OK && tg_set_name(x, "x") == TT_OK);
    tt_tensor *y = tg_pow_scalar(x, 2), *g = NULL;
    CHECK(tg_autograd_grad(1, &y, NULL, 1, &x, true, true, false, &g) == TT_OK);
    tg_node *mul = g ? tg_grad_fn(g) : NULL,
            *mid = mul && tg_node_num_next(mul) == 2 ? tg_node_next(mul, 1, NULL) : NULL;
    CHECK(mid && (!strcmp(tg_node_name(mid), "MulBackward1") || !strcmp(tg_node_name(mid), "MulBackward0")));
    char want[2048];
    snprintf(want, sizeof want,
             HEAD
             "\t0 [label=\"\n ()\" fillcolor=darkolivegreen1]\n"
             "\t1 [label=MulBackward0]\n"
             "\t2 -> 1\n" /* next_functions[0] (the grad seed) is None */
             "\t2 [label=%s]\n"
             "\t3 -> 2\n"
             "\t3 [label=PowBackward0]\n"
             "\t4 -> 3\n"
             "\t5 [label=\"x\n ()\" fillcolor=lightblue]\n"
             "\t5 -> 4\n"
             "\t4 [label=AccumulateGrad]\n"
             "\t1 -> 0\n"
             "}\n",
             mid ? tg_node_name(mid) : "?");
    char *text = tg_dot_string(1, &g, NULL);
    CHECK_STR(text, want);
    CHECK(renders(text));
    free(text);
    /* with show_saved: MulBackward0 saved self (the incoming grad, a tensor of
     * its own) and PowBackward0 saved self = x, which is then drawn as x */
    text = tg_dot_string(1, &g, &(tg_dot_options){.show_saved = true});
    const char *start = HEAD
        "\t0 [label=\"\n ()\" fillcolor=darkolivegreen1]\n"
        "\t1 -> 2 [dir=none]\n"
        "\t2 [label=\"self\n ()\" fillcolor=orange]\n"
        "\t1 [label=MulBackward0]\n";
    CHECK(text && !strncmp(text, start, strlen(start)));
    const char *pow = text ? strstr(text, " [label=PowBackward0]\n") : NULL;
    const char *self = pow ? strstr(text, " [label=\"self\n ()\" fillcolor=orange]\n\t") : NULL;
    if (self && self < pow)
        self = strstr(self + 1, " [label=\"self\n ()\" fillcolor=orange]\n\t"); /* not MulBackward0's */
    int k = -1;
    if (self && self < pow) { /* "\tK [label=...": K is x, redrawn lightblue after PowBackward0 */
        const char *line = self;
        while (line > text && line[-1] != '\t') line--;
        k = atoi(line);
    }
    char xline[64];
    snprintf(xline, sizeof xline, "\t%d [label=\"x\n ()\" fillcolor=lightblue]\n", k);
    CHECK(k > 0 && strstr(pow, xline));
    CHECK(renders(text));
    free(text);
    tt_release(g);
    tt_release(y);
    tt_release(x);
}

TEST(several_outputs)
{
    /* make_dot((z, w, z)): a tensor already seen is skipped, the leaf w
     * included (it was drawn as AccumulateGrad's variable) */
    seed s = seed_make();
    char *text = tg_dot_string(3, (tt_tensor *[]){s.z, s.w, s.z}, NULL);
    CHECK_STR(text, seed_dot);
    free(text);
    /* output names label the outputs; a leaf output is one green node */
    text =
        tg_dot_string(2, (tt_tensor *[]){s.wx, s.z}, &(tg_dot_options){.output_names = (const char *[]){"wx", NULL}});
    CHECK(text && strstr(text, "\t0 [label=\"wx\n (2, 3)\" fillcolor=darkolivegreen1]\n"));
    CHECK(text && strstr(text, "\t4 [label=\"\n (2, 3)\" fillcolor=darkolivegreen1]\n")); /* z */
    CHECK(text && strstr(text, "\t5 [label=AddBackward0]\n\t1 -> 5\n")); /* reaches wx's MulBackward0, seen */
    CHECK(count(text, "[label=MulBackward0]") == 1);
    free(text);
    text = tg_dot_string(1, &s.x, NULL);
    CHECK_STR(text, HEAD "\t0 [label=\"\n (2, 3)\" fillcolor=darkolivegreen1]\n}\n");
    free(text);
    seed_free(&s);
}

static tt_tensor *ma_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    (void)n;
    tt_tensor *wx = tg_mul(in[0], in[1]), *out = wx ? tg_add(wx, in[2]) : NULL;
    tt_release(wx);
    if (out && tg_ctx_save_for_backward(ctx, 2, in) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

static int ma_backward(tg_ctx *ctx, const tt_tensor *g, tt_tensor **gi, int max_grads)
{
    (void)max_grads;
    gi[0] = tg_mul(g, tg_ctx_saved(ctx, 1));
    gi[1] = tg_mul(g, tg_ctx_saved(ctx, 0));
    gi[2] = tt_retain((tt_tensor *)g);
    return gi[0] && gi[1] ? 3 : -1;
}

TEST(custom_function)
{
    /* torchviz always draws a custom function's saved_tensors, after its
     * next_functions, unnamed (get_var_name(t)) and with edges t -> fn: w is
     * redrawn orange under its id, x gets a node of its own. */
    static const tg_function MA = {"MA", ma_forward, ma_backward, false};
    tt_tensor *w = leaf(1, (int64_t[]){3}, "w"), *x = mk(1, (int64_t[]){3}, 0), *b = leaf(1, (int64_t[]){3}, "b");
    tt_tensor *z = tg_function_apply(&MA, 3, (tt_tensor *[]){w, x, b}, NULL);
    char *text = tg_dot_string(1, &z, NULL);
    CHECK_STR(text, HEAD
              "\t0 [label=\"\n (3)\" fillcolor=darkolivegreen1]\n"
              "\t1 [label=MABackward]\n"
              "\t2 -> 1\n"
              "\t3 [label=\"w\n (3)\" fillcolor=lightblue]\n"
              "\t3 -> 2\n"
              "\t2 [label=AccumulateGrad]\n"
              "\t4 -> 1\n"
              "\t5 [label=\"b\n (3)\" fillcolor=lightblue]\n"
              "\t5 -> 4\n"
              "\t4 [label=AccumulateGrad]\n"
              "\t3 -> 1 [dir=none]\n"
              "\t3 [label=\"w\n (3)\" fillcolor=orange]\n"
              "\t6 -> 1 [dir=none]\n"
              "\t6 [label=\"\n (3)\" fillcolor=orange]\n"
              "\t1 -> 0\n"
              "}\n");
    free(text);
    tt_release(z);
    tt_release(b);
    tt_release(x);
    tt_release(w);
}

TEST(escaping)
{
    /* quotes, backslashes and '&' are escaped, so the name renders as
     * written; bytes that are not UTF-8 become U+FFFD */
    tt_tensor *w = leaf(1, (int64_t[]){2}, "say \"hi\\n\" & <b>\xff");
    tt_tensor *y = tg_mul_scalar(w, 2);
    char *text = tg_dot_string(1, &y, NULL);
    CHECK(text &&
          strstr(text, "\t3 [label=\"say \\\"hi\\\\n\\\" &amp; <b>\xef\xbf\xbd\n (2)\" fillcolor=lightblue]\n"));
    CHECK(renders(text));
    free(text);
    tt_release(y);
    tt_release(w);
}

TEST(graph_size)
{
    /* 40 chained sins: 1 + 2 * 40 + 3 + 1 = 85 statements; resize_graph
     * gives max(12, 85 * 0.15) = 12.75, printed as Python prints it */
    tt_tensor *c = leaf(1, (int64_t[]){1}, "c"), *y = tt_retain(c);
    for (int i = 0; i < 40; i++) {
        tt_tensor *next = tg_sin(y);
        tt_release(y);
        y = next;
    }
    char *text = tg_dot_string(1, &y, NULL);
    CHECK(text && !strncmp(text, "digraph {\n\tgraph [size=\"12.75,12.75\"]\n", 38));
    CHECK(count(text, "[label=SinBackward0]") == 40);
    free(text);
    tt_release(y);
    tt_release(c);
}

TEST(long_chain)
{
    /* 200000 nodes deep (y + 1 is AddBackward0, as in Python; 20000 under
     * valgrind): walked without recursion, every node once */
    const int n = RUNNING_ON_VALGRIND ? 20000 : 200000;
    tt_tensor *c = leaf(0, NULL, "c"), *y = tt_retain(c);
    for (int i = 0; i < n && y; i++) {
        tt_tensor *next = tg_add_scalar(y, 1);
        tt_release(y);
        y = next;
    }
    char *text = tg_dot_string(1, &y, NULL);
    CHECK(text && count(text, "[label=AddBackward0]") == n);
    /* 2n + 5 statements: size 0.15 * 400005 = 60000.75 (6000.75 for 40005) */
    const char *head = n == 200000 ? "digraph {\n\tgraph [size=\"60000.75,60000.75\"]\n"
                                   : "digraph {\n\tgraph [size=\"6000.75,6000.75\"]\n";
    CHECK(text && !strncmp(text, head, strlen(head)));
    char leaf_line[64]; /* ids: output 0, the adds 1..n, AccumulateGrad n+1, c n+2 */
    snprintf(leaf_line, sizeof leaf_line, "\t%d [label=\"c\n ()\" fillcolor=lightblue]\n", n + 2);
    CHECK(text && strstr(text, leaf_line));
    free(text);
    tt_release(y);
    tt_release(c);
}

TEST(errors)
{
    seed s = seed_make();
    CHECK_ERR(tg_dot_string(0, &s.z, NULL), TT_EINVAL, "at least one output");
    CHECK_ERR(tg_dot_string(1, (tt_tensor *[]){NULL}, NULL), TT_EINVAL, "output 0 is NULL");
    CHECK_ERR(tg_dot_string(1, &s.z, &(tg_dot_options){.nparams = 1}), TT_EINVAL, "params");
    /* after a backward without retain_graph the saved tensors are gone:
     * show_saved fails with PyTorch's message (torchviz raises it too);
     * the graph without them can still be drawn */
    tt_tensor *loss = tg_sum(s.z);
    CHECK(tg_backward(loss, NULL, false, false) == TT_OK);
    CHECK_ERR(tg_dot_string(1, &loss, &(tg_dot_options){.show_saved = true}), TT_ERUNTIME,
              "Trying to backward through the graph a second time");
    char *text = tg_dot_string(1, &loss, NULL);
    CHECK(text && count(text, "[label=AccumulateGrad]") == 2);
    free(text);
    tt_release(loss);
    seed_free(&s);
}

TEST(renders_without_warnings)
{
    seed s = seed_make();
    char *text = tg_dot_string(1, &s.z, &(tg_dot_options){.show_saved = true});
    CHECK(renders(text));
    free(text);
    seed_free(&s);
}

int main(void)
{
    have_dot = system("command -v dot >/dev/null 2>&1") == 0;
    RUN(seed_example_exact);
    RUN(write_to_file);
    RUN(stable_across_graphs);
    RUN(show_saved);
    RUN(diamond);
    RUN(zero_dim_output);
    RUN(create_graph_gradient);
    RUN(several_outputs);
    RUN(custom_function);
    RUN(escaping);
    RUN(graph_size);
    RUN(long_chain);
    RUN(errors);
    if (have_dot) RUN(renders_without_warnings);
    else printf("ok %d - renders_without_warnings # SKIP dot (graphviz) is not installed\n", ++check_count);
    return DONE();
}
