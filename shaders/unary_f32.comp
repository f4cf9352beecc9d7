#version 450
// out = op(in), float32: a case per op of the op table (tg/ops.def, codes in
// the generated opcodes.glsl), and clamp (OP_CLAMP + bound flags).
#include "common.glsl"
#include "fmath.glsl"
#include "opcodes.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    float x = load_f32(1, e.y), y = uintBitsToFloat(0x7FC00000u);
    if (P.op >= OP_CLAMP) { // clamp: bit 0 lo (P.f), bit 1 hi (P.f_pad); NaN stays, hi wins
        y = x;
        if (!isnan(x)) {
            if ((P.op & 1u) != 0u && y < P.f) y = P.f;
            if ((P.op & 2u) != 0u && y > P.f_pad) y = P.f_pad;
        }
        store_f32(0, e.x, y);
        return;
    }
    // Every unary op but sign (0, as PyTorch) maps NaN to NaN; GLSL leaves NaN in
    // built-ins (tanh, exp, min/max) undefined, so it is handled here, not left
    // to the driver.
    if (isnan(x)) {
        y = P.op == OP_SIGN ? 0.0 : x;
    } else switch (P.op) {
    case OP_NEG: y = -x; break;
    case OP_EXP: y = exp(x); break;
    case OP_LOG: y = x < 0.0 ? uintBitsToFloat(0x7FC00000u) : log(x); break;
    case OP_SQRT: y = x < 0.0 ? uintBitsToFloat(0x7FC00000u) : sqrt(x); break;
    case OP_SIN: y = sin(x); break;
    case OP_COS: y = cos(x); break;
    case OP_TANH: y = abs(x) > 10.0 ? sign(x) : tanh(x); break;
    case OP_SIGMOID: y = 1.0 / (1.0 + exp(-x)); break;
    case OP_RELU: y = x > 0.0 ? x : 0.0; break;
    case OP_ABS: y = abs(x); break;
    case OP_SIGN: y = sign(x); break;
    case OP_ERF: y = f_erf(x); break;
    case OP_LOG1P: y = f_log1p(x); break;
    case OP_EXPM1: y = f_expm1(x); break;
    case OP_SOFTPLUS: y = x > 20.0 ? x : f_log1p(exp(x)); break;
    case OP_ATAN: y = f_atan(x); break;
    case OP_ASIN: y = f_asin(x); break;
    case OP_ACOS: y = f_acos(x); break;
    case OP_SINH: y = f_sinh(x); break;
    case OP_COSH: y = f_cosh(x); break;
    }
    store_f32(0, e.x, y);
}
