/* Tensor I/O: HDF5 files and images (through pipes) and text columns.
 *
 * A tt_tensor_set is a list of named tensors plus root attributes; it is what
 * one file or stream holds. HDF5: one dataset per tensor, its path its name
 * ("x", "grad/x"), native little-endian, row-major, shape as the dataspace;
 * attributes on the root group. Text: whitespace-, comma- or tab-separated
 * numbers, '#' comments, an optional header line naming the columns.
 */
#ifndef TG_IO_H
#define TG_IO_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *name;
    bool is_string;
    char *str;    /* is_string */
    double num;   /* !is_string */
} tt_attr;

typedef struct tt_tensor_set {
    int count;
    char **names;        /* dataset paths without the leading '/' */
    tt_tensor **tensors; /* owned references */
    int nattrs;
    tt_attr *attrs;
} tt_tensor_set;

tt_tensor_set *tt_set_new(void);
void tt_set_free(tt_tensor_set *set);
/* Adds (or replaces) name -> t; the set takes a new reference. */
tt_status tt_set_put(tt_tensor_set *set, const char *name, tt_tensor *t);
/* Borrowed reference, or NULL (no error set). A leading '/' is ignored. */
tt_tensor *tt_set_get(const tt_tensor_set *set, const char *name);
tt_status tt_set_attr_str(tt_tensor_set *set, const char *name, const char *value);
tt_status tt_set_attr_num(tt_tensor_set *set, const char *name, double value);
const tt_attr *tt_set_find_attr(const tt_tensor_set *set, const char *name);
/* "x, y, grad/x" for error messages; malloc'd. */
char *tt_set_names_joined(const tt_tensor_set *set);

typedef enum { TT_FMT_AUTO, TT_FMT_H5, TT_FMT_CSV, TT_FMT_TSV, TT_FMT_TEXT } tt_file_format;
/* "h5"/"hdf5", "csv", "tsv", "text"/"txt"; 0 ok. */
int tt_format_parse(const char *s, tt_file_format *out);
/* By extension: .h5/.hdf5 -> H5, .csv -> CSV, .tsv/.txt -> TSV/TEXT, else AUTO. */
tt_file_format tt_format_from_path(const char *path);

/* ---- reading ---------------------------------------------------------- */
/* Reads a whole source. HDF5 is recognised by its signature, anything else
 * is parsed as text. `label` names the source in messages ("d.h5",
 * "standard input"). Text columns become 1-D float64 tensors named by the
 * header (or "1", "2", ... without one). On error: NULL and a message that
 * names the source (and line/column for text). */
tt_tensor_set *tt_read_bytes(const void *buf, size_t len, const char *label);
tt_tensor_set *tt_read_path(const char *path);  /* "-" reads standard input */
tt_tensor_set *tt_read_stream(FILE *f, const char *label);

/* A tensor source: "FILE", "FILE:DATASET", "-", "-:DATASET". Without a
 * dataset the source must hold exactly one tensor, or for text several
 * columns, which are returned as one 2-D tensor (rows x columns). A missing
 * dataset is TT_ENOTFOUND and the message lists the datasets that exist. */
tt_tensor *tt_read_source(const char *spec);
/* Splits "FILE:DATASET" (the last ':' that is followed by no '/'-free path
 * match of an existing file); returns 0 and malloc'd parts. */
int tt_split_source(const char *spec, char **path, char **dataset);

/* ---- writing ---------------------------------------------------------- */
/* Text forms: 1-D tensors of one length become columns under a header line;
 * a single 0-D/1-D tensor one column; a single 2-D tensor rows. Numbers are
 * the shortest that read back exactly. Other shapes are TT_EINVAL naming the
 * tensor. HDF5 writes the whole file image. */
tt_status tt_write_stream(const tt_tensor_set *set, tt_file_format fmt, FILE *f);
/* Writes to a temporary file in the same directory and renames it over path:
 * on any failure path is left as it was. fmt AUTO picks by extension (H5 when
 * the extension says nothing). */
tt_status tt_write_path(const tt_tensor_set *set, tt_file_format fmt, const char *path);
/* The HDF5 file image in memory (malloc'd). */
tt_status tt_h5_image(const tt_tensor_set *set, void **buf, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
