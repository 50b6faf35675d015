// safetensors <-> libtorch tensors: zero-copy views, values, dtypes, and a write/read round trip.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "test_util.h"

TEST(SafetensorsTorch, RoundTripEveryDType) {
  gt::test::TempDir tmp("stt");
  std::vector<std::pair<std::string, at::Tensor>> ts = {
      {"f32", torch::randn({3, 5})},
      {"bf16", torch::randn({4, 2}).to(torch::kBFloat16)},
      {"f16", torch::randn({7}).to(torch::kHalf)},
      {"f64", torch::randn({2}, torch::kDouble)},
      {"i64", torch::arange(10)},
      {"i32", torch::arange(6, torch::kInt).view({2, 3})},
      {"u8", torch::arange(5, torch::kByte)},
      {"bool", torch::tensor({true, false, true})},
      {"noncontig", torch::randn({4, 6}).t()},
  };
  std::string path = (tmp / "t.safetensors").string();
  gt::io::save_tensors(path, ts, {{"format", "pt"}});
  gt::io::Checkpoint c = gt::io::Checkpoint::open(path);
  for (const auto& [name, t] : ts) {
    at::Tensor back = gt::io::load_tensor(c, name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t.contiguous())) << name;
  }
}

TEST(SafetensorsTorch, ViewOutlivesCheckpointAndWritesStayPrivate) {
  gt::test::TempDir tmp("stt");
  std::string path = (tmp / "t.safetensors").string();
  gt::io::save_tensors(path, {{"w", torch::ones({16})}});
  at::Tensor w;
  {
    gt::io::Checkpoint c = gt::io::Checkpoint::open(path);
    w = gt::io::load_tensor(c, "w");
  }
  EXPECT_FLOAT_EQ(w.sum().item<float>(), 16.0f);
  w.mul_(2);  // copy-on-write: the file is unchanged
  EXPECT_FLOAT_EQ(w.sum().item<float>(), 32.0f);
  gt::io::Checkpoint c2 = gt::io::Checkpoint::open(path);
  EXPECT_FLOAT_EQ(gt::io::load_tensor(c2, "w").sum().item<float>(), 16.0f);
}

TEST(SafetensorsTorch, RefusesComplex) {
  gt::test::TempDir tmp("stt");
  EXPECT_THROW(gt::io::save_tensors((tmp / "c.safetensors").string(), {{"c", torch::randn({2}, torch::kComplexFloat)}}),
               gt::InputError);
}
