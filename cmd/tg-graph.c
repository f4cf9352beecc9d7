/* tg-graph: the autograd graph of an expression as Graphviz DOT (or SVG/PNG
 * through Graphviz's dot). See man/tg-graph.1.
 *
 * Bindings NAME=VALUE are evaluated first, then the --wrt tensors are set to
 * require grad, then -e is evaluated and the graph of its result is exported
 * with tg_dot_string() in torchviz's conventions. With --backward the
 * exported outputs are instead the gradients of the result with respect to
 * each --wrt tensor, computed with create_graph: the graph a double backward
 * would walk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "tg/dot.h"
#include "tg/expr.h"

static const char usage[] =
    "Usage: tg-graph -e EXPR --wrt NAME[,NAME...] [NAME=VALUE...] [--show-saved]\n"
    "                [--backward] [-o FILE] [--format dot|svg|png]\n"
    "Draw the autograd graph of an expression, as torchviz's make_dot draws it:\n"
    "backward nodes named as PyTorch names them (MulBackward0, AccumulateGrad, ...)\n"
    "with edges following next_functions, leaves labelled with their names and\n"
    "shapes, and the output. DOT text by default; SVG or PNG through Graphviz's dot.\n"
    "\n"
    "  -e, --expr EXPR        the expression; `NAME = EXPR;` statements allowed, the\n"
    "                         last expression is the output\n"
    "      --wrt NAMES        comma-separated bound names that require grad\n"
    "                         (the leaves drawn with AccumulateGrad); repeatable\n"
    "  NAME=VALUE             a binding: a tensor source (FILE, FILE:DATASET, -)\n"
    "                         or an expression (x=5, x='[1,2]', x='randn(3,4)')\n"
    "      --show-saved       also draw the tensors each node saved for backward\n"
    "                         (orange, joined by undirected edges)\n"
    "      --backward         draw the graph that a create_graph backward builds:\n"
    "                         the gradients grad/NAME of the (one-element) output\n"
    "                         with respect to each --wrt name, as outputs\n"
    "  -o, --output FILE      write to FILE (atomically); its extension says what:\n"
    "                         .dot/.gv, .svg or .png (others are refused)\n"
    "      --format FMT       dot (default), svg or png; svg and png need Graphviz's\n"
    "                         dot on PATH; png is never written to a terminal\n"
    "      --dtype TYPE       f32 (default) or f64, for bindings and constants\n"
    "      --device DEV       " CMD_DEVICES
    "\n"
    "      --seed N           seed of rand/randn (default: $TG_SEED, else 0)\n"
    "  -h, --help             show this help and exit\n"
    "      --version          show the version and exit\n"
    "\n"
    "The output node is named after the last statement when that binds the result\n"
    "(z = w*x + b), else \"out\". Example:\n"
    "  tg-graph -e 'w*x + b' --wrt w,b w='rand(1)' b='rand(1)' x='ones(1)' \\\n"
    "      | dot -Tsvg > g.svg\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error (options, syntax of -e or a\n"
    "binding).  See tg-graph(1).\n";

enum { OPT_WRT = CMD_OPT_FIRST_PRIVATE, OPT_SHOW_SAVED, OPT_BACKWARD };

static const struct option longopts[] = {
    CMD_COMMON_LONGOPTS,
    {"expr", required_argument, NULL, 'e'},
    {"wrt", required_argument, NULL, OPT_WRT},
    {"show-saved", no_argument, NULL, OPT_SHOW_SAVED},
    {"backward", no_argument, NULL, OPT_BACKWARD},
    {NULL, 0, NULL, 0},
};

typedef enum { F_DOT, F_SVG, F_PNG } graph_format;
static const cmd_form graph_forms[] = {
    [F_DOT] = {"dot", ".dot .gv", TT_FMT_AUTO},
    [F_SVG] = {"svg", ".svg", TT_FMT_AUTO},
    [F_PNG] = {"png", ".png", TT_FMT_AUTO},
    {NULL, NULL, TT_FMT_AUTO},
};

/* ---- small helpers ------------------------------------------------------- */

/* Length of the NAME in "NAME=VALUE", or 0 when it is not one. */
static size_t binding_name_len(const char *arg)
{
    const char *eq = strchr(arg, '=');
    return eq ? (size_t)(eq - arg) : 0;
}

/* An executable file named `prog` on $PATH (malloc'd), or NULL. */
static char *find_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        size_t n = strcspn(p, ":");
        const char *dir = n ? p : ".";
        size_t dn = n ? n : 1;
        char *file = cmd_xcalloc(1, dn + strlen(prog) + 2);
        memcpy(file, dir, dn);
        file[dn] = '/';
        strcpy(file + dn + 1, prog);
        struct stat st;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0) return file;
        free(file);
        if (!p[n]) return NULL;
        p += n + 1;
    }
}

/* ---- rendering through Graphviz's dot ------------------------------------- */

/* Reads a whole (temporary) file from its start into a malloc'd buffer. */
static char *slurp(FILE *f, size_t *len)
{
    if (fseek(f, 0, SEEK_END) != 0) cmd_fail("reading dot's output: %s", strerror(errno));
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) cmd_fail("reading dot's output: %s", strerror(errno));
    char *buf = cmd_xcalloc(1, (size_t)size + 1);
    size_t got = fread(buf, 1, (size_t)size, f);
    if (got != (size_t)size) cmd_fail("reading dot's output: %s", ferror(f) ? strerror(errno) : "short read");
    buf[got] = 0;
    *len = got;
    return buf;
}

/* Runs `dot -TFMT` on the DOT text (fork and exec, no shell): the text goes
 * to its standard input through a pipe; its output and messages go to
 * anonymous temporary files, read once it has exited. Its messages are passed
 * on as "tg-graph: dot: ..."; a non-zero exit fails with nothing written.
 * Returns dot's output (malloc'd). */
static char *render(const char *dot_path, const char *text, const char *fmt, size_t *len)
{
    char targ[16];
    snprintf(targ, sizeof targ, "-T%s", fmt);
    FILE *out = tmpfile(), *err = tmpfile();
    if (!out || !err) cmd_fail("cannot create a temporary file for dot: %s", strerror(errno));
    int in[2];
    if (pipe(in) != 0) cmd_fail("cannot run dot: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) cmd_fail("cannot run dot: %s", strerror(errno));
    if (pid == 0) {
        if (dup2(in[0], 0) < 0 || dup2(fileno(out), 1) < 0 || dup2(fileno(err), 2) < 0) _exit(126);
        close(in[0]);
        close(in[1]);
        char *const argv[] = {"dot", targ, NULL};
        execv(dot_path, argv);
        _exit(127);
    }
    close(in[0]);
    /* dot reads all its input before it writes: no deadlock. If it exits
     * early the write fails with EPIPE (SIGPIPE is ignored): its exit status
     * says why. */
    const char *p = text;
    size_t left = strlen(text);
    while (left > 0) {
        ssize_t w = write(in[1], p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) break;
        p += w;
        left -= (size_t)w;
    }
    close(in[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) cmd_fail("waiting for dot: %s", strerror(errno));

    size_t elen;
    static char *msgs;
    msgs = slurp(err, &elen);
    for (char *line = msgs, *nl; *line; line = nl) {
        nl = strchr(line, '\n');
        nl = nl ? (*nl = 0, nl + 1) : line + strlen(line);
        if (*line) cmd_warn("dot: %s", line);
    }
    free(msgs);
    fclose(err);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) cmd_fail("cannot run %s", dot_path);
    if (WIFSIGNALED(status)) cmd_fail("dot %s was killed by signal %d; nothing written", targ, WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        cmd_fail("dot %s failed (exit status %d); nothing written", targ, WEXITSTATUS(status));
    char *result = slurp(out, len);
    fclose(out);
    if (*len == 0) {
        free(result);
        cmd_fail("dot %s wrote nothing; nothing written", targ);
    }
    return result;
}

/* ---- main ------------------------------------------------------------------ */

/* Named tensors for the export's params (each a reference and a copy of the
 * name). */
typedef struct {
    tt_tensor **t;
    const char **names;
    int n, cap;
} param_list;

static void param_add(param_list *p, tt_tensor *t, const char *name)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        tt_tensor **nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (nt) p->t = nt;
        const char **nn = nt ? realloc(p->names, (size_t)cap * sizeof *nn) : NULL;
        if (!nn) cmd_fail("out of memory");
        p->names = nn;
        p->cap = cap;
    }
    p->t[p->n] = tt_retain(t);
    p->names[p->n++] = cmd_xstrdup(name);
}

static void param_free(param_list *p)
{
    for (int i = 0; i < p->n; i++) {
        tt_release(p->t[i]);
        free((char *)p->names[i]);
    }
    free(p->t);
    free(p->names);
}

int main(int argc, char **argv)
{
    cmd_init("tg-graph", argc, argv);
    cmd_common co;
    cmd_common_init(&co);
    co.longopts = longopts;
    co.forms = graph_forms;

    const char *expr = NULL;
    /* static: what an error exit leaves is still reachable, not lost (valgrind) */
    static cmd_names wrt;
    bool help = false, show_saved = false, backward = false;
    int c;
    while ((c = getopt_long(argc, argv, CMD_COMMON_SHORTOPTS "e:", longopts, NULL)) != -1) {
        if (cmd_common_option(&co, c, optarg)) continue;
        switch (c) {
        case 'h': help = true; break;
        case 'e':
            if (expr) cmd_usage_error("-e given twice: join the statements with ';'");
            expr = optarg;
            break;
        case OPT_WRT: cmd_names_add(&wrt, "--wrt", optarg); break;
        case OPT_SHOW_SAVED: show_saved = true; break;
        case OPT_BACKWARD: backward = true; break;
        default: cmd_usage_error("unexpected option (internal error)");
        }
    }
    if (help) cmd_help(usage);
    if (!expr) cmd_usage_error("missing -e EXPR: the expression to draw");
    if (!*expr) cmd_usage_error("invalid value '' for -e: expected an expression");
    if (wrt.n == 0) cmd_usage_error("missing --wrt NAMES: the bound names that require grad, e.g. --wrt w,b");
    for (int i = optind; i < argc; i++) {
        size_t n = binding_name_len(argv[i]);
        if (!strchr(argv[i], '=')) cmd_usage_error("unexpected argument '%s': expected NAME=VALUE", argv[i]);
        if (!cmd_is_identifier(argv[i], n)) cmd_usage_error("%s: '%.*s' is not a name", argv[i], (int)n, argv[i]);
    }
    for (int k = 0; k < wrt.n; k++) {
        bool bound = false;
        for (int i = optind; i < argc && !bound; i++)
            bound = binding_name_len(argv[i]) == strlen(wrt.names[k]) &&
                    !strncmp(argv[i], wrt.names[k], strlen(wrt.names[k]));
        if (!bound)
            cmd_usage_error("--wrt %s: '%s' is not bound; give it a value, e.g. %s=1.5", wrt.names[k], wrt.names[k],
                            wrt.names[k]);
    }

    /* --format, else -o's extension, else DOT; binary PNG never to a terminal */
    if (co.output && co.form < 0) co.form = cmd_form_by_path("-o", co.output, graph_forms, "--format");
    graph_format format = co.form >= 0 ? (graph_format)co.form : F_DOT;
    if (format == F_PNG && !co.output && isatty(STDOUT_FILENO))
        cmd_usage_error("refusing to write binary PNG to a terminal; use -o FILE or a pipe");
    static char *dot_path;
    if (format != F_DOT && !(dot_path = find_in_path("dot")))
        cmd_fail("--format %s needs Graphviz's dot (apt-get install graphviz)", graph_forms[format].name);
    co.format = TT_FMT_TEXT; /* cmd_common_finish: only the -o directory check matters here */
    cmd_common_finish(&co);

    /* The bindings, then requires_grad on the --wrt names, then -e. */
    static tg_env *env;
    env = tg_env_new();
    if (!env) cmd_fail_lib(NULL);
    tg_env_set_dtype(env, co.dtype);
    tg_env_set_device(env, co.device);
    tg_env_set_seed(env, co.seed);
    cmd_bind_all(env, argc - optind, argv + optind);

    /* Every bound tensor is a named param, kept even if -e rebinds its name. */
    static param_list params;
    int nbound = tg_env_count(env);
    for (int i = 0; i < nbound; i++) param_add(&params, tg_env_get(env, tg_env_name(env, i)), tg_env_name(env, i));

    static tt_tensor **wrt_t;
    wrt_t = cmd_xcalloc(1, (size_t)wrt.n * sizeof *wrt_t);
    for (int k = 0; k < wrt.n; k++) {
        wrt_t[k] = tg_env_get(env, wrt.names[k]);
        if (tg_set_requires_grad(wrt_t[k], true) != TT_OK) cmd_fail("--wrt %s: %s", wrt.names[k], tt_last_error());
        tt_retain(wrt_t[k]);
    }

    static tt_tensor *out;
    out = tg_eval(env, expr);
    if (!out) cmd_expr_fail("-e");

    /* The output's name: the last name the program bound to it, else "out".
     * The program's names label its tensors too (a leaf it made, a saved one). */
    static const char *out_name;
    out_name = "out";
    int nenv = tg_env_count(env);
    for (int i = 0; i < nenv; i++) {
        const char *name = tg_env_name(env, i);
        tt_tensor *t = tg_env_get(env, name);
        if (t == out) out_name = name;
        if (i < nbound && t == params.t[i]) continue; /* an unchanged binding: already a param */
        param_add(&params, t, name);
    }
    out_name = cmd_xstrdup(out_name);

    int noutputs = 1;
    tt_tensor **outputs = &out;
    static char **output_names;
    output_names = cmd_xcalloc(1, (size_t)wrt.n * sizeof *output_names);
    output_names[0] = (char *)out_name;
    static tt_tensor **grads;
    if (backward) {
        if (tt_numel(out) != 1) {
            char shape[128] = "(";
            for (int d = 0; d < out->ndim; d++) {
                size_t used = strlen(shape);
                snprintf(shape + used, sizeof shape - used, "%s%lld", d ? ", " : "", (long long)out->shape[d]);
            }
            strncat(shape, ")", sizeof shape - strlen(shape) - 1);
            cmd_warn("--backward: grad can be implicitly created only for scalar outputs");
            if (strpbrk(expr, ";=<>'"))
                cmd_fail("hint: the output %s has shape %s; end the expression with sum(...) or mean(...)", out_name,
                         shape);
            cmd_fail("hint: the output %s has shape %s; reduce it to one element, e.g. -e 'sum(%s)'", out_name, shape,
                     expr);
        }
        grads = cmd_xcalloc(1, (size_t)wrt.n * sizeof *grads);
        if (tg_autograd_grad(1, &out, NULL, wrt.n, wrt_t, true, true, true, grads) != TT_OK)
            cmd_fail("--backward: %s", tt_last_error());
        for (int k = 0; k < wrt.n; k++)
            if (!grads[k])
                cmd_fail(
                    "--backward: --wrt %s: One of the differentiated Tensors appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior. (the output does not "
                    "depend on '%s': it has no gradient to draw)",
                    wrt.names[k], wrt.names[k]);
        noutputs = wrt.n;
        outputs = grads;
        for (int k = 0; k < wrt.n; k++) output_names[k] = cmd_xprintf("grad/%s", wrt.names[k]);
        /* The forward output can appear in the gradient graph (a saved
         * result, as exp's): it keeps its name. */
        param_add(&params, out, out_name);
    }

    tg_dot_options opts = {
        .nparams = params.n,
        .params = params.t,
        .param_names = params.names,
        .output_names = (const char *const *)output_names,
        .show_saved = show_saved,
    };
    static char *text;
    text = tg_dot_string(noutputs, outputs, &opts);
    if (!text) cmd_fail_lib("graph");

    if (format == F_DOT) {
        cmd_write_bytes(co.output, text, strlen(text));
    } else {
        size_t len;
        static char *img;
        img = render(dot_path, text, graph_forms[format].name, &len);
        cmd_write_bytes(co.output, img, len);
        free(img);
    }

    free(text);
    if (backward) {
        for (int k = 0; k < wrt.n; k++) {
            tt_release(grads[k]);
            free(output_names[k]);
        }
        free(grads);
    }
    free((char *)out_name);
    free(output_names);
    param_free(&params);
    tt_release(out);
    for (int k = 0; k < wrt.n; k++) tt_release(wrt_t[k]);
    free(wrt_t);
    cmd_names_free(&wrt);
    free(dot_path);
    tg_env_free(env);
    return 0;
}
