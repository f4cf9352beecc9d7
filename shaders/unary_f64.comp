#version 450
// out = op(in), float64. Opcodes follow tt_unary_op.
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
    double x = load_f64(1, e.y), y;
    switch (P.op) {
    case 0u: y = -x; break;
    case 1u: y = d_exp(x); break;
    case 2u: y = d_log(x); break;
    case 3u: y = x < 0.0lf ? d_nan() : sqrt(x); break;
    case 4u: y = d_sin(x); break;
    case 5u: y = d_cos(x); break;
    case 6u: y = d_tanh(x); break;
    case 7u: y = 1.0lf / (1.0lf + d_exp(-x)); break;
    case 8u: y = x > 0.0lf ? x : (isnan(x) ? x : 0.0lf); break;
    case 9u: y = abs(x); break;
    default: y = isnan(x) ? x : sign(x); break;
    }
    store_f64(0, e.x, y);
}
