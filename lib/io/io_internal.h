/* Private helpers shared by the files of lib/io. */
#ifndef TG_IO_INTERNAL_H
#define TG_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "tg/io.h"

/* Like strdup, but sets TT_ENOMEM on failure. */
char *tt_io_strdup(const char *s);
/* "x, y, grad/x" (malloc'd), for messages. */
char *tt_io_names_joined(char *const *names, int n);
/* The error of selecting `dataset` (NULL: the only one) from a source that
 * holds names[0..n) when that fails: none such, none at all, or several. */
tt_status tt_io_select_error(const char *label, bool text, const char *dataset, char *const *names, int n);

/* A hash of names for constant-time lookup (set.c): slots hold index + 1
 * into a caller's array of names (0: empty), open addressing, at most half
 * full. Sets and text headers use it, so that 10^6 columns read in linear time. */
typedef struct {
    int *slots;
    size_t nslots;
} tt_name_hash;
/* The index of name (n bytes) among names[], or -1. */
int tt_name_hash_find(const tt_name_hash *h, char *const *names, const char *name, size_t n);
/* Adds names[index] (count = index + 1 names so far); TT_ENOMEM on failure. */
tt_status tt_name_hash_add(tt_name_hash *h, char *const *names, int index);
void tt_name_hash_free(tt_name_hash *h);

/* The guard (guard.c, tg/guard.h): every call into libhdf5 on untrusted
 * bytes runs between enter and leave; each enter starts a new step of work,
 * bounded by `bytes` (what the call may touch). Not nested. */
void tt_guard_enter(const char *label, uint64_t bytes);
void tt_guard_leave(void);

/* HDF5 (h5.c): an image in memory, opened once, read a dataset at a time. */
bool tt_h5_signature_at(const void *buf, size_t len, size_t *offset);
typedef struct tt_h5_file tt_h5_file;
/* Checks the superblock and opens the image (which must outlive the handle);
 * reads no dataset or attribute. NULL with a message naming label. */
tt_h5_file *tt_h5_open(const void *buf, size_t len, const char *label);
/* A regular file opened in place (no image in memory): fd is open on path,
 * size its bytes (for the checks before libhdf5 sees it, and the guard). */
tt_h5_file *tt_h5_open_file(const char *path, int fd, uint64_t size, const char *label);
bool tt_h5_signature_in_file(int fd, uint64_t size, uint64_t *offset);
void tt_h5_close(tt_h5_file *h);
/* A root attribute (a string, float or integer) on an open group (a hid_t). */
tt_status tt_h5_write_attr(int64_t root, const tt_attr *a);
#ifdef TG_MPI
/* The MPI-IO driver on a file-access property list when tt_io_set_mpi_comm
 * set a communicator (io_mpi.c); false when HDF5 refuses it. */
bool tt_io_mpi_fapl(int64_t fapl);
#endif
/* The paths of every dataset ("x", "grad/x"), in creation order where the file
 * tracks it (tg's files), else by name; listed once, owned by h. */
tt_status tt_h5_names(tt_h5_file *h, char *const **names, int *n);
/* One dataset; NULL with TT_ENOTFOUND (and no message) when the file holds no
 * dataset of that path, else with a message on error. */
tt_tensor *tt_h5_read(tt_h5_file *h, const char *name);
/* A dataset's shape and dtype, and rows of a vector as doubles (tt_source_info,
 * tt_source_read_rows); the dataset stays open for the next call. TT_ENOTFOUND
 * when there is none. */
tt_status tt_h5_info(tt_h5_file *h, const char *name, int *ndim, int64_t *shape, tt_dtype *dtype);
tt_status tt_h5_read_rows(tt_h5_file *h, const char *name, int64_t start, int64_t count, double *out);
/* The root attributes (strings, one-element integers and floats) into set. */
tt_status tt_h5_read_attrs(tt_h5_file *h, tt_tensor_set *set);

/* Text (text.c): columns of float64, parsed from pieces of text as they
 * arrive (a line cut between pieces is carried over), so that the text itself
 * is never held whole. */
typedef struct {
    int ncols;
    char **names; /* the header's, or "1", "2", ... */
    tt_name_hash hash;
    double **cols; /* cols[j][row] */
    int64_t rows, cap;
    /* The file line of each row, as runs: rows run_row[k] onwards are on
     * lines run_line[k] onwards (blank lines and comments start a new run). */
    int64_t *run_row, *run_line;
    size_t nruns, capruns;
} tt_text_table;
void tt_text_table_free(tt_text_table *t);
int tt_text_table_find(const tt_text_table *t, const char *name); /* -1 when none */
int64_t tt_text_table_line(const tt_text_table *t, int64_t row);  /* from 1 */
typedef struct tt_text_parser tt_text_parser;
tt_text_parser *tt_text_parser_new(const char *label);
/* Parses the whole lines of a piece; an error is kept (later feeds return it). */
tt_status tt_text_parser_feed(tt_text_parser *p, const char *buf, size_t len);
/* The last line, then the table (NULL with a message); frees p. */
tt_text_table *tt_text_parser_finish(tt_text_parser *p);
void tt_text_parser_free(tt_text_parser *p);
/* A whole text in memory. */
tt_text_table *tt_text_read(const char *buf, size_t len, const char *label);
/* Writes set as text of format fmt (CSV, TSV or TEXT) to f; label names f in messages. */
tt_status tt_text_write(const tt_tensor_set *set, tt_file_format fmt, FILE *f, const char *label);

/* A sink that checks every fwrite (source.c). */
typedef struct {
    FILE *f;
    const char *label;
    char *buf;
    size_t len, cap;
    int err; /* errno of the first failure, 0 if none */
} tt_io_sink;
void tt_sink_init(tt_io_sink *s, FILE *f, const char *label);
void tt_sink_write(tt_io_sink *s, const void *data, size_t n);
void tt_sink_puts(tt_io_sink *s, const char *str);
void tt_sink_putc(tt_io_sink *s, char c);
/* Flushes to the FILE and fflushes it; frees the buffer; TT_EIO with a message on failure. */
tt_status tt_sink_finish(tt_io_sink *s);

#endif
