// A stand-in for NVIDIA's management library (libnvidia-ml.so.1) for tests/core/gpu_usage_test.cpp: the entry points
// core/gpu_usage.cpp loads, with NVML's C signatures. GPU k (by index, or by the UUID "GPU-fake-k") reports a busy
// percent of FAKE_NVML_BASE + k; FAKE_NVML_FAIL_INIT makes nvmlInit_v2 fail. Eight GPUs.
#include <cstdlib>
#include <cstring>

namespace {
struct Device {
  unsigned int index;
};
Device g_devices[8] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
struct Utilization {
  unsigned int gpu;
  unsigned int memory;
};
}  // namespace

extern "C" {

int nvmlInit_v2() { return std::getenv("FAKE_NVML_FAIL_INIT") ? 999 : 0; }
int nvmlShutdown() { return 0; }

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, Device** device) {
  if (index >= 8) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *device = &g_devices[index];
  return 0;
}

int nvmlDeviceGetHandleByUUID(const char* uuid, Device** device) {
  if (std::strncmp(uuid, "GPU-fake-", 9) != 0) return 6;  // NVML_ERROR_NOT_FOUND
  return nvmlDeviceGetHandleByIndex_v2(static_cast<unsigned int>(std::atoi(uuid + 9)), device);
}

int nvmlDeviceGetUtilizationRates(Device* device, Utilization* u) {
  const char* base = std::getenv("FAKE_NVML_BASE");
  u->gpu = static_cast<unsigned int>(base ? std::atoi(base) : 0) + device->index;
  u->memory = 0;
  return 0;
}

}  // extern "C"
