#version 450
// Philox-4x32-10 exactly as lib/tensor/philox.h: element i of a contiguous
// output gets counter (offset + i). op 0 uniform, op 1 normal (Box-Muller,
// cosine branch); dt[0] is f32 or f64. u = {seed lo, seed hi, offset lo, offset hi}.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_EXT_control_flow_attributes : enable
#define TG_F64
#include "common.glsl"
#include "dmath.glsl"

uvec4 philox(uvec2 key, uvec2 idx)
{
    uint c0 = idx.x, c1 = idx.y, c2 = 0u, c3 = 0u, k0 = key.x, k1 = key.y;
    [[unroll]] for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c0, hi0, lo0);
        umulExtended(0xCD9E8D57u, c2, hi1, lo1);
        uint n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c1 = lo1;
        c3 = lo0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return uvec4(c0, c1, c2, c3);
}

double unit(uint a, uint b)
{
    return (double(a >> 5) * 67108864.0lf + double(b >> 6)) * (1.0lf / 9007199254740992.0lf);
}

void main()
{
    uint i;
    if (!linear_index(i)) return;
    uint lo = P.u[2] + i, hi = P.u[3] + (lo < i ? 1u : 0u);
    uvec4 w = philox(uvec2(P.u[0], P.u[1]), uvec2(lo, hi));
    double u = unit(w.x, w.y), z;
    if (P.op == 1u) {
        double v = unit(w.z, w.w);
        z = sqrt(-2.0lf * d_log(1.0lf - u)) * d_cos(6.283185307179586lf * v);
    } else {
        z = u;
    }
    int e = P.offset[0] + int(i);
    if (P.dt[0] == 0u) {
        float f = float(z);
        if (P.op == 0u && f >= 1.0) f = uintBitsToFloat(0x3F7FFFFFu);
        store_f32(0, e, f);
    } else {
        store_f64(0, e, z);
    }
}
