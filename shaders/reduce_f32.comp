#version 450
// Reductions with float accumulators (devices without shaderFloat64): see reduce.glsl.
#include "common.glsl"
#include "reduce.glsl"
