#version 450
// softmax of f32 or f64 with double accumulators: see softmax.glsl.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_EXT_control_flow_attributes : enable
#define TG_F64
#define TG_WIDE
#include "common.glsl"
#include "dmath.glsl"
#include "softmax.glsl"
