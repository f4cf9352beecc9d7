/* HDF5 file images: reading every dataset of an image in memory, and
 * building an image with the core driver. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "io/h5_internal.h"

static const unsigned char h5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* ---- HDF5's error stack --------------------------------------------------- */

/* HDF5's automatic error printing is switched off for good, not restored
 * after each call: with it on, HDF5 1.10 prints "infinite loop closing
 * library" at exit after a damaged image failed to load (it leaks an object
 * header then). tg reports HDF5's errors itself. */
typedef struct {
    int unused;
} h5_quiet;

static void quiet_on(h5_quiet *q)
{
    (void)q;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_off(h5_quiet *q) { (void)q; }

typedef struct {
    char msg[200];
    bool got;
} h5_errmsg;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    h5_errmsg *m = data;
    if (!m->got && e->desc && e->desc[0]) {
        snprintf(m->msg, sizeof m->msg, "%s", e->desc);
        m->got = true;
    }
    return 0;
}

/* The most specific message on HDF5's error stack, or "unknown error". */
void tt_h5_detail(char *buf, size_t cap)
{
    h5_errmsg m = {.got = false};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &m);
    snprintf(buf, cap, "%s", m.got ? m.msg : "unknown error");
    H5Eclear2(H5E_DEFAULT);
}

/* ---- signature and superblock ------------------------------------------- */

bool tt_h5_signature_at(const void *buf, size_t len, size_t *offset)
{
    const unsigned char *p = buf;
    for (size_t off = 0; off + sizeof h5_signature <= len; off = off ? off * 2 : 512) {
        if (!memcmp(p + off, h5_signature, sizeof h5_signature)) {
            if (offset) *offset = off;
            return true;
        }
    }
    return false;
}

static uint64_t read_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Checks the superblock before HDF5 sees it (HDF5 1.10 leaks internal state
 * when it fails to open some malformed images) and finds the image's end
 * (base address + end-of-file address).
 * 0: ok (*end set, or 0 when unknown); -1: the superblock is cut off;
 * -2: malformed (*why says how). */
static int superblock_end(const unsigned char *p, size_t avail, uint64_t *end, const char **why)
{
    *end = 0;
    *why = NULL;
    if (avail < 9) return -1;
    int version = p[8];
    size_t pos;
    int osize, lsize;
    if (version <= 1) {
        if (avail < 16) return -1;
        osize = p[13];
        lsize = p[14];
        if (p[9] != 0 || p[10] != 0 || p[12] != 0) {
            *why = "bad version numbers in the superblock";
            return -2;
        }
        pos = version == 0 ? 24 : 28;
    } else if (version <= 3) {
        if (avail < 12) return -1;
        osize = p[9];
        lsize = p[10];
        pos = 12;
    } else {
        *why = "unknown superblock version";
        return -2;
    }
    if ((osize != 2 && osize != 4 && osize != 8) || (lsize != 2 && lsize != 4 && lsize != 8)) {
        *why = "bad address or length size in the superblock";
        return -2;
    }
    size_t need = pos + 3 * (size_t)osize;
    if (avail < need) return -1;
    uint64_t base = read_le(p + pos, osize);
    /* v0/1: base, free-space, eof; v2/3: base, extension, eof */
    uint64_t eof = read_le(p + pos + 2 * (size_t)osize, osize);
    uint64_t undef = osize == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * osize)) - 1;
    if (eof == undef || base == undef) {
        *why = "no end-of-file address in the superblock";
        return -2;
    }
    if (eof > UINT64_MAX - base) {
        *why = "bad end-of-file address in the superblock";
        return -2;
    }
    *end = base + eof;
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* Every call into libhdf5 on the image runs inside the guard (tg/guard.h),
 * one call a step; tg's own code between them, callbacks included, runs
 * outside, so that a fault there stays tg's. */
/* How a dataset is stored: what bounds the work of reading a slice of it. */
typedef struct {
    H5D_layout_t layout;
    size_t fsize;   /* bytes per element in the file */
    int chunk_ndim; /* chunked: the chunk's shape */
    hsize_t chunk[H5S_MAX_RANK];
} storage;

/* A dataset opened for reading: its type and shape, known before any data is read. */
typedef struct {
    char *name;
    hid_t ds, ftype, mtype, space;
    tt_dtype dt;
    int ndim;
    int64_t shape[TT_MAX_DIMS];
    storage st;
} h5_dataset;

/* Datasets kept open between reads of their rows (x, y and weights read in turns). */
enum { OPEN_DATASETS = 4 };

struct tt_h5_file {
    char *label;
    uint64_t len; /* the file's (image's) bytes: the most that one metadata step may parse */
    hid_t file, root;
    char **names; /* every dataset, once listed */
    int nnames, cap;
    bool listed;
    h5_dataset open[OPEN_DATASETS];
    int nopen;
};

/* lhs = call, inside the guard, as one step touching at most `bytes`. */
#define GUARDED_BY(h, bytes, lhs, call)      \
    do {                                     \
        tt_guard_enter((h)->label, (bytes)); \
        lhs = call;                          \
        tt_guard_leave();                    \
    } while (0)
#define GUARDED(h, lhs, call) GUARDED_BY(h, (h)->len, lhs, call)
#define GUARDED_DO(h, call)                   \
    do {                                      \
        tt_guard_enter((h)->label, (h)->len); \
        (void)(call);                         \
        tt_guard_leave();                     \
    } while (0)

/* A dataset is read in slices of at most this many bytes, one step each, so
 * that a step's work stays bounded however large the dataset. */
enum { SLICE_BYTES = 16 << 20 };

/* h5py stores bool as an enum {FALSE, TRUE} of int8. */
static bool is_bool_enum(tt_h5_file *h, hid_t type)
{
    int n;
    GUARDED(h, n, H5Tget_nmembers(type));
    if (n != 2) return false;
    bool f = false, t = false;
    for (unsigned i = 0; i < 2; i++) {
        char *name;
        GUARDED(h, name, H5Tget_member_name(type, i));
        if (!name) return false;
        if (!strcmp(name, "FALSE")) f = true;
        if (!strcmp(name, "TRUE")) t = true;
        H5free_memory(name);
    }
    return f && t;
}

hid_t tt_h5_bool_type(hid_t base)
{
    hid_t t = H5Tenum_create(base);
    if (t < 0) return t;
    int8_t v = 0;
    H5Tenum_insert(t, "FALSE", &v);
    v = 1;
    H5Tenum_insert(t, "TRUE", &v);
    return t;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

/* A failed call on the image: the file is damaged; HDF5's reason in parentheses. */
static tt_status damaged(const tt_h5_file *h, const char *what, const char *name)
{
    char detail[200];
    tt_h5_detail(detail, sizeof detail);
    if (name) return tt_set_error(TT_EFORMAT, "%s: damaged HDF5 file: %s '%s' (%s)", h->label, what, name, detail);
    return tt_set_error(TT_EFORMAT, "%s: damaged HDF5 file: %s (%s)", h->label, what, detail);
}

/* File-image callbacks that let the core driver read our buffer in place
 * (read-only, no copy). H5LTopen_file_image's own callbacks leave HDF5 state
 * behind when a damaged image fails after opening ("infinite loop closing
 * library" at exit); these do not. */
typedef struct {
    void *buf;
    size_t len;
} image_ref;

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    image_ref *r = udata;
    return size == r->len ? r->buf : NULL;
}
static void *image_memcpy(void *dst, const void *src, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    (void)udata;
    if (dst != src) memcpy(dst, src, size);
    return dst;
}
static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)ptr, (void)size, (void)op, (void)udata;
    return NULL; /* read-only */
}
static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    (void)ptr, (void)op, (void)udata;
    return 0; /* the buffer is the caller's */
}
static void *image_udata_copy(void *udata) { return udata; }
static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

static hid_t open_image(tt_h5_file *h, const void *buf, size_t len)
{
    static unsigned long serial;
    image_ref ref = {(void *)buf, len};
    H5FD_file_image_callbacks_t cb = {image_malloc,     image_memcpy,     image_realloc, image_free,
                                      image_udata_copy, image_udata_free, &ref};
    hid_t fapl = tt_h5_fapl(len, true);
    if (fapl < 0) return -1;
    hid_t file = -1;
    if (H5Pset_file_image_callbacks(fapl, &cb) >= 0 && H5Pset_file_image(fapl, ref.buf, len) >= 0) {
        char name[64];
        snprintf(name, sizeof name, "tg-read-%lu-%p", ++serial, (void *)&ref);
        GUARDED(h, file, H5Fopen(name, H5F_ACC_RDONLY, fapl));
    }
    H5Pclose(fapl);
    return file;
}

/* The superblock at sig (of avail bytes) checked against the bytes there
 * are (size); *end the image's end. NULL, or the message's status. */
static tt_status check_superblock(const unsigned char *sb, size_t avail, uint64_t size, const char *label,
                                  uint64_t *end)
{
    const char *why = NULL;
    int r = superblock_end(sb, avail, end, &why);
    if (r == -1)
        return tt_set_error(TT_EFORMAT, "%s: damaged HDF5 file: truncated to %llu bytes (the superblock is cut off)",
                            label, (unsigned long long)size);
    if (r == -2) return tt_set_error(TT_EFORMAT, "%s: damaged HDF5 file (%s)", label, why);
    if (*end > size)
        return tt_set_error(TT_EFORMAT, "%s: damaged HDF5 file: truncated to %llu bytes of %llu", label,
                            (unsigned long long)size, (unsigned long long)*end);
    return TT_OK;
}

static tt_h5_file *h5_new(const char *label, uint64_t len)
{
    tt_h5_file *h = calloc(1, sizeof *h);
    if (!h || !(h->label = tt_io_strdup(label))) {
        free(h);
        return tt_set_error(TT_ENOMEM, "%s: out of memory", label), NULL;
    }
    h->len = len;
    h->file = h->root = -1;
    return h;
}

/* Opens the root group of h->file (opened, or not, by the caller). */
static tt_h5_file *h5_finish_open(tt_h5_file *h)
{
    if (h->file < 0) damaged(h, "cannot open it", NULL);
    else {
        GUARDED(h, h->root, H5Gopen2(h->file, "/", H5P_DEFAULT));
        if (h->root < 0) damaged(h, "cannot open the root group", NULL);
    }
    if (h->root < 0) {
        tt_h5_close(h); /* keeps the message */
        return NULL;
    }
    return h;
}

tt_h5_file *tt_h5_open(const void *buf, size_t len, const char *label)
{
    size_t sig = 0;
    if (!tt_h5_signature_at(buf, len, &sig))
        return tt_set_error(TT_EFORMAT, "%s: not an HDF5 file (no signature)", label), NULL;
    uint64_t end = 0;
    if (check_superblock((const unsigned char *)buf + sig, len - sig, len, label, &end) != TT_OK) return NULL;
    if (end >= sizeof h5_signature) len = (size_t)end; /* images may be followed by more on a stream */
    tt_h5_file *h = h5_new(label, len);
    if (!h) return NULL;
    h5_quiet q;
    quiet_on(&q);
    h->file = open_image(h, buf, len);
    quiet_off(&q);
    return h5_finish_open(h);
}

bool tt_h5_signature_in_file(int fd, uint64_t size, uint64_t *offset)
{
    for (uint64_t off = 0; off + sizeof h5_signature <= size; off = off ? off * 2 : 512) {
        unsigned char b[sizeof h5_signature];
        if (pread(fd, b, sizeof b, (off_t)off) != (ssize_t)sizeof b) return false;
        if (!memcmp(b, h5_signature, sizeof b)) {
            if (offset) *offset = off;
            return true;
        }
    }
    return false;
}

tt_h5_file *tt_h5_open_file(const char *path, int fd, uint64_t size, const char *label)
{
    uint64_t sig = 0;
    if (!tt_h5_signature_in_file(fd, size, &sig))
        return tt_set_error(TT_EFORMAT, "%s: not an HDF5 file (no signature)", label), NULL;
    unsigned char sb[64]; /* more than any superblock's fixed part */
    ssize_t got = pread(fd, sb, sizeof sb, (off_t)sig);
    if (got < 0) return tt_set_error(TT_EIO, "%s: cannot read: %s", label, strerror(errno)), NULL;
    uint64_t end = 0;
    if (check_superblock(sb, (size_t)got, size, label, &end) != TT_OK) return NULL;
    tt_h5_file *h = h5_new(label, size);
    if (!h) return NULL;
    h5_quiet q;
    quiet_on(&q);
    hid_t fapl = tt_h5_fapl(size, false); /* caches sized to the file */
    /* Read in place with the sec2 driver; no lock: a reader needs
     * none (tg's writers rename complete files), and some file systems refuse one. */
    bool ok = fapl >= 0 && H5Pset_file_locking(fapl, false, true) >= 0;
#ifdef TG_MPI
    ok = ok && tt_io_mpi_fapl(fapl); /* every rank opens it (collective) */
#endif
    if (ok) GUARDED(h, h->file, H5Fopen(path, H5F_ACC_RDONLY, fapl));
    if (fapl >= 0) H5Pclose(fapl);
    quiet_off(&q);
    return h5_finish_open(h);
}

static void dataset_close(tt_h5_file *h, h5_dataset *d);

void tt_h5_close(tt_h5_file *h)
{
    if (!h) return;
    for (int i = 0; i < h->nopen; i++) dataset_close(h, &h->open[i]);
    if (h->root >= 0) GUARDED_DO(h, H5Gclose(h->root));
    if (h->file >= 0) GUARDED_DO(h, H5Fclose(h->file));
    H5Eclear2(H5E_DEFAULT);
    for (int i = 0; i < h->nnames; i++) free(h->names[i]);
    free(h->names);
    free(h->label);
    free(h);
}

/* ---- listing: link names and object headers, no dataset opened ---------- */

typedef struct {
    tt_h5_file *h;
    bool oom;
} visit_ctx;

static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    visit_ctx *c = data;
    tt_h5_file *h = c->h;
    tt_guard_leave();
    herr_t ret = 0;
    if (info->type == H5L_TYPE_HARD) {
        H5O_info_t oi;
        herr_t r;
        GUARDED(h, r, H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT));
        if (r >= 0 && oi.type == H5O_TYPE_DATASET) {
            if (h->nnames == h->cap) {
                int cap = h->cap ? 2 * h->cap : 16;
                char **names = realloc(h->names, (size_t)cap * sizeof *names);
                if (names) h->names = names, h->cap = cap;
            }
            char *copy = h->nnames < h->cap ? strdup(name) : NULL;
            if (copy) h->names[h->nnames++] = copy;
            else c->oom = true, ret = -1;
        }
    }
    tt_guard_enter(h->label, h->len); /* the visit goes on: a new step */
    return ret;
}

static void names_clear(tt_h5_file *h)
{
    for (int i = 0; i < h->nnames; i++) free(h->names[i]);
    h->nnames = 0;
}

tt_status tt_h5_names(tt_h5_file *h, char *const **names, int *n)
{
    if (!h->listed) {
        h5_quiet q;
        quiet_on(&q);
        visit_ctx c = {h, false};
        herr_t r;
        /* Creation order where every group tracks it (tg's files), else by name. */
        GUARDED(h, r, H5Lvisit(h->root, H5_INDEX_CRT_ORDER, H5_ITER_INC, visit_cb, &c));
        if (r < 0 && !c.oom) {
            names_clear(h);
            H5Eclear2(H5E_DEFAULT);
            GUARDED(h, r, H5Lvisit(h->root, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &c));
        }
        tt_status st = TT_OK;
        if (c.oom) st = tt_set_error(TT_ENOMEM, "%s: out of memory", h->label);
        else if (r < 0) st = damaged(h, "cannot list its datasets", NULL);
        quiet_off(&q);
        if (st != TT_OK) {
            names_clear(h);
            return st;
        }
        h->listed = true;
    }
    *names = h->names;
    *n = h->nnames;
    return TT_OK;
}

/* ---- one dataset ------------------------------------------------------------ */

enum { NO_LINK = -100, LOOKUP_FAILED = -101 };

/* The type (H5O_type_t) of the object a link leads to, NO_LINK, or LOOKUP_FAILED. */
static int object_type(tt_h5_file *h, const char *path)
{
    htri_t e;
    GUARDED(h, e, H5Lexists(h->root, path, H5P_DEFAULT));
    if (e <= 0) return e < 0 ? LOOKUP_FAILED : NO_LINK;
    H5O_info_t oi;
    herr_t r;
    GUARDED(h, r, H5Oget_info_by_name2(h->root, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT));
    return r < 0 ? LOOKUP_FAILED : (int)oi.type;
}

/* 1: the path names a dataset; 0: it names nothing, or a group; -1: damaged. */
static int find_dataset(tt_h5_file *h, const char *name)
{
    size_t n = strlen(name);
    if (!n || name[n - 1] == '/' || strstr(name, "//")) return 0;
    char *path = tt_io_strdup(name);
    if (!path) return -1;
    int found = 0;
    /* Each link on the way, as H5Lexists wants them: groups "a", "a/b", then "a/b/x". */
    for (char *p = path;; p++) {
        p = strchr(p, '/');
        if (p) *p = 0;
        int type = object_type(h, path);
        if (p) *p = '/';
        if (type == LOOKUP_FAILED) {
            found = -1;
            damaged(h, "cannot look up", name);
            break;
        }
        if (!p) {
            found = type == H5O_TYPE_DATASET;
            break;
        }
        if (type != H5O_TYPE_GROUP) break;
    }
    free(path);
    return found;
}

static uint64_t mul_sat(uint64_t a, uint64_t b) { return b && a > UINT64_MAX / b ? UINT64_MAX : a * b; }
static uint64_t add_sat(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static tt_status read_storage(tt_h5_file *h, hid_t ds, hid_t ftype, const char *name, storage *st)
{
    memset(st, 0, sizeof *st);
    hid_t dcpl;
    GUARDED(h, dcpl, H5Dget_create_plist(ds));
    if (dcpl < 0) return damaged(h, "cannot read the layout of dataset", name);
    GUARDED(h, st->layout, H5Pget_layout(dcpl));
    if (st->layout == H5D_CHUNKED) GUARDED(h, st->chunk_ndim, H5Pget_chunk(dcpl, H5S_MAX_RANK, st->chunk));
    GUARDED_DO(h, H5Pclose(dcpl));
    GUARDED(h, st->fsize, H5Tget_size(ftype));
    if (st->layout < 0 || st->fsize == 0 || (st->layout == H5D_CHUNKED && st->chunk_ndim <= 0))
        return damaged(h, "cannot read the layout of dataset", name);
    return TT_OK;
}

/* Bytes of work a chunk costs at least, however small: its index look-up and filters. */
enum { CHUNK_MIN_BYTES = 4096 };

/* The bytes that reading `rows` rows of a dataset of this shape may touch:
 * the memory it fills, and the file's bytes it decodes (whole chunks). */
static uint64_t slice_bytes(const storage *st, int ndim, const int64_t *shape, uint64_t rows, size_t esize)
{
    uint64_t inner = 1;
    for (int i = 1; i < ndim; i++) inner = mul_sat(inner, (uint64_t)shape[i]);
    uint64_t elems = mul_sat(ndim ? rows : 1, inner), file = mul_sat(elems, st->fsize);
    if (st->layout == H5D_CHUNKED && st->chunk_ndim == ndim && ndim > 0) {
        /* The chunks a run of rows meets: one more row of chunks than it spans, all of every other dimension. */
        uint64_t c0 = st->chunk[0] ? st->chunk[0] : 1, chunk = st->fsize;
        uint64_t chunks = rows / c0 + 2;
        for (int i = 0; i < ndim; i++) {
            uint64_t c = st->chunk[i] ? st->chunk[i] : 1;
            chunk = mul_sat(chunk, c);
            if (i) chunks = mul_sat(chunks, ((uint64_t)shape[i] + c - 1) / c);
        }
        file = mul_sat(chunks, chunk > CHUNK_MIN_BYTES ? chunk : CHUNK_MIN_BYTES);
    }
    return add_sat(mul_sat(elems, esize), file);
}

/* Reads all of ds into buf, a slice of whole rows at a time: one step each,
 * bounded by the bytes that slice may touch, however large the dataset. */
static herr_t read_slices(tt_h5_file *h, hid_t ds, hid_t mtype, const storage *st, int ndim, const int64_t *shape,
                          size_t esize, void *buf)
{
    int64_t n = tt_shape_numel(ndim, shape);
    uint64_t bytes = (uint64_t)n * esize;
    herr_t r;
    if (ndim == 0 || bytes <= SLICE_BYTES) {
        GUARDED_BY(h, slice_bytes(st, ndim, shape, ndim ? (uint64_t)shape[0] : 1, esize), r,
                   H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
        return r;
    }
    uint64_t row = bytes / (uint64_t)shape[0];
    hsize_t rows = row >= SLICE_BYTES ? 1 : SLICE_BYTES / row;
    hsize_t start[TT_MAX_DIMS] = {0}, count[TT_MAX_DIMS];
    for (int i = 0; i < ndim; i++) count[i] = (hsize_t)shape[i];
    hid_t fspace, mspace = -1;
    GUARDED(h, fspace, H5Dget_space(ds));
    if (fspace < 0) return -1;
    r = 0;
    for (hsize_t at = 0; at < (hsize_t)shape[0] && r >= 0; at += rows) {
        start[0] = at;
        count[0] = (hsize_t)shape[0] - at < rows ? (hsize_t)shape[0] - at : rows;
        mspace = H5Screate_simple(ndim, count, NULL);
        if (mspace < 0) {
            r = -1;
            break;
        }
        GUARDED(h, r, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
        if (r >= 0)
            GUARDED_BY(h, slice_bytes(st, ndim, shape, count[0], esize), r,
                       H5Dread(ds, mtype, mspace, fspace, H5P_DEFAULT, (char *)buf + at * row));
        H5Sclose(mspace);
    }
    GUARDED_DO(h, H5Sclose(fspace));
    return r;
}

static void dataset_close(tt_h5_file *h, h5_dataset *d)
{
    if (d->space >= 0) GUARDED_DO(h, H5Sclose(d->space));
    if (d->mtype >= 0) H5Tclose(d->mtype);
    if (d->ftype >= 0) GUARDED_DO(h, H5Tclose(d->ftype));
    if (d->ds >= 0) GUARDED_DO(h, H5Dclose(d->ds));
    free(d->name);
    d->name = NULL;
    d->ds = d->ftype = d->mtype = d->space = -1;
}

/* The chunk cache a dataset is opened with: room for a few chunks, so that a
 * slice that ends inside a compressed chunk does not decode it again for the
 * next slice (HDF5's default, 1 MiB, holds no chunk larger than that). */
enum { CHUNK_CACHE_BYTES = 8 << 20 };

/* Opens a dataset and learns its type, shape and layout; reads no data.
 * Another type than integers, floats and h5py's bools is TT_EFORMAT. */
static tt_status dataset_open(tt_h5_file *h, const char *name, h5_dataset *d)
{
    const char *label = h->label;
    memset(d, 0, sizeof *d);
    d->ds = d->ftype = d->mtype = d->space = -1;
    tt_status result = TT_EFORMAT;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0 ||
        H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, CHUNK_CACHE_BYTES, H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
        if (dapl >= 0) H5Pclose(dapl);
        return tt_set_error(TT_ENOMEM, "%s: cannot set up reading dataset '%s'", label, name);
    }
    GUARDED(h, d->ds, H5Dopen2(h->root, name, dapl));
    H5Pclose(dapl);
    if (d->ds < 0) {
        damaged(h, "cannot open dataset", name);
        goto done;
    }
    GUARDED(h, d->ftype, H5Dget_type(d->ds));
    H5T_class_t cls = H5T_NO_CLASS;
    if (d->ftype >= 0) GUARDED(h, cls, H5Tget_class(d->ftype));
    if (cls == H5T_NO_CLASS) {
        damaged(h, "cannot read the type of dataset", name);
        goto done;
    }
    if (cls == H5T_FLOAT) {
        size_t size;
        GUARDED(h, size, H5Tget_size(d->ftype));
        bool single = size <= 4;
        d->dt = single ? TT_F32 : TT_F64;
        d->mtype = H5Tcopy(single ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
    } else if (cls == H5T_INTEGER) {
        d->dt = TT_I64;
        d->mtype = H5Tcopy(H5T_NATIVE_INT64);
    } else if (cls == H5T_ENUM && is_bool_enum(h, d->ftype)) {
        d->dt = TT_BOOL;
        d->mtype = tt_h5_bool_type(H5T_NATIVE_INT8);
    } else {
        tt_set_error(TT_EFORMAT, "%s: dataset '%s' has a type tg cannot read (%s%s)", label, name,
                     cls == H5T_ENUM ? "an enum other than h5py's bool" : class_name(cls),
                     cls == H5T_ENUM ? "" : "; tg reads integers, floats and bools");
        goto done;
    }
    if (d->mtype < 0) {
        result = tt_set_error(TT_ENOMEM, "%s: cannot make a memory type for dataset '%s'", label, name);
        goto done;
    }
    GUARDED(h, d->space, H5Dget_space(d->ds));
    H5S_class_t sclass = H5S_NO_CLASS;
    if (d->space >= 0) GUARDED(h, sclass, H5Sget_simple_extent_type(d->space));
    if (sclass == H5S_SIMPLE) {
        GUARDED(h, d->ndim, H5Sget_simple_extent_ndims(d->space));
        if (d->ndim < 0 || d->ndim > TT_MAX_DIMS) {
            tt_set_error(TT_EFORMAT, "%s: dataset '%s' has %d dimensions (tg handles at most %d)", label, name, d->ndim,
                         TT_MAX_DIMS);
            goto done;
        }
        hsize_t dims[TT_MAX_DIMS];
        int r;
        GUARDED(h, r, H5Sget_simple_extent_dims(d->space, dims, NULL));
        if (r != d->ndim) {
            damaged(h, "cannot read the shape of dataset", name);
            goto done;
        }
        for (int i = 0; i < d->ndim; i++) {
            if (dims[i] > INT64_MAX) {
                tt_set_error(TT_EFORMAT, "%s: dataset '%s' is too large", label, name);
                goto done;
            }
            d->shape[i] = (int64_t)dims[i];
        }
    } else if (sclass == H5S_NULL) {
        tt_set_error(TT_EFORMAT, "%s: dataset '%s' has no dataspace (a null dataset holds no tensor)", label, name);
        goto done;
    } else if (sclass != H5S_SCALAR) {
        damaged(h, "cannot read the dataspace of dataset", name);
        goto done;
    }
    int64_t n = tt_shape_numel(d->ndim, d->shape);
    size_t esize = d->dt == TT_BOOL ? 1 : tt_dtype_size(d->dt);
    if (n < 0 || (uint64_t)n > SIZE_MAX / esize) {
        tt_set_error(TT_EFORMAT, "%s: dataset '%s' is too large", label, name);
        goto done;
    }
    if (read_storage(h, d->ds, d->ftype, name, &d->st) != TT_OK) goto done;
    if (d->st.layout == H5D_CONTIGUOUS || d->st.layout == H5D_COMPACT) {
        /* Stored bytes (0 when never written: fill values) fewer than the shape needs: damage. */
        hsize_t stored;
        GUARDED(h, stored, H5Dget_storage_size(d->ds));
        if (stored && stored / d->st.fsize < (uint64_t)n) {
            tt_set_error(TT_EFORMAT, "%s: damaged HDF5 file: dataset '%s' holds %llu bytes for %lld elements", label,
                         name, (unsigned long long)stored, (long long)n);
            goto done;
        }
    }
    if (!(d->name = tt_io_strdup(name))) {
        result = TT_ENOMEM;
        goto done;
    }
    return TT_OK;
done:
    dataset_close(h, d);
    return result;
}

static tt_tensor *read_dataset(tt_h5_file *h, const char *name)
{
    h5_dataset d;
    if (dataset_open(h, name, &d) != TT_OK) return NULL;
    tt_tensor *result = NULL;
    int64_t n = tt_shape_numel(d.ndim, d.shape);
    size_t esize = d.dt == TT_BOOL ? 1 : tt_dtype_size(d.dt);
    void *buf = malloc(n ? (size_t)n * esize : 1);
    if (!buf) {
        tt_set_error(TT_ENOMEM, "%s: out of memory reading dataset '%s' (%lld elements)", h->label, name, (long long)n);
        goto done;
    }
    if (n > 0 && read_slices(h, d.ds, d.mtype, &d.st, d.ndim, d.shape, esize, buf) < 0) {
        damaged(h, "cannot read dataset", name);
        goto done;
    }
    if (d.dt == TT_BOOL) {
        unsigned char *b = buf;
        for (int64_t i = 0; i < n; i++) b[i] = b[i] != 0;
    }
    result = tt_from_data(d.ndim, d.shape, d.dt, buf, TT_CPU);
done:
    free(buf);
    dataset_close(h, &d);
    return result;
}

/* The dataset `name`, opened once and kept open (the oldest of the open
 * ones is closed for a new one); NULL with TT_ENOTFOUND (no message) when
 * there is none, else with a message on error. */
static h5_dataset *dataset_get(tt_h5_file *h, const char *name)
{
    while (name[0] == '/') name++;
    for (int i = 0; i < h->nopen; i++)
        if (!strcmp(h->open[i].name, name)) return &h->open[i];
    h5_quiet q;
    quiet_on(&q);
    h5_dataset d;
    tt_status st = TT_ENOTFOUND;
    int found = find_dataset(h, name);
    if (found > 0) st = dataset_open(h, name, &d);
    else if (found == 0) tt_set_error(TT_ENOTFOUND, "%s: no dataset '%s'", h->label, name);
    H5Eclear2(H5E_DEFAULT);
    quiet_off(&q);
    if (found <= 0 || st != TT_OK) return NULL;
    if (h->nopen == OPEN_DATASETS) {
        dataset_close(h, &h->open[0]);
        memmove(&h->open[0], &h->open[1], (OPEN_DATASETS - 1) * sizeof h->open[0]);
        h->nopen--;
    }
    h->open[h->nopen] = d;
    return &h->open[h->nopen++];
}

tt_status tt_h5_info(tt_h5_file *h, const char *name, int *ndim, int64_t *shape, tt_dtype *dtype)
{
    h5_dataset *d = dataset_get(h, name);
    if (!d) return tt_last_status();
    *ndim = d->ndim;
    memcpy(shape, d->shape, (size_t)d->ndim * sizeof *shape);
    *dtype = d->dt;
    return TT_OK;
}

tt_status tt_h5_read_rows(tt_h5_file *h, const char *name, int64_t start, int64_t count, double *out)
{
    h5_dataset *d = dataset_get(h, name);
    if (!d) return tt_last_status();
    /* A vector: one axis (the last of those longer than 1) holds the points. */
    int axis = d->ndim ? d->ndim - 1 : 0;
    int64_t n = tt_shape_numel(d->ndim, d->shape);
    for (int i = d->ndim - 1; i >= 0; i--)
        if (d->shape[i] > 1) {
            axis = i;
            break;
        }
    if (d->ndim && d->shape[axis] != n) {
        char s[128];
        return tt_set_error(TT_EINVAL, "%s: dataset '%s' has shape %s: expected a vector", h->label, d->name,
                            tt_shape_str(d->ndim, d->shape, s, sizeof s));
    }
    if (d->dt == TT_BOOL)
        return tt_set_error(TT_EINVAL, "%s: dataset '%s' holds booleans: expected numbers", h->label, d->name);
    if (start < 0 || count < 0 || start > n || count > n - start)
        return tt_set_error(TT_EINVAL, "%s: rows %lld..%lld of dataset '%s' (of %lld)", h->label, (long long)start,
                            (long long)(start + count), d->name, (long long)n);
    /* The storage seen along the axis, for the bytes a step may touch. */
    storage st1 = d->st;
    if (d->st.layout == H5D_CHUNKED && d->st.chunk_ndim == d->ndim && d->ndim) {
        st1.chunk_ndim = 1;
        st1.chunk[0] = d->st.chunk[axis];
    }
    h5_quiet q;
    quiet_on(&q);
    herr_t r = 0;
    hsize_t rows = SLICE_BYTES / sizeof(double);
    for (int64_t at = 0; at < count && r >= 0; at += (int64_t)rows) {
        hsize_t k = (hsize_t)(count - at) < rows ? (hsize_t)(count - at) : rows;
        hsize_t fstart[TT_MAX_DIMS] = {0}, fcount[TT_MAX_DIMS];
        for (int i = 0; i < d->ndim; i++) fcount[i] = (hsize_t)d->shape[i];
        if (d->ndim) {
            fstart[axis] = (hsize_t)(start + at);
            fcount[axis] = k;
            GUARDED(h, r, H5Sselect_hyperslab(d->space, H5S_SELECT_SET, fstart, NULL, fcount, NULL));
        }
        hid_t mspace = r >= 0 ? H5Screate_simple(1, &k, NULL) : -1;
        if (mspace < 0) {
            r = -1;
            break;
        }
        /* float32 is read as it is stored, into the top half of the output,
         * and widened here: HDF5's own conversion was 3x slower than the read. */
        bool narrow = d->dt == TT_F32;
        float *f = (float *)(out + at) + k;
        GUARDED_BY(h, slice_bytes(&st1, 1, &n, k, sizeof(double)), r,
                   H5Dread(d->ds, narrow ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, mspace, d->ndim ? d->space : H5S_ALL,
                           H5P_DEFAULT, narrow ? (void *)f : (void *)(out + at)));
        H5Sclose(mspace);
        /* Forward in place: out[i] overwrites only floats f[0..i], already read. */
        if (narrow && r >= 0)
            for (hsize_t i = 0; i < k; i++) out[at + (int64_t)i] = f[i];
    }
    tt_status st = r < 0 ? damaged(h, "cannot read dataset", d->name) : TT_OK;
    H5Eclear2(H5E_DEFAULT);
    quiet_off(&q);
    return st;
}

tt_tensor *tt_h5_read(tt_h5_file *h, const char *name)
{
    while (name[0] == '/') name++;
    h5_quiet q;
    quiet_on(&q);
    tt_tensor *t = NULL;
    int found = find_dataset(h, name);
    if (found > 0) t = read_dataset(h, name);
    else if (found == 0) tt_set_error(TT_ENOTFOUND, "%s: no dataset '%s'", h->label, name);
    H5Eclear2(H5E_DEFAULT);
    quiet_off(&q);
    return t;
}

/* ---- root attributes ------------------------------------------------------- */

typedef struct {
    tt_h5_file *h;
    tt_tensor_set *set;
    bool failed;
} attr_ctx;

/* One attribute: a string, or a one-element integer or float; others skipped. */
static tt_status read_attr(tt_h5_file *h, hid_t loc, const char *name, tt_tensor_set *set)
{
    hid_t a, type = -1, space = -1, mtype = -1;
    GUARDED(h, a, H5Aopen(loc, name, H5P_DEFAULT));
    if (a < 0) return TT_OK;
    GUARDED(h, type, H5Aget_type(a));
    GUARDED(h, space, H5Aget_space(a));
    hssize_t npoints = -1;
    H5T_class_t cls = H5T_NO_CLASS;
    if (space >= 0) GUARDED(h, npoints, H5Sget_simple_extent_npoints(space));
    if (type >= 0) GUARDED(h, cls, H5Tget_class(type));
    tt_status st = TT_OK;
    herr_t r;
    if (npoints == 1 && cls == H5T_STRING) {
        htri_t vlen;
        GUARDED(h, vlen, H5Tis_variable_str(type));
        if (vlen > 0) {
            H5T_cset_t cset;
            GUARDED(h, cset, H5Tget_cset(type));
            mtype = H5Tcopy(H5T_C_S1);
            H5Tset_size(mtype, H5T_VARIABLE);
            H5Tset_cset(mtype, cset);
            char *s = NULL;
            GUARDED(h, r, H5Aread(a, mtype, &s));
            if (r >= 0) {
                st = tt_set_attr_str(set, name, s ? s : "");
                if (s) H5free_memory(s);
            }
        } else {
            size_t size;
            H5T_str_t pad;
            GUARDED(h, size, H5Tget_size(type));
            GUARDED(h, pad, H5Tget_strpad(type));
            char *s = size < h->len ? calloc(1, size + 1) : NULL; /* a string longer than the file is damage */
            if (s) {
                GUARDED(h, r, H5Aread(a, type, s));
                if (r >= 0) {
                    if (pad == H5T_STR_SPACEPAD)
                        while (size > 0 && s[size - 1] == ' ') s[--size] = 0;
                    st = tt_set_attr_str(set, name, s);
                }
                free(s);
            }
        }
    } else if (npoints == 1 && cls == H5T_INTEGER) {
        H5T_sign_t sign;
        size_t size;
        GUARDED(h, sign, H5Tget_sign(type));
        GUARDED(h, size, H5Tget_size(type));
        if (sign == H5T_SGN_NONE && size >= 8) {
            uint64_t v;
            GUARDED(h, r, H5Aread(a, H5T_NATIVE_UINT64, &v));
            if (r >= 0) st = tt_set_attr_uint(set, name, v);
        } else {
            int64_t v;
            GUARDED(h, r, H5Aread(a, H5T_NATIVE_INT64, &v));
            if (r >= 0) st = tt_set_attr_int(set, name, v);
        }
    } else if (npoints == 1 && cls == H5T_FLOAT) {
        double v;
        GUARDED(h, r, H5Aread(a, H5T_NATIVE_DOUBLE, &v));
        if (r >= 0) st = tt_set_attr_num(set, name, v);
    }
    /* Other attributes (arrays, compounds, ...) are not provenance tg knows: skipped. */
    H5Eclear2(H5E_DEFAULT);
    if (mtype >= 0) H5Tclose(mtype);
    if (space >= 0) GUARDED_DO(h, H5Sclose(space));
    if (type >= 0) GUARDED_DO(h, H5Tclose(type));
    GUARDED_DO(h, H5Aclose(a));
    return st;
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *ainfo, void *data)
{
    (void)ainfo;
    attr_ctx *c = data;
    tt_guard_leave();
    tt_status st = read_attr(c->h, loc, name, c->set);
    tt_guard_enter(c->h->label, c->h->len); /* the iteration goes on: a new step */
    if (st != TT_OK) {
        c->failed = true;
        return -1;
    }
    return 0;
}

tt_status tt_h5_read_attrs(tt_h5_file *h, tt_tensor_set *set)
{
    h5_quiet q;
    quiet_on(&q);
    attr_ctx ctx = {h, set, false};
    herr_t r;
    tt_status st = TT_OK;
    GUARDED(h, r, H5Aiterate2(h->root, H5_INDEX_NAME, H5_ITER_INC, NULL, attr_cb, &ctx));
    if (r < 0) st = ctx.failed ? tt_last_status() : damaged(h, "cannot read the root attributes", NULL);
    H5Eclear2(H5E_DEFAULT);
    quiet_off(&q);
    return st;
}
