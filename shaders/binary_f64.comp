#version 450
// out = a op b, double; comparisons write bool. A case per op of the op table (tg/ops.def, codes in opcodes.glsl).
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_EXT_control_flow_attributes : enable
#define TG_F64
#include "common.glsl"
#include "dmath.glsl"
#include "opcodes.glsl"

void main()
{
    uint i;
    if (!linear_index(i)) return;
    ivec4 e = element_offsets(i);
    double x = load_f64(1, e.y), y = load_f64(2, e.z);
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
    double r = d_nan();
    switch (P.op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_DIV: r = x / y; break;
    case OP_POW: r = d_pow(x, y); break;
    case OP_MAXIMUM: r = isnan(x) ? x : isnan(y) ? y : x > y ? x : y; break;
    case OP_MINIMUM: r = isnan(x) ? x : isnan(y) ? y : x < y ? x : y; break;
    case OP_ATAN2: r = d_atan2(x, y); break;
    case OP_SIGMOID_BACKWARD: r = x * (1.0lf - y) * y; break;
    case OP_TANH_BACKWARD: r = x * (1.0lf - y * y); break;
    }
    store_f64(0, e.x, r);
}
