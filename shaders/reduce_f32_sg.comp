#version 450
// reduce_f32.comp with subgroup operations in group mode: see reduce.glsl.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle_relative : require
#define TG_SUBGROUP
#include "common.glsl"
#include "reduce.glsl"
