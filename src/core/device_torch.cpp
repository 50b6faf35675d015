#include <torch/torch.h>

#include "core/device.h"
#include "core/error.h"
#include "core/strings.h"

#include <fstream>
#include <string>

#if defined(GT_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace gt {

TorchInfo torch_info() {
  TorchInfo info;
  info.version = cat(TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR, ".", TORCH_VERSION_PATCH);
  info.built_with_cuda = at::hasCUDA() || torch::cuda::is_available();
#if defined(GT_WITH_CUDA)
  info.built_with_cuda = true;
#endif
  info.built_with_mps = at::hasMPS();
  info.cpu_threads = at::get_num_threads();
  if (torch::cuda::is_available()) {
    const int n = static_cast<int>(torch::cuda::device_count());
    for (int i = 0; i < n; ++i) {
      AcceleratorInfo a;
      a.device = cat("cuda:", i);
#if defined(GT_WITH_CUDA)
      const cudaDeviceProp* p = at::cuda::getDeviceProperties(i);
      a.name = p->name;
      a.memory_bytes = p->totalGlobalMem;
#else
      a.name = "CUDA device";
#endif
      info.accelerators.push_back(a);
    }
  }
  if (at::hasMPS()) info.accelerators.push_back({"mps", "Apple GPU (Metal Performance Shaders)", 0});
  return info;
}

std::string resolve_device(const std::string& requested) {
  const std::string r = requested.empty() ? "auto" : requested;
  const bool cuda = torch::cuda::is_available();
  const bool mps = at::hasMPS();
  if (r == "auto") return mps ? "mps" : cuda ? "cuda" : "cpu";
  if (r == "cpu") return r;
  if (r == "mps") {
    if (!mps) fail_input("--device mps: this libtorch has no usable MPS device (Apple Silicon with a libtorch built for it is needed)");
    return r;
  }
  if (starts_with(r, "cuda")) {
    if (!cuda) fail_input("--device ", r, ": no CUDA device is visible to this libtorch build (try --device cpu)");
    if (r == "cuda") return r;
    int idx = -1;
    try {
      if (r.size() > 5 && r[4] == ':') idx = std::stoi(r.substr(5));
    } catch (...) {
    }
    const int n = static_cast<int>(torch::cuda::device_count());
    if (idx < 0 || idx >= n) fail_input("--device ", r, ": expected cuda or cuda:N with N in [0, ", n, ")");
    return r;
  }
  fail_input("--device ", r, ": expected auto, cpu, cuda, cuda:N or mps");
}

namespace {
// A "VmHWM:" / "VmRSS:" line of /proc/self/status in bytes (Linux); 0 elsewhere.
uint64_t proc_status_bytes(const std::string& wanted) {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == wanted) {
      uint64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}
uint64_t resident_high_water_mark() { return proc_status_bytes("VmHWM:"); }
}  // namespace

uint64_t host_resident_bytes() { return proc_status_bytes("VmRSS:"); }

#if defined(GT_WITH_CUDA)
namespace {
// The caching allocator knows a device only once CUDA is initialised on it; asking earlier is an error.
void touch_cuda(const at::Device& d) { (void)torch::empty({1}, at::TensorOptions().device(d)); }
}  // namespace
#endif

uint64_t peak_memory_bytes(const std::string& device) {
#if defined(GT_WITH_CUDA)
  if (starts_with(device, "cuda")) {
    at::Device d(device);
    touch_cuda(d);
    const int idx = d.has_index() ? d.index() : 0;
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(idx);
    // Index 0 is the aggregate over pool types (StatType::AGGREGATE, whose namespace moved between versions).
    return static_cast<uint64_t>(stats.allocated_bytes[0].peak);
  }
#endif
  return resident_high_water_mark();
}

uint64_t current_memory_bytes(const std::string& device) {
#if defined(GT_WITH_CUDA)
  if (starts_with(device, "cuda")) {
    at::Device d(device);
    touch_cuda(d);
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d.has_index() ? d.index() : 0);
    return static_cast<uint64_t>(stats.allocated_bytes[0].current);
  }
#endif
  return host_resident_bytes();
}

void reset_peak_memory(const std::string& device) {
#if defined(GT_WITH_CUDA)
  if (starts_with(device, "cuda")) {
    at::Device d(device);
    touch_cuda(d);
    c10::cuda::CUDACachingAllocator::resetPeakStats(d.has_index() ? d.index() : 0);
  }
#endif
}

void synchronize_device(const std::string& device) {
#if defined(GT_WITH_CUDA)
  if (starts_with(device, "cuda")) {
    torch::cuda::synchronize();
    return;
  }
#endif
#if TORCH_VERSION_MAJOR >= 2
  if (device == "mps") torch::mps::synchronize();
#endif
}

}  // namespace gt
