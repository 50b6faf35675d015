#include "core/gpu_usage.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string_view>

namespace gt {
namespace {

// NVML's C interface as its header (nvml.h) declares the few entry points used here: an opaque device handle, return
// code 0 for success, and the utilization pair.
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlUtilization {
  unsigned int gpu;
  unsigned int memory;
};
using InitFn = int (*)();
using ShutdownFn = int (*)();
using ByIndexFn = int (*)(unsigned int, NvmlDevice*);
using ByUuidFn = int (*)(const char*, NvmlDevice*);
using UtilizationFn = int (*)(NvmlDevice, NvmlUtilization*);

// The `index`-th entry of a comma-separated CUDA_VISIBLE_DEVICES value.
std::string visible_entry(std::string_view list, int index) {
  for (int i = 0; !list.empty(); ++i) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    if (i == index) return std::string(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return {};
}

}  // namespace

struct GpuUsage::Nvml {
  void* lib = nullptr;
  ShutdownFn shutdown = nullptr;
  UtilizationFn utilization = nullptr;
  NvmlDevice device = nullptr;
  ~Nvml() {
    if (shutdown) shutdown();
    if (lib) dlclose(lib);
  }
};

GpuUsage::GpuUsage(int cuda_index, const std::string& library) {
  auto nvml = std::make_unique<Nvml>();
  nvml->lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!nvml->lib) {
    reason_ = library + " cannot be loaded (no NVIDIA driver here)";
    return;
  }
  const auto init = reinterpret_cast<InitFn>(dlsym(nvml->lib, "nvmlInit_v2"));
  const auto by_index = reinterpret_cast<ByIndexFn>(dlsym(nvml->lib, "nvmlDeviceGetHandleByIndex_v2"));
  const auto by_uuid = reinterpret_cast<ByUuidFn>(dlsym(nvml->lib, "nvmlDeviceGetHandleByUUID"));
  nvml->utilization = reinterpret_cast<UtilizationFn>(dlsym(nvml->lib, "nvmlDeviceGetUtilizationRates"));
  const auto shutdown = reinterpret_cast<ShutdownFn>(dlsym(nvml->lib, "nvmlShutdown"));
  if (!init || !by_index || !by_uuid || !nvml->utilization || !shutdown) {
    reason_ = library + " lacks the NVML entry points used (nvmlInit_v2, nvmlDeviceGetUtilizationRates, ...)";
    return;
  }
  if (init() != 0) {
    reason_ = "nvmlInit_v2 failed";
    return;
  }
  nvml->shutdown = shutdown;
  // CUDA's index i is the i-th entry of CUDA_VISIBLE_DEVICES when it is set.
  std::string entry = std::to_string(cuda_index);
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible && *visible) {
    entry = visible_entry(visible, cuda_index);
    if (entry.empty()) {
      reason_ = "CUDA_VISIBLE_DEVICES has no entry " + std::to_string(cuda_index);
      return;
    }
  }
  int rc = 0;
  if (entry.rfind("GPU-", 0) == 0 || entry.rfind("MIG-", 0) == 0) {
    rc = by_uuid(entry.c_str(), &nvml->device);
  } else {
    char* end = nullptr;
    const unsigned long index = std::strtoul(entry.c_str(), &end, 10);
    if (end == entry.c_str() || *end != '\0') {
      reason_ = "CUDA_VISIBLE_DEVICES entry '" + entry + "' is neither an index nor a GPU UUID";
      return;
    }
    rc = by_index(static_cast<unsigned int>(index), &nvml->device);
  }
  if (rc != 0) {
    reason_ = "NVML has no GPU '" + entry + "' (error " + std::to_string(rc) + ")";
    return;
  }
  nvml_ = std::move(nvml);
}

GpuUsage::~GpuUsage() = default;

bool GpuUsage::available() const { return nvml_ != nullptr; }

std::optional<int> GpuUsage::percent() const {
  if (!nvml_) return std::nullopt;
  NvmlUtilization u{};
  if (nvml_->utilization(nvml_->device, &u) != 0) return std::nullopt;
  return static_cast<int>(u.gpu);
}

}  // namespace gt
