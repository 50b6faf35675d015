// How busy the training GPU is, for the progress line and metrics.jsonl (issue #11: "GPU utilisation shown in its
// progress line"). NVIDIA's management library (NVML, libnvidia-ml.so.1, installed with the driver) is loaded at run
// time, so the program starts and runs without it; no figure is shown then (CPU, Apple's MPS, no driver). Torch-free.
//
// The figure is nvmlDeviceGetUtilizationRates' "gpu": the percent of the driver's last sample period (1/6 s to 1 s,
// by product) during which one or more kernels ran. It says whether the GPU waits for the host, not how well the
// kernels use it (that is the benchmark's MFU).
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace gt {

class GpuUsage {
 public:
  // The GPU CUDA numbers `cuda_index` in this process. NVML numbers every GPU of the machine, so the index is mapped
  // through CUDA_VISIBLE_DEVICES when it is set (a list of indices, or of "GPU-..." UUIDs as nvidia-smi -L shows
  // them). `library`: the NVML to load (tests load a stand-in).
  explicit GpuUsage(int cuda_index, const std::string& library = "libnvidia-ml.so.1");
  ~GpuUsage();
  GpuUsage(const GpuUsage&) = delete;
  GpuUsage& operator=(const GpuUsage&) = delete;

  bool available() const;
  // Why there is no figure ("" when available): the library missing, a failed call, an unmappable index.
  const std::string& unavailable_reason() const { return reason_; }
  // The busy percent now (0-100), or nullopt when unavailable or the call fails.
  std::optional<int> percent() const;

 private:
  struct Nvml;
  std::unique_ptr<Nvml> nvml_;
  std::string reason_;
};

}  // namespace gt
