#version 450
// out = a op b, float; comparisons write bool (of float or bool operands). A case per op of the op table (tg/ops.def, codes in opcodes.glsl).
#include "common.glsl"
#include "fmath.glsl"
#include "opcodes.glsl"

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
    if (P.op >= OP_FIRST_COMPARE) {
        bool c = false;
        switch (P.op) {
        case OP_EQ: c = x == y; break;
        case OP_NE: c = x != y; break;
        case OP_LT: c = x < y; break;
        case OP_LE: c = x <= y; break;
        case OP_GT: c = x > y; break;
        case OP_GE: c = x >= y; break;
        }
        store_bool(e.x, c);
        return;
    }
    float r = uintBitsToFloat(0x7FC00000u);
    switch (P.op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_DIV: r = x / y; break;
    case OP_POW: r = f_pow(x, y); break;
    case OP_MAXIMUM: r = isnan(x) ? x : isnan(y) ? y : x > y ? x : y; break;
    case OP_MINIMUM: r = isnan(x) ? x : isnan(y) ? y : x < y ? x : y; break;
    case OP_ATAN2: r = f_atan2(x, y); break;
    case OP_SIGMOID_BACKWARD: r = x * (1.0 - y) * y; break;
    case OP_TANH_BACKWARD: r = x * (1.0 - y * y); break;
    }
    store_f32(0, e.x, r);
}
