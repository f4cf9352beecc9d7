// softmax / log_softmax (op 1) along one dim: one workgroup per slice. Views
// out (0) and in (1); u[0] kept dims, then the softmax dim (u[1] long).
// Max (NaN wins), sum of exp(x - max), then the outputs; T is the
// accumulator (double with TG_WIDE, which also reads f64 inputs).
#ifdef TG_WIDE
#define T double
#define EXP d_exp
#define LOG d_log
#define NEG_INF (-d_inf())
T load_t(int e) { return P.dt[1] == 0u ? double(load_f32(1, e)) : load_f64(1, e); }
void store_t(int e, T v) { if (P.dt[0] == 0u) store_f32(0, e, float(v)); else store_f64(0, e, v); }
#else
#define T float
#define EXP exp
#define LOG log
#define NEG_INF uintBitsToFloat(0xFF800000u)
T load_t(int e) { return load_f32(1, e); }
void store_t(int e, T v) { store_f32(0, e, v); }
#endif

shared T s_v[256];

void main()
{
    uint o = group_index(), lid = gl_LocalInvocationIndex, L = P.u[1], W = gl_WorkGroupSize.x;
    if (o >= P.n) return; // uniform across the workgroup
    int oo = kept_offset(o, 0), io = kept_offset(o, 1);
    int so = P.strides[4 * int(P.u[0])], si = P.strides[4 * int(P.u[0]) + 1];
    T m = NEG_INF;
    for (uint j = lid; j < L; j += W) {
        T x = load_t(io + int(j) * si);
        if (x > m || isnan(x)) m = x; // as the CPU: a NaN stays
    }
    s_v[lid] = m;
    barrier();
    for (uint w = W / 2u; w > 0u; w >>= 1) {
        if (lid < w) {
            T a = s_v[lid], b = s_v[lid + w];
            if (!isnan(a) && (isnan(b) || b > a)) s_v[lid] = b;
        }
        barrier();
    }
    m = s_v[0];
    barrier();
    T s = T(0);
    for (uint j = lid; j < L; j += W) s += EXP(load_t(io + int(j) * si) - m);
    s_v[lid] = s;
    barrier();
    for (uint w = W / 2u; w > 0u; w >>= 1) {
        if (lid < w) s_v[lid] += s_v[lid + w];
        barrier();
    }
    s = s_v[0];
    T lse = LOG(s);
    for (uint j = lid; j < L; j += W) {
        T x = load_t(io + int(j) * si) - m;
        store_t(oo + int(j) * so, P.op != 0u ? x - lse : EXP(x) / s);
    }
}
