#version 450
// matmul, float64: see matmul.glsl.
#extension GL_ARB_gpu_shader_fp64 : enable
#define TG_F64
#include "common.glsl"
#define T double
#define LOAD load_f64
#define STORE store_f64
#include "matmul.glsl"
