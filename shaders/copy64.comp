#version 450
// copy (op 0: out = cast(in)) and fill (op 1: out = the scalar) among all
// dtypes: f32, f64, i64 (out-of-range floats give INT64_MIN, as on the CPU), bool.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_ARB_gpu_shader_int64 : enable
#define TG_F64
#include "common.glsl"

int64_t load_i64(int k, int e) { return packInt2x32(ivec2(int(load_word(k, 2 * e)), int(load_word(k, 2 * e + 1)))); }
void store_i64(int e, int64_t v)
{
    ivec2 w = unpackInt2x32(v);
    b0.w[2 * e] = uint(w.x);
    b0.w[2 * e + 1] = uint(w.y);
}

int64_t f2i(double x)
{
    return (x >= -9.2233720368547758e18lf && x < 9.2233720368547758e18lf) ? int64_t(x) : int64_t(0x8000000000000000ul);
}

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    uint src = P.op == 1u ? 1u : P.dt[1];
    double dv = 0.0lf;
    int64_t iv = 0l;
    bool is_int = src == 2u || src == 3u;
    if (P.op == 1u) dv = param_double();
    else if (src == 0u) dv = double(load_f32(1, e.y));
    else if (src == 1u) dv = load_f64(1, e.y);
    else if (src == 2u) iv = load_i64(1, e.y);
    else iv = load_bool(1, e.y) ? 1l : 0l;
    switch (P.dt[0]) {
    case 0u: store_f32(0, e.x, is_int ? float(iv) : float(dv)); break;
    case 1u: store_f64(0, e.x, is_int ? double(iv) : dv); break;
    case 2u: store_i64(e.x, is_int ? iv : f2i(dv)); break;
    default: store_bool(e.x, is_int ? iv != 0l : dv != 0.0lf); break;
    }
}
