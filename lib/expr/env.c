/* The environment (named tensors, dtype, device, generator) and the
 * command-line bindings NAME=VALUE: a file or dataset when VALUE names one,
 * else an expression evaluated in the environment. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expr_internal.h"
#include "tg/io.h"

tg_env *tg_env_new(void)
{
    tg_env *env = calloc(1, sizeof *env);
    if (!env) return tt_set_error(TT_ENOMEM, "out of memory for an environment"), NULL;
    env->dtype = TT_F32;
    env->device = TT_CPU;
    return env;
}

void tg_env_free(tg_env *env)
{
    if (!env) return;
    for (int i = 0; i < env->count; i++) {
        free(env->names[i]);
        tt_release(env->tensors[i]);
    }
    free(env->names);
    free(env->tensors);
    tt_source_close(env->stdin_src);
    free(env);
}

void tg_env_set_dtype(tg_env *env, tt_dtype dt) { env->dtype = dt; }
void tg_env_set_device(tg_env *env, tt_device dev) { env->device = dev; }
void tg_env_set_seed(tg_env *env, uint64_t seed) { env->gen = (tt_generator){seed, 0}; }
tt_dtype tg_env_dtype(const tg_env *env) { return env->dtype; }
tt_device tg_env_device(const tg_env *env) { return env->device; }
int tg_env_count(const tg_env *env) { return env->count; }
const char *tg_env_name(const tg_env *env, int i) { return i >= 0 && i < env->count ? env->names[i] : NULL; }

static int find(const tg_env *env, const char *name)
{
    for (int i = 0; i < env->count; i++)
        if (!strcmp(env->names[i], name)) return i;
    return -1;
}

tt_tensor *tg_env_get(const tg_env *env, const char *name)
{
    int i = env && name ? find(env, name) : -1;
    return i < 0 ? NULL : env->tensors[i];
}

tt_status tg_env_set(tg_env *env, const char *name, tt_tensor *t)
{
    if (!env || !name || !t) return tt_set_error(TT_EINVAL, "tg_env_set: NULL environment, name or tensor");
    int i = find(env, name);
    if (i >= 0) {
        tt_retain(t);
        tt_release(env->tensors[i]);
        env->tensors[i] = t;
        return TT_OK;
    }
    if (env->count == env->cap) {
        int cap = env->cap ? 2 * env->cap : 8;
        char **names = realloc(env->names, (size_t)cap * sizeof *names);
        if (names) env->names = names;
        tt_tensor **tensors = names ? realloc(env->tensors, (size_t)cap * sizeof *tensors) : NULL;
        if (!tensors) return tt_set_error(TT_ENOMEM, "out of memory binding '%s'", name);
        env->tensors = tensors, env->cap = cap;
    }
    if (!(env->names[env->count] = strdup(name))) return tt_set_error(TT_ENOMEM, "out of memory binding '%s'", name);
    env->tensors[env->count++] = tt_retain(t);
    return TT_OK;
}

static bool is_identifier(const char *s, size_t len)
{
    if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return false;
    return true;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* "-", "-:DATASET", an existing file, or FILE:DATASET with FILE existing. */
static bool is_source(const char *value)
{
    if (!strcmp(value, "-") || !strncmp(value, "-:", 2) || exists(value)) return true;
    char *path, *dataset;
    if (!strchr(value, ':') || tt_split_source(value, &path, &dataset)) return false;
    bool ok = exists(path);
    free(path);
    free(dataset);
    return ok;
}

/* Standard input can be read only once: every "-" / "-:DATASET" source of
 * an environment reads from the same source, opened by the first. */
static tt_tensor *read_stdin_source(tg_env *env, const char *value)
{
    if (!env->stdin_src && !(env->stdin_src = tt_source_open("-"))) return NULL;
    char *path = NULL, *dataset = NULL;
    if (tt_split_source(value, &path, &dataset) != 0) return NULL;
    tt_tensor *t = tt_source_read(env->stdin_src, dataset);
    free(path);
    free(dataset);
    return t;
}

tt_tensor *tg_env_read_source(tg_env *env, const char *value)
{
    bool from_stdin = !strcmp(value, "-") || !strncmp(value, "-:", 2);
    tt_tensor *t = from_stdin ? read_stdin_source(env, value) : tt_read_source(value), *r;
    if (t && tt_dtype_is_floating(t->dtype) && t->dtype != env->dtype) {
        r = tt_cast(t, env->dtype);
        tt_release(t);
        t = r;
    }
    if (t && tt_device_of(t).type != env->device.type) {
        r = tt_to_device(t, env->device);
        tt_release(t);
        t = r;
    }
    return t;
}

/* A value that failed as an expression but looks like a file name gets a
 * note saying no such file exists (data.h5 is both a bad expression and a
 * missing file; the user meant the file). */
static bool looks_like_path(const char *v)
{
    if (strchr(v, '/') || strchr(v, ':')) return true;
    for (const char *p = strchr(v, '.'); p; p = strchr(p + 1, '.'))
        if (isalpha((unsigned char)p[1])) return true;
    return false;
}

tt_tensor *tg_env_value(tg_env *env, const char *value, const char *context)
{
    bool source = is_source(value);
    tt_tensor *t = source ? tg_env_read_source(env, value) : tg_eval(env, value);
    if (t) return t;
    char *msg = strdup(tt_last_error());
    tt_status st = tt_last_status();
    char *path = NULL, *dataset = NULL;
    if (!context) context = value;
    if (!source && looks_like_path(value) && !tt_split_source(value, &path, &dataset))
        tt_set_error(TT_ENOTFOUND, "%s: no file '%s', and as an expression: %s", context, path, msg ? msg : "");
    else tt_set_error(st, "%s: %s", context, msg ? msg : "");
    free(path);
    free(dataset);
    free(msg);
    return NULL;
}

tt_status tg_env_bind(tg_env *env, const char *assignment)
{
    if (!env || !assignment) return tt_set_error(TT_EINVAL, "tg_env_bind: NULL environment or binding");
    const char *eq = strchr(assignment, '=');
    if (!eq) return tt_set_error(TT_ESYNTAX, "invalid binding '%s': expected NAME=VALUE", assignment);
    size_t len = (size_t)(eq - assignment);
    if (!is_identifier(assignment, len))
        return tt_set_error(TT_ESYNTAX,
                            "invalid binding '%s': '%.*s' is not a name (letters, digits and '_', "
                            "not starting with a digit)",
                            assignment, (int)len, assignment);
    char name[256];
    if (len >= sizeof name) return tt_set_error(TT_ESYNTAX, "invalid binding '%s': the name is too long", assignment);
    memcpy(name, assignment, len);
    name[len] = 0;
    if (!strcmp(name, "true") || !strcmp(name, "false"))
        return tt_set_error(TT_ESYNTAX, "invalid binding '%s': '%s' is a literal, not a name", assignment, name);
    const char *value = eq + 1;
    if (!*value) return tt_set_error(TT_ESYNTAX, "invalid binding '%s': the value is empty", assignment);

    tt_tensor *t = tg_env_value(env, value, assignment);
    if (!t) return tt_last_status();
    tt_status st = tg_env_set(env, name, t);
    tt_release(t);
    return st;
}
