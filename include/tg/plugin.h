/* Plugins: custom differentiable functions (tg/function.h) in a shared
 * library, for tg-check --plugin LIB.so and any program that dlopen()s one.
 *
 * A plugin defines ONE symbol, the entry point TG_PLUGIN_ENTRY_NAME
 * ("tg_plugin_entry"): a function returning a static description of its ops.
 *
 *   #include <tg/plugin.h>
 *
 *   static const tg_function Sigmoid = {"Sigmoid", sigmoid_forward, sigmoid_backward, false};
 *   static const tg_plugin_input sigmoid_inputs[] = {{.name = "x", .ndim = 2, .shape = {3, 4}}};
 *   static const tg_plugin_op ops[] = {
 *       {.function = &Sigmoid, .ninputs = 1, .inputs = sigmoid_inputs,
 *        .description = "1 / (1 + exp(-x))"},
 *   };
 *   static const tg_plugin plugin = {TG_PLUGIN_VERSION, "seed000", 1, ops};
 *   TG_PLUGIN_EXPORT const tg_plugin *tg_plugin_entry(void) { return &plugin; }
 *
 * Build it against the installed library:
 *   cc -shared -fPIC -o ops.so ops.c $(pkg-config --cflags --libs tg)
 * examples/ops/ in the source tree is a complete plugin with a Makefile.
 *
 * The host calls the entry point once after dlopen and reads the returned
 * description, which must stay valid (static) until dlclose. version must
 * be TG_PLUGIN_VERSION of the header the plugin was built with; a host
 * refuses a version it does not know. Each op's function is applied with
 * tg_function_apply(op->function, op->ninputs, inputs, op->user_data), so
 * its node is "<name>Backward" as for any custom function.
 *
 * Inputs: per op, ninputs descriptions giving each input's name, default
 * shape, whether it requires grad, and the range its random test values
 * are drawn from (a host may replace shapes and values, e.g. tg-check's
 * --shape and NAME=VALUE).
 */
#ifndef TG_PLUGIN_H
#define TG_PLUGIN_H

#include "function.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The layout of the structures below; bumped when they change. */
#define TG_PLUGIN_VERSION 1

/* The entry point's name, and its type. */
#define TG_PLUGIN_ENTRY_NAME "tg_plugin_entry"
struct tg_plugin;
typedef const struct tg_plugin *(*tg_plugin_entry_fn)(void);

#if defined(__GNUC__)
#define TG_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TG_PLUGIN_EXPORT
#endif

/* Most inputs an op may describe. */
#define TG_PLUGIN_MAX_INPUTS 16

typedef struct tg_plugin_input {
    const char *name; /* "w" (NULL: "input0", "input1", ...) */
    int ndim;         /* default shape: ndim dims (0: a 0-d tensor) */
    int64_t shape[TT_MAX_DIMS];
    bool no_grad; /* true: the input does not require grad (a constant) */
    /* Random test values: uniform in [low, high); both 0 means standard
     * normal (randn), as PyTorch's gradcheck examples use. */
    double low, high;
} tg_plugin_input;

typedef struct tg_plugin_op {
    const tg_function *function;   /* name ("Sigmoid"), forward, backward */
    int ninputs;                   /* 1 .. TG_PLUGIN_MAX_INPUTS */
    const tg_plugin_input *inputs; /* ninputs entries */
    const char *description;       /* one line for listings (may be NULL) */
    void *user_data;               /* passed to tg_function_apply (may be NULL) */
} tg_plugin_op;

typedef struct tg_plugin {
    int version;      /* TG_PLUGIN_VERSION */
    const char *name; /* the plugin's name, for messages */
    int nops;
    const tg_plugin_op *ops; /* nops entries, names distinct */
} tg_plugin;

/* What the plugin defines (declared here so the compiler checks its type). */
TG_PLUGIN_EXPORT const tg_plugin *tg_plugin_entry(void);

#ifdef __cplusplus
}
#endif
#endif
