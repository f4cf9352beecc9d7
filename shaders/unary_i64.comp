#version 450
// out = op(in), int64: the ops of the table that keep integers (wrapping as on
// the CPU), and clamp (OP_CLAMP + flags: bit 0 lo in u[0..1], bit 1 hi in u[2..3]).
#extension GL_ARB_gpu_shader_int64 : enable
#define TG_I64
#include "common.glsl"
#include "opcodes.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    int64_t x = load_i64(1, e.y), y = 0l;
    if (P.op >= OP_CLAMP) {
        int64_t lo = packInt2x32(ivec2(int(P.u[0]), int(P.u[1]))), hi = packInt2x32(ivec2(int(P.u[2]), int(P.u[3])));
        y = x;
        if ((P.op & 1u) != 0u && y < lo) y = lo;
        if ((P.op & 2u) != 0u && y > hi) y = hi;
    } else {
        switch (P.op) {
        case OP_NEG: y = -x; break;
        case OP_RELU: y = x > 0l ? x : 0l; break;
        case OP_ABS: y = x < 0l ? -x : x; break;
        case OP_SIGN: y = x > 0l ? 1l : x < 0l ? -1l : 0l; break;
        }
    }
    store_i64(0, e.x, y);
}
