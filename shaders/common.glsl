// Shared by every tg compute shader: the parameter block, strided indexing and
// typed loads/stores over buffers bound as 32-bit words. Binding 0 holds one
// Params per dispatch (written by lib/backend/vulkan.c, same layout as
// vk_params there); bindings 1-4 are the operands (1 = output).
// dtype codes follow tt_dtype: 0 f32, 1 f64, 2 i64, 3 bool (one byte).
// The including .comp file states #version and, for f64/i64, the extensions
// and #define TG_F64 / TG_I64 before #include "common.glsl".
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer Params {
    uint n;        // elements in this dispatch
    uint op;       // kernel-specific opcode
    uint ndim;     // dims after merging (<= 8)
    uint base;     // first linear index of this dispatch (splits)
    uint dt[4];    // dtypes of the views
    uint u[4];     // kernel-specific words (rng: seed lo/hi, offset lo/hi)
    float f;       // a scalar as float
    float f_pad;
    uint dbits[2]; // the same scalar as a double's bits
    uint shape[8];
    int offset[4];
    int strides[32]; // strides[4*d + k]: view k, dim d, in elements
} P;

layout(std430, set = 0, binding = 1) buffer B0 { uint w[]; } b0;
layout(std430, set = 0, binding = 2) buffer B1 { uint w[]; } b1;
layout(std430, set = 0, binding = 3) buffer B2 { uint w[]; } b2;
layout(std430, set = 0, binding = 4) buffer B3 { uint w[]; } b3;

// The linear index of this invocation, or false past the end (2-D grids split
// dispatches over 65535 workgroups).
bool linear_index(out uint i)
{
    uint gx = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    i = gl_GlobalInvocationID.y * gx + gl_GlobalInvocationID.x;
    if (i >= P.n) return false;
    i += P.base;
    return true;
}

// Element offsets of the element with linear index i in views 0..3.
ivec4 element_offsets(uint i)
{
    ivec4 o = ivec4(P.offset[0], P.offset[1], P.offset[2], P.offset[3]);
    for (int d = int(P.ndim) - 1; d >= 0; d--) {
        uint s = P.shape[d];
        int c = int(i % s);
        i /= s;
        o += c * ivec4(P.strides[4 * d], P.strides[4 * d + 1], P.strides[4 * d + 2], P.strides[4 * d + 3]);
    }
    return o;
}

uint load_word(int k, int j)
{
    if (k == 0) return b0.w[j];
    if (k == 1) return b1.w[j];
    if (k == 2) return b2.w[j];
    return b3.w[j];
}

void store_word(int k, int j, uint v)
{
    if (k == 0) b0.w[j] = v;
    else if (k == 1) b1.w[j] = v;
    else if (k == 2) b2.w[j] = v;
    else b3.w[j] = v;
}

float load_f32(int k, int e) { return uintBitsToFloat(load_word(k, e)); }
void store_f32(int k, int e, float v) { store_word(k, e, floatBitsToUint(v)); }

bool load_bool(int k, int e) { return ((load_word(k, e >> 2) >> (8 * (e & 3))) & 0xFFu) != 0u; }

// Bytes of a word may belong to other invocations: change ours atomically.
// Only the output (binding 1) is ever written.
void store_bool(int e, bool v)
{
    uint sh = 8u * uint(e & 3);
    atomicAnd(b0.w[e >> 2], ~(0xFFu << sh));
    if (v) atomicOr(b0.w[e >> 2], 1u << sh);
}

#ifdef TG_F64
double load_f64(int k, int e) { return packDouble2x32(uvec2(load_word(k, 2 * e), load_word(k, 2 * e + 1))); }
void store_f64(int k, int e, double v)
{
    uvec2 w = unpackDouble2x32(v);
    store_word(k, 2 * e, w.x);
    store_word(k, 2 * e + 1, w.y);
}
double param_double() { return packDouble2x32(uvec2(P.dbits[0], P.dbits[1])); }
#endif

#ifdef TG_I64
int64_t load_i64(int k, int e) { return packInt2x32(ivec2(int(load_word(k, 2 * e)), int(load_word(k, 2 * e + 1)))); }
void store_i64(int k, int e, int64_t v)
{
    ivec2 w = unpackInt2x32(v);
    store_word(k, 2 * e, uint(w.x));
    store_word(k, 2 * e + 1, uint(w.y));
}
#endif

// The flat index of this workgroup (2-D grids for over 65535 groups).
uint group_index() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// Views described as kept dims (shape[0..u[0])) and one more set of dims
// (shape[u[0]..ndim)): reduce and softmax. Offset of kept position o in view k.
int kept_offset(uint o, int k)
{
    int off = P.offset[k];
    for (int d = int(P.u[0]) - 1; d >= 0; d--) {
        uint s = P.shape[d];
        off += int(o % s) * P.strides[4 * d + k];
        o /= s;
    }
    return off;
}

// Offset in view k of position r over the inner dims shape[u[0]..ndim).
int inner_offset(uint r, int k)
{
    if (P.ndim == P.u[0] + 1u) return int(r) * P.strides[4 * int(P.u[0]) + k]; // one dim: no division
    int off = 0;
    for (int d = int(P.ndim) - 1; d >= int(P.u[0]); d--) {
        uint s = P.shape[d];
        off += int(r % s) * P.strides[4 * d + k];
        r /= s;
    }
    return off;
}
