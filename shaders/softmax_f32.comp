#version 450
// softmax with float accumulators (devices without shaderFloat64): see softmax.glsl.
#include "common.glsl"
#include "softmax.glsl"
