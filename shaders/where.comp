#version 450
// out = cond ? a : b for any dtype (moved as words or bytes): views out, cond (bool), a, b.
#include "common.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    bool c = load_bool(1, e.y);
    int k = c ? 2 : 3, s = c ? e.z : e.w;
    uint t = P.dt[0];
    if (t == 0u) {
        store_word(0, e.x, load_word(k, s));
    } else if (t == 3u) {
        store_bool(e.x, load_bool(k, s));
    } else {
        store_word(0, 2 * e.x, load_word(k, 2 * s));
        store_word(0, 2 * e.x + 1, load_word(k, 2 * s + 1));
    }
}
