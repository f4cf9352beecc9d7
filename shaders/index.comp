#version 450
// Indexing along dim u[0] (vulkan.c's vk_index): op 0, out[.., i, ..] =
// in[.., idx[i], ..]; op 1, out[.., j, ..] += in[.., i, ..] for every i with
// idx[i] == j, in order of i (as the CPU adds them; u[1] indices). One
// invocation per element of out. Views out (0), in (1), idx (2, int64 along
// dim: strides[4 u[0] + 2]); P.shape is out's shape, dims not merged; dt[0]
// 0 f32, 1 f64, 2 int64.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_ARB_gpu_shader_int64 : enable
#define TG_F64
#define TG_I64
#include "common.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    int dim = int(P.u[0]), oo = P.offset[0], io = P.offset[1], pos = 0;
    for (int d = int(P.ndim) - 1; d >= 0; d--) {
        uint s = P.shape[d];
        int c = int(i % s);
        i /= s;
        oo += c * P.strides[4 * d];
        if (d == dim) pos = c;
        else io += c * P.strides[4 * d + 1];
    }
    int sd = P.strides[4 * dim + 1], sx = P.strides[4 * dim + 2];
    if (P.op == 0u) {
        int src = io + int(load_i64(2, P.offset[2] + pos * sx)) * sd;
        if (P.dt[0] == 0u) store_f32(0, oo, load_f32(1, src));
        else if (P.dt[0] == 1u) store_f64(0, oo, load_f64(1, src));
        else store_i64(0, oo, load_i64(1, src));
        return;
    }
    float f = P.dt[0] == 0u ? load_f32(0, oo) : 0.0;
    double g = P.dt[0] == 1u ? load_f64(0, oo) : 0.0lf;
    int64_t l = P.dt[0] == 2u ? load_i64(0, oo) : 0l;
    for (uint r = 0u; r < P.u[1]; r++) {
        if (int(load_i64(2, P.offset[2] + int(r) * sx)) != pos) continue;
        int src = io + int(r) * sd;
        if (P.dt[0] == 0u) f += load_f32(1, src);
        else if (P.dt[0] == 1u) g += load_f64(1, src);
        else l += load_i64(1, src);
    }
    if (P.dt[0] == 0u) store_f32(0, oo, f);
    else if (P.dt[0] == 1u) store_f64(0, oo, g);
    else store_i64(0, oo, l);
}
