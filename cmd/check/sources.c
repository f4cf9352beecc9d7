/* tg-check's sources of cases but --all (catalogue.c): -e, a custom op written
 * in the shell (--forward/--backward, run through tg_function_apply, so its
 * node is <Name>Backward), plugins (--plugin, custom ops written in C against
 * <tg/plugin.h>); and what every source uses: random inputs, environments. */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "tg/function.h"
#include "tg/grad.h"

/* Re-sets the library error with a prefix (the old text is copied first). */
static void prefix_error(const char *prefix)
{
    tt_status st = tt_last_status();
    char *old = cmd_xstrdup(cmd_lib_error());
    tt_set_error(st == TT_OK ? TT_ERUNTIME : st, "%s: %s", prefix, old);
    free(old);
}

/* ---- random inputs ------------------------------------------------------------- */

uint64_t check_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static double next_uniform(check_stream *s, double lo, double hi)
{
    return lo + (hi - lo) * tt_philox_uniform(s->seed, s->counter++);
}

tt_tensor *check_random(check_stream *s, int ndim, const int64_t *shape, value_range r, double lo, double hi,
                        const double *ref, int64_t nref)
{
    int64_t n = tt_shape_numel(ndim, shape);
    double *v = cmd_xcalloc((size_t)n, sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        double x = 0;
        for (int tries = 0; tries < 10000; tries++) {
            bool ok = true;
            switch (r) {
            case R_NORMAL: x = tt_philox_normal(s->seed, s->counter++); break;
            case R_UNIFORM: x = next_uniform(s, lo, hi); break;
            case R_POS: x = next_uniform(s, 0.5, 2); break;
            case R_UNIT: x = next_uniform(s, -0.9, 0.9); break;
            default: x = next_uniform(s, -2, 2); break;
            }
            if (r == R_AWAY) ok = fabs(x) >= 0.1;
            else if (r == R_CLAMP) ok = fabs(x - 0.5) >= 0.1 && fabs(x + 0.5) >= 0.1;
            else if (r == R_DISTINCT)
                for (int64_t j = 0; j < i && ok; j++) ok = fabs(x - v[j]) >= 0.1;
            else if (r == R_APART && ref && nref > 0) ok = fabs(x - ref[i % nref]) >= 0.1;
            if (ok) break;
        }
        v[i] = x;
    }
    tt_tensor *t = tt_from_data(ndim, shape, TT_F64, v, TT_CPU);
    free(v);
    if (!t) cmd_die(CHECK_TROUBLE, "cannot make a random input: %s", cmd_lib_error());
    return t;
}

/* Makes t (a new reference, consumed) an input: a fresh contiguous leaf of
 * the dtype and device asked for, requiring grad unless constant. */
tt_tensor *check_input(const check_opts *o, tt_tensor *t, bool requires_grad, const char *name)
{
    tt_tensor *c = tt_cast(t, o->co.dtype);
    tt_release(t);
    tt_tensor *d = c ? tt_to_device(c, o->co.device) : NULL;
    tt_release(c);
    tt_tensor *x = d ? tt_clone(d) : NULL;
    tt_release(d);
    if (!x) cmd_die(CHECK_TROUBLE, "input %s: %s", name, cmd_lib_error());
    if (requires_grad && tg_set_requires_grad(x, true) != TT_OK)
        cmd_die(CHECK_TROUBLE, "input %s: %s", name, cmd_lib_error());
    return x;
}

void check_case_free(check_case *c)
{
    free(c->op);
    free(c->what);
    for (int i = 0; i < c->ninputs; i++) {
        free(c->names[i]);
        tt_release(c->inputs[i]);
    }
}

void check_set_free(check_set *s)
{
    for (int i = 0; i < s->n; i++) check_case_free(&s->v[i]);
    free(s->v);
    free(s->listing);
    if (s->ctx_free) s->ctx_free(s->ctx);
    memset(s, 0, sizeof *s);
}

/* ---- expressions: evaluated in a fresh environment per call -------------------- */

tg_env *check_env(const check_opts *o, const tg_env *constants)
{
    tg_env *env = tg_env_new();
    if (!env) return NULL;
    tg_env_set_dtype(env, o->co.dtype);
    tg_env_set_device(env, o->co.device);
    tg_env_set_seed(env, o->co.seed);
    if (constants)
        for (int i = 0; i < tg_env_count(constants); i++) {
            const char *name = tg_env_name(constants, i);
            if (tg_env_set(env, name, tg_env_get(constants, name)) != TT_OK) {
                tg_env_free(env);
                return NULL;
            }
        }
    return env;
}

tt_tensor *check_eval_expr(int n, tt_tensor *const *in, void *ctx)
{
    const check_expr *e = ctx;
    tg_env *env = check_env(e->o, e->constants);
    if (!env) return NULL;
    for (int i = 0; i < n; i++)
        if (tg_env_set(env, e->names[i], in[i]) != TT_OK) {
            tg_env_free(env);
            return NULL;
        }
    tt_tensor *out = tg_eval(env, e->expr);
    tg_env_free(env);
    if (!out && e->context) prefix_error(e->context);
    return out;
}

void check_op_names(const check_opts *o, int n, const char *(*name_of)(int, const void *), const void *arg,
                    const char *where)
{
    for (int k = 0; k < o->ops.n; k++) {
        bool found = false;
        for (int i = 0; i < n && !found; i++) found = !strcmp(name_of(i, arg), o->ops.names[k]);
        if (found) continue;
        size_t len = 1;
        for (int i = 0; i < n; i++) len += strlen(name_of(i, arg)) + 2;
        char *known = cmd_xcalloc(len, 1);
        for (int i = 0; i < n; i++) {
            if (i) strcat(known, ", ");
            strcat(known, name_of(i, arg));
        }
        cmd_usage_error("--op %s: no such op in %s (ops: %s)", o->ops.names[k], where, known);
    }
}

bool check_selected(const check_opts *o, const char *name) { return !o->ops.n || cmd_names_find(&o->ops, name) >= 0; }

/* The inputs named in `names`: bound values (as fresh leaves), else random
 * normal of --shape; the other bindings stay in env as constants. */
static void named_inputs(const check_opts *o, tg_env *env, const cmd_names *names, check_case *c, check_stream *s)
{
    for (int i = 0; i < names->n; i++) {
        const char *name = names->names[i];
        tt_tensor *v = tg_env_get(env, name);
        tt_tensor *t;
        if (v) {
            if (!tt_dtype_is_floating(v->dtype) && v->dtype != TT_I64 && v->dtype != TT_BOOL)
                cmd_die(CHECK_TROUBLE, "input %s: not a number tensor", name);
            t = tt_retain(v);
        } else {
            int nd = o->shape_given ? o->shape_ndim : 1;
            const int64_t *sh = o->shape_given ? o->shape : (const int64_t[]){3};
            t = check_random(s, nd, sh, R_NORMAL, 0, 0, NULL, 0);
        }
        /* a custom op's input whose backward is 'none' has no gradient: a constant */
        bool grad = !(o->mode == MODE_SHELL && i < o->backward.n && !strcmp(o->backward.names[i], "none"));
        c->names[i] = cmd_xstrdup(name);
        c->inputs[i] = check_input(o, t, grad, name);
        if (v && tg_env_set(env, name, c->inputs[i]) != TT_OK)
            cmd_die(CHECK_TROUBLE, "input %s: %s", name, cmd_lib_error());
        c->ninputs++;
    }
}

/* Removes the inputs from env, leaving only the constants. */
static tg_env *constants_of(const check_opts *o, tg_env *env, const cmd_names *names)
{
    tg_env *k = check_env(o, NULL);
    if (!k) cmd_die(CHECK_TROUBLE, "%s", cmd_lib_error());
    for (int i = 0; i < tg_env_count(env); i++) {
        const char *n = tg_env_name(env, i);
        if (cmd_names_find(names, n) < 0 && tg_env_set(k, n, tg_env_get(env, n)) != TT_OK)
            cmd_die(CHECK_TROUBLE, "%s", cmd_lib_error());
    }
    return k;
}

/* ---- -e ------------------------------------------------------------------------------ */

typedef struct {
    tg_env *env, *constants;
    check_expr fn;
} expr_source;

static void expr_source_free(void *p)
{
    expr_source *e = p;
    tg_env_free(e->env);
    tg_env_free(e->constants);
    free(e);
}

/* The inputs of the case: the names of -e's --wrt or --forward's --inputs
 * (bound values, else random); the other bindings are constants. */
static check_case *named_case(const check_opts *o, check_set *s, tg_env **env, tg_env **constants)
{
    check_stream st = {o->co.seed, 0};
    const cmd_names *names = o->mode == MODE_EXPR ? &o->wrt : &o->inputs;
    *env = check_env(o, NULL);
    if (!*env) cmd_fail("%s", cmd_lib_error());
    cmd_bind_all(*env, o->nbind, o->bindings);
    s->v = cmd_xcalloc(1, sizeof *s->v);
    check_case *c = &s->v[s->n++];
    named_inputs(o, *env, names, c, &st);
    *constants = constants_of(o, *env, names);
    return c;
}

void check_expr_cases(const check_opts *o, check_set *s)
{
    expr_source *e = cmd_xcalloc(1, sizeof *e);
    s->ctx = e;
    s->ctx_free = expr_source_free;
    check_case *c = named_case(o, s, &e->env, &e->constants);
    c->op = cmd_xstrdup(o->expr);
    e->fn = (check_expr){o, o->expr, "-e", e->constants, c->ninputs, c->names};
    c->fn = check_eval_expr;
    c->ctx = &e->fn;
}

/* ---- a custom op written in the shell ---------------------------------------------------- */

typedef struct {
    const check_opts *o;
    const tg_env *constants;
    tg_function fn;
} shell_op;

/* Inputs beyond what save_for_backward holds (TG_FUNCTION_MAX_SAVED, one
 * slot being the output) are kept as ctx data: references to the inputs,
 * which make no cycle (an input does not reference the node). */
typedef struct {
    int n;
    tt_tensor *t[CHECK_MAX_INPUTS];
} kept_inputs;

static void kept_free(void *p)
{
    kept_inputs *k = p;
    for (int i = 0; i < k->n; i++) tt_release(k->t[i]);
    free(k);
}

static tt_tensor *shell_forward(tg_ctx *ctx, int n, tt_tensor *const *in)
{
    const shell_op *s = tg_ctx_user_data(ctx);
    const check_opts *o = s->o;
    tg_env *env = check_env(o, s->constants);
    if (!env) return NULL;
    for (int i = 0; i < n; i++)
        if (tg_env_set(env, o->inputs.names[i], in[i]) != TT_OK) {
            tg_env_free(env);
            return NULL;
        }
    tt_tensor *out = tg_eval(env, o->forward);
    tg_env_free(env);
    if (!out) {
        prefix_error("--forward");
        return NULL;
    }
    if (!tt_dtype_is_floating(out->dtype)) {
        tt_release(out);
        tt_set_error(TT_EDTYPE, "--forward: the output is %s, not floating", tt_dtype_name(out->dtype));
        return NULL;
    }
    tt_tensor *save[TG_FUNCTION_MAX_SAVED];
    int nsave = 0;
    save[nsave++] = out;
    bool all = n + 1 <= TG_FUNCTION_MAX_SAVED;
    if (all)
        for (int i = 0; i < n; i++) save[nsave++] = in[i];
    else {
        kept_inputs *k = calloc(1, sizeof *k);
        if (!k) {
            tt_release(out);
            tt_set_error(TT_ENOMEM, "out of memory");
            return NULL;
        }
        k->n = n;
        for (int i = 0; i < n; i++) k->t[i] = in[i] ? tt_retain(in[i]) : NULL;
        tg_ctx_set_data(ctx, k, kept_free);
    }
    if (tg_ctx_save_for_backward(ctx, nsave, save) != TT_OK) {
        tt_release(out);
        return NULL;
    }
    return out;
}

static int shell_backward(tg_ctx *ctx, const tt_tensor *grad, tt_tensor **gi, int max_grads)
{
    const shell_op *s = tg_ctx_user_data(ctx);
    const check_opts *o = s->o;
    int n = tg_ctx_num_inputs(ctx);
    tg_env *env = check_env(o, s->constants);
    if (!env) return -1;
    tt_status st = TT_OK;
    tt_tensor *out = tg_ctx_saved(ctx, 0);
    if (!out) st = tt_last_status();
    const kept_inputs *k = tg_ctx_data(ctx);
    for (int i = 0; st == TT_OK && i < n; i++) {
        tt_tensor *x = k ? k->t[i] : tg_ctx_saved(ctx, 1 + i);
        if (!x && !k) st = tt_last_status();
        else if (x) st = tg_env_set(env, o->inputs.names[i], x);
    }
    if (st == TT_OK) st = tg_env_set(env, "out", out);
    if (st == TT_OK) st = tg_env_set(env, "grad", (tt_tensor *)grad);
    if (st != TT_OK) {
        tg_env_free(env);
        return -1;
    }
    int count = o->backward.n;
    for (int i = 0; i < count && i < max_grads; i++) {
        if (!strcmp(o->backward.names[i], "none")) continue;
        if (!(gi[i] = tg_eval(env, o->backward.names[i]))) {
            char *ctx_text = cmd_xprintf("--backward expression %d ('%s')", i + 1, o->backward.names[i]);
            prefix_error(ctx_text);
            free(ctx_text);
            tg_env_free(env);
            return -1;
        }
    }
    tg_env_free(env);
    return count;
}

static tt_tensor *apply_fn(int n, tt_tensor *const *in, void *ctx)
{
    const shell_op *s = ctx;
    return tg_function_apply(&s->fn, n, in, ctx);
}

typedef struct {
    tg_env *env, *constants;
    shell_op op;
} shell_source;

static void shell_source_free(void *p)
{
    shell_source *e = p;
    tg_env_free(e->env);
    tg_env_free(e->constants);
    free(e);
}

void check_shell_cases(const check_opts *o, check_set *s)
{
    shell_source *e = cmd_xcalloc(1, sizeof *e);
    s->ctx = e;
    s->ctx_free = shell_source_free;
    check_case *c = named_case(o, s, &e->env, &e->constants);
    c->op = cmd_xstrdup(o->name);
    size_t len = strlen(o->forward) + 32;
    for (int i = 0; i < o->backward.n; i++) len += strlen(o->backward.names[i]) + 2;
    c->what = cmd_xcalloc(len, 1);
    strcat(c->what, o->forward);
    strcat(c->what, " ; backward ");
    for (int i = 0; i < o->backward.n; i++) {
        if (i) strcat(c->what, ", ");
        strcat(c->what, o->backward.names[i]);
    }
    e->op = (shell_op){o, e->constants, {o->name, shell_forward, shell_backward, false}};
    c->fn = apply_fn;
    c->ctx = &e->op;
}

/* ---- plugins ------------------------------------------------------------------------------ */

typedef struct {
    void *handle;
    const tg_plugin *p;
} plugin_lib;

static plugin_lib load_plugin(const char *path)
{
    plugin_lib pl = {0};
    struct stat st;
    if (stat(path, &st) != 0) cmd_die(CHECK_TROUBLE, "--plugin %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) cmd_die(CHECK_TROUBLE, "--plugin %s: %s", path, strerror(EISDIR));
    /* dlopen searches the library path for a name without '/': a file given
     * on the command line is meant, so make it a path. */
    char *p = strchr(path, '/') ? cmd_xstrdup(path) : cmd_xprintf("./%s", path);
    dlerror();
    pl.handle = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    free(p);
    if (!pl.handle) {
        const char *e = dlerror();
        cmd_die(CHECK_TROUBLE, "--plugin %s: cannot load it as a shared object: %s", path, e ? e : "unknown error");
    }
    dlerror();
    void *sym = dlsym(pl.handle, TG_PLUGIN_ENTRY_NAME);
    if (!sym)
        cmd_die(CHECK_TROUBLE, "--plugin %s: no entry point: the library does not define %s() (see <tg/plugin.h>)",
                path, TG_PLUGIN_ENTRY_NAME);
    /* The plugin must run on this program's libtg, not on a second copy
     * (libtg.so, which it links) with its own grad mode and errors: the
     * program is linked with -rdynamic and the whole archive, so libtg's
     * symbols resolve here first. */
    void *self = dlopen(NULL, RTLD_NOW);
    void *mine = self ? dlsym(self, "tg_set_grad_enabled") : NULL;
    bool exported = mine && mine == (void *)(uintptr_t)tg_set_grad_enabled;
    if (self) dlclose(self);
    if (!exported)
        cmd_die(CHECK_TROUBLE,
                "--plugin %s: this tg-check does not export libtg to plugins (it must be linked with -rdynamic "
                "and --whole-archive libtg.a; see the Makefile)",
                path);
    tg_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object pointer -> function pointer, as POSIX allows */
    pl.p = entry();
    if (!pl.p) cmd_die(CHECK_TROUBLE, "--plugin %s: %s() returned NULL", path, TG_PLUGIN_ENTRY_NAME);
    if (pl.p->version != TG_PLUGIN_VERSION)
        cmd_die(CHECK_TROUBLE,
                "--plugin %s: plugin API version %d, but this tg-check speaks version %d: rebuild the plugin against "
                "this tg's <tg/plugin.h>",
                path, pl.p->version, TG_PLUGIN_VERSION);
    if (pl.p->nops < 0 || (pl.p->nops > 0 && !pl.p->ops))
        cmd_die(CHECK_TROUBLE, "--plugin %s: invalid op table (nops %d)", path, pl.p->nops);
    for (int i = 0; i < pl.p->nops; i++) {
        const tg_plugin_op *op = &pl.p->ops[i];
        if (!op->function || !op->function->name || !*op->function->name || !op->function->forward ||
            !op->function->backward)
            cmd_die(CHECK_TROUBLE, "--plugin %s: op %d has no function, name, forward or backward", path, i);
        if (op->ninputs < 1 || op->ninputs > TG_PLUGIN_MAX_INPUTS || !op->inputs)
            cmd_die(CHECK_TROUBLE, "--plugin %s: op %s: ninputs must be 1 to %d with inputs described, got %d", path,
                    op->function->name, TG_PLUGIN_MAX_INPUTS, op->ninputs);
        for (int j = 0; j < op->ninputs; j++)
            if (op->inputs[j].ndim < 0 || op->inputs[j].ndim > TT_MAX_DIMS)
                cmd_die(CHECK_TROUBLE, "--plugin %s: op %s: input %d has %d dims", path, op->function->name, j,
                        op->inputs[j].ndim);
    }
    return pl;
}

static tt_tensor *apply_plugin_op(int n, tt_tensor *const *in, void *ctx)
{
    const tg_plugin_op *op = ctx;
    return tg_function_apply(op->function, n, in, op->user_data);
}

static const char *plugin_op_name(int i, const void *arg)
{
    const tg_plugin *p = arg;
    return p->ops[i].function->name;
}

typedef struct {
    plugin_lib lib;
    tg_env *env;
} plugin_source;

static void plugin_source_free(void *p)
{
    plugin_source *e = p;
    tg_env_free(e->env);
    if (e->lib.handle) dlclose(e->lib.handle);
    free(e);
}

/* Each op's signature and description, as --list shows them. */
static void plugin_listing(const check_opts *o, const tg_plugin *p, check_set *s)
{
    FILE *f = open_memstream(&s->listing, &s->listing_len);
    if (!f) cmd_fail("out of memory");
    for (int i = 0; i < p->nops; i++) {
        const tg_plugin_op *op = &p->ops[i];
        if (!check_selected(o, op->function->name)) continue;
        fprintf(f, "%s(", op->function->name);
        for (int j = 0; j < op->ninputs; j++) {
            char sh[128];
            tt_shape_str(op->inputs[j].ndim, op->inputs[j].shape, sh, sizeof sh);
            if (op->inputs[j].name) fprintf(f, "%s%s: %s", j ? ", " : "", op->inputs[j].name, sh);
            else fprintf(f, "%sinput%d: %s", j ? ", " : "", j, sh);
        }
        fprintf(f, ")%s%s\n", op->description ? "  " : "", op->description ? op->description : "");
    }
    if (fclose(f) != 0) cmd_fail("out of memory");
}

/* The inputs of a plugin's op: bound values, else random in the op's range
 * (its own shapes unless --shape). */
static void plugin_case(const check_opts *o, const tg_plugin_op *op, tg_env *env, check_case *c, cmd_names *used)
{
    c->op = cmd_xstrdup(op->function->name);
    if (op->description) c->what = cmd_xstrdup(op->description);
    check_stream ps = {o->co.seed ^ check_hash(op->function->name), 0};
    for (int j = 0; j < op->ninputs; j++) {
        const tg_plugin_input *in = &op->inputs[j];
        char *name = in->name ? cmd_xstrdup(in->name) : cmd_xprintf("input%d", j);
        if (cmd_names_find(used, name) < 0) cmd_names_append(used, name, strlen(name));
        tt_tensor *v = tg_env_get(env, name), *t;
        value_range r = in->low == 0 && in->high == 0 ? R_NORMAL : R_UNIFORM;
        if (v) t = tt_retain(v);
        else if (o->shape_given) t = check_random(&ps, o->shape_ndim, o->shape, r, in->low, in->high, NULL, 0);
        else t = check_random(&ps, in->ndim, in->shape, r, in->low, in->high, NULL, 0);
        c->names[j] = name;
        c->inputs[j] = check_input(o, t, !in->no_grad, name);
        c->ninputs++;
    }
    c->fn = apply_plugin_op;
    c->ctx = (void *)op;
}

void check_plugin_cases(const check_opts *o, check_set *s)
{
    plugin_source *e = cmd_xcalloc(1, sizeof *e);
    s->ctx = e;
    s->ctx_free = plugin_source_free;
    e->lib = load_plugin(o->plugin);
    const tg_plugin *p = e->lib.p;
    check_op_names(o, p->nops, plugin_op_name, p, o->plugin);
    if (o->list) return plugin_listing(o, p, s);
    if (!(e->env = check_env(o, NULL))) cmd_fail("%s", cmd_lib_error());
    cmd_bind_all(e->env, o->nbind, o->bindings);
    s->v = cmd_xcalloc((size_t)(p->nops ? p->nops : 1), sizeof *s->v);
    cmd_names used = {0};
    for (int i = 0; i < p->nops; i++)
        if (check_selected(o, p->ops[i].function->name)) plugin_case(o, &p->ops[i], e->env, &s->v[s->n++], &used);
    for (int i = 0; i < o->nbind; i++) {
        size_t n = strcspn(o->bindings[i], "=");
        char *name = strndup(o->bindings[i], n);
        if (name && cmd_names_find(&used, name) < 0)
            cmd_usage_error("%s: no selected op of %s has an input named '%s'", o->bindings[i], o->plugin, name);
        free(name);
    }
    cmd_names_free(&used);
}
