#version 450
// out = a op b, float; comparisons write bool (of float or bool operands). Opcodes follow tt_binary_op.
#include "common.glsl"

float f_pow(float x, float y)
{
    if (y == 0.0 || x == 1.0) return 1.0;
    if (isnan(x) || isnan(y)) return uintBitsToFloat(0x7FC00000u);
    if (x == -1.0 && isinf(y)) return 1.0;
    if (x == 0.0) { // log2(0) is undefined in GLSL: IEEE's pow(+-0, y) directly
        bool odd0 = floor(y) == y && !isinf(y) && mod(y, 2.0) != 0.0;
        float mag = y < 0.0 ? uintBitsToFloat(0x7F800000u) : 0.0;
        return (odd0 && (floatBitsToUint(x) & 0x80000000u) != 0u) ? -mag : mag;
    }
    float r = exp2(y * log2(abs(x)));
    bool yint = floor(y) == y && !isinf(y), odd = yint && mod(y, 2.0) != 0.0;
    if (x < 0.0 || (x == 0.0 && (floatBitsToUint(x) & 0x80000000u) != 0u)) {
        if (isinf(x) || x == 0.0) return odd ? -r : r;
        if (!yint) return uintBitsToFloat(0x7FC00000u);
        if (odd) r = -r;
    }
    return r;
}

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    float x, y;
    if (P.dt[1] == 3u) { // bool comparisons
        x = load_bool(1, e.y) ? 1.0 : 0.0;
        y = load_bool(2, e.z) ? 1.0 : 0.0;
    } else {
        x = load_f32(1, e.y);
        y = load_f32(2, e.z);
    }
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
    float r;
    switch (P.op) {
    case 0u: r = x + y; break;
    case 1u: r = x - y; break;
    case 2u: r = x * y; break;
    case 3u: r = x / y; break;
    case 4u: r = f_pow(x, y); break;
    case 5u: r = isnan(x) ? x : isnan(y) ? y : x > y ? x : y; break;
    default: r = isnan(x) ? x : isnan(y) ? y : x < y ? x : y; break;
    }
    store_f32(0, e.x, r);
}
