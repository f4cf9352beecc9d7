// Reductions (op: OP_SUM ... of the op table) over the inner dims of the views out (0), in (1)
// and idx (2, int64, only when u[3] != 0): P.n outputs, u[0] kept dims, u[1]
// = R elements reduced per output. u[2] != 0: one workgroup per output (a
// shared-memory tree), else one invocation per output (small R). Split
// reductions (vulkan.c's reduce_rec): P.base is added to stored indices (a
// chunk's start), or for a mean is its divisor (in holds partial sums); u[3]
// == 2: in holds partial maxima/minima and view 3 (int64, in's layout) their
// indices, combined in place of positions. u[3] == 3: a sum of products of
// views 1 and 2 (same layout; matmul of thin matrices).
// TG_WIDE: double / int64 accumulators (f32, f64, i64, bool inputs); else
// float accumulators (f32 and bool inputs only).
// TG_SUBGROUP (reduce_*_sg.comp, used when the device has basic and
// relative-shuffle subgroup operations in compute and a subgroup size that
// divides 256): group mode combines within subgroups by shuffles, then across
// the subgroups' partials in shared memory: one barrier instead of eight. Any
// power-of-two subgroup size works (lavapipe's is 8); 64-bit values are
// shuffled as two 32-bit words (no shaderSubgroupExtendedTypes needed).
#include "opcodes.glsl"
#ifdef TG_WIDE
#define ACC double
#define IACC int64_t
ACC load_acc(int k, int e)
{
    uint t = P.dt[k];
    return t == 0u ? double(load_f32(k, e)) : t == 1u ? load_f64(k, e) : (load_bool(k, e) ? 1.0lf : 0.0lf);
}
IACC load_iacc(int e) { return load_i64(1, e); }
#else
#define ACC float
#define IACC int
ACC load_acc(int k, int e) { return P.dt[k] == 0u ? load_f32(k, e) : (load_bool(k, e) ? 1.0 : 0.0); }
IACC load_iacc(int e) { return 0; }
#endif

#define NONE 0xFFFFFFFFu
shared ACC s_v[256];
shared IACC s_l[256];
shared uint s_i[256];

bool is_int() { return P.dt[1] == 2u; }

// a = a (+) b, where b covers later or earlier elements (idx says which).
void combine(inout ACC av, inout IACC al, inout uint ai, ACC bv, IACC bl, uint bi)
{
    uint op = P.op;
    if (op == OP_SUM || op == OP_MEAN) { av += bv; al += bl; return; }
    if (op == OP_PROD) { av *= bv; al *= bl; return; }
    if (bi == NONE) return;
    bool take;
    if (ai == NONE) take = true;
    else if (is_int()) take = (op == OP_MAX ? bl > al : bl < al) || (bl == al && bi < ai);
    else if (isnan(bv)) take = !isnan(av) || bi < ai; // NaN wins, the first one
    else take = !isnan(av) && ((op == OP_MAX ? bv > av : bv < av) || (bv == av && bi < ai));
    if (take) { av = bv; al = bl; ai = bi; }
}

#ifdef TG_SUBGROUP
// What lane gl_SubgroupInvocationID + d holds (every lane must call these;
// the caller ignores lanes whose source is past the subgroup).
ACC down_acc(ACC v, uint d)
{
#ifdef TG_WIDE
    return packDouble2x32(subgroupShuffleDown(unpackDouble2x32(v), d));
#else
    return subgroupShuffleDown(v, d);
#endif
}
IACC down_iacc(IACC v, uint d)
{
#ifdef TG_WIDE
    return packInt2x32(subgroupShuffleDown(unpackInt2x32(v), d));
#else
    return subgroupShuffleDown(v, d);
#endif
}

// Lane 0 of the subgroup gets the combination of all its lanes (a tree:
// combine() orders ties by index, so max/min/indices are exact).
void subgroup_combine(inout ACC v, inout IACC l, inout uint ix)
{
    uint lane = gl_SubgroupInvocationID;
    for (uint d = gl_SubgroupSize / 2u; d > 0u; d >>= 1) {
        ACC bv = down_acc(v, d);
        IACC bl = down_iacc(l, d);
        uint bi = subgroupShuffleDown(ix, d);
        if (lane + d < gl_SubgroupSize) combine(v, l, ix, bv, bl, bi);
    }
}
#endif

void main()
{
    bool group = P.u[2] != 0u;
    uint lid = gl_LocalInvocationIndex;
    uint o = group ? group_index() : group_index() * gl_WorkGroupSize.x + lid;
    if (o >= P.n) return; // uniform across the workgroup in group mode
    int oo = kept_offset(o, 0), io = kept_offset(o, 1);
    uint R = P.u[1], op = P.op;
    ACC v = op == OP_PROD ? ACC(1) : ACC(0);
    IACC l = op == OP_PROD ? IACC(1) : IACC(0);
    uint ix = NONE;
    bool isi = is_int(), pairs = P.u[3] == 2u, dot = P.u[3] == 3u;
    int po = pairs ? kept_offset(o, 3) : dot ? kept_offset(o, 2) : 0;
    uint step = group ? gl_WorkGroupSize.x : 1u;
    for (uint r = group ? lid : 0u; r < R; r += step) {
        int e = io + inner_offset(r, 1);
        ACC bv = ACC(0);
        IACC bl = IACC(0);
        if (isi) bl = load_iacc(e); else bv = load_acc(1, e);
        if (dot) bv *= load_acc(2, po + inner_offset(r, 2));
        combine(v, l, ix, bv, bl, pairs ? load_word(3, 2 * (po + inner_offset(r, 3))) : r);
    }
#ifdef TG_SUBGROUP
    if (group) { // reached by the whole workgroup: the early return above is uniform
        subgroup_combine(v, l, ix);
        if (gl_SubgroupInvocationID == 0u) { // the lane holding the subgroup's result
            s_v[gl_SubgroupID] = v;
            s_l[gl_SubgroupID] = l;
            s_i[gl_SubgroupID] = ix;
        }
        barrier();
        if (gl_SubgroupID != 0u) return;
        // The first subgroup combines the partials (lane by lane, then by
        // shuffles: there may be more subgroups than lanes).
        v = op == OP_PROD ? ACC(1) : ACC(0);
        l = op == OP_PROD ? IACC(1) : IACC(0);
        ix = NONE;
        for (uint k = gl_SubgroupInvocationID; k < gl_NumSubgroups; k += gl_SubgroupSize)
            combine(v, l, ix, s_v[k], s_l[k], s_i[k]);
        subgroup_combine(v, l, ix);
        if (gl_SubgroupInvocationID != 0u) return;
    }
#else
    if (group) {
        s_v[lid] = v;
        s_l[lid] = l;
        s_i[lid] = ix;
        barrier();
        for (uint w = gl_WorkGroupSize.x / 2u; w > 0u; w >>= 1) {
            if (lid < w) {
                ACC av = s_v[lid];
                IACC al = s_l[lid];
                uint ai = s_i[lid];
                combine(av, al, ai, s_v[lid + w], s_l[lid + w], s_i[lid + w]);
                s_v[lid] = av;
                s_l[lid] = al;
                s_i[lid] = ai;
            }
            barrier();
        }
        if (lid != 0u) return;
        v = s_v[0];
        l = s_l[0];
        ix = s_i[0];
    }
#endif
    uint count = op == OP_MEAN && P.base != 0u ? P.base : R;
    if (op == OP_MEAN) v = count == 0u ? ACC(0) / ACC(0) : v / ACC(count);
    switch (P.dt[0]) {
    case 0u: store_f32(0, oo, float(v)); break;
#ifdef TG_WIDE
    case 1u: store_f64(0, oo, v); break;
    case 2u: store_i64(0, oo, l); break;
#endif
    default: store_bool(oo, v != ACC(0)); break;
    }
    if (P.u[3] == 1u || pairs) {
        int xo = kept_offset(o, 2);
        store_word(2, 2 * xo, ix + P.base);
        store_word(2, 2 * xo + 1, 0u);
    }
}
