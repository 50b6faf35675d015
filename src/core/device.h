// Device choice and what libtorch can see. The interface is torch-free (names and numbers); the implementation
// (device_torch.cpp) asks libtorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gt {

struct AcceleratorInfo {
  std::string device;  // "cuda:0", "mps"
  std::string name;    // "NVIDIA H100 80GB HBM3", "Apple GPU (Metal)"
  uint64_t memory_bytes = 0;  // 0 when unknown (MPS shares the system memory)
};

struct TorchInfo {
  std::string version;      // "1.13.1"
  bool built_with_cuda = false;
  bool built_with_mps = false;
  int cpu_threads = 0;      // intra-op threads libtorch uses
  std::vector<AcceleratorInfo> accelerators;
};

TorchInfo torch_info();

// Resolves a --device value: "auto" picks mps, then cuda, then cpu; "cpu", "cuda", "cuda:N", "mps" are checked
// against what is available. Throws gt::InputError naming the option and what is available.
std::string resolve_device(const std::string& requested);

// Peak memory of this process on `device` since the last reset: the caching allocator's peak on CUDA, the
// resident-set high-water mark on CPU and MPS (unified memory). 0 when unknown.
uint64_t peak_memory_bytes(const std::string& device);
void reset_peak_memory(const std::string& device);
// Memory in use on `device` now: the caching allocator's allocated bytes on CUDA, the resident set on CPU and MPS.
uint64_t current_memory_bytes(const std::string& device);
// This process's resident set now (host memory), 0 when unknown.
uint64_t host_resident_bytes();
// Waits for queued work on the device (for timing).
void synchronize_device(const std::string& device);

}  // namespace gt
