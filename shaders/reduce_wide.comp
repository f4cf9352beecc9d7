#version 450
// Reductions with double / int64 accumulators: see reduce.glsl.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_ARB_gpu_shader_int64 : enable
#define TG_F64
#define TG_I64
#define TG_WIDE
#include "common.glsl"
#include "reduce.glsl"
