#version 450
// out = a op b, double; comparisons write bool. Opcodes follow tt_binary_op.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_EXT_control_flow_attributes : enable
#define TG_F64
#include "common.glsl"
#include "dmath.glsl"


void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    double x = load_f64(1, e.y), y = load_f64(2, e.z);
    if (P.op >= 7u) {
        bool c;
        switch (P.op) {
        case 7u: c = x == y; break;
        case 8u: c = x != y; break;
        case 9u: c = x < y; break;
        case 10u: c = x <= y; break;
        case 11u: c = x > y; break;
        default: c = x >= y; break;
        }
        store_bool(e.x, c);
        return;
    }
    double r;
    switch (P.op) {
    case 0u: r = x + y; break;
    case 1u: r = x - y; break;
    case 2u: r = x * y; break;
    case 3u: r = x / y; break;
    case 4u: r = d_pow(x, y); break;
    case 5u: r = isnan(x) ? x : isnan(y) ? y : x > y ? x : y; break;
    default: r = isnan(x) ? x : isnan(y) ? y : x < y ? x : y; break;
    }
    store_f64(0, e.x, r);
}
