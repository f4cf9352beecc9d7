/* Graph export: an autograd graph as Graphviz DOT, in torchviz's conventions.
 *
 * The text is what torchviz's make_dot(outputs, params, show_saved) gives
 * (as the graphviz package writes it), statement for statement, with one
 * difference: node ids are not addresses (torchviz's id()) but 0, 1, 2, ...
 * in the order the text first mentions each object, so the same graph gives
 * byte-identical text in every run.
 *
 *   - output tensors: darkolivegreen1 boxes labelled "NAME\n (2, 3)";
 *   - backward nodes: boxes labelled with tg_node_name() ("MulBackward0");
 *     edges run from each of next_functions to the node that uses it;
 *   - AccumulateGrad nodes: their leaf tensor (tg_node_variable) as a
 *     lightblue box "NAME\n (2, 3)" with an edge leaf -> AccumulateGrad;
 *   - with show_saved, each node's saved tensors (in torchviz's order, by
 *     attribute name) as orange boxes "self\n (3)" joined by dir=none edges;
 *     a custom function's (tg/function.h) saved tensors are drawn always,
 *     unnamed, after its inputs, as torchviz draws saved_tensors.
 * Shapes are written as torchviz writes them: "(3, 4)", "(3)", "()" for 0-d.
 * A leaf's NAME is the params name given for it, else tg_name(), else empty
 * (torchviz leaves it empty); an output's is its output name when given,
 * else the same. Every object (node or tt_tensor, by identity) has one id,
 * and torchviz's statements are kept as they are: a graph node reached
 * twice is walked once (edges are drawn per use), an output already drawn
 * is skipped, and a leaf that is also a saved tensor gets both node
 * statements under its one id (Graphviz keeps the last). Labels are quoted
 * and escaped for DOT (quotes, backslashes, '&', invalid UTF-8), so any
 * name renders literally. The "\n" of a label is a newline character
 * inside the quoted string, as in torchviz's text.
 *
 * Not drawn, as libgrad does not record them: the base of an output that is
 * a view (torchviz's darkolivegreen3 node) and the non-tensor attributes of
 * show_attrs=True.
 *
 * The graph is walked without recursion and each node is visited once, so
 * graphs of millions of nodes are fine. A saved tensor that was freed by a
 * backward without retain_graph, or modified in place, makes the export
 * fail with PyTorch's message, as torchviz does: with show_saved, or for a
 * custom function's saved tensors (always drawn).
 */
#ifndef TG_DOT_H
#define TG_DOT_H

#include "grad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* torchviz's params: names for tensors (leaf labels); when a tensor is
     * listed twice the last name wins. NULL arrays when nparams is 0. */
    int nparams;
    tt_tensor *const *params;
    const char *const *param_names;
    /* NULL, or one name per output (NULL or "" entries: no name of its own). */
    const char *const *output_names;
    /* Draw the tensors each node saved for backward (show_saved=True). */
    bool show_saved;
} tg_dot_options;

/* Writes the DOT text of the graph behind outputs[0..noutputs) to f. opts
 * may be NULL (no names, no saved tensors). Nothing is written on error. */
tt_status tg_dot_write(FILE *f, int noutputs, tt_tensor *const *outputs, const tg_dot_options *opts);
/* The same text as a malloc'd string (free() it), or NULL on error. */
char *tg_dot_string(int noutputs, tt_tensor *const *outputs, const tg_dot_options *opts);

#ifdef __cplusplus
}
#endif
#endif
