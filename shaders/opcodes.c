/* Writes the shaders' op codes from the op table (tg/ops.def), and checks
 * that every shader given has a kernel for every op of its dtype:
 *
 *     opcodes OUT.glsl SHADER.comp...
 *
 * OUT.glsl defines OP_NAME (the tt_*_op value) for every op of the table,
 * and OP_CLAMP (the unary shaders' clamp, with its bound flags). A shader
 * named unary_T.comp or binary_T.comp must have a `case OP_NAME:` for each
 * op it serves (unary_i64: the ops that keep integers; binary_i64: all but
 * true division) and no `default:`, so that an op added to the table without
 * its GLSL line is a build error, not a silently wrong result. Built and run
 * on the build machine by vulkan.mk. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vulkan.h"

typedef struct {
    const char *enum_name;
    int code;
    bool int64; /* served by the int64 kernel */
} op;

#define INT64_KEEP true
#define INT64_FLOAT false
#define INT64_NOINT false
#define INT64_ARITH true
#define INT64_TRUEDIV false
static const op unary[] = {
#define TT_UNARY_OP(ENUM, name, ints, ...) {#ENUM, TT_##ENUM, INT64_##ints},
#include "tg/ops.def"
};
static const op binary[] = {
#define TT_BINARY_OP(ENUM, name, kind, ...) {#ENUM, TT_##ENUM, INT64_##kind},
#define TT_COMPARE_OP(ENUM, name) {#ENUM, TT_##ENUM, true},
#include "tg/ops.def"
};
static const op reduce[] = {
#define TT_REDUCE_OP(ENUM, ...) {#ENUM, TT_##ENUM, true},
#include "tg/ops.def"
};
static const op scan[] = {
#define TT_SCAN_OP(ENUM, ...) {#ENUM, TT_##ENUM, true},
#include "tg/ops.def"
};
#define COUNT(a) ((int)(sizeof a / sizeof a[0]))
/* Comparisons follow the arithmetic ops in tt_binary_op. */
static const int first_compare = 0
#define TT_BINARY_OP(...) +1
#include "tg/ops.def"
    ;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = 2 * (len + n + 1);
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf && !(buf = calloc(1, 1))) return NULL;
    buf[len] = '\0';
    return buf;
}

/* The ops of `table` the shader serves must each have their case. */
static int check_cases(const char *path, const char *text, const op *table, int n, bool int64_only)
{
    int missing = 0;
    for (int i = 0; i < n; i++) {
        if (int64_only && !table[i].int64) continue;
        char want[64];
        snprintf(want, sizeof want, "case OP_%s:", table[i].enum_name);
        if (!strstr(text, want)) {
            fprintf(stderr, "%s: no kernel for op %s: add `%s` (see CONTRIBUTING.md)\n", path, table[i].enum_name,
                    want);
            missing++;
        }
    }
    return missing;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: opcodes OUT.glsl SHADER.comp...\n");
        return 2;
    }
    int bad = 0;
    for (int k = 2; k < argc; k++) {
        const char *path = argv[k], *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        bool is_unary = !strncmp(base, "unary_", 6), is_binary = !strncmp(base, "binary_", 7);
        if (!is_unary && !is_binary) continue;
        char *text = read_file(path);
        if (!text) {
            fprintf(stderr, "opcodes: cannot read %s\n", path);
            return 1;
        }
        if (strstr(text, "default:")) {
            fprintf(stderr, "%s: a `default:` would compute something for an op it does not know\n", path);
            bad++;
        }
        bool i64 = strstr(base, "_i64") != NULL;
        bad += is_unary ? check_cases(path, text, unary, COUNT(unary), i64)
                        : check_cases(path, text, binary, COUNT(binary), i64);
        free(text);
    }
    if (bad) return 1;
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        fprintf(stderr, "opcodes: cannot write %s\n", argv[1]);
        return 1;
    }
    fprintf(f, "// Op codes of tg/ops.def, written by shaders/opcodes.c: do not edit.\n");
    for (int i = 0; i < COUNT(unary); i++) fprintf(f, "#define OP_%s %du\n", unary[i].enum_name, unary[i].code);
    for (int i = 0; i < COUNT(binary); i++) fprintf(f, "#define OP_%s %du\n", binary[i].enum_name, binary[i].code);
    for (int i = 0; i < COUNT(reduce); i++) fprintf(f, "#define OP_%s %du\n", reduce[i].enum_name, reduce[i].code);
    for (int i = 0; i < COUNT(scan); i++) fprintf(f, "#define OP_%s %du\n", scan[i].enum_name, scan[i].code);
    fprintf(f, "#define OP_FIRST_COMPARE %du\n", first_compare);
    fprintf(f, "#define OP_CLAMP %uu // + 1: a lower bound, + 2: an upper bound\n", (unsigned)TT_VK_OP_CLAMP);
    return fclose(f) == 0 ? 0 : 1;
}
