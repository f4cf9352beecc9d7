#version 450
// out = op(in), float64: a case per op of the op table (tg/ops.def, codes in
// the generated opcodes.glsl), and clamp (OP_CLAMP + bound flags).
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_EXT_control_flow_attributes : enable
#define TG_F64
#include "common.glsl"
#include "dmath.glsl"
#include "opcodes.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    double x = load_f64(1, e.y), y = d_nan();
    if (P.op >= OP_CLAMP) { // clamp: bit 0 lo (dbits), bit 1 hi (u[0..1]); NaN stays, hi wins
        double lo = param_double(), hi = packDouble2x32(uvec2(P.u[0], P.u[1]));
        y = x;
        if (!isnan(x)) {
            if ((P.op & 1u) != 0u && y < lo) y = lo;
            if ((P.op & 2u) != 0u && y > hi) y = hi;
        }
        store_f64(0, e.x, y);
        return;
    }
    // Every unary op but sign (0, as PyTorch) maps NaN to NaN; GLSL leaves NaN in
    // built-ins (tanh, exp, min/max) undefined, so it is handled here, not left
    // to the driver.
    if (isnan(x)) {
        y = P.op == OP_SIGN ? 0.0lf : x;
    } else switch (P.op) {
    case OP_NEG: y = -x; break;
    case OP_EXP: y = d_exp(x); break;
    case OP_LOG: y = d_log(x); break;
    case OP_SQRT: y = x < 0.0lf ? d_nan() : sqrt(x); break;
    case OP_SIN: y = d_sin(x); break;
    case OP_COS: y = d_cos(x); break;
    case OP_TANH: y = d_tanh(x); break;
    case OP_SIGMOID: y = 1.0lf / (1.0lf + d_exp(-x)); break;
    case OP_RELU: y = x > 0.0lf ? x : 0.0lf; break;
    case OP_ABS: y = abs(x); break;
    case OP_SIGN: y = sign(x); break;
    case OP_ERF: y = d_erf(x); break;
    case OP_LOG1P: y = d_log1p(x); break;
    case OP_EXPM1: y = d_expm1(x); break;
    case OP_SOFTPLUS: y = x > 20.0lf ? x : d_log1p(d_exp(x)); break;
    case OP_ATAN: y = d_atan(x); break;
    case OP_ASIN: y = d_asin(x); break;
    case OP_ACOS: y = d_acos(x); break;
    case OP_SINH: y = d_sinh(x); break;
    case OP_COSH: y = d_cosh(x); break;
    }
    store_f64(0, e.x, y);
}
