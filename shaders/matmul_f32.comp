#version 450
// matmul, float32 (float accumulators, as BLAS): see matmul.glsl.
#include "common.glsl"
#define T float
#define LOAD load_f32
#define STORE store_f32
#include "matmul.glsl"
