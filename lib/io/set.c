/* Tensor sets: named tensors plus root attributes; formats by name. */
#include <stdint.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/io_internal.h"

char *tt_io_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, s, n);
    return p;
}

tt_tensor_set *tt_set_new(void)
{
    tt_tensor_set *set = calloc(1, sizeof *set);
    if (!set) tt_set_error(TT_ENOMEM, "out of memory");
    return set;
}

/* ---- names by hash ------------------------------------------------------- */

static size_t hash_bytes(const char *s, size_t n) /* FNV-1a */
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return (size_t)h;
}

static bool name_is(const char *stored, const char *name, size_t n)
{
    return !strncmp(stored, name, n) && stored[n] == 0;
}

int tt_name_hash_find(const tt_name_hash *h, char *const *names, const char *name, size_t n)
{
    if (!h->nslots) return -1;
    for (size_t i = hash_bytes(name, n) & (h->nslots - 1);; i = (i + 1) & (h->nslots - 1)) {
        int k = h->slots[i];
        if (!k) return -1;
        if (name_is(names[k - 1], name, n)) return k - 1;
    }
}

static void slot_put(int *slots, size_t nslots, const char *name, int index)
{
    size_t i = hash_bytes(name, strlen(name)) & (nslots - 1);
    while (slots[i]) i = (i + 1) & (nslots - 1);
    slots[i] = index + 1;
}

tt_status tt_name_hash_add(tt_name_hash *h, char *const *names, int index)
{
    if (2 * ((size_t)index + 1) > h->nslots) { /* grow to stay at most half full */
        size_t nslots = h->nslots ? 2 * h->nslots : 16;
        while (2 * ((size_t)index + 1) > nslots) nslots *= 2;
        int *slots = calloc(nslots, sizeof *slots);
        if (!slots) return tt_set_error(TT_ENOMEM, "out of memory");
        for (int k = 0; k < index; k++) slot_put(slots, nslots, names[k], k);
        free(h->slots);
        h->slots = slots;
        h->nslots = nslots;
    }
    slot_put(h->slots, h->nslots, names[index], index);
    return TT_OK;
}

void tt_name_hash_free(tt_name_hash *h)
{
    free(h->slots);
    h->slots = NULL;
    h->nslots = 0;
}

/* ---- sets ------------------------------------------------------------------- */

static tt_name_hash set_hash(const tt_tensor_set *set) { return (tt_name_hash){set->name_slots, set->name_slot_count}; }

void tt_set_free(tt_tensor_set *set)
{
    if (!set) return;
    for (int i = 0; i < set->count; i++) {
        free(set->names[i]);
        tt_release(set->tensors[i]);
    }
    free(set->names);
    free(set->tensors);
    free(set->name_slots);
    for (int i = 0; i < set->nattrs; i++) {
        free(set->attrs[i].name);
        free(set->attrs[i].str);
    }
    free(set->attrs);
    free(set);
}

static const char *strip_slash(const char *name)
{
    while (name[0] == '/') name++;
    return name;
}

static int find_index(const tt_tensor_set *set, const char *name)
{
    name = strip_slash(name);
    tt_name_hash h = set_hash(set);
    return tt_name_hash_find(&h, set->names, name, strlen(name));
}

tt_status tt_set_put(tt_tensor_set *set, const char *name, tt_tensor *t)
{
    if (!set || !name || !t) return tt_set_error(TT_EINVAL, "tt_set_put: NULL argument");
    name = strip_slash(name);
    if (!name[0]) return tt_set_error(TT_EINVAL, "a tensor needs a non-empty name");
    int i = find_index(set, name);
    if (i >= 0) {
        tt_retain(t);
        tt_release(set->tensors[i]);
        set->tensors[i] = t;
        return TT_OK;
    }
    if (set->count == INT32_MAX) return tt_set_error(TT_EINVAL, "a set holds at most %d tensors", INT32_MAX);
    if (set->count == set->capacity) { /* doubling: n puts cost O(n) */
        int cap = set->capacity ? (set->capacity > INT32_MAX / 2 ? INT32_MAX : 2 * set->capacity) : 8;
        char **names = realloc(set->names, (size_t)cap * sizeof *names);
        if (names) set->names = names;
        tt_tensor **tensors = names ? realloc(set->tensors, (size_t)cap * sizeof *tensors) : NULL;
        if (!tensors) return tt_set_error(TT_ENOMEM, "out of memory");
        set->tensors = tensors;
        set->capacity = cap;
    }
    char *copy = tt_io_strdup(name);
    if (!copy) return TT_ENOMEM;
    set->names[set->count] = copy;
    tt_name_hash h = set_hash(set);
    tt_status st = tt_name_hash_add(&h, set->names, set->count);
    set->name_slots = h.slots;
    set->name_slot_count = h.nslots;
    if (st != TT_OK) {
        free(copy);
        return st;
    }
    set->tensors[set->count] = tt_retain(t);
    set->count++;
    return TT_OK;
}

tt_tensor *tt_set_get(const tt_tensor_set *set, const char *name)
{
    if (!set || !name) return NULL;
    int i = find_index(set, name);
    return i >= 0 ? set->tensors[i] : NULL;
}

/* The attribute of that name, emptied (every value field zero), or a new one. */
static tt_attr *attr_slot(tt_tensor_set *set, const char *name)
{
    for (int i = 0; i < set->nattrs; i++)
        if (!strcmp(set->attrs[i].name, name)) {
            tt_attr *a = &set->attrs[i];
            free(a->str);
            char *kept = a->name;
            memset(a, 0, sizeof *a);
            a->name = kept;
            return a;
        }
    char *copy = tt_io_strdup(name);
    if (!copy) return NULL;
    tt_attr *attrs = realloc(set->attrs, (size_t)(set->nattrs + 1) * sizeof *attrs);
    if (!attrs) {
        free(copy);
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    set->attrs = attrs;
    tt_attr *a = &set->attrs[set->nattrs++];
    memset(a, 0, sizeof *a);
    a->name = copy;
    return a;
}

tt_status tt_set_attr_str(tt_tensor_set *set, const char *name, const char *value)
{
    if (!set || !name || !value) return tt_set_error(TT_EINVAL, "tt_set_attr_str: NULL argument");
    if (!name[0]) return tt_set_error(TT_EINVAL, "an attribute needs a non-empty name");
    char *copy = tt_io_strdup(value);
    if (!copy) return TT_ENOMEM;
    tt_attr *a = attr_slot(set, name);
    if (!a) {
        free(copy);
        return TT_ENOMEM;
    }
    a->type = TT_ATTR_STR;
    a->str = copy;
    return TT_OK;
}

/* Puts a number attribute: `value` holds its type and value. */
static tt_status put_number(tt_tensor_set *set, const char *name, tt_attr value, const char *fn)
{
    if (!set || !name) return tt_set_error(TT_EINVAL, "%s: NULL argument", fn);
    if (!name[0]) return tt_set_error(TT_EINVAL, "an attribute needs a non-empty name");
    tt_attr *a = attr_slot(set, name);
    if (!a) return TT_ENOMEM;
    value.name = a->name;
    *a = value;
    return TT_OK;
}

tt_status tt_set_attr_num(tt_tensor_set *set, const char *name, double value)
{
    return put_number(set, name, (tt_attr){.type = TT_ATTR_F64, .num = value}, "tt_set_attr_num");
}

tt_status tt_set_attr_int(tt_tensor_set *set, const char *name, int64_t value)
{
    return put_number(set, name, (tt_attr){.type = TT_ATTR_I64, .i64 = value}, "tt_set_attr_int");
}

tt_status tt_set_attr_uint(tt_tensor_set *set, const char *name, uint64_t value)
{
    return put_number(set, name, (tt_attr){.type = TT_ATTR_U64, .u64 = value}, "tt_set_attr_uint");
}

const tt_attr *tt_set_find_attr(const tt_tensor_set *set, const char *name)
{
    if (!set || !name) return NULL;
    for (int i = 0; i < set->nattrs; i++)
        if (!strcmp(set->attrs[i].name, name)) return &set->attrs[i];
    return NULL;
}

/* A name as a shell user would type it: as it is when made of letters,
 * digits and _ . - + : / @ %, else in single quotes ('time (s)'). */
static bool shell_plain(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-+:/@%", *s)) return false;
    return true;
}

char *tt_io_names_joined(char *const *names, int count)
{
    size_t n = 1;
    for (int i = 0; i < count; i++) n += 4 * strlen(names[i]) + 4;
    char *s = malloc(n), *p = s;
    if (!s) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }
        bool plain = shell_plain(names[i]);
        if (!plain) *p++ = '\'';
        for (const char *c = names[i]; *c; c++) {
            if (*c == '\'' && !plain) { /* ' inside single quotes: '\'' */
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = *c;
            }
        }
        if (!plain) *p++ = '\'';
    }
    *p = 0;
    return s;
}

char *tt_set_names_joined(const tt_tensor_set *set)
{
    return set ? tt_io_names_joined(set->names, set->count) : tt_io_names_joined(NULL, 0);
}

int tt_format_parse(const char *s, tt_file_format *out)
{
    static const struct {
        const char *name;
        tt_file_format fmt;
    } table[] = {
        {"h5", TT_FMT_H5},   {"hdf5", TT_FMT_H5},   {"csv", TT_FMT_CSV},
        {"tsv", TT_FMT_TSV}, {"text", TT_FMT_TEXT}, {"txt", TT_FMT_TEXT},
    };
    if (!s) return -1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcasecmp(s, table[i].name)) {
            if (out) *out = table[i].fmt;
            return 0;
        }
    return -1;
}

tt_file_format tt_format_from_path(const char *path)
{
    if (!path) return TT_FMT_AUTO;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) return TT_FMT_AUTO;
    dot++;
    if (!strcasecmp(dot, "h5") || !strcasecmp(dot, "hdf5") || !strcasecmp(dot, "he5")) return TT_FMT_H5;
    if (!strcasecmp(dot, "csv")) return TT_FMT_CSV;
    if (!strcasecmp(dot, "tsv")) return TT_FMT_TSV;
    if (!strcasecmp(dot, "txt") || !strcasecmp(dot, "text") || !strcasecmp(dot, "dat")) return TT_FMT_TEXT;
    return TT_FMT_AUTO;
}
