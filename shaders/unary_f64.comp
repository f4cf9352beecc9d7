#version 450
// out = op(in), float64. Opcodes follow tt_unary_op; 16 + flags is clamp.
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
    if (P.op >= 16u) { // clamp: bit 0 lo (dbits), bit 1 hi (u[0..1]); NaN stays, hi wins
        double lo = param_double(), hi = packDouble2x32(uvec2(P.u[0], P.u[1]));
        y = x;
        if (!isnan(x)) {
            if ((P.op & 1u) != 0u && y < lo) y = lo;
            if ((P.op & 2u) != 0u && y > hi) y = hi;
        }
        store_f64(0, e.x, y);
        return;
    }
    // Every unary op maps NaN to NaN; GLSL leaves NaN in built-ins (tanh, exp,
    // min/max) undefined, so it is handled here, not left to the driver.
    if (isnan(x)) {
        y = x;
    } else switch (P.op) {
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
