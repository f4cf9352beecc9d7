/* Writing HDF5: a file (or an image in memory) whose datasets are declared
 * first and written a slice of rows at a time, so that data larger than
 * memory goes out in bounded memory; tt_h5_image is the one-call form.
 *
 * The bytes depend only on what is written and in what order: superblock
 * version 0, datasets in creation order, no timestamps. A contiguous
 * dataset's space is allocated when it is created (not at its first write),
 * so that datasets written slice by slice, in turns, still lie one after
 * another in the file. */
#include <stdlib.h>
#include <string.h>

#include "io/h5_internal.h"

typedef struct {
    char *name;
    hid_t ds, mtype;
    tt_dtype dtype;
    int ndim;
    int64_t shape[TT_MAX_DIMS];
} out_dataset;

struct tt_h5_writer {
    char *label;
    bool memory;
    hid_t file, root, gcpl;
    out_dataset *sets;
    int nsets, cap;
    void *buf; /* a slice on the host, reused */
    size_t buf_len;
};

/* HDF5's automatic error printing off: errors are reported by tg, with HDF5's reason. */
static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static tt_status h5_fail(tt_status st, const char *fmt, const char *label, const char *name)
{
    char detail[200];
    tt_h5_detail(detail, sizeof detail);
    return tt_set_error(st, fmt, label, name, detail);
}

/* Makes the groups above `name` ("a/b/x" -> "a", "a/b"). */
static tt_status make_parents(tt_h5_writer *w, const char *name)
{
    char *path = tt_io_strdup(name);
    if (!path) return tt_last_status();
    tt_status st = TT_OK;
    for (char *p = strchr(path, '/'); p && st == TT_OK; p = strchr(p + 1, '/')) {
        *p = 0;
        htri_t exists = H5Lexists(w->root, path, H5P_DEFAULT);
        if (exists > 0) {
            hid_t obj = H5Oopen(w->root, path, H5P_DEFAULT);
            bool group = obj >= 0 && H5Iget_type(obj) == H5I_GROUP;
            if (obj >= 0) H5Oclose(obj);
            if (!group) st = tt_set_error(TT_EINVAL, "cannot write '%s': '%s' is a dataset, not a group", name, path);
        } else {
            hid_t g = H5Gcreate2(w->root, path, H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
            if (g < 0) st = h5_fail(TT_EIO, "%s: cannot create the group of '%s' (%s)", w->label, name);
            else H5Gclose(g);
        }
        *p = '/';
    }
    free(path);
    return st;
}

static tt_status check_name(const char *name)
{
    const char *p = name;
    if (!*p) return tt_set_error(TT_EINVAL, "a tensor needs a non-empty name");
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t k = slash ? (size_t)(slash - p) : strlen(p);
        if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
            return tt_set_error(TT_EINVAL, "'%s' is not a valid dataset name (empty, '.' or '..' component)", name);
        p += k;
        if (*p == '/') {
            p++;
            if (!*p) return tt_set_error(TT_EINVAL, "'%s' is not a valid dataset name (it ends in '/')", name);
        }
    }
    return TT_OK;
}

/* Metadata beside the data of a small file: object headers, the root
 * group's B-tree and heap, attributes (a guess; HDF5 grows what it needs). */
enum { METADATA_GUESS = 8 << 10 };

tt_h5_writer *tt_h5_writer_create(const char *path, const char *label, uint64_t bytes)
{
    tt_h5_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->label = tt_io_strdup(label ? label : path ? path : "HDF5 image"))) {
        free(w);
        return tt_set_error(TT_ENOMEM, "out of memory"), NULL;
    }
    static unsigned long serial;
    w->memory = !path;
    w->file = w->root = w->gcpl = -1;
    quiet();
    hid_t fapl = tt_h5_fapl(bytes ? bytes + METADATA_GUESS : 0, w->memory), fcpl = H5Pcreate(H5P_FILE_CREATE);
    w->gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (fapl < 0 || fcpl < 0 || w->gcpl < 0) {
        h5_fail(TT_EIO, "%s: cannot set up HDF5%s (%s)", w->label, "");
    } else {
        /* Datasets keep their creation order; no timestamps, so equal data give
         * equal bytes. Neither changes the superblock (version 0). */
        unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
        H5Pset_link_creation_order(fcpl, order);
        H5Pset_link_creation_order(w->gcpl, order);
        H5Pset_obj_track_times(fcpl, 0);
        H5Pset_obj_track_times(w->gcpl, 0);
        char name[64];
        if (w->memory) snprintf(name, sizeof name, "tg-image-%lu-%p", ++serial, (void *)w);
        w->file = H5Fcreate(w->memory ? name : path, w->memory ? H5F_ACC_EXCL : H5F_ACC_TRUNC, fcpl, fapl);
        if (w->file < 0) h5_fail(TT_EIO, "%s: cannot create the HDF5 file%s (%s)", w->label, "");
        else if ((w->root = H5Gopen2(w->file, "/", H5P_DEFAULT)) < 0)
            h5_fail(TT_EIO, "%s: cannot open the root group%s (%s)", w->label, "");
    }
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (w->root < 0) {
        tt_h5_writer_abort(w);
        return NULL;
    }
    return w;
}

/* The file and memory types of dt; -1 on failure. */
static tt_status make_types(tt_dtype dt, hid_t *ftype, hid_t *mtype)
{
    switch (dt) {
    case TT_F32: *ftype = H5Tcopy(H5T_IEEE_F32LE), *mtype = H5Tcopy(H5T_NATIVE_FLOAT); break;
    case TT_F64: *ftype = H5Tcopy(H5T_IEEE_F64LE), *mtype = H5Tcopy(H5T_NATIVE_DOUBLE); break;
    case TT_I64: *ftype = H5Tcopy(H5T_STD_I64LE), *mtype = H5Tcopy(H5T_NATIVE_INT64); break;
    case TT_BOOL: *ftype = tt_h5_bool_type(H5T_STD_I8LE), *mtype = tt_h5_bool_type(H5T_NATIVE_INT8); break;
    default: return TT_EDTYPE;
    }
    return *ftype >= 0 && *mtype >= 0 ? TT_OK : TT_EIO;
}

static size_t element_size(tt_dtype dt) { return dt == TT_BOOL ? 1 : tt_dtype_size(dt); }

hid_t tt_h5_dcpl(const char *label, const char *name, tt_dtype dt, int ndim, const int64_t *shape,
                 const tt_h5_layout *layout)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0) return h5_fail(TT_EIO, "%s: cannot create dataset '%s' (%s)", label, name), -1;
    H5Pset_obj_track_times(dcpl, 0);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER); /* every element is written */
    bool chunked = layout && layout->chunk > 0 && ndim > 0;
    if (!chunked) {
        if (ndim > 0) H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
        return dcpl;
    }
    hsize_t chunk[TT_MAX_DIMS];
    uint64_t bytes = element_size(dt);
    for (int i = 0; i < ndim; i++) {
        int64_t d = i == 0 ? (layout->chunk < shape[0] ? layout->chunk : shape[0]) : shape[i];
        chunk[i] = d > 0 ? (hsize_t)d : 1;
        bytes = bytes > UINT64_MAX / chunk[i] ? UINT64_MAX : bytes * chunk[i];
    }
    if (bytes >= (uint64_t)1 << 32) {
        H5Pclose(dcpl);
        return tt_set_error(TT_EINVAL,
                            "%s: a chunk of %lld rows of dataset '%s' would hold %llu bytes, beyond HDF5's limit of 4 "
                            "GiB: choose fewer points per chunk",
                            label, (long long)layout->chunk, name, (unsigned long long)bytes),
               -1;
    }
    herr_t r = H5Pset_chunk(dcpl, ndim, chunk);
    if (r >= 0 && layout->compress >= 0) {
        if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) {
            H5Pclose(dcpl);
            return tt_set_error(TT_EINVAL, "%s: this HDF5 library has no gzip (deflate) filter", label), -1;
        }
        r = H5Pset_shuffle(dcpl);
        if (r >= 0) r = H5Pset_deflate(dcpl, (unsigned)layout->compress);
    }
    if (r < 0) {
        h5_fail(TT_EIO, "%s: cannot set up the chunks of dataset '%s' (%s)", label, name);
        H5Pclose(dcpl);
        return -1;
    }
    return dcpl;
}

/* The chunk cache of a dataset written in slices: room for a whole chunk, so
 * that a chunk filled by two slices is compressed once (1 MiB, HDF5's
 * default, when chunks are smaller). */
static hid_t make_dapl(hid_t dcpl, tt_dtype dt, int ndim)
{
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hsize_t chunk[TT_MAX_DIMS];
    if (dapl < 0 || H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, ndim, chunk) != ndim) return dapl;
    size_t bytes = element_size(dt);
    for (int i = 0; i < ndim; i++) bytes *= (size_t)chunk[i];
    H5Pset_chunk_cache(dapl, 521, bytes + 1 > (1 << 20) ? bytes + 1 : (1 << 20), 1.0);
    return dapl;
}

int tt_h5_writer_add(tt_h5_writer *w, const char *name, tt_dtype dt, int ndim, const int64_t *shape,
                     const tt_h5_layout *layout)
{
    tt_status st = check_name(name);
    if (st == TT_OK) st = make_parents(w, name);
    if (st != TT_OK) return -1;
    if (w->nsets == w->cap) {
        int cap = w->cap ? 2 * w->cap : 4;
        out_dataset *sets = realloc(w->sets, (size_t)cap * sizeof *sets);
        if (!sets) return tt_set_error(TT_ENOMEM, "out of memory"), -1;
        w->sets = sets;
        w->cap = cap;
    }
    out_dataset *d = &w->sets[w->nsets];
    memset(d, 0, sizeof *d);
    d->ds = d->mtype = -1;
    d->dtype = dt;
    d->ndim = ndim;
    memcpy(d->shape, shape, (size_t)ndim * sizeof *shape);
    hid_t ftype = -1, space = -1, dcpl = -1, dapl = -1;
    st = make_types(dt, &ftype, &d->mtype);
    if (st == TT_EDTYPE) tt_set_error(st, "cannot write '%s': unknown dtype", name);
    else if (st != TT_OK) h5_fail(st, "%s: cannot make the type of '%s' (%s)", w->label, name);
    if (st == TT_OK) {
        hsize_t dims[TT_MAX_DIMS];
        for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
        space = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
        if (space < 0) st = h5_fail(TT_EIO, "%s: cannot make the dataspace of '%s' (%s)", w->label, name);
    }
    if (st == TT_OK &&
        ((dcpl = tt_h5_dcpl(w->label, name, dt, ndim, shape, layout)) < 0 || (dapl = make_dapl(dcpl, dt, ndim)) < 0))
        st = tt_last_status();
    if (st == TT_OK && (d->ds = H5Dcreate2(w->root, name, ftype, space, H5P_DEFAULT, dcpl, dapl)) < 0)
        st = h5_fail(TT_EIO, "%s: cannot create dataset '%s' (%s)", w->label, name);
    if (st == TT_OK && !(d->name = tt_io_strdup(name))) st = TT_ENOMEM;
    if (dapl >= 0) H5Pclose(dapl);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    if (st != TT_OK) {
        if (d->ds >= 0) H5Dclose(d->ds);
        if (d->mtype >= 0) H5Tclose(d->mtype);
        return -1;
    }
    return w->nsets++;
}

tt_status tt_h5_writer_put(tt_h5_writer *w, int i, int64_t first, const tt_tensor *t)
{
    out_dataset *d = &w->sets[i];
    bool fits = t->dtype == d->dtype && t->ndim == d->ndim;
    for (int k = 1; fits && k < t->ndim; k++) fits = t->shape[k] == d->shape[k];
    int64_t rows = t->ndim ? t->shape[0] : 1;
    if (fits && t->ndim) fits = first >= 0 && rows <= d->shape[0] - first;
    if (!fits)
        return tt_set_error(TT_EINVAL, "%s: a slice of rows %lld.. does not fit dataset '%s'", w->label,
                            (long long)first, d->name);
    int64_t n = tt_numel(t);
    if (n == 0) return TT_OK;
    size_t bytes = (size_t)n * element_size(t->dtype);
    if (bytes > w->buf_len) {
        void *buf = realloc(w->buf, bytes);
        if (!buf) return tt_set_error(TT_ENOMEM, "out of memory writing '%s' (%lld elements)", d->name, (long long)n);
        w->buf = buf;
        w->buf_len = bytes;
    }
    tt_status st = tt_to_host(t, t->dtype, w->buf);
    if (st != TT_OK) return st;
    if (t->dtype == TT_BOOL) {
        unsigned char *b = w->buf;
        for (int64_t k = 0; k < n; k++) b[k] = b[k] != 0;
    }
    hid_t fspace = H5S_ALL, mspace = H5S_ALL;
    if (t->ndim) {
        hsize_t start[TT_MAX_DIMS] = {0}, count[TT_MAX_DIMS];
        for (int k = 0; k < t->ndim; k++) count[k] = (hsize_t)t->shape[k];
        start[0] = (hsize_t)first;
        fspace = H5Dget_space(d->ds);
        mspace = H5Screate_simple(t->ndim, count, NULL);
        if (fspace < 0 || mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
            st = h5_fail(TT_EIO, "%s: cannot select rows of dataset '%s' (%s)", w->label, d->name);
    }
    if (st == TT_OK && H5Dwrite(d->ds, d->mtype, mspace, fspace, H5P_DEFAULT, w->buf) < 0)
        st = h5_fail(TT_EIO, "%s: cannot write dataset '%s' (%s)", w->label, d->name);
    if (fspace > 0 && fspace != H5S_ALL) H5Sclose(fspace);
    if (mspace > 0 && mspace != H5S_ALL) H5Sclose(mspace);
    return st;
}

static tt_status attr_fail(const char *verb, const char *name)
{
    char detail[200];
    tt_h5_detail(detail, sizeof detail);
    return tt_set_error(TT_EIO, "cannot %s attribute '%s' (%s)", verb, name, detail);
}

/* On the root group of any open file (the parallel writer's too); messages
 * name the attribute, the caller adds the file. */
tt_status tt_h5_write_attr(int64_t root, const tt_attr *a)
{
    hid_t type = -1, mtype = -1, space = H5Screate(H5S_SCALAR), attr = -1;
    const void *value = NULL;
    const char *s = a->str ? a->str : "";
    tt_status st = TT_OK;
    switch (a->type) {
    case TT_ATTR_STR:
        type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, H5T_VARIABLE);
        H5Tset_cset(type, H5T_CSET_UTF8);
        mtype = H5Tcopy(type);
        value = &s;
        break;
    case TT_ATTR_F64:
        type = H5Tcopy(H5T_IEEE_F64LE);
        mtype = H5Tcopy(H5T_NATIVE_DOUBLE);
        value = &a->num;
        break;
    case TT_ATTR_I64:
        type = H5Tcopy(H5T_STD_I64LE);
        mtype = H5Tcopy(H5T_NATIVE_INT64);
        value = &a->i64;
        break;
    case TT_ATTR_U64:
        type = H5Tcopy(H5T_STD_U64LE);
        mtype = H5Tcopy(H5T_NATIVE_UINT64);
        value = &a->u64;
        break;
    }
    if (H5Aexists(root, a->name) > 0) H5Adelete(root, a->name);
    attr = H5Acreate2(root, a->name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0) {
        st = attr_fail("create", a->name);
    } else {
        if (H5Awrite(attr, mtype, value) < 0) st = attr_fail("write", a->name);
        H5Aclose(attr);
    }
    H5Tclose(mtype);
    H5Tclose(type);
    H5Sclose(space);
    return st;
}

tt_status tt_h5_writer_attrs(tt_h5_writer *w, const tt_tensor_set *set)
{
    tt_status st = TT_OK;
    for (int i = 0; i < set->nattrs && st == TT_OK; i++) st = tt_h5_write_attr(w->root, &set->attrs[i]);
    if (st != TT_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", tt_last_error());
        tt_set_error(st, "%s: %s", w->label, why);
    }
    return st;
}

/* Closes every handle; 0 or the first failure. */
static herr_t close_all(tt_h5_writer *w)
{
    herr_t r = 0;
    for (int i = 0; i < w->nsets; i++) {
        if (w->sets[i].ds >= 0 && H5Dclose(w->sets[i].ds) < 0) r = -1;
        if (w->sets[i].mtype >= 0) H5Tclose(w->sets[i].mtype);
        free(w->sets[i].name);
    }
    w->nsets = 0;
    if (w->root >= 0 && H5Gclose(w->root) < 0) r = -1;
    if (w->gcpl >= 0) H5Pclose(w->gcpl);
    if (w->file >= 0 && H5Fclose(w->file) < 0) r = -1;
    w->root = w->gcpl = w->file = -1;
    return r;
}

static void writer_free(tt_h5_writer *w)
{
    H5Eclear2(H5E_DEFAULT);
    free(w->sets);
    free(w->buf);
    free(w->label);
    free(w);
}

tt_status tt_h5_writer_finish(tt_h5_writer *w, void **image, size_t *len)
{
    tt_status st = TT_OK;
    if (w->memory) {
        /* The image is whole only once flushed (PLATFORM.md). */
        ssize_t size = -1;
        if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) >= 0) size = H5Fget_file_image(w->file, NULL, 0);
        void *buf = size > 0 ? malloc((size_t)size) : NULL;
        if (size <= 0) st = h5_fail(TT_EIO, "%s: cannot take the HDF5 image%s (%s)", w->label, "");
        else if (!buf) st = tt_set_error(TT_ENOMEM, "out of memory for an HDF5 image of %zd bytes", size);
        else if (H5Fget_file_image(w->file, buf, (size_t)size) != size) {
            st = h5_fail(TT_EIO, "%s: cannot take the HDF5 image%s (%s)", w->label, "");
        }
        if (st == TT_OK) *image = buf, *len = (size_t)size;
        else free(buf);
    }
    if (close_all(w) < 0 && st == TT_OK) st = h5_fail(TT_EIO, "%s: cannot write%s (%s)", w->label, "");
    if (st != TT_OK && w->memory && *image) {
        free(*image);
        *image = NULL;
    }
    writer_free(w);
    return st;
}

void tt_h5_writer_abort(tt_h5_writer *w)
{
    if (!w) return;
    close_all(w);
    writer_free(w);
}

tt_status tt_h5_writer_add_set(tt_h5_writer *w, const tt_tensor_set *set, const tt_h5_layout *layout)
{
    tt_status st = TT_OK;
    for (int i = 0; i < set->count && st == TT_OK; i++) {
        const tt_tensor *t = set->tensors[i];
        int k = tt_h5_writer_add(w, set->names[i], t->dtype, t->ndim, t->shape, layout);
        st = k < 0 ? tt_last_status() : tt_h5_writer_put(w, k, 0, t);
    }
    return st == TT_OK ? tt_h5_writer_attrs(w, set) : st;
}

tt_status tt_h5_image(const tt_tensor_set *set, void **out, size_t *out_len)
{
    if (!set || !out || !out_len) return tt_set_error(TT_EINVAL, "tt_h5_image: NULL argument");
    *out = NULL;
    *out_len = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < set->count; i++)
        bytes += (uint64_t)tt_numel(set->tensors[i]) * element_size(set->tensors[i]->dtype);
    tt_h5_writer *w = tt_h5_writer_create(NULL, "HDF5 image", bytes);
    if (!w) return tt_last_status();
    tt_status st = tt_h5_writer_add_set(w, set, NULL);
    if (st != TT_OK) {
        tt_h5_writer_abort(w);
        return st;
    }
    return tt_h5_writer_finish(w, out, out_len);
}
