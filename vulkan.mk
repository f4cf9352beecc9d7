# The Vulkan backend: GLSL compute shaders compiled to SPIR-V at build time,
# validated, and embedded in lib/backend/vulkan.c as C arrays. Included by
# the Makefile (after B, HEADERS and ALL_CFLAGS are set);
# VULKAN_CFLAGS come from pkg-config, in build/config.mk (libvulkan itself is
# opened at run time by the backend, not linked).
VULKAN_PACKAGES := libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers
GLSLC           ?= glslc
SPIRV_VAL       ?= spirv-val

SHADER_SRC := $(wildcard shaders/*.comp)
SHADER_INC := $(wildcard shaders/*.glsl)
SHADER_HDR := $(SHADER_SRC:shaders/%.comp=$(B)/shaders/%.spv.h)

# The op codes of the op table (include/tg/ops.def), for the shaders; the
# program that writes them also fails when a shader lacks an op's case.
$(B)/shaders/opcodes.glsl: shaders/opcodes.c include/tg/ops.def include/tg/tensor.h lib/backend/vulkan.h $(SHADER_SRC)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $(B)/shaders/opcodes shaders/opcodes.c
	$(B)/shaders/opcodes $@ $(SHADER_SRC)

# The C form for #include, and a binary form only to run spirv-val on.
$(B)/shaders/%.spv.h: shaders/%.comp $(SHADER_INC) $(B)/shaders/opcodes.glsl
	@mkdir -p $(@D)
	$(GLSLC) -O --target-env=vulkan1.1 -Ishaders -I$(B)/shaders $< -o $(@:.spv.h=.spv)
	$(SPIRV_VAL) --target-env vulkan1.1 $(@:.spv.h=.spv)
	$(GLSLC) -O --target-env=vulkan1.1 -Ishaders -I$(B)/shaders -mfmt=c $< -o $@

$(B)/lib/backend/vulkan.o: $(SHADER_HDR)
$(B)/lib/backend/vulkan.o: ALL_CFLAGS += -I$(B)
