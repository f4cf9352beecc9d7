#version 450
// out = a op b, int64 (wrapping; pow by squaring, exponents checked >= 0 on
// the host); comparisons write bool. Opcodes follow tt_binary_op.
#extension GL_ARB_gpu_shader_int64 : enable
#define TG_I64
#include "common.glsl"

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
    int64_t r;
    switch (P.op) {
    case 0u: r = x + y; break;
    case 1u: r = x - y; break;
    case 2u: r = x * y; break;
    case 4u: r = ipow(x, y); break;
    case 5u: r = x > y ? x : y; break;
    default: r = x < y ? x : y; break;
    }
    store_i64(0, e.x, r);
}
