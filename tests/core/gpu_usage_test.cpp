// core/gpu_usage.h against a stand-in NVML (tests/core/fake_nvml.cpp, built beside the tests): the busy percent of
// the GPU CUDA numbers 0 (no CUDA_VISIBLE_DEVICES), of the one CUDA_VISIBLE_DEVICES maps an index to (by index and by
// UUID), and no figure, with the reason, when the library is missing, its init fails or the index maps to nothing.
#include <gtest/gtest.h>

#include "core/gpu_usage.h"
#include "test_util.h"

using gt::GpuUsage;
using gt::test::ScopedEnv;

TEST(GpuUsage, ReadsTheBusyPercentOfTheGpuCudaNumbers) {
  ScopedEnv base("FAKE_NVML_BASE", "40");
  {
    ScopedEnv none("CUDA_VISIBLE_DEVICES", "");
    GpuUsage u(0, gt::test::fake_nvml_path());
    ASSERT_TRUE(u.available()) << u.unavailable_reason();
    EXPECT_EQ(u.percent(), 40);
    EXPECT_EQ(GpuUsage(2, gt::test::fake_nvml_path()).percent(), 42);
  }
  {
    ScopedEnv visible("CUDA_VISIBLE_DEVICES", "5,3");  // CUDA's 1 is the machine's 3
    EXPECT_EQ(GpuUsage(1, gt::test::fake_nvml_path()).percent(), 43);
    EXPECT_EQ(GpuUsage(0, gt::test::fake_nvml_path()).percent(), 45);
    GpuUsage beyond(2, gt::test::fake_nvml_path());
    EXPECT_FALSE(beyond.available());
    EXPECT_NE(beyond.unavailable_reason().find("CUDA_VISIBLE_DEVICES"), std::string::npos) << beyond.unavailable_reason();
  }
  {
    ScopedEnv visible("CUDA_VISIBLE_DEVICES", "GPU-fake-6");
    EXPECT_EQ(GpuUsage(0, gt::test::fake_nvml_path()).percent(), 46);
  }
  {
    ScopedEnv visible("CUDA_VISIBLE_DEVICES", "GPU-other");
    EXPECT_FALSE(GpuUsage(0, gt::test::fake_nvml_path()).available());
  }
}

TEST(GpuUsage, NoFigureWithoutTheLibraryOrWhenItFails) {
  GpuUsage missing(0, "libnvidia-ml-not-here.so.1");
  EXPECT_FALSE(missing.available());
  EXPECT_EQ(missing.percent(), std::nullopt);
  EXPECT_NE(missing.unavailable_reason().find("cannot be loaded"), std::string::npos) << missing.unavailable_reason();
  ScopedEnv fail("FAKE_NVML_FAIL_INIT", "1");
  GpuUsage failed(0, gt::test::fake_nvml_path());
  EXPECT_FALSE(failed.available());
  EXPECT_NE(failed.unavailable_reason().find("nvmlInit_v2"), std::string::npos) << failed.unavailable_reason();
}
