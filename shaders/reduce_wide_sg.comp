#version 450
// reduce_wide.comp with subgroup operations in group mode: see reduce.glsl.
#extension GL_ARB_gpu_shader_fp64 : enable
#extension GL_ARB_gpu_shader_int64 : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle_relative : require
#define TG_F64
#define TG_I64
#define TG_WIDE
#define TG_SUBGROUP
#include "common.glsl"
#include "reduce.glsl"
