#version 450
// out = op(in), float32. Opcodes follow tt_unary_op; 16 + flags is clamp.
#include "common.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    float x = load_f32(1, e.y), y;
    if (P.op >= 16u) { // clamp: bit 0 lo (P.f), bit 1 hi (P.f_pad); NaN stays, hi wins
        y = x;
        if (!isnan(x)) {
            if ((P.op & 1u) != 0u && y < P.f) y = P.f;
            if ((P.op & 2u) != 0u && y > P.f_pad) y = P.f_pad;
        }
        store_f32(0, e.x, y);
        return;
    }
    // Every unary op maps NaN to NaN; GLSL leaves NaN in built-ins (tanh, exp,
    // min/max) undefined, so it is handled here, not left to the driver.
    if (isnan(x)) {
        y = x;
    } else switch (P.op) {
    case 0u: y = -x; break;
    case 1u: y = exp(x); break;
    case 2u: y = x < 0.0 ? uintBitsToFloat(0x7FC00000u) : log(x); break;
    case 3u: y = x < 0.0 ? uintBitsToFloat(0x7FC00000u) : sqrt(x); break;
    case 4u: y = sin(x); break;
    case 5u: y = cos(x); break;
    case 6u: y = abs(x) > 10.0 ? sign(x) : tanh(x); break;
    case 7u: y = 1.0 / (1.0 + exp(-x)); break;
    case 8u: y = x > 0.0 ? x : (isnan(x) ? x : 0.0); break;
    case 9u: y = abs(x); break;
    default: y = isnan(x) ? x : sign(x); break;
    }
    store_f32(0, e.x, y);
}
