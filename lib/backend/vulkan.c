/* The Vulkan backend: plain C against the Vulkan API. Tensors live in device
 * buffers; kernels are the GLSL compute shaders of shaders/, compiled to
 * SPIR-V at build time and embedded here. Dispatches are recorded into one
 * command buffer (a memory barrier before each: the simplest correct ordering
 * of dependent dispatches) and submitted when the host needs a result, when
 * the recorder is full, or before a buffer in use is freed.
 *
 * Device selection (the index of vulkan:N): devices are ranked discrete >
 * integrated > virtual > other > CPU. vulkan:0 (plain "vulkan") is the first
 * of them, but a CPU-type device (lavapipe) only when asked for, with
 * TG_VULKAN_DEVICE=lavapipe (or cpu, or a number: vulkan:0 is then that
 * device of the ranking). vulkan:N with N > 0 is the N-th device, any type.
 * TG_VULKAN_VALIDATION=1 turns on the Khronos validation layer with
 * synchronization validation and counts its messages. Compiled pipelines are
 * kept in a VkPipelineCache saved at shutdown under $XDG_CACHE_HOME/tg (or
 * ~/.cache/tg); TG_VULKAN_PIPELINE_CACHE=0 turns that file off. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define VK_NO_PROTOTYPES /* the loader's functions are looked up (vk_load), not linked */
#include <dlfcn.h>
#include <vulkan/vulkan.h>
#include "backend/vulkan.h"
#include "tensor/philox.h"

/* ---- embedded shaders ----------------------------------------------------- */
static const uint32_t spv_copy32[] =
#include "shaders/copy32.spv.h"
    ;
static const uint32_t spv_copy64[] =
#include "shaders/copy64.spv.h"
    ;
static const uint32_t spv_unary_f32[] =
#include "shaders/unary_f32.spv.h"
    ;
static const uint32_t spv_unary_f64[] =
#include "shaders/unary_f64.spv.h"
    ;
static const uint32_t spv_binary_f32[] =
#include "shaders/binary_f32.spv.h"
    ;
static const uint32_t spv_binary_f64[] =
#include "shaders/binary_f64.spv.h"
    ;
static const uint32_t spv_rng[] =
#include "shaders/rng.spv.h"
    ;
static const uint32_t spv_where[] =
#include "shaders/where.spv.h"
    ;
static const uint32_t spv_unary_i64[] =
#include "shaders/unary_i64.spv.h"
    ;
static const uint32_t spv_binary_i64[] =
#include "shaders/binary_i64.spv.h"
    ;
static const uint32_t spv_reduce_f32[] =
#include "shaders/reduce_f32.spv.h"
    ;
static const uint32_t spv_reduce_wide[] =
#include "shaders/reduce_wide.spv.h"
    ;
static const uint32_t spv_reduce_f32_sg[] =
#include "shaders/reduce_f32_sg.spv.h"
    ;
static const uint32_t spv_reduce_wide_sg[] =
#include "shaders/reduce_wide_sg.spv.h"
    ;
static const uint32_t spv_softmax_f32[] =
#include "shaders/softmax_f32.spv.h"
    ;
static const uint32_t spv_softmax_wide[] =
#include "shaders/softmax_wide.spv.h"
    ;
static const uint32_t spv_scan[] =
#include "shaders/scan.spv.h"
    ;
static const uint32_t spv_index[] =
#include "shaders/index.spv.h"
    ;
static const uint32_t spv_matmul_f32[] =
#include "shaders/matmul_f32.spv.h"
    ;
static const uint32_t spv_matmul_f64[] =
#include "shaders/matmul_f64.spv.h"
    ;

enum {
    K_COPY32,
    K_COPY64,
    K_UNARY_F32,
    K_UNARY_F64,
    K_BINARY_F32,
    K_BINARY_F64,
    K_RNG,
    K_WHERE,
    K_UNARY_I64,
    K_BINARY_I64,
    K_REDUCE_F32,
    K_REDUCE_WIDE,
    K_REDUCE_F32_SG,
    K_REDUCE_WIDE_SG,
    K_SOFTMAX_F32,
    K_SOFTMAX_WIDE,
    K_SCAN,
    K_INDEX,
    K_MATMUL_F32,
    K_MATMUL_F64,
    K_COUNT
};
static const struct {
    const uint32_t *code;
    size_t size;
    const char *name;
} kernels[K_COUNT] = {
    [K_COPY32] = {spv_copy32, sizeof spv_copy32, "copy32"},
    [K_COPY64] = {spv_copy64, sizeof spv_copy64, "copy64"},
    [K_UNARY_F32] = {spv_unary_f32, sizeof spv_unary_f32, "unary_f32"},
    [K_UNARY_F64] = {spv_unary_f64, sizeof spv_unary_f64, "unary_f64"},
    [K_BINARY_F32] = {spv_binary_f32, sizeof spv_binary_f32, "binary_f32"},
    [K_BINARY_F64] = {spv_binary_f64, sizeof spv_binary_f64, "binary_f64"},
    [K_RNG] = {spv_rng, sizeof spv_rng, "rng"},
    [K_WHERE] = {spv_where, sizeof spv_where, "where"},
    [K_UNARY_I64] = {spv_unary_i64, sizeof spv_unary_i64, "unary_i64"},
    [K_BINARY_I64] = {spv_binary_i64, sizeof spv_binary_i64, "binary_i64"},
    [K_REDUCE_F32] = {spv_reduce_f32, sizeof spv_reduce_f32, "reduce_f32"},
    [K_REDUCE_WIDE] = {spv_reduce_wide, sizeof spv_reduce_wide, "reduce_wide"},
    [K_REDUCE_F32_SG] = {spv_reduce_f32_sg, sizeof spv_reduce_f32_sg, "reduce_f32_sg"},
    [K_REDUCE_WIDE_SG] = {spv_reduce_wide_sg, sizeof spv_reduce_wide_sg, "reduce_wide_sg"},
    [K_SOFTMAX_F32] = {spv_softmax_f32, sizeof spv_softmax_f32, "softmax_f32"},
    [K_SOFTMAX_WIDE] = {spv_softmax_wide, sizeof spv_softmax_wide, "softmax_wide"},
    [K_SCAN] = {spv_scan, sizeof spv_scan, "scan"},
    [K_INDEX] = {spv_index, sizeof spv_index, "index"},
    [K_MATMUL_F32] = {spv_matmul_f32, sizeof spv_matmul_f32, "matmul_f32"},
    [K_MATMUL_F64] = {spv_matmul_f64, sizeof spv_matmul_f64, "matmul_f64"},
};

/* The parameter block of one dispatch: the layout of Params in shaders/common.glsl. */
#define NVIEWS 4
typedef struct {
    uint32_t n, op, ndim, base;
    uint32_t dt[NVIEWS];
    uint32_t u[4];
    float f, f_pad;
    uint32_t dbits[2];
    uint32_t shape[TT_MAX_DIMS];
    int32_t offset[NVIEWS];
    int32_t strides[TT_MAX_DIMS * NVIEWS];
} vk_params;

#define LOCAL_SIZE 256
#define MAX_DISPATCHES 512 /* per command buffer, then a flush */
#define MAX_DEVICES 16

/* ---- state ------------------------------------------------------------------ */
typedef struct vk_dev vk_dev;
typedef struct {
    vk_dev *dev;
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* persistently mapped when the memory is host-visible and coherent */
} vk_buf;

struct vk_dev {
    VkPhysicalDevice pd;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    bool f64, i64;
    bool subgroups; /* reductions use the *_sg kernels (see subgroups_usable) */
    uint32_t subgroup_size;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipes[K_COUNT];
    VkPipelineCache pcache;
    bool pcache_dirty; /* a pipeline was made since it was loaded */
    VkCommandPool pool;
    VkCommandBuffer cb;
    VkFence fence;
    VkDescriptorPool dpool;
    vk_buf *params; /* host-visible arena of vk_params, one slot per dispatch */
    VkDeviceSize pstride;
    int ndispatch; /* recorded since the last flush */
    bool recording;
    vk_buf **garbage; /* freed while work was recorded: destroyed after the flush */
    int ngarbage, capgarbage;
};

static struct {
    bool tried;
    tt_status status;
    char error[400];
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    bool validation;
    long messages;
    long dispatches, submits;
    vk_dev *devs[MAX_DEVICES];
    bool dev_tried[MAX_DEVICES];
    char dev_error[MAX_DEVICES][400];
} g;

long tt_vulkan_validation_messages(void) { return g.messages; }

void tt_vulkan_counters(long *dispatches, long *submits)
{
    if (dispatches) *dispatches = g.dispatches;
    if (submits) *submits = g.submits;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    (void)user;
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        g.messages++;
        fprintf(stderr, "tg: vulkan validation: %s\n", data && data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

static const char *vk_result_name(VkResult r)
{
    // clang-format off
#define R(x) {x, #x}
    // clang-format on
    static const struct {
        VkResult code;
        const char *name;
    } names[] = {
        R(VK_SUCCESS),
        R(VK_NOT_READY),
        R(VK_TIMEOUT),
        R(VK_INCOMPLETE),
        R(VK_ERROR_OUT_OF_HOST_MEMORY),
        R(VK_ERROR_OUT_OF_DEVICE_MEMORY),
        R(VK_ERROR_INITIALIZATION_FAILED),
        R(VK_ERROR_DEVICE_LOST),
        R(VK_ERROR_MEMORY_MAP_FAILED),
        R(VK_ERROR_LAYER_NOT_PRESENT),
        R(VK_ERROR_EXTENSION_NOT_PRESENT),
        R(VK_ERROR_FEATURE_NOT_PRESENT),
        R(VK_ERROR_INCOMPATIBLE_DRIVER),
        R(VK_ERROR_TOO_MANY_OBJECTS),
        R(VK_ERROR_FORMAT_NOT_SUPPORTED),
        R(VK_ERROR_FRAGMENTED_POOL),
        R(VK_ERROR_OUT_OF_POOL_MEMORY),
    };
#undef R
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == r) return names[i].name;
    return "VkResult error";
}

static tt_status vk_fail(const char *what, VkResult r)
{
    return tt_set_error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? TT_ENOMEM : TT_EDEVICE,
                        "vulkan: %s failed (%s)", what, vk_result_name(r));
}

/* ---- the loader ------------------------------------------------------------------ */
/* libvulkan is opened on the first use of the backend, not linked: linking
 * it cost every process 1.4 ms of start-up (its mapping and relocations),
 * a tenth of a whole small fit, for a backend most runs never touch. Each
 * function is a pointer of the loader's own name, looked up once. */
// clang-format off
#define VK_GLOBAL_FUNCS(X) X(vkCreateInstance) X(vkEnumerateInstanceLayerProperties)
#define VK_INSTANCE_FUNCS(X) \
    X(vkDestroyInstance) \
    X(vkEnumeratePhysicalDevices) \
    X(vkGetPhysicalDeviceProperties) \
    X(vkGetPhysicalDeviceProperties2) \
    X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkGetPhysicalDeviceFeatures) \
    X(vkGetPhysicalDeviceQueueFamilyProperties) \
    X(vkCreateDevice) \
    X(vkDestroyDevice) \
    X(vkGetDeviceQueue) \
    X(vkDeviceWaitIdle) \
    X(vkCreateBuffer) \
    X(vkDestroyBuffer) \
    X(vkGetBufferMemoryRequirements) \
    X(vkAllocateMemory) \
    X(vkFreeMemory) \
    X(vkBindBufferMemory) \
    X(vkMapMemory) \
    X(vkUnmapMemory) \
    X(vkCreateShaderModule) \
    X(vkDestroyShaderModule) \
    X(vkCreateComputePipelines) \
    X(vkDestroyPipeline) \
    X(vkCreatePipelineCache) \
    X(vkGetPipelineCacheData) \
    X(vkDestroyPipelineCache) \
    X(vkCreatePipelineLayout) \
    X(vkDestroyPipelineLayout) \
    X(vkCreateDescriptorSetLayout) \
    X(vkDestroyDescriptorSetLayout) \
    X(vkCreateDescriptorPool) \
    X(vkDestroyDescriptorPool) \
    X(vkResetDescriptorPool) \
    X(vkAllocateDescriptorSets) \
    X(vkUpdateDescriptorSets) \
    X(vkCreateCommandPool) \
    X(vkDestroyCommandPool) \
    X(vkAllocateCommandBuffers) \
    X(vkBeginCommandBuffer) \
    X(vkEndCommandBuffer) \
    X(vkResetCommandBuffer) \
    X(vkCmdPipelineBarrier) \
    X(vkCmdCopyBuffer) \
    X(vkCmdBindPipeline) \
    X(vkCmdBindDescriptorSets) \
    X(vkCmdDispatch) \
    X(vkQueueSubmit) \
    X(vkCreateFence) \
    X(vkDestroyFence) \
    X(vkResetFences) \
    X(vkWaitForFences)
// clang-format on
#define VK_DECLARE(name) static PFN_##name name;
static PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
VK_GLOBAL_FUNCS(VK_DECLARE)
VK_INSTANCE_FUNCS(VK_DECLARE)

/* The loader and its global functions; NULL, or an error message. */
static const char *vk_load_global(void)
{
    static void *lib;
    if (!lib && !(lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL)))
        return "no Vulkan loader (libvulkan.so.1; Debian: libvulkan1): install it, or use --device cpu";
    /* dlsym's void * to a function pointer: POSIX allows it; C does not say */
    void *sym = dlsym(lib, "vkGetInstanceProcAddr");
    memcpy(&vkGetInstanceProcAddr, &sym, sizeof sym);
    if (!vkGetInstanceProcAddr) return "libvulkan.so.1 has no vkGetInstanceProcAddr";
#define VK_LOAD_GLOBAL(name) name = (PFN_##name)vkGetInstanceProcAddr(VK_NULL_HANDLE, #name);
    VK_GLOBAL_FUNCS(VK_LOAD_GLOBAL)
    if (!vkCreateInstance || !vkEnumerateInstanceLayerProperties) return "the Vulkan loader lacks vkCreateInstance";
    return NULL;
}

/* The instance's functions (device ones through the loader's dispatch); the
 * name of one missing, or NULL. */
static const char *vk_load_instance(VkInstance inst)
{
#define VK_LOAD_INSTANCE(name) \
    if (!(name = (PFN_##name)vkGetInstanceProcAddr(inst, #name))) return #name;
    VK_INSTANCE_FUNCS(VK_LOAD_INSTANCE)
    return NULL;
}

/* ---- instance ---------------------------------------------------------------- */
static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(p[i].layerName, name);
    free(p);
    return found;
}

static tt_status instance_init(void)
{
    if (g.tried) {
        if (g.status) tt_set_error(g.status, "%s", g.error);
        return g.status;
    }
    g.tried = true;
    const char *missing = vk_load_global();
    if (missing) {
        g.status = TT_EDEVICE;
        snprintf(g.error, sizeof g.error, "%s", missing);
        return tt_set_error(g.status, "%s", g.error);
    }
    const char *val = getenv("TG_VULKAN_VALIDATION");
    g.validation = val && *val && strcmp(val, "0") != 0;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "tg",
                             .pEngineName = "tg",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    const char *layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                        .enabledValidationFeatureCount = 1,
                                        .pEnabledValidationFeatures = enables};
    VkDebugUtilsMessengerCreateInfoEXT mci = {.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
                                              .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                                                 VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
                                              .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                                                             VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                                             VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
                                              .pfnUserCallback = on_message};
    if (g.validation) {
        if (!has_layer(layers[0])) {
            g.status = TT_EDEVICE;
            snprintf(g.error, sizeof g.error,
                     "TG_VULKAN_VALIDATION is set but VK_LAYER_KHRONOS_validation is not "
                     "installed (Debian: vulkan-validationlayers)");
            return tt_set_error(g.status, "%s", g.error);
        }
        features.pNext = &mci; /* also reports instance creation and destruction */
        ci.pNext = &features;
        ci.enabledLayerCount = 1;
        ci.ppEnabledLayerNames = layers;
        ci.enabledExtensionCount = 1;
        ci.ppEnabledExtensionNames = exts;
    }
    VkResult r = vkCreateInstance(&ci, NULL, &g.inst);
    if (r != VK_SUCCESS) {
        g.inst = VK_NULL_HANDLE;
        g.status = TT_EDEVICE;
        if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
            snprintf(g.error, sizeof g.error,
                     "no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER); "
                     "install mesa-vulkan-drivers or a GPU driver, or use --device cpu");
        else snprintf(g.error, sizeof g.error, "vulkan: vkCreateInstance failed (%s)", vk_result_name(r));
        return tt_set_error(g.status, "%s", g.error);
    }
    if ((missing = vk_load_instance(g.inst))) {
        PFN_vkDestroyInstance destroy = (PFN_vkDestroyInstance)vkGetInstanceProcAddr(g.inst, "vkDestroyInstance");
        if (destroy) destroy(g.inst, NULL);
        g.inst = VK_NULL_HANDLE;
        g.status = TT_EDEVICE;
        snprintf(g.error, sizeof g.error, "vulkan: the driver lacks %s (Vulkan 1.1 is needed)", missing);
        return tt_set_error(g.status, "%s", g.error);
    }
    if (g.validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(g.inst, "vkCreateDebugUtilsMessengerEXT");
        if (create) create(g.inst, &mci, NULL, &g.messenger);
    }
    static bool registered;
    if (!registered) atexit(tt_vulkan_shutdown);
    registered = true;
    return TT_OK;
}

/* ---- device ------------------------------------------------------------------- */
static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_OTHER:
    case VK_PHYSICAL_DEVICE_TYPE_MAX_ENUM: return 3;
    }
    return 3;
}

/* The physical device behind vulkan:index, or a message saying why none. */
static VkPhysicalDevice pick_device(int index, char *err, size_t errlen)
{
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(g.inst, &n, NULL);
    if (r != VK_SUCCESS || n == 0) {
        snprintf(err, errlen, "no Vulkan device found (the driver lists none); use --device cpu");
        return VK_NULL_HANDLE;
    }
    VkPhysicalDevice *pd = calloc(n, sizeof *pd);
    int *rank = calloc(n, sizeof *rank);
    VkPhysicalDevice chosen = VK_NULL_HANDLE;
    if (!pd || !rank || vkEnumeratePhysicalDevices(g.inst, &n, pd) < 0) {
        snprintf(err, errlen, "vulkan: cannot list the devices");
        goto done;
    }
    /* stable sort by rank */
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pd[i], &p);
        rank[i] = type_rank(p.deviceType);
    }
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && rank[j - 1] > rank[j]; j--) {
            int t = rank[j];
            rank[j] = rank[j - 1];
            rank[j - 1] = t;
            VkPhysicalDevice d = pd[j];
            pd[j] = pd[j - 1];
            pd[j - 1] = d;
        }
    const char *env = getenv("TG_VULKAN_DEVICE");
    bool allow_cpu = index > 0;
    int want = index;
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 0) {
            if (index == 0) want = (int)v;
            allow_cpu = true;
        } else if (!strcmp(env, "lavapipe") || !strcmp(env, "llvmpipe") || !strcmp(env, "cpu")) {
            allow_cpu = true;
        } else {
            snprintf(err, errlen, "TG_VULKAN_DEVICE='%s' is not a device number, lavapipe or cpu", env);
            goto done;
        }
    }
    if (want >= (int)n) {
        snprintf(err, errlen, "there is no vulkan:%d: this machine has %u Vulkan device%s", want, n, n == 1 ? "" : "s");
        goto done;
    }
    if (rank[want] == 4 && !allow_cpu) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pd[want], &p);
        snprintf(err, errlen,
                 "the only Vulkan device is the CPU-type '%s', used only when asked for: "
                 "set TG_VULKAN_DEVICE=lavapipe, or use --device cpu",
                 p.deviceName);
        goto done;
    }
    chosen = pd[want];
done:
    free(pd);
    free(rank);
    return chosen;
}

static int find_memory(const vk_dev *d, uint32_t bits, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < d->mem.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (d->mem.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

/* A buffer: device-local memory, mapped too when it is also host-visible and
 * coherent (lavapipe, integrated GPUs); `host` asks for host-visible memory. */
static vk_buf *buf_create(vk_dev *d, VkDeviceSize size, bool host)
{
    vk_buf *b = calloc(1, sizeof *b);
    if (!b) {
        tt_set_error(TT_ENOMEM, "out of memory");
        return NULL;
    }
    b->dev = d;
    b->size = (size + 15) & ~(VkDeviceSize)15;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = b->size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(d->dev, &bi, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        vk_fail("vkCreateBuffer", r);
        free(b);
        return NULL;
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d->dev, b->buf, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = -1;
    if (!host) t = find_memory(d, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | hv);
    if (t < 0 && !host) t = find_memory(d, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (t < 0) t = find_memory(d, req.memoryTypeBits, hv);
    if (t < 0) {
        vkDestroyBuffer(d->dev, b->buf, NULL);
        free(b);
        tt_set_error(TT_EDEVICE, "vulkan: no suitable memory type");
        return NULL;
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t)t};
    r = vkAllocateMemory(d->dev, &ai, NULL, &b->mem);
    if (r == VK_SUCCESS) r = vkBindBufferMemory(d->dev, b->buf, b->mem, 0);
    if (r == VK_SUCCESS && (d->mem.memoryTypes[t].propertyFlags & hv) == hv)
        r = vkMapMemory(d->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        vk_fail("allocating device memory", r);
        if (b->mem) vkFreeMemory(d->dev, b->mem, NULL);
        vkDestroyBuffer(d->dev, b->buf, NULL);
        free(b);
        return NULL;
    }
    return b;
}

static void buf_destroy(vk_buf *b)
{
    if (!b) return;
    if (b->map) vkUnmapMemory(b->dev->dev, b->mem);
    vkDestroyBuffer(b->dev->dev, b->buf, NULL);
    vkFreeMemory(b->dev->dev, b->mem, NULL);
    free(b);
}

/* The pipeline cache file, $XDG_CACHE_HOME/tg (or ~/.cache/tg), one per
 * device; false when none (or TG_VULKAN_PIPELINE_CACHE=0). Creates the
 * directory when `make_dir`. */
static bool pcache_path(const vk_dev *d, char *path, size_t len, bool make_dir)
{
    const char *off = getenv("TG_VULKAN_PIPELINE_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[512];
    if (off && !strcmp(off, "0")) return false;
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/tg", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/tg", home);
    else return false;
    if (make_dir) {
        char parent[512];
        snprintf(parent, sizeof parent, "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = 0;
            mkdir(parent, 0700);
        }
        mkdir(dir, 0700);
    }
    return snprintf(path, len, "%s/vulkan-pipelines-%08x-%08x.bin", dir, d->props.vendorID, d->props.deviceID) <
           (int)len;
}

/* Initial data for the cache when the file's header names this very device and driver. */
static void *pcache_load(const vk_dev *d, size_t *n)
{
    char path[600];
    *n = 0;
    if (!pcache_path(d, path, sizeof path, false)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *data = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 32 && size < (64l << 20) && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size)) &&
        fread(data, 1, (size_t)size, f) == (size_t)size) {
        uint32_t h[4];
        memcpy(h, data, sizeof h); /* header size, version, vendor, device; then the cache UUID */
        if (h[0] >= 32 && h[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && h[2] == d->props.vendorID &&
            h[3] == d->props.deviceID && !memcmp(data + 16, d->props.pipelineCacheUUID, VK_UUID_SIZE))
            *n = (size_t)size;
    }
    fclose(f);
    if (!*n) {
        free(data);
        data = NULL;
    }
    return data;
}

/* Writes the cache back (through a temporary file and a rename) when it grew. */
static void pcache_save(vk_dev *d)
{
    char path[600], tmp[700];
    size_t n = 0;
    if (!d->pcache || !d->pcache_dirty || !pcache_path(d, path, sizeof path, true)) return;
    if (vkGetPipelineCacheData(d->dev, d->pcache, &n, NULL) != VK_SUCCESS || n == 0) return;
    void *data = malloc(n);
    if (data && vkGetPipelineCacheData(d->dev, d->pcache, &n, data) == VK_SUCCESS) {
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        bool ok = f && fwrite(data, 1, n, f) == n;
        if (f && fclose(f) != 0) ok = false;
        if (!ok || rename(tmp, path) != 0) remove(tmp);
    }
    free(data);
}

static void dev_destroy(vk_dev *d)
{
    if (!d) return;
    if (d->dev) {
        vkDeviceWaitIdle(d->dev);
        for (int i = 0; i < d->ngarbage; i++) buf_destroy(d->garbage[i]);
        buf_destroy(d->params);
        for (int k = 0; k < K_COUNT; k++)
            if (d->pipes[k]) vkDestroyPipeline(d->dev, d->pipes[k], NULL);
        pcache_save(d);
        if (d->pcache) vkDestroyPipelineCache(d->dev, d->pcache, NULL);
        if (d->layout) vkDestroyPipelineLayout(d->dev, d->layout, NULL);
        if (d->dsl) vkDestroyDescriptorSetLayout(d->dev, d->dsl, NULL);
        if (d->dpool) vkDestroyDescriptorPool(d->dev, d->dpool, NULL);
        if (d->fence) vkDestroyFence(d->dev, d->fence, NULL);
        if (d->pool) vkDestroyCommandPool(d->dev, d->pool, NULL);
        vkDestroyDevice(d->dev, NULL);
    }
    free(d->garbage);
    free(d);
}

/* Whether reduce.glsl's subgroup variant can run: basic and relative-shuffle
 * operations in compute shaders, and a subgroup size dividing the 256-wide
 * workgroup (so every subgroup is full). TG_VULKAN_SUBGROUPS=0 says no. */
static bool subgroups_usable(vk_dev *d)
{
    const char *env = getenv("TG_VULKAN_SUBGROUPS");
    if (env && !strcmp(env, "0")) return false;
    if (d->props.apiVersion < VK_API_VERSION_1_1) return false;
    VkPhysicalDeviceSubgroupProperties sp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sp};
    vkGetPhysicalDeviceProperties2(d->pd, &p2);
    VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT;
    d->subgroup_size = sp.subgroupSize;
    return (sp.supportedOperations & need) == need && (sp.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
           sp.subgroupSize > 0 && LOCAL_SIZE % sp.subgroupSize == 0;
}

static tt_status dev_setup(vk_dev *d)
{
    vkGetPhysicalDeviceProperties(d->pd, &d->props);
    vkGetPhysicalDeviceMemoryProperties(d->pd, &d->mem);
    VkPhysicalDeviceFeatures have;
    vkGetPhysicalDeviceFeatures(d->pd, &have);
    d->f64 = have.shaderFloat64;
    d->i64 = have.shaderInt64;
    d->subgroups = subgroups_usable(d);
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d->pd, &nq, NULL);
    VkQueueFamilyProperties qp[16];
    if (nq > 16) nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(d->pd, &nq, qp);
    uint32_t fam = UINT32_MAX;
    for (uint32_t i = 0; i < nq && fam == UINT32_MAX; i++)
        if (qp[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = i;
    if (fam == UINT32_MAX) return tt_set_error(TT_EDEVICE, "vulkan: '%s' has no compute queue", d->props.deviceName);
    d->qfam = fam;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = fam,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkPhysicalDeviceFeatures want = {.shaderFloat64 = d->f64, .shaderInt64 = d->i64};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci,
                              .pEnabledFeatures = &want};
    VkResult r = vkCreateDevice(d->pd, &dci, NULL, &d->dev);
    if (r != VK_SUCCESS) {
        d->dev = VK_NULL_HANDLE;
        return vk_fail("vkCreateDevice", r);
    }
    vkGetDeviceQueue(d->dev, fam, 0, &d->queue);

    VkDescriptorSetLayoutBinding bind[1 + NVIEWS];
    for (int i = 0; i < 1 + NVIEWS; i++)
        bind[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                                 .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                 .descriptorCount = 1,
                                                 .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = 1 + NVIEWS, .pBindings = bind};
    if ((r = vkCreateDescriptorSetLayout(d->dev, &lci, NULL, &d->dsl)) != VK_SUCCESS)
        return vk_fail("vkCreateDescriptorSetLayout", r);
    VkPipelineLayoutCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1, .pSetLayouts = &d->dsl};
    if ((r = vkCreatePipelineLayout(d->dev, &pci, NULL, &d->layout)) != VK_SUCCESS)
        return vk_fail("vkCreatePipelineLayout", r);
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, MAX_DISPATCHES * (1 + NVIEWS)};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = MAX_DISPATCHES,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    if ((r = vkCreateDescriptorPool(d->dev, &dpi, NULL, &d->dpool)) != VK_SUCCESS)
        return vk_fail("vkCreateDescriptorPool", r);
    VkCommandPoolCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = fam};
    if ((r = vkCreateCommandPool(d->dev, &cpi, NULL, &d->pool)) != VK_SUCCESS) return vk_fail("vkCreateCommandPool", r);
    size_t ncache;
    void *cache = pcache_load(d, &ncache);
    VkPipelineCacheCreateInfo pcci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO, .initialDataSize = ncache, .pInitialData = cache};
    if (vkCreatePipelineCache(d->dev, &pcci, NULL, &d->pcache) != VK_SUCCESS) {
        pcci.initialDataSize = 0; /* a stale file: start empty */
        pcci.pInitialData = NULL;
        if (vkCreatePipelineCache(d->dev, &pcci, NULL, &d->pcache) != VK_SUCCESS) d->pcache = VK_NULL_HANDLE;
    }
    free(cache);
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = d->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if ((r = vkAllocateCommandBuffers(d->dev, &cai, &d->cb)) != VK_SUCCESS)
        return vk_fail("vkAllocateCommandBuffers", r);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(d->dev, &fci, NULL, &d->fence)) != VK_SUCCESS) return vk_fail("vkCreateFence", r);
    VkDeviceSize align = d->props.limits.minStorageBufferOffsetAlignment;
    if (align < 16) align = 16;
    d->pstride = (sizeof(vk_params) + align - 1) / align * align;
    if (!(d->params = buf_create(d, d->pstride * MAX_DISPATCHES, true))) return tt_last_status();
    if (!d->params->map) return tt_set_error(TT_EDEVICE, "vulkan: cannot map the parameter buffer");
    return TT_OK;
}

static vk_dev *get_dev(int index)
{
    if (index < 0 || index >= MAX_DEVICES) {
        tt_set_error(TT_EDEVICE, "there is no vulkan:%d", index);
        return NULL;
    }
    if (g.devs[index]) return g.devs[index];
    if (instance_init() != TT_OK) return NULL;
    if (g.dev_tried[index]) {
        tt_set_error(TT_EDEVICE, "%s", g.dev_error[index]);
        return NULL;
    }
    g.dev_tried[index] = true;
    vk_dev *d = calloc(1, sizeof *d);
    if (!d) {
        tt_set_error(TT_ENOMEM, "out of memory");
        g.dev_tried[index] = false;
        return NULL;
    }
    d->pd = pick_device(index, g.dev_error[index], sizeof g.dev_error[index]);
    if (!d->pd) {
        free(d);
        tt_set_error(TT_EDEVICE, "%s", g.dev_error[index]);
        return NULL;
    }
    if (dev_setup(d) != TT_OK) {
        snprintf(g.dev_error[index], sizeof g.dev_error[index], "%s", tt_last_error());
        dev_destroy(d);
        tt_set_error(TT_EDEVICE, "%s", g.dev_error[index]);
        return NULL;
    }
    return g.devs[index] = d;
}

bool tt_vulkan_available(int device_index) { return get_dev(device_index) != NULL; }

int tt_vulkan_subgroup_size(int device_index)
{
    vk_dev *d = get_dev(device_index);
    return d && d->subgroups ? (int)d->subgroup_size : 0;
}

/* ---- recording and submission --------------------------------------------------- */
static tt_status begin(vk_dev *d)
{
    if (d->recording) return TT_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = vkBeginCommandBuffer(d->cb, &bi);
    if (r != VK_SUCCESS) return vk_fail("vkBeginCommandBuffer", r);
    d->recording = true;
    return TT_OK;
}

/* Every earlier shader or transfer write is visible to what follows. */
static void barrier(vk_dev *d, VkPipelineStageFlags dst_stage, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = dst_access};
    vkCmdPipelineBarrier(d->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stage, 0, 1,
                         &mb, 0, NULL, 0, NULL);
}

/* Submits what was recorded and waits for it. */
static tt_status flush(vk_dev *d)
{
    if (!d->recording) return TT_OK;
    barrier(d, VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT | VK_ACCESS_HOST_WRITE_BIT);
    d->recording = false;
    VkResult r = vkEndCommandBuffer(d->cb);
    if (r != VK_SUCCESS) return vk_fail("vkEndCommandBuffer", r);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &d->cb};
    r = vkQueueSubmit(d->queue, 1, &si, d->fence);
    if (r == VK_SUCCESS) r = vkWaitForFences(d->dev, 1, &d->fence, VK_TRUE, UINT64_MAX);
    g.submits++;
    vkResetFences(d->dev, 1, &d->fence);
    vkResetCommandBuffer(d->cb, 0);
    vkResetDescriptorPool(d->dev, d->dpool, 0);
    d->ndispatch = 0;
    for (int i = 0; i < d->ngarbage; i++) buf_destroy(d->garbage[i]);
    d->ngarbage = 0;
    if (r != VK_SUCCESS) return vk_fail("running the recorded kernels", r);
    return TT_OK;
}

tt_status tt_vulkan_sync(int device_index)
{
    if (device_index < 0 || device_index >= MAX_DEVICES || !g.devs[device_index]) return TT_OK;
    return flush(g.devs[device_index]);
}

static VkPipeline pipeline(vk_dev *d, int k)
{
    if (d->pipes[k]) return d->pipes[k];
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = kernels[k].size, .pCode = kernels[k].code};
    VkShaderModule mod;
    VkResult r = vkCreateShaderModule(d->dev, &mi, NULL, &mod);
    if (r != VK_SUCCESS) {
        vk_fail("vkCreateShaderModule", r);
        return VK_NULL_HANDLE;
    }
    VkComputePipelineCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                                                .module = mod,
                                                .pName = "main"},
                                      .layout = d->layout};
    r = vkCreateComputePipelines(d->dev, d->pcache, 1, &pi, NULL, &d->pipes[k]);
    d->pcache_dirty = true;
    vkDestroyShaderModule(d->dev, mod, NULL);
    if (r != VK_SUCCESS) {
        d->pipes[k] = VK_NULL_HANDLE;
        vk_fail("creating the pipeline", r);
    }
    return d->pipes[k];
}

/* An elementwise dispatch's views in 64-bit terms, for splitting it into
 * chunks whose bound ranges fit maxStorageBufferRange. */
typedef struct {
    int nv, nd;
    int64_t n, shape[TT_MAX_DIMS], strides[NVIEWS][TT_MAX_DIMS], offset[NVIEWS], es[NVIEWS];
} vk_plan;

/* Fills the shape and strides of p (and *pl) from views v[0..nv) (all of
 * v[0]'s shape), dropping size-1 dims and merging contiguous ones; TT_OK or an
 * error when the tensor is over 2^31 elements or a stride over 2^31. Views
 * larger than one binding are split later, by dispatch_split(). */
static tt_status describe(vk_params *p, int nv, const tt_kview *const *v, vk_buf **bufs, vk_plan *pl)
{
    int64_t n = 1, *shape = pl->shape;
    int nd = 0;
    for (int dd = 0; dd < v[0]->ndim; dd++) {
        n *= v[0]->shape[dd];
        if (v[0]->shape[dd] == 1) continue;
        bool merge = nd > 0;
        for (int k = 0; k < nv && merge; k++) merge = pl->strides[k][nd - 1] == v[0]->shape[dd] * v[k]->strides[dd];
        if (merge) {
            shape[nd - 1] *= v[0]->shape[dd];
            for (int k = 0; k < nv; k++) pl->strides[k][nd - 1] = v[k]->strides[dd];
        } else {
            shape[nd] = v[0]->shape[dd];
            for (int k = 0; k < nv; k++) pl->strides[k][nd] = v[k]->strides[dd];
            nd++;
        }
    }
    if (n > INT32_MAX) return tt_set_error(TT_EDEVICE, "vulkan: tensors over 2^31 elements are not supported yet");
    pl->nv = nv;
    pl->nd = nd;
    pl->n = n;
    memset(p, 0, sizeof *p);
    p->n = (uint32_t)n;
    p->ndim = (uint32_t)nd;
    for (int dd = 0; dd < nd; dd++) p->shape[dd] = (uint32_t)shape[dd];
    for (int k = 0; k < nv; k++) {
        bufs[k] = v[k]->buf;
        p->dt[k] = (uint32_t)v[k]->dtype;
        pl->es[k] = (int64_t)tt_dtype_size(v[k]->dtype);
        pl->offset[k] = v[k]->offset;
        p->offset[k] = (int32_t)v[k]->offset;
        for (int dd = 0; dd < nd; dd++) {
            if (pl->strides[k][dd] > INT32_MAX || pl->strides[k][dd] < -INT32_MAX)
                return tt_set_error(TT_EDEVICE, "vulkan: a stride over 2^31 elements is not supported");
            p->strides[NVIEWS * dd + k] = (int32_t)pl->strides[k][dd];
        }
    }
    return TT_OK;
}

/* Records one dispatch of kernel k on a gx x gy x gz grid of workgroups with
 * operand buffers bufs[0..nv). */
static tt_status dispatch_grid_at(vk_dev *d, int k, const vk_params *p, int nv, vk_buf **bufs, const VkDeviceSize *boff,
                                  const VkDeviceSize *brange, uint32_t gx, uint32_t gy, uint32_t gz)
{
    if (gx == 0 || gy == 0 || gz == 0) return TT_OK;
    if (d->ndispatch >= MAX_DISPATCHES) {
        tt_status st = flush(d);
        if (st) return st;
    }
    VkPipeline pipe = pipeline(d, k);
    if (!pipe) return tt_last_status();
    tt_status st = begin(d);
    if (st) return st;
    VkDeviceSize poff = (VkDeviceSize)d->ndispatch * d->pstride;
    memcpy((char *)d->params->map + poff, p, sizeof *p);
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = d->dpool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &d->dsl};
    VkDescriptorSet set;
    VkResult r = vkAllocateDescriptorSets(d->dev, &ai, &set);
    if (r != VK_SUCCESS) return vk_fail("vkAllocateDescriptorSets", r);
    VkDescriptorBufferInfo info[1 + NVIEWS];
    VkWriteDescriptorSet w[1 + NVIEWS];
    info[0] = (VkDescriptorBufferInfo){d->params->buf, poff, sizeof *p};
    for (int i = 0; i < NVIEWS; i++) {
        int j = i < nv ? i : 0;
        vk_buf *b = bufs[j];
        if (boff) {
            info[1 + i] = (VkDescriptorBufferInfo){b->buf, boff[j], brange[j]};
        } else {
            VkDeviceSize range =
                b->size < d->props.limits.maxStorageBufferRange ? b->size : d->props.limits.maxStorageBufferRange;
            info[1 + i] = (VkDescriptorBufferInfo){b->buf, 0, range & ~(VkDeviceSize)3};
        }
    }
    for (int i = 0; i < 1 + NVIEWS; i++)
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &info[i]};
    vkUpdateDescriptorSets(d->dev, 1 + NVIEWS, w, 0, NULL);
    barrier(d, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    vkCmdBindPipeline(d->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vkCmdBindDescriptorSets(d->cb, VK_PIPELINE_BIND_POINT_COMPUTE, d->layout, 0, 1, &set, 0, NULL);
    vkCmdDispatch(d->cb, gx, gy, gz);
    d->ndispatch++;
    g.dispatches++;
    return TT_OK;
}

/* `groups` workgroups as a 1-D grid, or over 65535 a 2-D one (the shader folds
 * y into the index); boff/brange as for dispatch_grid_at. */
static tt_status dispatch_groups(vk_dev *d, int k, const vk_params *p, int nv, vk_buf **bufs, const VkDeviceSize *boff,
                                 const VkDeviceSize *brange, uint32_t groups)
{
    uint32_t maxg = d->props.limits.maxComputeWorkGroupCount[0];
    if (maxg > 65535) maxg = 65535;
    uint32_t gx = groups < maxg ? groups : maxg, gy = gx ? (groups + gx - 1) / gx : 0;
    return dispatch_grid_at(d, k, p, nv, bufs, boff, brange, gx, gy, 1);
}

/* The elements [lo, hi] (es bytes each) of b as a binding from an aligned
 * offset: *off and *range in bytes. 1 when that fits maxStorageBufferRange,
 * 0 when not, -1 (with the error set) when it reaches outside the buffer. */
static int bind_extent(const vk_buf *b, int64_t lo, int64_t hi, int64_t es, VkDeviceSize *off, VkDeviceSize *range)
{
    const VkPhysicalDeviceLimits *lim = &b->dev->props.limits;
    if (lo < 0 || (uint64_t)((hi + 1) * es) > b->size) {
        tt_set_error(TT_EDEVICE, "vulkan: a view reaches outside its buffer");
        return -1;
    }
    VkDeviceSize align = lim->minStorageBufferOffsetAlignment;
    if (align < 8) align = 8; /* whole f64/i64 elements and 32-bit words */
    VkDeviceSize o = (VkDeviceSize)(lo * es) / align * align;
    VkDeviceSize end = ((VkDeviceSize)((hi + 1) * es) + 3) & ~(VkDeviceSize)3;
    if (end > b->size) end = b->size;
    *off = o;
    *range = end - o;
    return end - o <= lim->maxStorageBufferRange;
}

/* The elements of view k that linear indices [a, b] (b >= a) may touch, as
 * [*lo, *hi]: dims outside the outermost one where a and b differ are fixed,
 * that dim runs between their coordinates and the dims inside it run fully. */
static void chunk_extent(const vk_plan *pl, int k, int64_t a, int64_t b, int64_t *lo, int64_t *hi)
{
    int64_t ca[TT_MAX_DIMS], cb[TT_MAX_DIMS];
    for (int dd = pl->nd - 1; dd >= 0; dd--) {
        ca[dd] = a % pl->shape[dd];
        a /= pl->shape[dd];
        cb[dd] = b % pl->shape[dd];
        b /= pl->shape[dd];
    }
    int64_t l = pl->offset[k], h = pl->offset[k];
    bool varying = false;
    for (int dd = 0; dd < pl->nd; dd++) {
        int64_t s = pl->strides[k][dd], x, y;
        if (varying) {
            x = 0;
            y = (pl->shape[dd] - 1) * s;
        } else if (ca[dd] == cb[dd]) {
            x = y = ca[dd] * s;
        } else {
            varying = true;
            x = ca[dd] * s;
            y = cb[dd] * s;
        }
        l += x < y ? x : y;
        h += x < y ? y : x;
    }
    *lo = l;
    *hi = h;
}

/* Records kernel k over the elementwise plan pl: one dispatch binding whole
 * buffers when every view's extent fits one binding (maxStorageBufferRange),
 * else chunks of the linear index range (P.base) with each operand bound from
 * an aligned offset that is folded out of its element offset. A chunk that
 * cannot be made to fit (a strided view whose inner dims alone span over the
 * limit) is an error. */
static tt_status dispatch_split(vk_dev *d, int k, vk_params *p, vk_buf **bufs, const vk_plan *pl)
{
    VkDeviceSize maxr = d->props.limits.maxStorageBufferRange;
    if (pl->n == 0) return TT_OK;
    bool fits = true;
    for (int v = 0; v < pl->nv && fits; v++) {
        int64_t lo, hi;
        chunk_extent(pl, v, 0, pl->n - 1, &lo, &hi);
        VkDeviceSize range = bufs[v]->size < maxr ? bufs[v]->size : maxr;
        fits = lo >= 0 && (uint64_t)((hi + 1) * pl->es[v]) <= range;
    }
    if (fits) return dispatch_groups(d, k, p, pl->nv, bufs, NULL, NULL, (p->n + LOCAL_SIZE - 1) / LOCAL_SIZE);
    int64_t esmax = 1;
    for (int v = 0; v < pl->nv; v++) esmax = pl->es[v] > esmax ? pl->es[v] : esmax;
    /* elements per chunk (half a binding leaves room for alignment): a multiple
     * of the workgroup size, halved while a view overflows */
    int64_t chunk = (int64_t)(maxr / 2 / (VkDeviceSize)esmax) / LOCAL_SIZE * LOCAL_SIZE;
    if (chunk < LOCAL_SIZE) chunk = LOCAL_SIZE;
    for (int64_t base = 0; base < pl->n;) {
        int64_t c = pl->n - base < chunk ? pl->n - base : chunk;
        vk_params q = *p;
        VkDeviceSize boff[NVIEWS], brange[NVIEWS];
        bool ok = true;
        for (int v = 0; v < pl->nv && ok; v++) {
            int64_t lo, hi;
            chunk_extent(pl, v, base, base + c - 1, &lo, &hi);
            int r = bind_extent(bufs[v], lo, hi, pl->es[v], &boff[v], &brange[v]);
            if (r < 0) return tt_last_status();
            ok = r == 1;
            q.offset[v] = (int32_t)(pl->offset[v] - (int64_t)boff[v] / pl->es[v]);
        }
        if (!ok) {
            if (c <= LOCAL_SIZE)
                return tt_set_error(TT_EDEVICE,
                                    "vulkan: a strided view spans over maxStorageBufferRange (%llu bytes) "
                                    "within a chunk of %lld elements; make it contiguous first",
                                    (unsigned long long)maxr, (long long)c);
            chunk = c / 2 / LOCAL_SIZE * LOCAL_SIZE;
            if (chunk < LOCAL_SIZE) chunk = LOCAL_SIZE;
            continue;
        }
        q.base = (uint32_t)base;
        q.n = (uint32_t)c;
        tt_status st =
            dispatch_groups(d, k, &q, pl->nv, bufs, boff, brange, (uint32_t)((c + LOCAL_SIZE - 1) / LOCAL_SIZE));
        if (st) return st;
        base += c;
    }
    return TT_OK;
}

/* ---- memory entry points ----------------------------------------------------------- */
static void *vk_alloc(int device_index, size_t nbytes)
{
    vk_dev *d = get_dev(device_index);
    return d ? buf_create(d, nbytes, false) : NULL;
}

static void vk_free(int device_index, void *buf)
{
    (void)device_index;
    vk_buf *b = buf;
    if (!b) return;
    vk_dev *d = b->dev;
    if (d->recording) { /* recorded work may use it: destroy it after the next flush */
        if (d->ngarbage == d->capgarbage) {
            int cap = d->capgarbage ? 2 * d->capgarbage : 64;
            vk_buf **g2 = realloc(d->garbage, sizeof *g2 * (size_t)cap);
            if (!g2) {
                flush(d);
                buf_destroy(b);
                return;
            }
            d->garbage = g2;
            d->capgarbage = cap;
        }
        d->garbage[d->ngarbage++] = b;
        if (d->ngarbage >= 4 * MAX_DISPATCHES) flush(d);
        return;
    }
    buf_destroy(b);
}

/* Host copies through a host-visible staging buffer when b is not mapped. */
static tt_status staged_copy(vk_buf *b, size_t off, void *host, size_t n, bool to_device)
{
    vk_dev *d = b->dev;
    vk_buf *s = buf_create(d, n, true);
    if (!s) return tt_last_status();
    if (!s->map) {
        buf_destroy(s);
        return tt_set_error(TT_EDEVICE, "vulkan: no host-visible memory");
    }
    if (to_device) memcpy(s->map, host, n);
    tt_status st = begin(d);
    if (st == TT_OK) {
        barrier(d, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
        VkBufferCopy c = {to_device ? 0 : off, to_device ? off : 0, n};
        vkCmdCopyBuffer(d->cb, to_device ? s->buf : b->buf, to_device ? b->buf : s->buf, 1, &c);
        st = flush(d);
    }
    if (st == TT_OK && !to_device) memcpy(host, s->map, n);
    buf_destroy(s);
    return st;
}

static tt_status vk_to_host(void *dst, const void *buf, size_t off, size_t n)
{
    vk_buf *b = (vk_buf *)buf;
    tt_status st = flush(b->dev);
    if (st || n == 0) return st;
    if (b->map) {
        memcpy(dst, (char *)b->map + off, n);
        return TT_OK;
    }
    return staged_copy(b, off, dst, n, false);
}

static tt_status vk_from_host(void *buf, size_t off, const void *src, size_t n)
{
    vk_buf *b = buf;
    tt_status st = flush(b->dev); /* recorded work may still use the old contents */
    if (st || n == 0) return st;
    if (b->map) {
        memcpy((char *)b->map + off, src, n);
        return TT_OK;
    }
    return staged_copy(b, off, (void *)src, n, true);
}

/* ---- kernels -------------------------------------------------------------------- */
static vk_dev *dev_of(const tt_kview *v) { return ((vk_buf *)v->buf)->dev; }

static tt_status need_dtype(vk_dev *d, tt_dtype dt, const char *what)
{
    if (dt == TT_F64 && !d->f64)
        return tt_set_error(TT_EDTYPE, "%s: float64 needs shaderFloat64, which the Vulkan device '%s' lacks", what,
                            d->props.deviceName);
    if (dt == TT_I64 && !d->i64)
        return tt_set_error(TT_EDTYPE, "%s: int64 needs shaderInt64, which the Vulkan device '%s' lacks", what,
                            d->props.deviceName);
    return TT_OK;
}

static void set_scalar(vk_params *p, double value)
{
    p->f = (float)value;
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    p->dbits[0] = (uint32_t)bits;
    p->dbits[1] = (uint32_t)(bits >> 32);
}

static tt_status vk_copy(const tt_kview *out, const tt_kview *in)
{
    vk_dev *d = dev_of(out);
    tt_status st;
    if ((st = need_dtype(d, out->dtype, "copy")) || (st = need_dtype(d, in->dtype, "copy"))) return st;
    if (dev_of(in) != d) return tt_set_error(TT_EDEVICE, "vulkan: copy between two devices");
    vk_params p;
    vk_plan pl;
    vk_buf *bufs[2];
    const tt_kview *v[2] = {out, in};
    if ((st = describe(&p, 2, v, bufs, &pl))) return st;
    p.op = 0;
    bool wide = out->dtype == TT_F64 || out->dtype == TT_I64 || in->dtype == TT_F64 || in->dtype == TT_I64;
    return dispatch_split(d, wide ? K_COPY64 : K_COPY32, &p, bufs, &pl);
}

static tt_status vk_fill(const tt_kview *out, double value)
{
    vk_dev *d = dev_of(out);
    tt_status st;
    if ((st = need_dtype(d, out->dtype, "fill"))) return st;
    vk_params p;
    vk_plan pl;
    vk_buf *bufs[1];
    const tt_kview *v[1] = {out};
    if ((st = describe(&p, 1, v, bufs, &pl))) return st;
    p.op = 1;
    set_scalar(&p, value);
    bool wide = out->dtype == TT_F64 || out->dtype == TT_I64;
    if (wide && !d->f64) return tt_set_error(TT_EDTYPE, "fill: int64 on Vulkan needs shaderFloat64");
    return dispatch_split(d, wide ? K_COPY64 : K_COPY32, &p, bufs, &pl);
}

static tt_status vk_rng(const tt_kview *out, tt_rng_dist dist, uint64_t seed, uint64_t offset)
{
    vk_dev *d = dev_of(out);
    if (!d->f64)
        return tt_set_error(TT_EDTYPE, "random numbers on Vulkan need shaderFloat64, which '%s' lacks",
                            d->props.deviceName);
    if (out->dtype != TT_F32 && out->dtype != TT_F64)
        return tt_set_error(TT_EDTYPE, "random numbers are not implemented for %s", tt_dtype_name(out->dtype));
    /* contiguous: described as a 1-D view from its offset */
    tt_kview flat = *out;
    int64_t n = 1;
    for (int i = 0; i < out->ndim; i++) n *= out->shape[i];
    flat.ndim = 1;
    flat.shape[0] = n;
    flat.strides[0] = 1;
    vk_params p;
    vk_plan pl;
    vk_buf *bufs[1];
    const tt_kview *v[1] = {&flat};
    tt_status st = describe(&p, 1, v, bufs, &pl);
    if (st) return st;
    p.op = dist == TT_RNG_NORMAL ? 1 : 0;
    p.u[0] = (uint32_t)seed;
    p.u[1] = (uint32_t)(seed >> 32);
    p.u[2] = (uint32_t)offset;
    p.u[3] = (uint32_t)(offset >> 32);
    return dispatch_split(d, K_RNG, &p, bufs, &pl);
}

static tt_status vk_unary(tt_unary_op op, const tt_kview *out, const tt_kview *in)
{
    vk_dev *d = dev_of(out);
    if (in->dtype != TT_F32 && in->dtype != TT_F64 && !(in->dtype == TT_I64 && tt__unary_int64_kernel(op)))
        return tt_set_error(TT_EDTYPE, "%s is not implemented for %s", tt_unary_name(op), tt_dtype_name(in->dtype));
    tt_status st;
    if ((st = need_dtype(d, in->dtype, tt_unary_name(op)))) return st;
    vk_params p;
    vk_plan pl;
    vk_buf *bufs[2];
    const tt_kview *v[2] = {out, in};
    if ((st = describe(&p, 2, v, bufs, &pl))) return st;
    p.op = (uint32_t)op;
    int k = in->dtype == TT_F64 ? K_UNARY_F64 : in->dtype == TT_I64 ? K_UNARY_I64 : K_UNARY_F32;
    return dispatch_split(d, k, &p, bufs, &pl);
}

static tt_status vk_reduce(tt_reduce_op op, const tt_kview *out, const tt_kview *in, const tt_kview *idx);

/* Integer pow: any negative exponent is an error, as on the CPU (checked with
 * a min-reduction read back to the host). */
static tt_status check_exponents(vk_dev *d, const tt_kview *b)
{
    vk_buf *tmp = buf_create(d, 8, false);
    if (!tmp) return tt_last_status();
    tt_kview o = {.buf = tmp, .dtype = TT_I64, .ndim = b->ndim, .offset = 0};
    for (int i = 0; i < b->ndim; i++) o.shape[i] = 1;
    int64_t lowest = 0;
    tt_status st = vk_reduce(TT_MIN, &o, b, NULL);
    if (st == TT_OK) st = vk_to_host(&lowest, tmp, 0, sizeof lowest);
    vk_free(0, tmp);
    if (st == TT_OK && lowest < 0) st = tt_set_error(TT_EINVAL, "Integers to negative integer powers are not allowed.");
    return st;
}

static tt_status vk_binary(tt_binary_op op, const tt_kview *out, const tt_kview *a, const tt_kview *b)
{
    vk_dev *d = dev_of(out);
    bool compare = tt_is_comparison(op);
    if (!(a->dtype == TT_F32 || a->dtype == TT_F64 || (a->dtype == TT_I64 && tt__binary_int64_kernel(op)) ||
          (a->dtype == TT_BOOL && compare)))
        return tt_set_error(TT_EDTYPE, "%s is not implemented for %s", tt_binary_name(op), tt_dtype_name(a->dtype));
    tt_status st;
    if ((st = need_dtype(d, a->dtype, tt_binary_name(op)))) return st;
    if (a->dtype == TT_I64 && op == TT_POW && (st = check_exponents(d, b))) return st;
    vk_params p;
    vk_plan pl;
    vk_buf *bufs[3];
    const tt_kview *v[3] = {out, a, b};
    if ((st = describe(&p, 3, v, bufs, &pl))) return st;
    p.op = (uint32_t)op;
    int k = a->dtype == TT_F64 ? K_BINARY_F64 : a->dtype == TT_I64 ? K_BINARY_I64 : K_BINARY_F32;
    return dispatch_split(d, k, &p, bufs, &pl);
}

static tt_status vk_where(const tt_kview *out, const tt_kview *cond, const tt_kview *a, const tt_kview *b)
{
    vk_dev *d = dev_of(out);
    vk_params p;
    vk_plan pl;
    vk_buf *bufs[4];
    const tt_kview *v[4] = {out, cond, a, b};
    tt_status st = describe(&p, 4, v, bufs, &pl);
    if (st) return st;
    return dispatch_split(d, K_WHERE, &p, bufs, &pl);
}

/* min(max(x, lo), hi) with NAN meaning no bound; NaN inputs stay NaN. */
static tt_status vk_clamp(const tt_kview *out, const tt_kview *in, double lo, double hi)
{
    vk_dev *d = dev_of(out);
    if (in->dtype == TT_BOOL) return tt_set_error(TT_EDTYPE, "clamp is not implemented for bool");
    tt_status st;
    if ((st = need_dtype(d, in->dtype, "clamp"))) return st;
    vk_params p;
    vk_plan pl;
    vk_buf *bufs[2];
    const tt_kview *v[2] = {out, in};
    if ((st = describe(&p, 2, v, bufs, &pl))) return st;
    p.op = TT_VK_OP_CLAMP | (isnan(lo) ? 0u : 1u) | (isnan(hi) ? 0u : 2u);
    int k;
    if (in->dtype == TT_F32) {
        p.f = (float)lo;
        p.f_pad = (float)hi;
        k = K_UNARY_F32;
    } else if (in->dtype == TT_F64) {
        set_scalar(&p, lo);
        uint64_t bits;
        memcpy(&bits, &hi, sizeof bits);
        p.u[0] = (uint32_t)bits;
        p.u[1] = (uint32_t)(bits >> 32);
        k = K_UNARY_F64;
    } else {
        uint64_t l = (uint64_t)(isnan(lo) ? 0 : tt__f2i(lo)), h = (uint64_t)(isnan(hi) ? 0 : tt__f2i(hi));
        p.u[0] = (uint32_t)l;
        p.u[1] = (uint32_t)(l >> 32);
        p.u[2] = (uint32_t)h;
        p.u[3] = (uint32_t)(h >> 32);
        k = K_UNARY_I64;
    }
    return dispatch_split(d, k, &p, bufs, &pl);
}

/* The elements view v may touch, [*lo, *hi]; [0, 0] when it is empty. */
static void view_extent(const tt_kview *v, int64_t *lo, int64_t *hi)
{
    int64_t l = v->offset, h = v->offset;
    for (int dd = 0; dd < v->ndim; dd++) {
        if (v->shape[dd] == 0) {
            l = h = 0;
            break;
        }
        int64_t s = v->strides[dd] * (v->shape[dd] - 1);
        if (s < 0) l += s;
        else h += s;
    }
    *lo = l;
    *hi = h;
}

/* bind_extent() of view v's extent. */
static int view_binding(const tt_kview *v, VkDeviceSize *off, VkDeviceSize *range)
{
    int64_t lo, hi;
    view_extent(v, &lo, &hi);
    return bind_extent(v->buf, lo, hi, (int64_t)tt_dtype_size(v->dtype), off, range);
}

/* Binds views v[0..nv) as operands 0..nv-1 of p, each from an aligned offset
 * over just its extent, that offset folded out of p->offset. *fits is false
 * (and nothing usable bound) when an extent is over one binding: the caller
 * splits the problem. */
static tt_status bind_views(vk_params *p, int nv, const tt_kview *const *v, vk_buf **bufs, VkDeviceSize *boff,
                            VkDeviceSize *brange, bool *fits)
{
    *fits = true;
    for (int k = 0; k < nv; k++) {
        int r = view_binding(v[k], &boff[k], &brange[k]);
        if (r < 0) return tt_last_status();
        if (r == 0) *fits = false;
        bufs[k] = v[k]->buf;
        p->dt[k] = (uint32_t)v[k]->dtype;
        p->offset[k] = (int32_t)(v[k]->offset - (int64_t)boff[k] / (int64_t)tt_dtype_size(v[k]->dtype));
        for (int dd = 0; dd < v[k]->ndim && *fits; dd++)
            if (v[k]->shape[dd] > 1 && (v[k]->strides[dd] > INT32_MAX || v[k]->strides[dd] < -INT32_MAX))
                return tt_set_error(TT_EDEVICE, "vulkan: a stride over 2^31 elements is not supported");
    }
    return TT_OK;
}

/* How much dim dd of the views v[0..nv) that do not fit one binding adds to
 * their extents, in bytes: the split that helps most. */
static int64_t overflow_share(int nv, const tt_kview *const *v, const bool *over, const int *dims)
{
    int64_t c = 0;
    for (int k = 0; k < nv; k++) {
        int dd = dims[k];
        if (over[k] && dd >= 0 && v[k]->shape[dd] > 1)
            c += llabs(v[k]->strides[dd]) * (v[k]->shape[dd] - 1) * (int64_t)tt_dtype_size(v[k]->dtype);
    }
    return c;
}

/* Which of the views v[0..nv) do not fit one binding; false when none. */
static bool oversized(int nv, const tt_kview *const *v, bool *over)
{
    bool any = false;
    for (int k = 0; k < nv; k++) {
        VkDeviceSize off, range;
        any |= over[k] = view_binding(v[k], &off, &range) == 0;
    }
    return any;
}

/* dst = src restricted to [start, start + len) along dim dd. */
static void sub_view(tt_kview *dst, const tt_kview *src, int dd, int64_t start, int64_t len)
{
    *dst = *src;
    dst->shape[dd] = len;
    dst->offset += start * src->strides[dd];
}

/* A temporary contiguous device tensor (free it with vk_free). */
static tt_status temp_view(vk_dev *d, tt_kview *t, tt_dtype dt, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    int64_t n = 1;
    for (int dd = ndim - 1; dd >= 0; dd--) {
        t->shape[dd] = shape[dd];
        t->strides[dd] = n;
        n *= shape[dd];
    }
    t->buf = buf_create(d, (VkDeviceSize)n * tt_dtype_size(dt), false);
    return t->buf ? TT_OK : tt_last_status();
}

/* The layout of reduce.glsl and softmax.glsl: the dims of `in` that are not
 * inner (and not of size 1) first, u[0] of them, then the inner dims; strides
 * of the views v[0..nv) (all of in's rank). *nout and *ninner: their sizes. */
static tt_status plan_inner(vk_params *p, const tt_kview *in, const bool *inner, bool keep_ones, int nv,
                            const tt_kview *const *v, int64_t *nout, int64_t *ninner)
{
    memset(p, 0, sizeof *p);
    int nd = 0;
    int64_t n[2] = {1, 1};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) p->u[0] = (uint32_t)nd;
        for (int dd = 0; dd < in->ndim; dd++) {
            if (inner[dd] != (pass == 1) || (in->shape[dd] == 1 && !(pass == 1 && keep_ones))) continue;
            p->shape[nd] = (uint32_t)in->shape[dd];
            n[pass] *= in->shape[dd];
            for (int k = 0; k < nv; k++) p->strides[NVIEWS * nd + k] = (int32_t)v[k]->strides[dd];
            nd++;
        }
    }
    if (keep_ones && nd == (int)p->u[0]) p->shape[nd++] = 1; /* a 0-d softmax: one element */
    p->ndim = (uint32_t)nd;
    if (n[0] > INT32_MAX || n[1] > INT32_MAX)
        return tt_set_error(TT_EDEVICE, "vulkan: tensors over 2^31 elements are not supported yet");
    *nout = n[0];
    *ninner = n[1];
    return TT_OK;
}

#define MAX_SPLIT_DEPTH 64 /* splits halve or chunk a dim: far deeper than any real tensor needs */

static tt_status too_deep(void)
{
    return tt_set_error(TT_EDEVICE, "vulkan: cannot split this view into bindings of maxStorageBufferRange");
}

/* What reduce.glsl's views 2 and 3 are (its u[3]): none; idx, the index of
 * each max/min; partial maxima/minima (in) with their indices (view 3, in's
 * shape) to combine into idx; or a second factor (in's shape) whose products
 * with in are summed. */
enum { RED_PLAIN, RED_IDX, RED_PAIRS, RED_DOT };
static const int red_views[] = {2, 3, 4, 3};

/* Views of reduce mode `mode` shaped as in (the others as out). */
static bool in_like(int mode, int k) { return k == 1 || k == 3 || (k == 2 && mode == RED_DOT); }

/* Reduces v[1] (in) into v[0] (out), with v[2], v[3] as `mode` says. `base`:
 * added to the stored indices (a chunk's start), or for TT_MEAN the divisor
 * when in holds partial sums (0: the count reduced here). Views over one
 * binding are split: halving a kept dim, or, when the reduced dims are what
 * overflows, reducing chunks of the largest one into a temporary with a chunk
 * dim that is then reduced again. */
static tt_status reduce_rec(vk_dev *d, tt_reduce_op op, int mode, const tt_kview *const *v, uint32_t base, int depth)
{
    const tt_kview *out = v[0], *in = v[1];
    int nv = red_views[mode];
    bool inner[TT_MAX_DIMS], over[NVIEWS];
    for (int i = 0; i < in->ndim; i++) inner[i] = out->shape[i] == 1 && in->shape[i] != 1;
    vk_params p;
    vk_buf *bufs[NVIEWS];
    VkDeviceSize boff[NVIEWS], brange[NVIEWS];
    int64_t nout, R;
    bool fits;
    tt_status st;
    if ((st = plan_inner(&p, in, inner, false, nv, v, &nout, &R)) ||
        (st = bind_views(&p, nv, v, bufs, boff, brange, &fits)))
        return st;
    if (fits) {
        p.n = (uint32_t)nout;
        p.op = (uint32_t)op;
        p.base = base;
        p.u[1] = (uint32_t)R;
        p.u[2] = R > 64; /* a workgroup per output, else an invocation per output */
        p.u[3] = (uint32_t)mode;
        uint32_t groups = p.u[2] ? (uint32_t)nout : (uint32_t)((nout + LOCAL_SIZE - 1) / LOCAL_SIZE);
        /* the _sg kernels differ only in group mode: one pipeline serves both modes */
        int k = d->f64 && d->i64 ? (d->subgroups ? K_REDUCE_WIDE_SG : K_REDUCE_WIDE)
                                 : (d->subgroups ? K_REDUCE_F32_SG : K_REDUCE_F32);
        return dispatch_groups(d, k, &p, nv, bufs, boff, brange, groups);
    }
    if (depth > MAX_SPLIT_DEPTH) return too_deep();
    oversized(nv, v, over);
    int kd = -1, rd = -1;
    int64_t kc = 0, kept = 0, rc = 0;
    bool out_over = false;
    for (int k = 0; k < nv; k++) out_over |= over[k] && !in_like(mode, k);
    for (int dd = 0; dd < in->ndim; dd++) {
        int dims[NVIEWS] = {dd, dd, dd, dd};
        int64_t c = overflow_share(nv, v, over, dims);
        if (!inner[dd]) kept += c;
        if (!inner[dd] && c > kc) {
            kc = c;
            kd = dd;
        }
        if (inner[dd] && c > rc) {
            rc = c;
            rd = dd;
        }
    }
    VkDeviceSize maxr = d->props.limits.maxStorageBufferRange;
    if (kd >= 0 && (rd < 0 || out_over || (uint64_t)kept > maxr / 4)) {
        /* halve the kept dim that adds most */
        int64_t n0 = in->shape[kd] / 2;
        for (int s = 0; s < 2 && !st; s++) {
            tt_kview h[NVIEWS];
            const tt_kview *hv[NVIEWS] = {&h[0], &h[1], &h[2], &h[3]};
            for (int k = 0; k < nv; k++) sub_view(&h[k], v[k], kd, s ? n0 : 0, s ? in->shape[kd] - n0 : n0);
            st = reduce_rec(d, op, mode, hv, base, depth + 1);
        }
        return st;
    }
    if (rd < 0) return too_deep();
    /* chunks of reduced dim rd that fit half a binding, and at most 2^20
     * long: several workgroups share the work of a long reduction */
    int64_t ext = 0, L = in->shape[rd], count = 1;
    for (int k = 1; k < nv; k++) {
        int64_t lo, hi, es = (int64_t)tt_dtype_size(v[k]->dtype);
        view_extent(v[k], &lo, &hi);
        if (over[k] && (hi - lo + 1) * es > ext) ext = (hi - lo + 1) * es;
    }
    for (int i = 0; i < in->ndim; i++) count *= inner[i] ? in->shape[i] : 1;
    int64_t C = ext / (int64_t)(maxr / 2) + 1, cs;
    if (C < 2) C = 2;
    cs = (L + C - 1) / C;
    if (cs > (1 << 20)) cs = 1 << 20;
    C = (L + cs - 1) / cs;
    /* partials: out's shape with C along rd; sums and products in double where the device has it */
    tt_dtype pdt = out->dtype;
    if (op != TT_MAX && op != TT_MIN && out->dtype != TT_I64) pdt = d->f64 && d->i64 ? TT_F64 : TT_F32;
    int64_t pshape[TT_MAX_DIMS];
    memcpy(pshape, out->shape, sizeof pshape);
    pshape[rd] = C;
    bool idx = mode == RED_IDX || mode == RED_PAIRS;
    tt_kview part[2];
    if ((st = temp_view(d, &part[0], pdt, in->ndim, pshape))) return st;
    if (idx && (st = temp_view(d, &part[1], TT_I64, in->ndim, pshape))) {
        vk_free(0, part[0].buf);
        return st;
    }
    tt_reduce_op cop = op == TT_MEAN ? TT_SUM : op;
    for (int64_t c = 0; c < C && !st; c++) {
        tt_kview cv[NVIEWS];
        const tt_kview *cvp[NVIEWS] = {&cv[0], &cv[1], &cv[2], &cv[3]};
        int64_t len = L - c * cs < cs ? L - c * cs : cs;
        for (int k = 0; k < nv; k++) {
            if (in_like(mode, k)) sub_view(&cv[k], v[k], rd, c * cs, len);
            else sub_view(&cv[k], &part[k == 0 ? 0 : 1], rd, c, 1);
        }
        st = reduce_rec(d, cop, mode, cvp, mode == RED_IDX ? base + (uint32_t)(c * cs) : 0, depth + 1);
    }
    if (!st) {
        const tt_kview *fv[NVIEWS] = {out, &part[0], idx ? v[2] : NULL, &part[1]};
        st = reduce_rec(d, op, idx ? RED_PAIRS : RED_PLAIN, fv, op == TT_MEAN ? (base ? base : (uint32_t)count) : 0,
                        depth + 1);
    }
    vk_free(0, part[0].buf); /* after the recorded work that uses it: see vk_free */
    if (idx) vk_free(0, part[1].buf);
    return st;
}

static tt_status vk_reduce(tt_reduce_op op, const tt_kview *out, const tt_kview *in, const tt_kview *idx)
{
    vk_dev *d = dev_of(out);
    tt_status st;
    if ((st = need_dtype(d, in->dtype, "reductions"))) return st;
    bool wide = d->f64 && d->i64;
    if (!wide && (in->dtype == TT_F64 || in->dtype == TT_I64))
        return tt_set_error(TT_EDTYPE,
                            "reductions of %s on Vulkan need shaderFloat64 and shaderInt64, which '%s' lacks",
                            tt_dtype_name(in->dtype), d->props.deviceName);
    const tt_kview *v[3] = {out, in, idx};
    return reduce_rec(d, op, idx ? RED_IDX : RED_PLAIN, v, 0, 0);
}

/* softmax of a slice along dim too long for one binding, from the backend's
 * own kernels: m = max, out = exp(in - m), s = sum(out), then out / s; or
 * for log_softmax out = in - m - log(s). Temporaries are one per slice. */
static tt_status softmax_long(vk_dev *d, const tt_kview *out, const tt_kview *in, int dim, bool log_)
{
    int64_t shape[TT_MAX_DIMS];
    memcpy(shape, in->shape, sizeof shape);
    shape[dim] = 1;
    tt_kview m, s;
    tt_status st = temp_view(d, &m, in->dtype, in->ndim, shape);
    if (st) return st;
    if ((st = temp_view(d, &s, out->dtype, in->ndim, shape))) {
        vk_free(0, m.buf);
        return st;
    }
    tt_kview mb = m, sb = s; /* broadcast along dim */
    mb.shape[dim] = sb.shape[dim] = in->shape[dim];
    mb.strides[dim] = sb.strides[dim] = 0;
    const tt_kview *mv[2] = {&m, in}, *sv[2] = {&s, out};
    if (!(st = reduce_rec(d, TT_MAX, RED_PLAIN, mv, 0, 0)) && !(st = vk_binary(TT_SUB, out, in, &mb)) &&
        !(st = vk_unary(TT_EXP, out, out)) && !(st = reduce_rec(d, TT_SUM, RED_PLAIN, sv, 0, 0))) {
        if (!log_) st = vk_binary(TT_DIV, out, out, &sb);
        else if (!(st = vk_binary(TT_SUB, out, in, &mb)) && !(st = vk_unary(TT_LOG, &s, &s)))
            st = vk_binary(TT_SUB, out, out, &sb);
    }
    vk_free(0, m.buf);
    vk_free(0, s.buf);
    return st;
}

/* out and in as kept dims and one dim (softmax.glsl, scan.comp): p, their
 * bindings, how many slices (nout), how long (len), whether they fit. */
typedef struct {
    vk_params p;
    vk_buf *bufs[2];
    VkDeviceSize boff[2], brange[2];
    int64_t nout, len;
    bool fits;
} along_plan;

static tt_status plan_along(along_plan *a, const tt_kview *out, const tt_kview *in, int dim)
{
    bool inner[TT_MAX_DIMS];
    for (int i = 0; i < in->ndim; i++) inner[i] = i == dim;
    const tt_kview *v[2] = {out, in};
    tt_status st = plan_inner(&a->p, in, inner, true, 2, v, &a->nout, &a->len);
    return st ? st : bind_views(&a->p, 2, v, a->bufs, a->boff, a->brange, &a->fits);
}

/* Views over one binding are split: halving the other dim that adds most, or
 * composing a slice along dim too long for one (softmax_long). */
static tt_status softmax_rec(vk_dev *d, const tt_kview *out, const tt_kview *in, int dim, bool log_, int depth)
{
    bool over[2];
    const tt_kview *v[2] = {out, in};
    along_plan a;
    tt_status st = plan_along(&a, out, in, dim);
    if (st) return st;
    if (a.fits) {
        a.p.n = (uint32_t)a.nout;
        a.p.op = log_;
        a.p.u[1] = (uint32_t)a.len;
        return dispatch_groups(d, d->f64 ? K_SOFTMAX_WIDE : K_SOFTMAX_F32, &a.p, 2, a.bufs, a.boff, a.brange,
                               (uint32_t)a.nout);
    }
    if (depth > MAX_SPLIT_DEPTH) return too_deep();
    oversized(2, v, over);
    int kd = -1, dd2[2] = {dim, dim};
    int64_t kc = 0, rc = overflow_share(2, v, over, dd2);
    for (int dd = 0; dd < in->ndim; dd++) {
        int dd1[2] = {dd, dd};
        int64_t c = dd == dim ? 0 : overflow_share(2, v, over, dd1);
        if (c > kc) {
            kc = c;
            kd = dd;
        }
    }
    if (kd < 0 || kc < rc) return softmax_long(d, out, in, dim, log_);
    int64_t n0 = in->shape[kd] / 2;
    for (int s = 0; s < 2; s++) {
        tt_kview ho, hi;
        sub_view(&ho, out, kd, s ? n0 : 0, s ? in->shape[kd] - n0 : n0);
        sub_view(&hi, in, kd, s ? n0 : 0, s ? in->shape[kd] - n0 : n0);
        if ((st = softmax_rec(d, &ho, &hi, dim, log_, depth + 1))) return st;
    }
    return TT_OK;
}

/* One invocation per slice along dim (scan.comp); needs shaderFloat64 and
 * shaderInt64 (double sums, as the CPU's). */
static tt_status vk_scan(tt_scan_op op, const tt_kview *out, const tt_kview *in, int dim, bool reverse)
{
    vk_dev *d = dev_of(out);
    if (!d->f64 || !d->i64)
        return tt_set_error(TT_EDTYPE, "%s on Vulkan needs shaderFloat64 and shaderInt64, which '%s' lacks",
                            tt_scan_name(op), d->props.deviceName);
    along_plan a;
    tt_status st = plan_along(&a, out, in, dim);
    if (st) return st;
    if (!a.fits)
        return tt_set_error(TT_EDEVICE,
                            "the vulkan backend has no kernel for %s of a view over maxStorageBufferRange yet",
                            tt_scan_name(op));
    a.p.n = (uint32_t)a.nout;
    a.p.op = (uint32_t)op;
    a.p.u[1] = (uint32_t)a.len;
    a.p.u[2] = reverse;
    return dispatch_groups(d, K_SCAN, &a.p, 2, a.bufs, a.boff, a.brange, (uint32_t)((a.nout + 255) / 256));
}

/* One invocation per element of out (index.comp); needs shaderFloat64 and
 * shaderInt64 (int64 indices). */
static tt_status vk_index(const tt_kview *out, const tt_kview *in, const tt_kview *idx, int dim, bool add)
{
    vk_dev *d = dev_of(out);
    if (!d->f64 || !d->i64)
        return tt_set_error(TT_EDTYPE, "indexing on Vulkan needs shaderFloat64 and shaderInt64, which '%s' lacks",
                            d->props.deviceName);
    int64_t n = 1;
    for (int i = 0; i < out->ndim; i++) n *= out->shape[i];
    if (n > INT32_MAX) return tt_set_error(TT_EDEVICE, "vulkan: tensors over 2^31 elements are not supported yet");
    vk_params p;
    memset(&p, 0, sizeof p);
    vk_buf *bufs[3];
    VkDeviceSize boff[3], brange[3];
    const tt_kview *v[3] = {out, in, idx};
    bool fits;
    tt_status st = bind_views(&p, 3, v, bufs, boff, brange, &fits);
    if (st) return st;
    if (!fits)
        return tt_set_error(TT_EDEVICE,
                            "the vulkan backend has no kernel for indexing views over "
                            "maxStorageBufferRange yet");
    p.n = (uint32_t)n;
    p.op = add;
    p.ndim = (uint32_t)out->ndim;
    for (int i = 0; i < out->ndim; i++) {
        p.shape[i] = (uint32_t)out->shape[i];
        p.strides[NVIEWS * i] = (int32_t)out->strides[i];
        p.strides[NVIEWS * i + 1] = (int32_t)in->strides[i];
    }
    p.strides[NVIEWS * dim + 2] = (int32_t)idx->strides[0];
    p.u[0] = (uint32_t)dim;
    p.u[1] = (uint32_t)idx->shape[0];
    return dispatch_groups(d, K_INDEX, &p, 3, bufs, boff, brange, (uint32_t)((n + 255) / 256));
}

static tt_status vk_softmax(const tt_kview *out, const tt_kview *in, int dim, bool log_)
{
    vk_dev *d = dev_of(out);
    tt_status st;
    if ((st = need_dtype(d, in->dtype, log_ ? "log_softmax" : "softmax"))) return st;
    return softmax_rec(d, out, in, dim, log_, 0);
}

/* Batched matmul; views over one binding, or a grid over 65535 workgroups, are
 * split by halving the dim that adds most to the overflow (batch, rows, cols
 * or K; K: the second half goes to a temporary added to out). */
static tt_status matmul_rec(vk_dev *d, const tt_kview *out, const tt_kview *a, const tt_kview *b, int depth)
{
    int64_t B = out->shape[0], M = out->shape[1], N = out->shape[2], K = a->shape[2];
    vk_params p;
    memset(&p, 0, sizeof p);
    vk_buf *bufs[3];
    VkDeviceSize boff[3], brange[3];
    const tt_kview *v[3] = {out, a, b};
    bool fits, over[3];
    tt_status st = bind_views(&p, 3, v, bufs, boff, brange, &fits);
    if (st) return st;
    bool grid = (M + 63) / 64 <= 65535 && (N + 63) / 64 <= 65535;
    if (fits && grid) {
        for (int k = 0; k < 3; k++)
            for (int dd = 0; dd < 3; dd++) p.strides[NVIEWS * dd + k] = (int32_t)v[k]->strides[dd];
        p.ndim = 3;
        p.n = (uint32_t)(M * N);
        p.u[0] = (uint32_t)M;
        p.u[1] = (uint32_t)N;
        p.u[2] = (uint32_t)K;
        for (int64_t b0 = 0; b0 < B; b0 += 65535) {
            p.u[3] = (uint32_t)b0;
            int64_t nb = B - b0 < 65535 ? B - b0 : 65535;
            st = dispatch_grid_at(d, out->dtype == TT_F64 ? K_MATMUL_F64 : K_MATMUL_F32, &p, 3, bufs, boff, brange,
                                  (uint32_t)((N + 63) / 64), (uint32_t)((M + 63) / 64), (uint32_t)nb);
            if (st) return st;
        }
        return TT_OK;
    }
    if (depth > MAX_SPLIT_DEPTH) return too_deep();
    oversized(3, v, over);
    /* per split: the dim of out, a and b it halves (-1: not theirs) */
    static const int split_dims[4][3] = {{0, 0, 0}, {1, 1, -1}, {2, -1, 2}, {-1, 2, 1}};
    int best = -1;
    int64_t bc = 0;
    for (int s = 0; s < 4; s++) {
        int64_t c = overflow_share(3, v, over, split_dims[s]);
        if (c > bc) {
            bc = c;
            best = s;
        }
    }
    if (!grid) best = (M + 63) / 64 > 65535 ? 1 : 2;
    if (best < 0) return too_deep();
    const int *sd = split_dims[best];
    int64_t size = best == 0 ? B : best == 1 ? M : best == 2 ? N : K, n0 = size / 2;
    tt_kview h[2][3];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 3; k++) {
            if (sd[k] < 0) h[s][k] = *v[k];
            else sub_view(&h[s][k], v[k], sd[k], s ? n0 : 0, s ? size - n0 : n0);
        }
    if ((st = matmul_rec(d, &h[0][0], &h[0][1], &h[0][2], depth + 1))) return st;
    if (best != 3) return matmul_rec(d, &h[1][0], &h[1][1], &h[1][2], depth + 1);
    tt_kview t;
    if ((st = temp_view(d, &t, out->dtype, 3, out->shape))) return st;
    if (!(st = matmul_rec(d, &t, &h[1][1], &h[1][2], depth + 1))) st = vk_binary(TT_ADD, out, out, &t);
    vk_free(0, t.buf);
    return st;
}

/* out = a @ b for thin matrices (few rows or columns), where matmul.glsl's
 * 64x64 tiles would be mostly idle: a sum over K of products of a and b
 * viewed as (batch, M, N, K), by reduce_rec, which also splits it. */
static tt_status matmul_thin(vk_dev *d, const tt_kview *out, const tt_kview *a, const tt_kview *b)
{
    tt_kview o = *out, x = *a, y = *b;
    int64_t N = out->shape[2], K = a->shape[2];
    o.ndim = x.ndim = y.ndim = 4;
    o.shape[3] = 1;
    o.strides[3] = 0;
    x.shape[2] = y.shape[2] = N;
    x.shape[3] = y.shape[3] = K;
    x.strides[2] = 0;
    x.strides[3] = a->strides[2];
    y.shape[1] = out->shape[1];
    y.strides[1] = 0;
    y.strides[2] = b->strides[2];
    y.strides[3] = b->strides[1];
    const tt_kview *v[3] = {&o, &x, &y};
    return reduce_rec(d, TT_SUM, RED_DOT, v, 0, 0);
}

static tt_status vk_matmul(const tt_kview *out, const tt_kview *a, const tt_kview *b)
{
    vk_dev *d = dev_of(out);
    tt_status st;
    if (out->dtype != TT_F32 && out->dtype != TT_F64)
        return tt_set_error(TT_EDTYPE, "matmul is not implemented for %s", tt_dtype_name(out->dtype));
    if ((st = need_dtype(d, out->dtype, "matmul"))) return st;
    int64_t M = out->shape[1], N = out->shape[2], K = a->shape[2];
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return tt_set_error(TT_EDEVICE, "vulkan: matmul of %lldx%lld @ %lldx%lld is too large", (long long)M,
                            (long long)K, (long long)K, (long long)N);
    if ((M <= 4 || N <= 4) && (out->dtype == TT_F32 || d->i64)) return matmul_thin(d, out, a, b);
    return matmul_rec(d, out, a, b, 0);
}

void tt_vulkan_shutdown(void)
{
    for (int i = 0; i < MAX_DEVICES; i++) {
        if (g.devs[i]) flush(g.devs[i]);
        dev_destroy(g.devs[i]);
        g.devs[i] = NULL;
        g.dev_tried[i] = false;
    }
    if (g.inst) {
        if (g.messenger) {
            PFN_vkDestroyDebugUtilsMessengerEXT destroy =
                (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(g.inst, "vkDestroyDebugUtilsMessengerEXT");
            if (destroy) destroy(g.inst, g.messenger, NULL);
            g.messenger = VK_NULL_HANDLE;
        }
        vkDestroyInstance(g.inst, NULL);
        g.inst = VK_NULL_HANDLE;
    }
    g.tried = false;
    g.status = TT_OK;
}

const tt_backend tt_vulkan_backend = {
    .name = "vulkan",
    .type = TT_DEVICE_VULKAN,
    .indexed = true,
    .alloc = vk_alloc,
    .free = vk_free,
    .to_host = vk_to_host,
    .from_host = vk_from_host,
    .copy = vk_copy,
    .fill = vk_fill,
    .rng = vk_rng,
    .unary = vk_unary,
    .binary = vk_binary,
    .where = vk_where,
    .clamp = vk_clamp,
    .scan = vk_scan,
    .index = vk_index,
    .reduce = vk_reduce,
    .matmul = vk_matmul,
    .softmax = vk_softmax,
};
