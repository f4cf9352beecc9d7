#version 450
// copy (op 0: out = cast(in)) and fill (op 1: out = P.f) among f32 and bool,
// for devices without shaderFloat64 / shaderInt64.
#include "common.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    float v;
    if (P.op == 1u) v = P.f;
    else if (P.dt[1] == 0u) v = load_f32(1, e.y);
    else v = load_bool(1, e.y) ? 1.0 : 0.0;
    if (P.dt[0] == 0u) store_f32(0, e.x, v);
    else store_bool(e.x, v != 0.0);
}
