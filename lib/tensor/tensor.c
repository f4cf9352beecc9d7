/* Tensors, storage, dtypes, devices, views and creation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tensor/capture.h"
#include "tensor/internal.h"

/* ---- dtypes ----------------------------------------------------------- */
static const char *const dtype_names[TT_NUM_DTYPES] = {
    [TT_F32] = "float32",
    [TT_F64] = "float64",
    [TT_I64] = "int64",
    [TT_BOOL] = "bool",
};

size_t tt_dtype_size(tt_dtype dt) { return tt__dtype_size(dt); }
const char *tt_dtype_name(tt_dtype dt) { return dtype_names[dt]; }
bool tt_dtype_is_floating(tt_dtype dt) { return dt == TT_F32 || dt == TT_F64; }

int tt_dtype_parse(const char *name, tt_dtype *out)
{
    static const struct {
        const char *name;
        tt_dtype dt;
    } names[] = {
        {"f32", TT_F32},    {"float32", TT_F32}, {"float", TT_F32}, {"f64", TT_F64},  {"float64", TT_F64},
        {"double", TT_F64}, {"i64", TT_I64},     {"int64", TT_I64}, {"long", TT_I64}, {"bool", TT_BOOL},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].dt;
            return 0;
        }
    tt_set_error(TT_EINVAL, "unknown dtype '%s' (expected f32, f64, i64 or bool)", name);
    return -1;
}

/* bool < int64 < float32 < float64: the larger one holds both. */
tt_dtype tt_promote_types(tt_dtype a, tt_dtype b)
{
    static const int rank[TT_NUM_DTYPES] = {[TT_BOOL] = 0, [TT_I64] = 1, [TT_F32] = 2, [TT_F64] = 3};
    return rank[a] >= rank[b] ? a : b;
}

/* ---- shapes ----------------------------------------------------------- */
/* One pass: a negative size gives -1 and a zero size 0 (whichever comes
 * first), even after the product has overflowed. */
int64_t tt_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    bool overflow = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return shape[i] < 0 ? -1 : 0;
        overflow |= __builtin_mul_overflow(n, shape[i], &n);
    }
    return overflow ? -1 : n;
}

bool tt__numel_fits(int ndim, const int64_t *shape, const char *op)
{
    if (tt_shape_numel(ndim, shape) >= 0) return true;
    char buf[200];
    tt_set_error(TT_EINVAL, "%s%sa tensor of shape %s would have more than %lld elements", op ? op : "", op ? ": " : "",
                 tt_shape_str(ndim, shape, buf, sizeof buf), (long long)INT64_MAX);
    return false;
}

const char *tt_shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

tt_status tt_broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int i = n - 1; i >= 0; i--) {
        int ia = i - (n - na), ib = i - (n - nb);
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return tt_set_error(TT_ESHAPE,
                                "The size of tensor a (%lld) must match the size of tensor b (%lld) at "
                                "non-singleton dimension %d",
                                (long long)sa, (long long)sb, i);
        out[i] = sa == 1 ? sb : sa;
    }
    if (!tt__numel_fits(n, out, "broadcast")) return TT_EINVAL;
    *nout = n;
    return TT_OK;
}

int tt__wrap_dim(int dim, int ndim)
{
    int n = ndim > 0 ? ndim : 1; /* a 0-d tensor accepts dims -1 and 0 */
    if (dim < -n || dim >= n) {
        tt_set_error(TT_EINVAL, "Dimension out of range (expected to be in range of [%d, %d], but got %d)", -n, n - 1,
                     dim);
        return -1;
    }
    return dim < 0 ? dim + n : dim;
}

void tt__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 1 ? shape[i] : 1;
    }
}

/* ---- storage and tensors ---------------------------------------------- */
/* The backends built in, the default first: devices are parsed, named and
 * listed from this table alone. */
static const tt_backend *const backends[] = {&tt_cpu_backend, &tt_vulkan_backend};
#define NBACKENDS ((int)(sizeof backends / sizeof backends[0]))

const tt_backend *tt_backend_for(tt_device_type type)
{
    for (int i = 0; i < NBACKENDS; i++)
        if (backends[i]->type == type) return backends[i];
    return NULL;
}

tt_status tt__no_kernel(const tt_backend *be, const char *what)
{
    return tt_set_error(TT_EDEVICE, "the %s backend has no kernel for %s yet", be->name, what);
}

/* A tensor that tt_empty makes and its storage share one block, the storage
 * after the header: one allocation and one free for both. The block goes
 * with the storage's last reference (views may outlive the header). */
typedef struct {
    tt_tensor tensor;
    tt_storage storage;
} tensor_block;

/* On a backend whose buffers are host memory, a small tensor's elements come
 * in the block too (64-byte aligned, as the CPU backend's buffers are), so
 * that it costs one allocation in all. Not under AddressSanitizer, where
 * separate buffers keep overruns visible. */
#define INLINE_BYTES 64
typedef struct {
    tensor_block b;
    _Alignas(64) unsigned char data[INLINE_BYTES];
} tensor_block_inline;
#if defined(__SANITIZE_ADDRESS__)
#define INLINE_DATA 0
#else
#define INLINE_DATA 1
#endif

/* Whether t is the header its storage's block was made with. */
static bool owns_block(const tt_tensor *t)
{
    return (const char *)t->storage == (const char *)t + offsetof(tensor_block, storage);
}

static inline void storage_release(tt_storage *s)
{
    if (s && --s->refcount == 0) {
        char *blk = (char *)s - offsetof(tensor_block, storage);
        if (s->inline_data) {
            tt__pool_free(blk, sizeof(tensor_block_inline));
            return;
        }
        s->backend->free(s->device_index, s->buf);
        tt__pool_free(blk, sizeof(tensor_block));
    }
}

void tt__storage_release(tt_storage *s) { storage_release(s); }

/* Sets a header's fields (memory of sizeof(tt_tensor)) over storage, which it
 * then holds a reference to. */
static void header_init(tt_tensor *t, tt_storage *storage, tt_dtype dt, int ndim, const int64_t *shape,
                        const int64_t *strides, int64_t offset)
{
    /* field by field (no clearing of the dims past ndim, which nothing reads) */
    t->refcount = 1;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->strides[i] = strides[i];
    }
    t->offset = offset;
    t->storage = storage;
    t->flags = 0;
    t->ext = NULL;
    t->ext_free = NULL;
    storage->refcount++;
}

/* A header over storage for a shape already checked to fit. */
static tt_tensor *new_header(tt_storage *storage, tt_dtype dt, int ndim, const int64_t *shape, const int64_t *strides,
                             int64_t offset)
{
    tt_tensor *t = tt__pool_alloc(sizeof *t);
    if (!t) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    header_init(t, storage, dt, ndim, shape, strides, offset);
    return t;
}

/* A new tensor with a new storage of nbytes on dev, in one block. */
static tt_tensor *new_tensor(tt_device dev, size_t nbytes, tt_dtype dt, int ndim, const int64_t *shape,
                             const int64_t *strides)
{
    const tt_backend *be = backends[0]->type == dev.type ? backends[0] : tt_backend_for(dev.type);
    if (!be) {
        tt_set_error(TT_EDEVICE, "no backend for device type %d is built into this tg (devices: %s)", (int)dev.type,
                     tt_device_syntax());
        return NULL;
    }
    bool inline_data = INLINE_DATA && be->host_memory && nbytes <= INLINE_BYTES;
    /* (two calls: each size's class folds to a constant) */
    tensor_block *blk =
        inline_data ? tt__pool_alloc(sizeof(tensor_block_inline)) : tt__pool_alloc(sizeof(tensor_block));
    if (!blk) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    tt_storage *s = &blk->storage;
    s->inline_data = inline_data;
    s->buf = inline_data ? ((tensor_block_inline *)blk)->data : be->alloc(dev.index, nbytes ? nbytes : 1);
    if (!s->buf) {
        tt__pool_free(blk, sizeof *blk);
        /* The CPU backend sets no message of its own (an older error may be pending). */
        if (dev.type == TT_DEVICE_CPU || !tt_last_status())
            tt_set_error(TT_ENOMEM, "out of memory allocating %zu bytes on %s", nbytes, tt_device_name(dev));
        return NULL;
    }
    s->refcount = 0; /* the header's reference is the one */
    s->backend = be;
    s->device_index = dev.index;
    s->nbytes = nbytes;
    s->version = 0;
    s->capture = tt__recording ? tt__capture_id() : 0;
    header_init(&blk->tensor, s, dt, ndim, shape, strides, 0);
    return &blk->tensor;
}

tt_tensor *tt__new_view(tt_storage *storage, tt_dtype dt, int ndim, const int64_t *shape, const int64_t *strides,
                        int64_t offset)
{
    /* Every view passes here: none may count more elements than int64 holds
     * (expand and restriding make no storage that would catch it). */
    int64_t n = 1;
    bool fits = true;
    for (int i = 0; i < ndim; i++) fits &= shape[i] >= 0 && !__builtin_mul_overflow(n, shape[i], &n);
    if (!fits && !tt__numel_fits(ndim, shape, NULL)) return NULL;
    return new_header(storage, dt, ndim, shape, strides, offset);
}

tt_tensor *tt__restride(const tt_tensor *t, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset)
{
    tt_tensor *v = tt__new_view(t->storage, t->dtype, ndim, shape, strides, offset);
    if (v) v->flags = t->flags; /* a view of an untracked alias is untracked too */
    return v;
}

tt_tensor *tt_retain(tt_tensor *t)
{
    if (t) t->refcount++;
    return t;
}

void tt_release(tt_tensor *t)
{
    if (!t || --t->refcount > 0) return;
    if (t->ext_free) t->ext_free(t->ext);
    tt_storage *s = t->storage;
    if (!owns_block(t)) tt__pool_free(t, sizeof *t); /* else it goes with its storage's block */
    storage_release(s);
}

/* A tensor's shape was checked when it was made (no negative size, a count
 * that fits): the plain product. */
int64_t tt_numel(const tt_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

bool tt_is_contiguous(const tt_tensor *t) { return tt__is_contiguous(t); }

tt_device tt_device_of(const tt_tensor *t) { return tt__device_of(t); }

uint64_t tt_version(const tt_tensor *t) { return t->storage->version; }
void tt_bump_version(tt_tensor *t)
{
    if (!(t->flags & TT_FLAG_UNTRACKED_VERSION)) t->storage->version++;
}

tt_status tt__check_same_device(const tt_tensor *a, const tt_tensor *b, const char *op)
{
    if (a->storage->backend == b->storage->backend && a->storage->device_index == b->storage->device_index)
        return TT_OK;
    tt_device da = tt_device_of(a), db = tt_device_of(b);
    if (da.type != db.type || da.index != db.index) {
        char na[32], nb[32];
        snprintf(na, sizeof na, "%s", tt_device_name(da));
        snprintf(nb, sizeof nb, "%s", tt_device_name(db));
        return tt_set_error(TT_EDEVICE,
                            "%s: Expected all tensors to be on the same device, but found at least "
                            "two devices, %s and %s!",
                            op, na, nb);
    }
    return TT_OK;
}

/* ---- devices (from the backend registry) --------------------------------- */
tt_status tt_device_parse(const char *s, tt_device *out)
{
    for (int i = 0; i < NBACKENDS; i++) {
        const tt_backend *be = backends[i];
        size_t n = strlen(be->name);
        if (strncmp(s, be->name, n) || (s[n] && s[n] != ':') || (s[n] == ':' && !be->indexed)) continue;
        long index = 0;
        if (s[n] == ':') {
            char *end;
            index = strtol(s + n + 1, &end, 10);
            if (end == s + n + 1 || *end || index < 0 || index > 255)
                return tt_set_error(TT_EINVAL, "invalid device '%s' (expected %s:N with N a device number)", s,
                                    be->name);
        }
        *out = (tt_device){be->type, (int)index};
        return TT_OK;
    }
    return tt_set_error(TT_EINVAL, "unknown device '%s' (expected %s)", s, tt_device_syntax());
}

const char *tt_device_name(tt_device d)
{
    static _Thread_local char buf[64];
    const tt_backend *be = tt_backend_for(d.type);
    if (!be) return "unknown";
    if (!be->indexed) return be->name;
    snprintf(buf, sizeof buf, "%s:%d", be->name, d.index);
    return buf;
}

/* The backends' device strings as "a, b or c": each name, and name:N for an
 * indexed one (what parse accepts); for help, "cpu (default)", "vulkan[:N]". */
static void device_list(char *buf, size_t len, bool help)
{
    char items[2 * NBACKENDS][64];
    int n = 0;
    for (int i = 0; i < NBACKENDS; i++) {
        const tt_backend *be = backends[i];
        if (help) snprintf(items[n++], 64, "%s%s%s", be->name, be->indexed ? "[:N]" : "", i ? "" : " (default)");
        else snprintf(items[n++], 64, "%s", be->name);
        if (!help && be->indexed) snprintf(items[n++], 64, "%s:N", be->name);
    }
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", items[i]);
}

const char *tt_device_syntax(void)
{
    static char buf[256];
    if (!buf[0]) device_list(buf, sizeof buf, false);
    return buf;
}

const char *tt_device_help(void)
{
    static char buf[256];
    if (!buf[0]) device_list(buf, sizeof buf, true);
    return buf;
}

/* ---- creation --------------------------------------------------------- */
tt_tensor *tt_empty(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev)
{
    if (ndim < 0 || ndim > TT_MAX_DIMS) {
        tt_set_error(TT_EINVAL, "a tensor has at most %d dimensions, got %d", TT_MAX_DIMS, ndim);
        return NULL;
    }
    /* One pass for the common case: sizes all positive, the count and the
     * strides (which are then the same products) without overflow. */
    int64_t strides[TT_MAX_DIMS], n = 1;
    bool plain = true;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = n;
        plain &= (shape[i] > 0) & !__builtin_mul_overflow(n, shape[i], &n); /* (no branch: & not &&) */
    }
    if (!plain) {
        for (int i = 0; i < ndim; i++)
            if (shape[i] < 0) {
                char buf[160];
                tt_set_error(TT_EINVAL, "Trying to create tensor with negative dimension %lld: %s", (long long)shape[i],
                             tt_shape_str(ndim, shape, buf, sizeof buf));
                return NULL;
            }
        n = tt_shape_numel(ndim, shape);
        if (n < 0 && !tt__numel_fits(ndim, shape, NULL)) return NULL; /* the error */
        tt__contiguous_strides(ndim, shape, strides);
    }
    size_t bytes;
    if (__builtin_mul_overflow((size_t)n, tt__dtype_size(dt), &bytes)) {
        char buf[160];
        tt_set_error(TT_ENOMEM, "a tensor of shape %s has too many elements",
                     tt_shape_str(ndim, shape, buf, sizeof buf));
        return NULL;
    }
    return new_tensor(dev, bytes, dt, ndim, shape, strides);
}

tt_tensor *tt_full(int ndim, const int64_t *shape, double value, tt_dtype dt, tt_device dev)
{
    tt_tensor *t = tt_empty(ndim, shape, dt, dev);
    int64_t n = t ? tt__numel(t) : 0;
    if (n) { /* the kernel directly: creation is not an in-place modification */
        tt_kview v;
        tt__kview_flat(t, n, 1, &v); /* a fresh tensor: its elements in order */
        if (tt__backend(t)->fill(&v, value) != TT_OK) {
            tt_release(t);
            return NULL;
        }
    }
    return t;
}

tt_tensor *tt_zeros(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev)
{
    return tt_full(ndim, shape, 0, dt, dev);
}
tt_tensor *tt_ones(int ndim, const int64_t *shape, tt_dtype dt, tt_device dev)
{
    return tt_full(ndim, shape, 1, dt, dev);
}
tt_tensor *tt_scalar(double value, tt_dtype dt, tt_device dev) { return tt_full(0, NULL, value, dt, dev); }
tt_tensor *tt_empty_like(const tt_tensor *t) { return tt_empty(t->ndim, t->shape, t->dtype, tt_device_of(t)); }
tt_tensor *tt_zeros_like(const tt_tensor *t) { return tt_zeros(t->ndim, t->shape, t->dtype, tt_device_of(t)); }
tt_tensor *tt_ones_like(const tt_tensor *t) { return tt_ones(t->ndim, t->shape, t->dtype, tt_device_of(t)); }
tt_tensor *tt_full_like(const tt_tensor *t, double v)
{
    return tt_full(t->ndim, t->shape, v, t->dtype, tt_device_of(t));
}

tt_tensor *tt_from_data(int ndim, const int64_t *shape, tt_dtype dt, const void *data, tt_device dev)
{
    tt_tensor *t = tt_empty(ndim, shape, dt, dev);
    if (!t) return NULL;
    size_t bytes = (size_t)tt_numel(t) * tt_dtype_size(dt);
    if (bytes && tt__backend(t)->from_host(t->storage->buf, 0, data, bytes) != TT_OK) {
        tt_release(t);
        return NULL;
    }
    return t;
}

/* arange (start + i step) and linspace (PyTorch's: from the start for the
 * first half, from the end for the rest) are computed here, rounded to dt as
 * the kernels round, and uploaded: no backend needs a kernel for them. */
/* Elements [first, first + n) of a range of `total` (linspace needs the whole length). */
static tt_tensor *host_range(int64_t n, double a, double b, bool lin, int64_t first, int64_t total, tt_dtype dt,
                             tt_device dev)
{
    /* The tensor first: tt_empty refuses a length whose bytes overflow, before any host buffer is sized. */
    tt_tensor *t = tt_empty(1, &n, dt, dev);
    if (!t) return NULL;
    size_t bytes = (size_t)n * tt_dtype_size(dt);
    char *host = malloc(bytes + 1);
    if (!host) {
        tt_release(t);
        return tt_set_error(TT_ENOMEM, "out of memory for a range of %lld elements", (long long)n), NULL;
    }
    double step = lin ? (total > 1 ? (b - a) / (double)(total - 1) : 0) : b;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = first + k;
        double x = !lin || i < total / 2 || total == 1 ? a + step * (double)i : b - step * (double)(total - 1 - i);
        switch (dt) {
        case TT_F32: ((float *)host)[k] = (float)x; break;
        case TT_F64: ((double *)host)[k] = x; break;
        case TT_I64: ((int64_t *)host)[k] = tt__f2i(x); break;
        case TT_BOOL: ((uint8_t *)host)[k] = x != 0; break;
        }
    }
    tt_status st = bytes ? tt__backend(t)->from_host(t->storage->buf, 0, host, bytes) : TT_OK;
    free(host);
    if (st != TT_OK) {
        tt_release(t);
        return NULL;
    }
    return t;
}

tt_tensor *tt_arange(double start, double end, double step, tt_dtype dt, tt_device dev)
{
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step)) {
        tt_set_error(TT_EINVAL, step == 0 ? "arange: step must be nonzero" : "arange: unsupported range: %g -> %g",
                     start, end);
        return NULL;
    }
    if ((step > 0 && start > end) || (step < 0 && start < end)) {
        tt_set_error(TT_EINVAL, "arange: upper bound and larger bound inconsistent with step sign");
        return NULL;
    }
    double len = ceil((end - start) / step);
    if (len > 9.0e18) {
        tt_set_error(TT_EINVAL, "arange: too many elements (%g)", len);
        return NULL;
    }
    return host_range((int64_t)len, start, step, false, 0, (int64_t)len, dt, dev);
}

tt_tensor *tt_linspace(double start, double end, int64_t steps, tt_dtype dt, tt_device dev)
{
    if (steps < 0) {
        tt_set_error(TT_EINVAL, "linspace: number of steps must be non-negative");
        return NULL;
    }
    return host_range(steps, start, end, true, 0, steps, dt, dev);
}

tt_tensor *tt_linspace_part(double start, double end, int64_t steps, int64_t first, int64_t count, tt_dtype dt,
                            tt_device dev)
{
    if (steps < 0 || first < 0 || count < 0 || count > steps - first) {
        tt_set_error(TT_EINVAL, "linspace: elements %lld.. (%lld of them) are not in a range of %lld", (long long)first,
                     (long long)count, (long long)steps);
        return NULL;
    }
    return host_range(count, start, end, true, first, steps, dt, dev);
}

tt_tensor *tt_eye(int64_t n, int64_t m, tt_dtype dt, tt_device dev)
{
    if (m < 0) m = n;
    int64_t shape[2] = {n, m};
    tt_tensor *t = tt_zeros(2, shape, dt, dev);
    if (!t || n == 0 || m == 0) return t;
    /* The diagonal is a 1-D view with stride m+1. */
    int64_t k = n < m ? n : m, stride = m + 1;
    tt_tensor *diag = tt__restride(t, 1, &k, &stride, 0);
    tt_status st = diag ? tt_fill_(diag, 1) : TT_ENOMEM;
    tt_release(diag);
    if (st != TT_OK) {
        tt_release(t);
        return NULL;
    }
    t->storage->version = 0;
    return t;
}

/* ---- views -------------------------------------------------------------- */
tt_tensor *tt_alias(const tt_tensor *t) { return tt__restride(t, t->ndim, t->shape, t->strides, t->offset); }

tt_tensor *tt_untracked_alias(const tt_tensor *t)
{
    tt_tensor *a = tt_alias(t);
    if (a) a->flags |= TT_FLAG_UNTRACKED_VERSION;
    return a;
}

/* Strides for viewing t as `shape` without copying, or false when t's
 * layout does not allow it (PyTorch's computeStride). */
static bool view_strides(const tt_tensor *t, int ndim, const int64_t *shape, int64_t *out)
{
    int64_t numel = tt_numel(t);
    if (numel == 0) {
        tt__contiguous_strides(ndim, shape, out);
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->ndim ? t->strides[t->ndim - 1] : 1;
    int64_t tensor_numel = 1, view_numel = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        tensor_numel *= t->shape[d];
        if (d == 0 || (t->shape[d - 1] != 1 && t->strides[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                out[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (d > 0) {
                chunk_base_stride = t->strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if (t->ndim == 0) /* a 0-d tensor views as any all-ones shape */
        for (; view_d >= 0; view_d--) out[view_d] = 1;
    return view_d == -1;
}

/* Resolves one -1 in shape and checks the element count. */
static bool infer_shape(const tt_tensor *t, int ndim, const int64_t *shape, int64_t *out)
{
    int infer = -1;
    int64_t known = 1, numel = tt_numel(t);
    char buf[200];
    if (ndim < 0 || ndim > TT_MAX_DIMS) {
        tt_set_error(TT_EINVAL, "a tensor has at most %d dimensions, got %d", TT_MAX_DIMS, ndim);
        return false;
    }
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) {
                tt_set_error(TT_EINVAL, "only one dimension can be inferred");
                return false;
            }
            infer = i;
        } else if (shape[i] < 0) {
            tt_set_error(TT_EINVAL, "invalid shape dimension %lld", (long long)shape[i]);
            return false;
        } else if (__builtin_mul_overflow(known, shape[i], &known)) {
            known = -1;
            break;
        }
    }
    if (infer >= 0 && known > 0 && numel % known == 0) out[infer] = numel / known;
    else if (infer >= 0 || known != numel) {
        tt_set_error(TT_ESHAPE, "shape '%s' is invalid for input of size %lld",
                     tt_shape_str(ndim, shape, buf, sizeof buf), (long long)numel);
        return false;
    }
    return true;
}

tt_tensor *tt_view(const tt_tensor *t, int ndim, const int64_t *shape)
{
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    if (!infer_shape(t, ndim, shape, sh)) return NULL;
    if (!view_strides(t, ndim, sh, st)) {
        tt_set_error(TT_ESHAPE,
                     "view size is not compatible with input tensor's size and stride (at least one "
                     "dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
        return NULL;
    }
    return tt__restride(t, ndim, sh, st, t->offset);
}

tt_tensor *tt_reshape(const tt_tensor *t, int ndim, const int64_t *shape)
{
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    if (!infer_shape(t, ndim, shape, sh)) return NULL;
    if (view_strides(t, ndim, sh, st)) return tt__restride(t, ndim, sh, st, t->offset);
    tt_tensor *c = tt_contiguous(t);
    if (!c) return NULL;
    tt_tensor *v = tt_view(c, ndim, sh);
    tt_release(c);
    return v;
}

tt_tensor *tt_permute(const tt_tensor *t, const int *dims)
{
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    bool seen[TT_MAX_DIMS] = {false};
    for (int i = 0; i < t->ndim; i++) {
        int d = tt__wrap_dim(dims[i], t->ndim);
        if (d < 0) return NULL;
        if (seen[d]) {
            tt_set_error(TT_EINVAL, "permute(): duplicate dims are not allowed.");
            return NULL;
        }
        seen[d] = true;
        sh[i] = t->shape[d];
        st[i] = t->strides[d];
    }
    return tt__restride(t, t->ndim, sh, st, t->offset);
}

tt_tensor *tt_transpose(const tt_tensor *t, int dim0, int dim1)
{
    if (t->ndim == 0) {
        if (tt__wrap_dim(dim0, 0) < 0 || tt__wrap_dim(dim1, 0) < 0) return NULL;
        return tt_alias(t);
    }
    int a = tt__wrap_dim(dim0, t->ndim), b = a < 0 ? -1 : tt__wrap_dim(dim1, t->ndim);
    if (a < 0 || b < 0) return NULL;
    int perm[TT_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return tt_permute(t, perm);
}

tt_tensor *tt_t(const tt_tensor *t)
{
    if (t->ndim > 2) {
        tt_set_error(TT_EINVAL, "t() expects a tensor with <= 2 dimensions, but self is %dD", t->ndim);
        return NULL;
    }
    return t->ndim < 2 ? tt_alias(t) : tt_transpose(t, 0, 1);
}

tt_tensor *tt_slice(const tt_tensor *t, int dim, int64_t start, int64_t end, int64_t step)
{
    if (t->ndim == 0) {
        tt_set_error(TT_EINVAL, "slice() cannot be applied to a 0-dim tensor.");
        return NULL;
    }
    int d = tt__wrap_dim(dim, t->ndim);
    if (d < 0) return NULL;
    if (step <= 0) {
        tt_set_error(TT_EINVAL, "slice step must be positive");
        return NULL;
    }
    int64_t n = t->shape[d];
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = start < 0 ? 0 : start > n ? n : start;
    end = end < start ? start : end > n ? n : end;
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->strides, sizeof st);
    sh[d] = (end - start + step - 1) / step;
    st[d] = t->strides[d] * step;
    return tt__restride(t, t->ndim, sh, st, t->offset + start * t->strides[d]);
}

tt_tensor *tt_select(const tt_tensor *t, int dim, int64_t index)
{
    if (t->ndim == 0) {
        tt_set_error(TT_EINVAL, "select() cannot be applied to a 0-dim tensor.");
        return NULL;
    }
    int d = tt__wrap_dim(dim, t->ndim);
    if (d < 0) return NULL;
    int64_t n = t->shape[d];
    if (index < -n || index >= n) {
        char buf[200];
        tt_set_error(TT_EINVAL, "select(): index %lld out of range for tensor of size %s at dimension %d",
                     (long long)index, tt_shape_str(t->ndim, t->shape, buf, sizeof buf), d);
        return NULL;
    }
    if (index < 0) index += n;
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    for (int i = 0, j = 0; i < t->ndim; i++)
        if (i != d) {
            sh[j] = t->shape[i];
            st[j] = t->strides[i];
            j++;
        }
    return tt__restride(t, t->ndim - 1, sh, st, t->offset + index * t->strides[d]);
}

tt_tensor *tt_expand(const tt_tensor *t, int ndim, const int64_t *shape)
{
    char b1[200], b2[200];
    if (ndim < t->ndim) {
        tt_set_error(TT_ESHAPE,
                     "expand: the number of sizes provided (%d) must be greater or equal to the "
                     "number of dimensions in the tensor (%d)",
                     ndim, t->ndim);
        return NULL;
    }
    if (ndim > TT_MAX_DIMS) {
        tt_set_error(TT_EINVAL, "a tensor has at most %d dimensions", TT_MAX_DIMS);
        return NULL;
    }
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    for (int i = ndim - 1; i >= 0; i--) {
        int j = i - (ndim - t->ndim);
        if (j < 0) {
            if (shape[i] < 0) {
                tt_set_error(TT_ESHAPE,
                             "The expanded size of the tensor (%lld) isn't allowed in a leading, "
                             "non-existing dimension %d",
                             (long long)shape[i], i);
                return NULL;
            }
            sh[i] = shape[i];
            st[i] = 0;
        } else if (shape[i] == -1 || shape[i] == t->shape[j]) {
            sh[i] = t->shape[j];
            st[i] = t->strides[j];
        } else if (t->shape[j] == 1 && shape[i] >= 0) {
            sh[i] = shape[i];
            st[i] = 0;
        } else {
            tt_set_error(TT_ESHAPE,
                         "The expanded size of the tensor (%lld) must match the existing size (%lld) at "
                         "non-singleton dimension %d.  Target sizes: %s.  Tensor sizes: %s",
                         (long long)shape[i], (long long)t->shape[j], i, tt_shape_str(ndim, shape, b1, sizeof b1),
                         tt_shape_str(t->ndim, t->shape, b2, sizeof b2));
            return NULL;
        }
    }
    return tt__restride(t, ndim, sh, st, t->offset); /* (which refuses a count past int64, as every view) */
}

tt_tensor *tt_squeeze(const tt_tensor *t, int dim)
{
    int d = -1;
    if (dim != TT_ALL_DIMS && (d = tt__wrap_dim(dim, t->ndim)) < 0) return NULL;
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < t->ndim; i++) {
        bool drop = t->shape[i] == 1 && (dim == TT_ALL_DIMS || i == d);
        if (!drop) {
            sh[n] = t->shape[i];
            st[n] = t->strides[i];
            n++;
        }
    }
    return tt__restride(t, n, sh, st, t->offset);
}

tt_tensor *tt_unsqueeze(const tt_tensor *t, int dim)
{
    if (t->ndim >= TT_MAX_DIMS) {
        tt_set_error(TT_EINVAL, "a tensor has at most %d dimensions", TT_MAX_DIMS);
        return NULL;
    }
    int d = tt__wrap_dim(dim, t->ndim + 1);
    if (d < 0) return NULL;
    int64_t sh[TT_MAX_DIMS], st[TT_MAX_DIMS];
    for (int i = 0, j = 0; i <= t->ndim; i++) {
        if (i == d) {
            sh[i] = 1;
            st[i] = i < t->ndim ? t->shape[i] * t->strides[i] : 1;
        } else {
            sh[i] = t->shape[j];
            st[i] = t->strides[j];
            j++;
        }
    }
    return tt__restride(t, t->ndim + 1, sh, st, t->offset);
}

tt_tensor *tt_clone(const tt_tensor *t)
{
    tt_tensor *c = tt_empty_like(t);
    if (!c) return NULL;
    tt_kview o, i;
    tt__kview(c, &o);
    tt__kview(t, &i);
    if (tt_numel(t) && tt__backend(t)->copy(&o, &i) != TT_OK) {
        tt_release(c);
        return NULL;
    }
    return c;
}

tt_tensor *tt_contiguous(const tt_tensor *t) { return tt_is_contiguous(t) ? tt_retain((tt_tensor *)t) : tt_clone(t); }

tt_tensor *tt_to_device(const tt_tensor *t, tt_device d)
{
    tt_device from = tt_device_of(t);
    if (from.type == d.type && from.index == d.index) return tt_retain((tt_tensor *)t);
    tt_tensor *c = tt_contiguous(t);
    if (!c) return NULL;
    size_t bytes = (size_t)tt_numel(c) * tt_dtype_size(c->dtype);
    void *host = malloc(bytes ? bytes : 1);
    tt_tensor *out = NULL;
    if (!host) tt_set_error(TT_ENOMEM, "out of memory");
    else if (tt_to_host(c, c->dtype, host) == TT_OK) out = tt_from_data(c->ndim, c->shape, c->dtype, host, d);
    free(host);
    tt_release(c);
    return out;
}

/* ---- host access -------------------------------------------------------- */
tt_status tt_to_host(const tt_tensor *t, tt_dtype dt, void *dst)
{
    int64_t n = tt_numel(t);
    if (n == 0) return TT_OK;
    tt_tensor *src = tt_cast(t, dt); /* the backend casts and packs on its side */
    if (!src) return tt_last_status();
    tt_tensor *c = tt_contiguous(src);
    tt_release(src);
    if (!c) return tt_last_status();
    size_t es = tt_dtype_size(dt);
    if (tt__recording) tt__capture_read(dt);
    tt_status st = tt__backend(c)->to_host(dst, c->storage->buf, (size_t)c->offset * es, (size_t)n * es);
    tt_release(c);
    return st;
}

tt_status tt_item(const tt_tensor *t, double *out)
{
    if (tt_numel(t) != 1)
        return tt_set_error(TT_EINVAL, "a Tensor with %lld elements cannot be converted to Scalar",
                            (long long)tt_numel(t));
    return tt_to_host(t, TT_F64, out);
}

tt_status tt_get(const tt_tensor *t, const int64_t *index, double *out)
{
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) {
        if (index[i] < 0 || index[i] >= t->shape[i])
            return tt_set_error(TT_EINVAL, "index %lld is out of bounds for dimension %d with size %lld",
                                (long long)index[i], i, (long long)t->shape[i]);
        off += index[i] * t->strides[i];
    }
    int64_t one = 1;
    tt_tensor *e = tt__restride(t, 0, &one, &one, off);
    if (!e) return tt_last_status();
    tt_status st = tt_to_host(e, TT_F64, out);
    tt_release(e);
    return st;
}
