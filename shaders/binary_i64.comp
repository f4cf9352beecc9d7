#version 450
// out = a op b, int64 (wrapping; pow by squaring, exponents checked >= 0 on
// the host); comparisons write bool. A case per op of the op table (tg/ops.def, codes in opcodes.glsl).
#extension GL_ARB_gpu_shader_int64 : enable
#define TG_I64
#include "common.glsl"
#include "opcodes.glsl"

int64_t ipow(int64_t b, int64_t e)
{
    if (e < 0l) return b == 1l ? 1l : b == -1l ? ((e & 1l) != 0l ? -1l : 1l) : 0l;
    int64_t r = 1l;
    for (; e != 0l; e >>= 1, b *= b)
        if ((e & 1l) != 0l) r *= b;
    return r;
}

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    int64_t x = load_i64(1, e.y), y = load_i64(2, e.z);
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
    int64_t r = 0l;
    switch (P.op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_POW: r = ipow(x, y); break;
    case OP_MAXIMUM: r = x > y ? x : y; break;
    case OP_MINIMUM: r = x < y ? x : y; break;
    }
    store_i64(0, e.x, r);
}
