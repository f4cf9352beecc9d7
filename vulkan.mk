# The Vulkan backend: GLSL compute shaders compiled to SPIR-V at build time,
# validated, and embedded in lib/backend/vulkan.c as C arrays. Included by
# the Makefile (after B, HEADERS and ALL_CFLAGS are set); VULKAN_CFLAGS and
# VULKAN_LIBS come from pkg-config, in build/config.mk.
VULKAN_PACKAGES := libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers
GLSLC           ?= glslc
SPIRV_VAL       ?= spirv-val

SHADER_SRC := $(wildcard shaders/*.comp)
SHADER_INC := $(wildcard shaders/*.glsl)
SHADER_HDR := $(SHADER_SRC:shaders/%.comp=$(B)/shaders/%.spv.h)

# The C form for #include, and a binary form only to run spirv-val on.
$(B)/shaders/%.spv.h: shaders/%.comp $(SHADER_INC)
	@mkdir -p $(@D)
	$(GLSLC) -O --target-env=vulkan1.1 -Ishaders $< -o $(@:.spv.h=.spv)
	$(SPIRV_VAL) --target-env vulkan1.1 $(@:.spv.h=.spv)
	$(GLSLC) -O --target-env=vulkan1.1 -Ishaders -mfmt=c $< -o $@

$(B)/lib/backend/vulkan.o: $(SHADER_HDR)
$(B)/lib/backend/vulkan.o: ALL_CFLAGS += -I$(B)
