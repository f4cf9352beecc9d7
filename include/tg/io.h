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

/* A root attribute. HDF5: a variable-length UTF-8 string, a 64-bit float, or
 * a 64-bit integer (signed, or unsigned for seeds), one element each. */
typedef enum { TT_ATTR_STR, TT_ATTR_F64, TT_ATTR_I64, TT_ATTR_U64 } tt_attr_type;
typedef struct {
    char *name;
    tt_attr_type type;
    char *str;    /* TT_ATTR_STR */
    double num;   /* TT_ATTR_F64 */
    int64_t i64;  /* TT_ATTR_I64 */
    uint64_t u64; /* TT_ATTR_U64 */
} tt_attr;

typedef struct tt_tensor_set {
    int count;
    char **names;        /* dataset paths without the leading '/' */
    tt_tensor **tensors; /* owned references */
    int nattrs;
    tt_attr *attrs;
    bool from_text; /* read from text: its tensors are columns */
    /* private to lib/io: room in names/tensors, and a hash of the names
     * (index + 1 per slot, 0 empty) so that lookups take constant time */
    int capacity;
    int *name_slots;
    size_t name_slot_count;
} tt_tensor_set;

tt_tensor_set *tt_set_new(void);
void tt_set_free(tt_tensor_set *set);
/* Adds (or replaces) name -> t; the set takes a new reference. */
tt_status tt_set_put(tt_tensor_set *set, const char *name, tt_tensor *t);
/* Borrowed reference, or NULL (no error set). A leading '/' is ignored. */
tt_tensor *tt_set_get(const tt_tensor_set *set, const char *name);
tt_status tt_set_attr_str(tt_tensor_set *set, const char *name, const char *value);
tt_status tt_set_attr_num(tt_tensor_set *set, const char *name, double value);
tt_status tt_set_attr_int(tt_tensor_set *set, const char *name, int64_t value);
tt_status tt_set_attr_uint(tt_tensor_set *set, const char *name, uint64_t value);
const tt_attr *tt_set_find_attr(const tt_tensor_set *set, const char *name);
/* "x, y, grad/x" for error messages; malloc'd. */
char *tt_set_names_joined(const tt_tensor_set *set);

typedef enum { TT_FMT_AUTO, TT_FMT_H5, TT_FMT_CSV, TT_FMT_TSV, TT_FMT_TEXT } tt_file_format;
/* "h5"/"hdf5", "csv", "tsv", "text"/"txt"; 0 ok. */
int tt_format_parse(const char *s, tt_file_format *out);
/* By extension: .h5/.hdf5 -> H5, .csv -> CSV, .tsv/.txt -> TSV/TEXT, else AUTO. */
tt_file_format tt_format_from_path(const char *path);

/* ---- reading ---------------------------------------------------------- */
/* A source: a file or a stream, opened once and read one tensor, or a slice
 * of rows, at a time. HDF5 is recognised by its signature, anything else is
 * parsed as text. `label` names the source in messages ("d.h5", "standard
 * input").
 * HDF5: a regular file (standard input redirected from one too) is opened in
 * place, never read whole: only the datasets asked for are opened, their
 * shape and type are known before any data is read (tt_source_info), and
 * data is read in hyperslabs of at most 16 MiB (contiguous, chunked and
 * compressed datasets alike; other datasets in the file, of any type, are
 * never touched). An image on a pipe (or given as bytes) needs random
 * access, so it is held whole: in memory up to TT_SPILL_BYTES, else copied
 * to a temporary file in $TMPDIR (else /tmp) that is opened in place and
 * removed at once. An image may be followed by other bytes (its superblock
 * gives its end). Attributes are read only by tt_source_read_attrs, every
 * call into libhdf5 inside the guard (tg/guard.h). float32 -> TT_F32, other
 * floats -> TT_F64, any integer -> TT_I64, h5py's bool enum -> TT_BOOL, a
 * scalar dataspace -> 0-D; a dataset of another type (strings, compounds)
 * fails when it is named. A file that libhdf5 fails on is "FILE: damaged
 * HDF5 file: ..." (TT_EFORMAT).
 * Text: parsed in pieces of 1 MiB as it arrives (the text is never held
 * whole); the columns are kept as float64 (8 bytes a value) for the reads;
 * columns are named by the header (or "1", "2", ... without one); messages
 * give line and column. */
#define TT_SPILL_BYTES ((size_t)16 << 20)
typedef struct tt_source tt_source;
/* "-" is standard input. NULL with a message naming the file. */
tt_source *tt_source_open(const char *path);
tt_source *tt_source_open_stream(FILE *f, const char *label);
/* Reads buf in place: it must outlive the source. */
tt_source *tt_source_open_bytes(const void *buf, size_t len, const char *label);
void tt_source_close(tt_source *src);
const char *tt_source_label(const tt_source *src);
bool tt_source_is_text(const tt_source *src);
/* The datasets' paths ("x", "grad/x"; HDF5: in creation order where the file
 * tracks it, as tg's files do, else by name) or the columns' names; owned by
 * the source. Lists links and object headers, opens no dataset. */
tt_status tt_source_names(tt_source *src, char *const **names, int *n);
/* One tensor, by the rules of tt_read_source: the named dataset (column),
 * else the only one, else for text all columns as one 2-D tensor. */
tt_tensor *tt_source_read(tt_source *src, const char *dataset);
/* The shape (TT_MAX_DIMS room) and dtype of what tt_source_read would
 * return, without reading its data. Text columns are 1-D float64. */
tt_status tt_source_info(tt_source *src, const char *dataset, int *ndim, int64_t *shape, tt_dtype *dtype);
/* Elements start .. start + count - 1 of a vector (a 1-D dataset, or one of
 * shape (N, 1) or (1, N); a text column) converted to double, into out. A
 * dataset of another shape, of bools, or rows beyond its end are TT_EINVAL. */
tt_status tt_source_read_rows(tt_source *src, const char *dataset, int64_t start, int64_t count, double *out);
/* HDF5: the root attributes (strings, one-element integers and floats;
 * others skipped) into set; text has none. */
tt_status tt_source_read_attrs(tt_source *src, tt_tensor_set *set);
/* Text: the file line (from 1) of a row; 0 for HDF5. */
int64_t tt_source_text_line(const tt_source *src, int64_t row);
/* Removes the temporary file of an HDF5 image being copied from a pipe, if
 * one exists now; async-signal-safe, for a program's fatal-signal handler. */
void tt_io_remove_temporaries(void);

/* A whole source as a set: every dataset, then the root attributes. */
tt_tensor_set *tt_read_bytes(const void *buf, size_t len, const char *label);
tt_tensor_set *tt_read_path(const char *path); /* "-" reads standard input */
tt_tensor_set *tt_read_stream(FILE *f, const char *label);

/* A tensor source: "FILE", "FILE:DATASET", "-", "-:DATASET". Without a
 * dataset the source must hold exactly one tensor, or for text several
 * columns, which are returned as one 2-D float64 tensor (rows x columns);
 * an HDF5 file with several datasets is TT_EINVAL listing them. A missing
 * dataset is TT_ENOTFOUND and the message lists the datasets that exist.
 * For text the dataset is a column name. Reads that dataset alone. */
tt_tensor *tt_read_source(const char *spec);
/* One tensor of a set read from `label` (the rules of tt_read_source):
 * the named dataset (column), else the only one, else for text all columns
 * as one 2-D tensor. A new reference, or NULL with a message naming label. */
tt_tensor *tt_set_select(const tt_tensor_set *set, const char *dataset, const char *label);
/* Splits "FILE:DATASET": a spec that names an existing file (or is "-") is
 * all path; else it splits at the rightmost ':' whose prefix is "-" or an
 * existing file, else at the last ':' (so a missing file is reported by
 * name). Returns 0 with *path malloc'd and *dataset malloc'd or NULL (no
 * dataset, or nothing after the ':'); -1 with an error set on an empty spec. */
int tt_split_source(const char *spec, char **path, char **dataset);

/* ---- writing ---------------------------------------------------------- */
/* Text forms: 0-D/1-D tensors of one length become columns under a header
 * line (no header when every name reads as a number, as "1", "2" do); a
 * single 2-D tensor rows, no header. Numbers are the shortest %g that reads
 * back exactly; int64 in full, bool 0/1. CSV: commas; TSV: tabs; TEXT:
 * right-aligned columns (padded to the widest number so far: rows go out in
 * blocks of at most 16384 numbers), root attributes as "# name: value" lines
 * first.
 * Other shapes are TT_EINVAL naming the tensor, before anything is written.
 * HDF5 writes the whole file image. fmt AUTO: text to a terminal, else HDF5.
 * Text is formatted and written in pieces as it goes (a closed pipe stops it
 * at once). Write errors (a closed pipe: EPIPE with SIGPIPE ignored) are
 * TT_EIO naming the stream ("standard output: cannot write: Broken pipe"),
 * with errno left at the cause. */
tt_status tt_write_stream(const tt_tensor_set *set, tt_file_format fmt, FILE *f);
/* Text written in pieces, for data made piece by piece (tg-gen streams its
 * rows): the first piece also writes TEXT's attribute comments and the header,
 * later pieces must have the same columns. Each piece is formatted and written
 * in blocks of rows as above (aligned text pads to the widest number seen so
 * far). A write error makes the rest do nothing and finish report it. */
typedef struct tt_text_writer tt_text_writer;
tt_text_writer *tt_text_writer_new(FILE *f, tt_file_format fmt, const char *label); /* CSV, TSV or TEXT */
tt_status tt_text_writer_put(tt_text_writer *w, const tt_tensor_set *piece);
/* Flushes and frees w; TT_EIO with errno at the cause on a write error. */
tt_status tt_text_writer_finish(tt_text_writer *w);
void tt_text_writer_abort(tt_text_writer *w); /* frees w, flushing nothing more */

/* Writes to a temporary file in the same directory and renames it over path:
 * on any failure path is left as it was and no temporary file remains. An
 * existing device or FIFO (/dev/null) is written in place; a symbolic link is
 * followed (see tt_output_open); "-" is standard output. fmt AUTO picks by
 * extension (H5 when the extension says nothing). */
tt_status tt_write_path(const tt_tensor_set *set, tt_file_format fmt, const char *path);
/* Raw bytes (DOT, SVG, PNG, report text) written to path the same atomic way
 * (a device or FIFO directly). */
tt_status tt_write_bytes(const char *path, const void *buf, size_t len);

/* An output file written atomically, step by step (tt_write_path and
 * tt_write_bytes in one call): tt_output_open creates a temporary file next
 * to the file that path names, tt_output_commit renames it over that file
 * (keeping an old file's mode), tt_output_abort removes it. A symbolic link
 * is followed, as GNU sort -o writes through one: the link stays and the
 * file it names is replaced (the temporary file sits beside that file, so
 * the rename is atomic). A device or FIFO is written in place. Messages
 * name path as given. */
typedef struct tt_output tt_output;
tt_output *tt_output_open(const char *path);
FILE *tt_output_file(const tt_output *o);
/* The temporary file's path (NULL when written in place), e.g. for a
 * program that removes it when a signal ends it. */
const char *tt_output_temp(const tt_output *o);
tt_status tt_output_write(tt_output *o, const void *buf, size_t len);
/* The set as fmt (AUTO: by path's extension, else HDF5), text streamed as
 * it is formatted. */
tt_status tt_output_write_set(tt_output *o, const tt_tensor_set *set, tt_file_format fmt);
/* Closes and renames; on failure removes the temporary file. Frees o. */
tt_status tt_output_commit(tt_output *o);
void tt_output_abort(tt_output *o); /* NULL is fine */
/* The file writing path replaces: path with its symbolic links followed
 * (relative ones from the link's directory), or path when it is none or
 * names nothing yet (malloc'd; NULL and TT_EIO on a loop of links). */
char *tt_output_target(const char *path);
/* The HDF5 file image in memory (malloc'd). Superblock version 0, datasets
 * in creation order, no timestamps (equal sets give equal bytes). */
tt_status tt_h5_image(const tt_tensor_set *set, void **buf, size_t *len);

/* HDF5 written a slice at a time, for data larger than memory: declare the
 * datasets (their whole shapes), write each as slices of rows in any order,
 * then the root attributes, then finish. The bytes are those of tt_h5_image
 * for the same datasets, layout and order of writes (deterministic). */
typedef struct tt_h5_writer tt_h5_writer;
/* How a dataset is stored: contiguous (chunk 0), or in chunks of `chunk` rows
 * (elements of a 1-D dataset; whole rows of the first dimension otherwise),
 * gzip-compressed at level `compress` (0-9, after HDF5's shuffle filter) or
 * not (-1). A 0-D dataset is always contiguous. */
typedef struct {
    int64_t chunk;
    int compress;
} tt_h5_layout;
/* Creates the file at path (replacing what is there: meant for tt_output's
 * temporary file), or an image in memory when path is NULL; label names it in
 * messages. bytes: the file's expected size (0: unknown), which sizes HDF5's
 * caches. NULL with a message on failure. */
tt_h5_writer *tt_h5_writer_create(const char *path, const char *label, uint64_t bytes);
/* A dataset of dtype dt and the given shape (NULL layout: contiguous); its
 * index for tt_h5_writer_put, or -1 with a message (a bad name, a chunk over
 * HDF5's 4 GiB limit). Chunked datasets keep one chunk per dataset cached. */
int tt_h5_writer_add(tt_h5_writer *w, const char *name, tt_dtype dt, int ndim, const int64_t *shape,
                     const tt_h5_layout *layout);
/* t (of the dataset's dtype and trailing shape) as rows [first, first +
 * t->shape[0]) of dataset i; a 0-D dataset takes a 0-D t. */
tt_status tt_h5_writer_put(tt_h5_writer *w, int i, int64_t first, const tt_tensor *t);
/* The root attributes of set (its tensors are not written). */
tt_status tt_h5_writer_attrs(tt_h5_writer *w, const tt_tensor_set *set);
/* Every tensor of set whole, in its order, with layout (NULL: contiguous), then its root attributes. */
tt_status tt_h5_writer_add_set(tt_h5_writer *w, const tt_tensor_set *set, const tt_h5_layout *layout);
/* Flushes and closes the file (a write error is TT_EIO naming label); an
 * image in memory is returned in *image, *len (malloc'd; both unused for a
 * file). Frees w. */
tt_status tt_h5_writer_finish(tt_h5_writer *w, void **image, size_t *len);
void tt_h5_writer_abort(tt_h5_writer *w); /* closes and frees w; NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
