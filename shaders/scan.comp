#version 450
// Cumulative ops (op: OP_CUMSUM ... of the op table) along one dim, from the
// end when u[2] != 0: one invocation per slice. Views out (0) and in (1), of
// one dtype; u[0] kept dims, then the dim (u[1] long). Floating sums
// accumulate in double, as the CPU's; int64 sums wrap.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_ARB_gpu_shader_int64 : enable
#define TG_F64
#define TG_I64
#include "common.glsl"
#include "opcodes.glsl"

void main()
{
    uint o;
    if (!linear_index(o)) return;
    int oo = kept_offset(o, 0), io = kept_offset(o, 1);
    int so = P.strides[4 * int(P.u[0])], si = P.strides[4 * int(P.u[0]) + 1];
    uint L = P.u[1];
    double s = 0.0lf;
    int64_t l = 0l;
    for (uint r = 0u; r < L; r++) {
        int j = int(P.u[2] != 0u ? L - 1u - r : r);
        if (P.op == OP_CUMSUM) {
            if (P.dt[1] == 2u) {
                l += load_i64(1, io + j * si);
                store_i64(0, oo + j * so, l);
            } else if (P.dt[1] == 1u) {
                s += load_f64(1, io + j * si);
                store_f64(0, oo + j * so, s);
            } else {
                s += double(load_f32(1, io + j * si));
                store_f32(0, oo + j * so, float(s));
            }
        }
    }
}
